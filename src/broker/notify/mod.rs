//! Notifications where approvers already are (DESIGN §10): mail, Slack and signed
//! webhooks, delivered from a durable outbox. The store queues a row per event and
//! sink in the event's own transaction; the dispatcher delivers them with retries
//! and backoff, so a sink that is down never slows or fails an API call.

pub mod config;
mod dispatcher;
pub mod email;
mod load;
pub mod message;
pub mod slack;
mod topic;
pub mod webhook;

use std::collections::BTreeMap;

pub use config::NotifyConfig;
pub use dispatcher::run;
pub use topic::Topic;

use config::SinkConfig;

/// How one delivery attempt went.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Attempt {
    /// Taken by the sink (with a note, e.g. when there was no one to mail).
    Delivered(Option<String>),
    /// Worth trying again later: a timeout, a refused connection, a 5xx, a 429.
    Transient(String),
    /// Will not work by trying again: a 4xx, a malformed address.
    Permanent(String),
}

/// A sink ready to deliver: its settings and the secrets read from the environment.
#[derive(Debug, Clone)]
pub enum Sink {
    Email {
        config: config::EmailSink,
        transport: lettre::AsyncSmtpTransport<lettre::Tokio1Executor>,
    },
    Slack(config::SlackSink),
    Webhook {
        config: config::WebhookSink,
        secret: String,
    },
}

/// The configured sinks by name, with their secrets.
#[derive(Debug, Clone, Default)]
pub struct Sinks {
    pub by_name: BTreeMap<String, Sink>,
}

impl Sinks {
    /// Checks `[notify]` and reads the secrets it names from the environment.
    pub fn from_config(
        config: &NotifyConfig,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Sinks, config::ConfigProblem> {
        config.check(env)?;
        let timeout = std::time::Duration::from_millis(config.timeout.as_millis());
        let mut by_name = BTreeMap::new();
        for (name, sink) in config.sinks() {
            let sink = match sink {
                SinkConfig::Email(config) => {
                    let password = config.password_env.as_ref().and_then(|v| env(v.get_ref()));
                    let transport = email::transport(&config, password.as_deref(), timeout)
                        .map_err(|message| config::ConfigProblem { at: None, message })?;
                    Sink::Email { config, transport }
                }
                SinkConfig::Slack(config) => Sink::Slack(config),
                SinkConfig::Webhook(config) => Sink::Webhook {
                    secret: env(config.secret_env.get_ref()).unwrap_or_default(),
                    config,
                },
            };
            by_name.insert(name, sink);
        }
        Ok(Sinks { by_name })
    }

    pub fn names(&self) -> Vec<String> {
        self.by_name.keys().cloned().collect()
    }
}

/// POSTs a JSON body; 2xx is delivered, 408/429/5xx and transport errors are worth
/// a retry, any other status is not.
async fn post_json(
    http: &reqwest::Client,
    url: &str,
    body: Vec<u8>,
    headers: &[(&str, &str)],
) -> Attempt {
    let mut request = http
        .post(url)
        .header(reqwest::header::CONTENT_TYPE, "application/json")
        .body(body);
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    match request.send().await {
        Ok(response) => {
            let status = response.status();
            if status.is_success() {
                return Attempt::Delivered(None);
            }
            let text = response.text().await.unwrap_or_default();
            let why = format!(
                "{status}: {}",
                message::clip(&message::single_line(&text), 200)
            );
            if status.is_server_error()
                || status == reqwest::StatusCode::TOO_MANY_REQUESTS
                || status == reqwest::StatusCode::REQUEST_TIMEOUT
            {
                Attempt::Transient(why)
            } else {
                Attempt::Permanent(why)
            }
        }
        Err(e) => Attempt::Transient(format!("{e}")),
    }
}
