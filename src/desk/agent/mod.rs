//! Agents working tickets by ordinary email: who counts as an agent ([`proof`]), who works and
//! hears of a ticket ([`assign`]), what they are told ([`notification`]), and what their mail
//! does: commands and notes ([`reply`]) and the reply relayed to the customer ([`relay`]).

pub(crate) mod assign;
pub(crate) mod notification;
pub(crate) mod proof;
pub(crate) mod relay;
pub(crate) mod reply;
