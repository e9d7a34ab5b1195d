//! Slack incoming webhooks: a Block Kit message. Every user string is escaped as
//! Slack asks (`&`, `<`, `>`), so no one can smuggle a mention or a link in.

use serde_json::{Value, json};

use super::message::{Notice, clip};
use super::{Attempt, post_json};

/// Slack refuses section text over 3000 characters.
const MAX_SECTION: usize = 2900;

pub fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// The webhook body for `notice`.
pub fn render(notice: &Notice, channel: Option<&str>) -> Value {
    let headline = escape(&notice.headline());
    let mut top = if notice.urgent() {
        format!("<!here> :rotating_light: *{headline}*")
    } else {
        format!("*{headline}*")
    };
    if let Some(link) = &notice.link {
        top.push_str(&format!("  <{}|open>", escape(link)));
    }
    let fields: Vec<Value> = notice
        .facts()
        .into_iter()
        .map(|(label, value)| json!({"type": "mrkdwn", "text": format!("*{label}*\n{}", escape(&value))}))
        .collect();
    let quoted = |text: &str| {
        escape(&clip(text, MAX_SECTION))
            .lines()
            .map(|l| format!("> {l}"))
            .collect::<Vec<_>>()
            .join("\n")
    };
    let mut blocks = vec![
        json!({"type": "section", "text": {"type": "mrkdwn", "text": top}}),
        json!({"type": "section", "fields": fields.into_iter().take(10).collect::<Vec<_>>()}),
        json!({"type": "section", "text": {"type": "mrkdwn", "text": format!("*Reason*\n{}", quoted(&notice.reason()))}}),
    ];
    if let Some(why) = notice.outcome_reason() {
        blocks.push(json!({"type": "section", "text": {"type": "mrkdwn", "text": format!("*Decision*\n{}", quoted(&why))}}));
    }
    if let Some(command) = notice.command() {
        blocks.push(json!({"type": "context", "elements": [{"type": "mrkdwn", "text": format!("`{}`", escape(&command))}]}));
    }
    let fallback = if notice.urgent() {
        format!("<!here> {headline}")
    } else {
        headline
    };
    let mut body = json!({"text": fallback, "blocks": blocks});
    if let Some(channel) = channel {
        body["channel"] = Value::String(channel.to_string());
    }
    body
}

pub async fn deliver(
    http: &reqwest::Client,
    url: &str,
    channel: Option<&str>,
    notice: &Notice,
) -> Attempt {
    let body = render(notice, channel);
    let bytes = match serde_json::to_vec(&body) {
        Ok(bytes) => bytes,
        Err(e) => return Attempt::Permanent(format!("cannot encode the message: {e}")),
    };
    post_json(http, url, bytes, &[]).await
}

#[cfg(test)]
mod tests {
    use super::super::Topic;
    use super::super::message::tests::{notice, request};
    use super::*;
    use crate::model::State;

    #[test]
    fn user_strings_are_escaped_and_emergencies_ping_the_channel() {
        let hostile = "<!channel> & <https://evil|click> \u{202E}";
        let n = notice(Topic::Created, request(hostile, true), State::Pending);
        let body = render(&n, Some("#access-requests"));
        let text = body.to_string();
        assert!(!text.contains("<!channel>"), "{text}");
        assert!(!text.contains("<https://evil"), "{text}");
        assert!(text.contains("&lt;!channel&gt; &amp; &lt;https://evil|click&gt;"));
        assert!(
            text.contains("\\\\u{202E}"),
            "the bidi override is written out: {text}"
        );
        assert!(body["text"].as_str().unwrap().starts_with("<!here>"));
        assert_eq!(body["channel"], "#access-requests");
        let blocks = body["blocks"].as_array().unwrap();
        assert!(blocks.iter().all(|b| b["type"].is_string()));
    }

    #[test]
    fn an_ordinary_request_does_not_ping() {
        let n = notice(Topic::Created, request("see #47", false), State::Pending);
        let body = render(&n, None);
        assert!(!body.to_string().contains("<!here>"));
        assert!(body.get("channel").is_none());
    }
}
