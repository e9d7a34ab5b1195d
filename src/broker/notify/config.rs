//! `[notify]` in broker.toml: the sinks and how hard to try. Checked at start, so a
//! broken section stops the broker with the file, the line and what is wrong.

use serde::Deserialize;
use toml::Spanned;

use crate::model::Duration;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct NotifyConfig {
    /// Where people reach the broker, for links in messages (e.g. https://cs.example.com).
    pub public_url: Option<Spanned<String>>,
    /// After this long without a delivery, a notification is marked failed.
    pub give_up_after: Duration,
    /// The first retry waits this long; each later one twice as long, up to `retry_max`.
    pub retry_min: Duration,
    pub retry_max: Duration,
    /// One delivery attempt may take this long.
    pub timeout: Duration,
    pub email: Vec<EmailSink>,
    pub slack: Vec<SlackSink>,
    pub webhook: Vec<WebhookSink>,
}

impl Default for NotifyConfig {
    fn default() -> Self {
        NotifyConfig {
            public_url: None,
            give_up_after: Duration::from_hours(24),
            retry_min: Duration::from_secs(2),
            retry_max: Duration::from_mins(10),
            timeout: Duration::from_secs(10),
            email: Vec::new(),
            slack: Vec::new(),
            webhook: Vec::new(),
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EmailSink {
    pub name: Option<String>,
    /// `smtp://host[:port]` (plain, or STARTTLS with `starttls = true`) or `smtps://host[:port]`.
    pub smtp_url: Spanned<String>,
    #[serde(default)]
    pub starttls: bool,
    pub from: Spanned<String>,
    #[serde(default)]
    pub to: Vec<Spanned<String>>,
    /// Also mail the users who may review the requested roles, at their `email` trait.
    #[serde(default)]
    pub to_reviewers: bool,
    pub username: Option<String>,
    /// The environment variable holding the SMTP password.
    pub password_env: Option<Spanned<String>>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SlackSink {
    pub name: Option<String>,
    pub webhook_url: Spanned<String>,
    pub channel: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebhookSink {
    pub name: Option<String>,
    pub url: Spanned<String>,
    /// The environment variable holding the HMAC-SHA256 signing secret.
    pub secret_env: Spanned<String>,
}

/// A problem in `[notify]`, at a byte offset of the file when known.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigProblem {
    pub at: Option<usize>,
    pub message: String,
}

impl ConfigProblem {
    fn at<T>(value: &Spanned<T>, message: impl Into<String>) -> Self {
        ConfigProblem {
            at: Some(value.span().start),
            message: message.into(),
        }
    }

    /// `file:line: message`, the line found from the offset in `text`.
    pub fn render(&self, file: &str, text: &str) -> String {
        match self.at {
            Some(at) => {
                let line = text[..at.min(text.len())].matches('\n').count() + 1;
                format!("{file}:{line}: {}", self.message)
            }
            None => format!("{file}: {}", self.message),
        }
    }
}

/// A sink by kind, with the name its outbox rows carry.
#[derive(Debug, Clone)]
pub enum SinkConfig {
    Email(EmailSink),
    Slack(SlackSink),
    Webhook(WebhookSink),
}

impl NotifyConfig {
    /// Every sink with its name: the given one, or `email-1`, `slack-2`… by position.
    pub fn sinks(&self) -> Vec<(String, SinkConfig)> {
        let named = |kind: &str, i: usize, name: &Option<String>| {
            name.clone().unwrap_or_else(|| format!("{kind}-{}", i + 1))
        };
        let mut out = Vec::new();
        for (i, s) in self.email.iter().enumerate() {
            out.push((named("email", i, &s.name), SinkConfig::Email(s.clone())));
        }
        for (i, s) in self.slack.iter().enumerate() {
            out.push((named("slack", i, &s.name), SinkConfig::Slack(s.clone())));
        }
        for (i, s) in self.webhook.iter().enumerate() {
            out.push((named("webhook", i, &s.name), SinkConfig::Webhook(s.clone())));
        }
        out
    }

    /// Everything a start would trip over: bad URLs and addresses, secrets missing
    /// from the environment, duplicate names, nonsense retry settings.
    pub fn check(&self, env: &dyn Fn(&str) -> Option<String>) -> Result<(), ConfigProblem> {
        let plain = |message: String| ConfigProblem { at: None, message };
        if self.retry_min.is_zero() || self.retry_max < self.retry_min {
            return Err(plain(
                "notify: retry_min must be above 0s and at most retry_max".into(),
            ));
        }
        if self.timeout.is_zero() || self.give_up_after.is_zero() {
            return Err(plain(
                "notify: timeout and give_up_after must be above 0s".into(),
            ));
        }
        if let Some(url) = &self.public_url {
            http_url(url, "notify.public_url")?;
        }
        let mut names = std::collections::BTreeSet::new();
        for (name, sink) in self.sinks() {
            if name.is_empty() || name.chars().any(|c| c.is_whitespace() || c.is_control()) {
                return Err(plain(format!(
                    "notify: sink name {name:?} must be non-empty, without spaces"
                )));
            }
            if !names.insert(name.clone()) {
                return Err(plain(format!("notify: two sinks are named {name:?}")));
            }
            match sink {
                SinkConfig::Email(email) => check_email(&email, env)?,
                SinkConfig::Slack(slack) => {
                    http_url(&slack.webhook_url, "notify.slack.webhook_url")?;
                }
                SinkConfig::Webhook(hook) => {
                    http_url(&hook.url, "notify.webhook.url")?;
                    secret(&hook.secret_env, "notify.webhook.secret_env", env)?;
                }
            }
        }
        Ok(())
    }
}

fn http_url(url: &Spanned<String>, field: &str) -> Result<reqwest::Url, ConfigProblem> {
    match reqwest::Url::parse(url.get_ref()) {
        Ok(parsed) if matches!(parsed.scheme(), "http" | "https") && parsed.host().is_some() => {
            Ok(parsed)
        }
        Ok(_) => Err(ConfigProblem::at(
            url,
            format!("{field} must be an http:// or https:// URL with a host"),
        )),
        Err(e) => Err(ConfigProblem::at(
            url,
            format!("{field} {:?} is not a URL: {e}", url.get_ref()),
        )),
    }
}

fn secret(
    var: &Spanned<String>,
    field: &str,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<String, ConfigProblem> {
    match env(var.get_ref()) {
        Some(value) if !value.is_empty() => Ok(value),
        _ => Err(ConfigProblem::at(
            var,
            format!(
                "{field}: the environment variable {} is not set (or empty)",
                var.get_ref()
            ),
        )),
    }
}

/// Where to send mail, parsed from `smtp_url`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SmtpServer {
    pub host: String,
    pub port: u16,
    /// TLS from the first byte (`smtps://`).
    pub implicit_tls: bool,
}

pub fn smtp_server(url: &str) -> Result<SmtpServer, String> {
    let parsed = reqwest::Url::parse(url).map_err(|e| format!("{url:?} is not a URL: {e}"))?;
    let implicit_tls = match parsed.scheme() {
        "smtp" => false,
        "smtps" => true,
        other => {
            return Err(format!(
                "the scheme must be smtp:// or smtps://, not {other}://"
            ));
        }
    };
    let host = parsed
        .host_str()
        .filter(|h| !h.is_empty())
        .ok_or_else(|| format!("{url:?} has no host"))?
        .trim_start_matches('[')
        .trim_end_matches(']')
        .to_string();
    if !parsed.username().is_empty() || parsed.password().is_some() {
        return Err("put no credentials in smtp_url: use username and password_env".into());
    }
    let port = parsed.port().unwrap_or(if implicit_tls { 465 } else { 25 });
    Ok(SmtpServer {
        host,
        port,
        implicit_tls,
    })
}

fn check_email(
    email: &EmailSink,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<(), ConfigProblem> {
    let server = smtp_server(email.smtp_url.get_ref()).map_err(|why| {
        ConfigProblem::at(&email.smtp_url, format!("notify.email.smtp_url: {why}"))
    })?;
    if server.implicit_tls && email.starttls {
        return Err(ConfigProblem::at(
            &email.smtp_url,
            "notify.email: smtps:// is TLS already; starttls applies to smtp:// only",
        ));
    }
    email
        .from
        .get_ref()
        .parse::<lettre::message::Mailbox>()
        .map_err(|e| ConfigProblem::at(&email.from, format!("notify.email.from: {e}")))?;
    for to in &email.to {
        to.get_ref()
            .parse::<lettre::message::Mailbox>()
            .map_err(|e| {
                ConfigProblem::at(to, format!("notify.email.to {:?}: {e}", to.get_ref()))
            })?;
    }
    if email.to.is_empty() && !email.to_reviewers {
        return Err(ConfigProblem::at(
            &email.smtp_url,
            "notify.email: give `to` addresses, `to_reviewers = true`, or both",
        ));
    }
    match (&email.username, &email.password_env) {
        (Some(_), Some(var)) => {
            secret(var, "notify.email.password_env", env)?;
        }
        (None, None) => {}
        (Some(_), None) => {
            return Err(ConfigProblem::at(
                &email.smtp_url,
                "notify.email: username needs password_env",
            ));
        }
        (None, Some(var)) => {
            return Err(ConfigProblem::at(
                var,
                "notify.email: password_env needs username",
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> NotifyConfig {
        #[derive(Deserialize)]
        struct File {
            notify: NotifyConfig,
        }
        toml::from_str::<File>(text).expect("parses").notify
    }

    fn env(name: &str) -> Option<String> {
        (name == "SET").then(|| "s3cret".to_string())
    }

    #[test]
    fn a_full_section_checks_and_names_its_sinks() {
        let config = parse(
            r#"
[notify]
public_url = "https://cs.example.com"
[[notify.email]]
smtp_url = "smtp://127.0.0.1:2525"
from = "countersign <cs@example.com>"
to = ["ops@example.com"]
to_reviewers = true
[[notify.slack]]
name = "incidents"
webhook_url = "https://hooks.slack.com/services/T/B/X"
[[notify.webhook]]
url = "http://127.0.0.1:9/hook"
secret_env = "SET"
"#,
        );
        config.check(&env).expect("valid");
        let names: Vec<_> = config.sinks().into_iter().map(|(n, _)| n).collect();
        assert_eq!(names, ["email-1", "incidents", "webhook-1"]);
    }

    #[test]
    fn problems_name_their_line() {
        let cases = [
            (
                "[[notify.webhook]]\nurl = \"http://x/\"\nsecret_env = \"UNSET\"\n",
                3,
                "UNSET is not set",
            ),
            (
                "[[notify.slack]]\n\nwebhook_url = \"ftp://x/\"\n",
                3,
                "http:// or https://",
            ),
            (
                "[[notify.email]]\nsmtp_url = \"imap://x\"\nfrom = \"a@b.c\"\nto = [\"d@e.f\"]\n",
                2,
                "smtp:// or smtps://",
            ),
            (
                "[[notify.email]]\nsmtp_url = \"smtp://x\"\nfrom = \"not an address\"\nto = [\"d@e.f\"]\n",
                3,
                "notify.email.from",
            ),
            (
                "[[notify.email]]\nsmtp_url = \"smtp://x\"\nfrom = \"a@b.c\"\nto = [\"d@e.f\", \"x\\r\\nBcc: evil@x\"]\n",
                4,
                "notify.email.to",
            ),
            (
                "[[notify.email]]\nsmtp_url = \"smtp://u:p@x\"\nfrom = \"a@b.c\"\nto = [\"d@e.f\"]\n",
                2,
                "no credentials",
            ),
        ];
        for (text, line, needle) in cases {
            let problem = parse(text).check(&env).expect_err(text);
            let rendered = problem.render("broker.toml", text);
            assert!(
                rendered.starts_with(&format!("broker.toml:{line}: ")) && rendered.contains(needle),
                "{text:?} gave {rendered:?}"
            );
        }
    }

    #[test]
    fn duplicate_names_and_bad_retry_settings_are_refused() {
        let twice = parse(
            "[[notify.slack]]\nname = \"a\"\nwebhook_url = \"http://x/\"\n[[notify.slack]]\nname = \"a\"\nwebhook_url = \"http://y/\"\n",
        );
        assert!(twice.check(&env).unwrap_err().message.contains("two sinks"));
        let backwards = parse("[notify]\nretry_min = \"10m\"\nretry_max = \"1m\"\n");
        assert!(
            backwards
                .check(&env)
                .unwrap_err()
                .message
                .contains("retry_min")
        );
    }

    #[test]
    fn the_example_broker_toml_parses_and_checks() {
        let example = include_str!("../../../config/broker.toml");
        let config: crate::broker::BrokerConfig = toml::from_str(example).expect("parses");
        config
            .notify
            .check(&|_| Some("set".to_string()))
            .expect("valid");
        assert_eq!(config.notify.sinks().len(), 2);
    }

    #[test]
    fn smtp_urls() {
        assert_eq!(
            smtp_server("smtps://mail.example.com").unwrap(),
            SmtpServer {
                host: "mail.example.com".into(),
                port: 465,
                implicit_tls: true
            }
        );
        assert_eq!(smtp_server("smtp://127.0.0.1:2525").unwrap().port, 2525);
        assert!(smtp_server("smtp://").is_err());
    }
}
