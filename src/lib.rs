//! supportd: turns a support mailbox into a helpdesk.

#![warn(missing_docs)]

pub mod cli;
pub mod config;
pub mod desk;
pub mod domain;
pub mod io;
pub mod mail;
pub mod service;
