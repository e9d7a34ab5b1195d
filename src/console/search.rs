//! `n`/`N`: the next or previous match of the applied `/` filter. In the Audit
//! tab's findings and a request's audit history they jump to the next line that
//! matches; the request tabs show only matches, so there they walk the rows (and
//! History's walk reaches the matches the broker finds beyond what is loaded).

use super::command::{Command, ModeKind};
use super::findings;
use super::state::{State, Tab};
use super::text;
use crate::model::{AuditEvent, Finding, Time};

/// A finding's searchable text, lowercase: what the Audit tab shows of it.
fn finding_text(finding: &Finding) -> String {
    let mut text = format!(
        "{} {} {} {}",
        finding.kind, finding.severity, finding.user, finding.detail
    );
    if let Some(reviewer) = &finding.reviewer {
        text.push_str(&format!(" {reviewer}"));
    }
    if let Some(id) = finding.request_id {
        text.push_str(&format!(" {id}"));
    }
    text.push_str(&format!(" {}", finding.roles.join(" ")));
    text.to_lowercase()
}

/// An audit event's searchable text, lowercase: its type, actor, reason and fields.
fn event_text(event: &AuditEvent) -> String {
    let mut text = format!("{} {} {}", event.kind, event.code, event.user);
    if let Some(reason) = &event.reason {
        text.push_str(&format!(" {reason}"));
    }
    for (key, value) in &event.fields {
        text.push_str(&format!(" {key} {value}"));
    }
    text.to_lowercase()
}

/// The index after (or before) `from` whose text contains `needle`, wrapping
/// around; `from` itself comes last.
fn next_index(texts: &[String], from: usize, forward: bool, needle: &str) -> Option<usize> {
    let count = texts.len();
    (1..=count)
        .map(|step| {
            if forward {
                (from + step) % count
            } else {
                (from + count - step % count) % count
            }
        })
        .find(|&i| texts[i].contains(needle))
}

/// Whether `n`/`N` mean something now (for the hint bar).
pub fn offered(state: &State) -> bool {
    !state.filter.is_empty()
}

/// `n` (forward) or `N`.
pub(super) fn jump(state: &mut State, forward: bool, now: Time) {
    let needle = state.filter.to_lowercase();
    if needle.is_empty() {
        let why = format!(
            "no filter to match: type {} and a text first",
            state.keymap.label(ModeKind::Tabs, Command::Filter)
        );
        state.set_notice(why, now, true);
        return;
    }
    let shown = text::inline(&state.filter);
    if let Some(inspect) = state.mode.inspect_mut() {
        let Some(events) = &inspect.events else {
            state.set_notice("the history is still being fetched", now, true);
            return;
        };
        let texts: Vec<String> = events.iter().map(event_text).collect();
        match next_index(&texts, inspect.history_scroll, forward, &needle) {
            Some(index) => inspect.history_scroll = index,
            None => state.set_notice(format!("no event matches \"{shown}\""), now, true),
        }
        return;
    }
    if state.tab != Tab::Audit {
        walk_rows(state, forward, &shown, now);
        return;
    }
    let texts: Vec<String> = state
        .audit
        .findings
        .iter()
        .flatten()
        .map(finding_text)
        .collect();
    match next_index(&texts, state.audit.selected, forward, &needle) {
        Some(index) => findings::select(state, index),
        None => state.set_notice(format!("no finding matches \"{shown}\""), now, true),
    }
}

/// The next (or previous) of the rows, which are the matches; past the last one
/// the broker's further matches are waited for when it holds more, else the walk
/// wraps around.
fn walk_rows(state: &mut State, forward: bool, shown: &str, now: Time) {
    let count = state.rows.len();
    let searching = state.tab == Tab::History
        && state
            .matches
            .as_ref()
            .is_some_and(|m| m.q == state.filter && m.more());
    if count == 0 {
        let why = if searching {
            format!("no match for \"{shown}\" loaded yet: the broker is searching")
        } else {
            format!("no request matches \"{shown}\"")
        };
        state.set_notice(why, now, true);
        return;
    }
    let at = state.selected_index.min(count - 1);
    let index = match (forward, at + 1 < count, at > 0) {
        (true, true, _) => at + 1,
        (false, _, true) => at - 1,
        (true, false, _) if searching => {
            state.set_notice("more matches are coming from the broker", now, false);
            return;
        }
        (true, false, _) => {
            state.set_notice(
                format!("back at the first match of \"{shown}\""),
                now,
                false,
            );
            0
        }
        (false, _, false) => {
            state.set_notice(format!("at the last match of \"{shown}\""), now, false);
            count - 1
        }
    };
    state.select_index(index);
}

#[cfg(test)]
mod tests {
    use super::next_index;

    #[test]
    fn matches_are_found_after_the_cursor_and_wrap_around() {
        let texts: Vec<String> = ["a x", "b", "c x", "d"].map(String::from).to_vec();
        assert_eq!(next_index(&texts, 0, true, "x"), Some(2));
        assert_eq!(next_index(&texts, 2, true, "x"), Some(0));
        assert_eq!(next_index(&texts, 2, false, "x"), Some(0));
        assert_eq!(next_index(&texts, 0, false, "x"), Some(2));
        assert_eq!(next_index(&texts, 1, true, "zz"), None);
        // The only match is where the cursor is: it stays.
        assert_eq!(next_index(&texts, 0, true, "a"), Some(0));
        assert_eq!(next_index(&[], 0, true, "a"), None);
    }
}
