//! The broker: HTTP API, store, event bus and expiry sweeper.
