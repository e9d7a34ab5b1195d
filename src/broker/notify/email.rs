//! Mail over SMTP (lettre): a plain-text and an HTML part, a subject naming the
//! requester and the roles, and outcome mail threaded under the request's mail.

use lettre::message::{Mailbox, MultiPart};
use lettre::transport::smtp::authentication::Credentials;
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};

use super::config::{EmailSink, smtp_server};
use super::message::{Notice, clip, single_line};
use super::{Attempt, Topic};

/// What a mail says, before addressing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mail {
    pub subject: String,
    pub text: String,
    pub html: String,
    pub message_id: String,
    /// The request's first mail, which later ones thread under.
    pub thread: Option<String>,
}

fn html_escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            '\n' => out.push_str("<br>\n"),
            c => out.push(c),
        }
    }
    out
}

/// The mail for `notice`; `domain` goes to the right of the Message-ID's `@`.
pub fn render(notice: &Notice, domain: &str) -> Mail {
    let id = notice.request.id;
    let root = format!("<{id}.created@{domain}>");
    let message_id = match notice.topic {
        Topic::Created => root.clone(),
        Topic::Outcome => format!(
            "<{id}.outcome.{}@{domain}>",
            notice.event.as_ref().map_or(0, |e| e.seq)
        ),
        Topic::ReviewDue => format!("<{id}.review-due@{domain}>"),
    };
    let prefix = if notice.urgent() { "[URGENT] " } else { "" };
    let subject = clip(
        &single_line(&format!("{prefix}[countersign] {}", notice.headline())),
        200,
    );

    let mut text = format!("{}\n\n", notice.headline());
    let mut html = format!("<h2>{}</h2>\n<table>\n", html_escape(&notice.headline()));
    for (label, value) in notice.facts() {
        text.push_str(&format!("{label:<14}{value}\n"));
        html.push_str(&format!(
            "<tr><th align=\"left\">{}</th><td>{}</td></tr>\n",
            html_escape(label),
            html_escape(&value)
        ));
    }
    html.push_str("</table>\n");
    let reason = notice.reason();
    text.push_str(&format!("\nReason:\n{reason}\n"));
    html.push_str(&format!(
        "<h3>Reason</h3>\n<blockquote>{}</blockquote>\n",
        html_escape(&reason)
    ));
    if let Some(why) = notice.outcome_reason() {
        text.push_str(&format!("\nDecision:\n{why}\n"));
        html.push_str(&format!(
            "<h3>Decision</h3>\n<blockquote>{}</blockquote>\n",
            html_escape(&why)
        ));
    }
    if let Some(command) = notice.command() {
        text.push_str(&format!("\n{command}\n"));
        html.push_str(&format!("<p><code>{}</code></p>\n", html_escape(&command)));
    }
    if let Some(link) = &notice.link {
        text.push_str(&format!("\n{link}\n"));
        html.push_str(&format!(
            "<p><a href=\"{0}\">{0}</a></p>\n",
            html_escape(link)
        ));
    }
    Mail {
        subject,
        text,
        html,
        thread: (notice.topic != Topic::Created).then_some(root),
        message_id,
    }
}

/// The domain of the sender's address, for Message-IDs.
pub fn domain_of(from: &Mailbox) -> String {
    from.email.domain().to_string()
}

/// An SMTP client for `sink`, built once: its pool keeps connections open between mails.
pub fn transport(
    sink: &EmailSink,
    password: Option<&str>,
    timeout: std::time::Duration,
) -> Result<AsyncSmtpTransport<Tokio1Executor>, String> {
    let server = smtp_server(sink.smtp_url.get_ref())?;
    let builder = if server.implicit_tls {
        AsyncSmtpTransport::<Tokio1Executor>::relay(&server.host)
    } else if sink.starttls {
        AsyncSmtpTransport::<Tokio1Executor>::starttls_relay(&server.host)
    } else {
        Ok(AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(
            &server.host,
        ))
    };
    let mut builder = builder
        .map_err(|e| format!("SMTP server {}: {e}", server.host))?
        .port(server.port)
        .timeout(Some(timeout));
    if let (Some(user), Some(password)) = (&sink.username, password) {
        builder = builder.credentials(Credentials::new(user.clone(), password.to_string()));
    }
    Ok(builder.build())
}

pub async fn deliver(
    transport: &AsyncSmtpTransport<Tokio1Executor>,
    sink: &EmailSink,
    to: &[Mailbox],
    notice: &Notice,
) -> Attempt {
    if to.is_empty() {
        return Attempt::Delivered(Some("no recipients".into()));
    }
    let from: Mailbox = match sink.from.get_ref().parse() {
        Ok(from) => from,
        Err(e) => return Attempt::Permanent(format!("from address: {e}")),
    };
    let mail = render(notice, &domain_of(&from));
    let mut builder = Message::builder()
        .from(from)
        .subject(mail.subject)
        .message_id(Some(mail.message_id));
    for mailbox in to {
        builder = builder.to(mailbox.clone());
    }
    if let Some(root) = mail.thread {
        builder = builder.in_reply_to(root.clone()).references(root);
    }
    let message = match builder.multipart(MultiPart::alternative_plain_html(mail.text, mail.html)) {
        Ok(message) => message,
        Err(e) => return Attempt::Permanent(format!("cannot build the mail: {e}")),
    };
    match transport.send(message).await {
        Ok(_) => Attempt::Delivered(None),
        Err(e) if e.is_permanent() => Attempt::Permanent(format!("SMTP: {e}")),
        Err(e) => Attempt::Transient(format!("SMTP: {e}")),
    }
}

#[cfg(test)]
mod tests {
    use super::super::message::tests::{notice, request};
    use super::*;
    use crate::model::State;

    #[test]
    fn html_is_escaped_and_the_subject_is_one_line() {
        let hostile = "<script>alert(1)</script>\r\nBcc: evil@example.com";
        let mut r = request(hostile, false);
        r.user = "mallory\r\nBcc: x@y".into();
        let mail = render(&notice(Topic::Created, r, State::Pending), "example.com");
        assert!(!mail.html.contains("<script>"), "{}", mail.html);
        assert!(mail.html.contains("&lt;script&gt;"));
        assert!(!mail.subject.contains('\n') && !mail.subject.contains('\r'));
        assert!(mail.subject.starts_with("[countersign] mallory"));
        assert!(mail.text.contains("Reason:\n<script>"));
        assert!(mail.thread.is_none());
    }

    #[test]
    fn outcome_threads_under_the_request_mail_and_emergencies_are_urgent() {
        let r = request("EMERGENCY: db down", true);
        let created = render(
            &notice(Topic::Created, r.clone(), State::Pending),
            "example.com",
        );
        let outcome = render(&notice(Topic::Outcome, r, State::Approved), "example.com");
        assert_eq!(outcome.thread.as_deref(), Some(created.message_id.as_str()));
        assert_ne!(outcome.message_id, created.message_id);
        assert!(created.subject.starts_with("[URGENT] "));
        assert!(outcome.text.contains("approved"));
    }
}
