//! The API client and the event-stream subscriber (reconnect, resume).
