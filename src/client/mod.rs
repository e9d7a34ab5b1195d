//! The API client and the event-stream subscriber (reconnect, resume), plus what
//! every front end needs to show broker data safely: the config file and the
//! terminal sanitiser.

pub mod args;
pub mod config;
pub mod error;
pub mod events;
pub mod http;
pub mod sanitize;
pub mod sse;

pub use args::ClientArgs;
pub use config::{Config, ConfigError, Connection, Resolved};
pub use error::ClientError;
pub use events::{Subscriber, SubscriptionEvent};
pub use http::Client;
pub use sanitize::{json_inert, sanitize_inline, sanitize_multiline};
