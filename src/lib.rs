//! supportd: turns a support mailbox into a helpdesk.

#![warn(missing_docs)]
// An application, not a library: its documentation is read with private items
// (`cargo doc --document-private-items`, as scripts/test builds it), where these links resolve.
#![allow(rustdoc::private_intra_doc_links)]

pub mod cli;
pub mod config;
pub mod desk;
pub mod domain;
#[cfg(test)]
mod fixtures;
pub mod io;
pub mod mail;
pub mod service;
