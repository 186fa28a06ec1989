//! supportd: turns a support mailbox into a helpdesk.

#![warn(missing_docs)]

pub mod cli;
pub mod config;
pub mod desk;
pub mod domain;
#[cfg(test)]
mod fixtures;
pub mod io;
pub mod mail;
pub mod service;
