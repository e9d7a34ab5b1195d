//! Desktop notifications for new requests: urgent for emergencies, silently off
//! where no notification service answers.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

#[derive(Debug, Clone)]
pub struct Notifier {
    enabled: Arc<AtomicBool>,
}

impl Notifier {
    pub fn new(enabled: bool) -> Self {
        Notifier {
            enabled: Arc::new(AtomicBool::new(enabled)),
        }
    }

    /// Shows a notification off the UI thread. The first failure turns
    /// notifications off for the session rather than retrying on every request.
    pub fn notify(&self, title: String, body: String, urgent: bool) {
        if !self.enabled.load(Ordering::Relaxed) {
            return;
        }
        let enabled = self.enabled.clone();
        tokio::task::spawn_blocking(move || {
            if !show(&title, &body, urgent) {
                enabled.store(false, Ordering::Relaxed);
            }
        });
    }
}

/// Notification daemons may read markup in the body; broker text must stay text.
pub fn escape_markup(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

fn show(title: &str, body: &str, urgent: bool) -> bool {
    let mut notification = notify_rust::Notification::new();
    notification
        .appname("countersign")
        .summary(title)
        .body(&escape_markup(body));
    #[cfg(all(unix, not(target_os = "macos")))]
    if urgent {
        notification.urgency(notify_rust::Urgency::Critical);
    }
    #[cfg(not(all(unix, not(target_os = "macos"))))]
    let _ = urgent;
    notification.show().is_ok()
}

#[cfg(test)]
mod tests {
    #[test]
    fn markup_is_escaped() {
        assert_eq!(
            super::escape_markup("<b>x</b> & <a href=y>"),
            "&lt;b&gt;x&lt;/b&gt; &amp; &lt;a href=y&gt;"
        );
    }
}
