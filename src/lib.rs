//! countersign: just-in-time access for infrastructure. One binary holds the broker,
//! the console and the CLI; see DESIGN §1 for how the modules divide the work.
// The OpenAPI document is one json! literal, deeper than the default limit.
#![recursion_limit = "256"]

pub mod audit;
pub mod broker;
pub mod cli;
pub mod client;
pub mod console;
pub mod demo;
pub mod model;
pub mod policy;
