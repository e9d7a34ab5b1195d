//! The broker: HTTP API, store, event bus and expiry sweeper.

pub mod config;
pub mod error;
pub mod findings;
pub mod gate;
mod heads;
pub mod lifecycle;
pub mod metrics;
pub mod notify;
mod openapi;
pub mod roles;
mod routes;
mod server;
pub mod ssh;
pub mod store;
mod stream;
mod sweeper;
pub mod tokens;

pub use config::BrokerConfig;
pub use server::{Broker, RunningBroker, start};
