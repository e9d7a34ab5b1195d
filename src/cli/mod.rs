//! The non-TUI subcommands, for requesters, reviewers, auditors and admins. The
//! binary's entry point (`src/main.rs`) puts them beside the broker, the console and
//! the demo; the flags that say how to reach a broker are `client::ClientArgs`.

pub mod admin;
pub mod audit;
pub mod broker_cmd;
pub mod login;
pub mod migrate;
pub mod notifications;
pub mod request;
pub mod ssh;
