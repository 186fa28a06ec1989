//! Agents working tickets by ordinary email: who counts as an agent ([`proof`]), who works and
//! hears of a ticket ([`assign`]), what they are told ([`notification`]), and what their mail
//! does: what their answer is ([`answer`]), commands and notes ([`reply`]) and the reply relayed
//! to the customer ([`relay`]).

pub(crate) mod answer;
pub(crate) mod assign;
#[cfg(test)]
mod corpus;
pub(crate) mod notification;
pub(crate) mod proof;
pub(crate) mod relay;
pub(crate) mod reply;
