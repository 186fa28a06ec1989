//! Agents working tickets by ordinary email: who counts as an agent ([`proof`]), who works and
//! hears of a ticket ([`assign`]), what they are told ([`notification`]), and what their mail
//! does: commands and notes ([`reply`]) and the reply relayed to the customer ([`relay`]).

pub mod assign;
pub mod notification;
pub mod proof;
pub mod relay;
pub mod reply;
