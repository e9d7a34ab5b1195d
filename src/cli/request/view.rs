//! How requests look on a terminal: pure functions of the data and `now`, every
//! broker string sanitised.

use std::fmt::Write;

use unicode_width::{UnicodeWidthChar, UnicodeWidthStr};
use uuid::Uuid;

use crate::client::{sanitize_inline, sanitize_multiline};
use crate::model::api::WhoAmI;
use crate::model::{Decision, IncidentOutcome, Request, Review, State, Time};

/// However narrow the terminal, the reason keeps this many columns.
const MIN_REASON_WIDTH: usize = 20;
const ROLES_WIDTH: usize = 32;

/// The short id shown in tables: the last 8 hex digits. A UUID v7 starts with the
/// time, so its head is shared by requests made in the same minute; its tail is random.
pub fn short_id(id: &Uuid) -> String {
    let simple = id.simple().to_string();
    simple[simple.len() - 8..].to_string()
}

/// The hex digits of an id the user typed: the full id or at least 4 of its
/// digits, dashes ignored, any case.
pub fn id_fragment(input: &str) -> Result<String, String> {
    let wanted: String = input
        .trim()
        .chars()
        .filter(|c| *c != '-')
        .collect::<String>()
        .to_ascii_lowercase();
    if wanted.len() < 4 || !wanted.chars().all(|c| c.is_ascii_hexdigit()) {
        return Err(format!(
            "{:?} is not a request id: give the full id or at least 4 of its hex digits",
            sanitize_inline(input)
        ));
    }
    Ok(wanted)
}

/// Which of `ids` the user meant by `input`: a full id, or a unique prefix or suffix
/// of at least 4 hex digits.
pub fn match_id(ids: &[Uuid], input: &str) -> Result<Uuid, String> {
    let wanted = id_fragment(input)?;
    let mut found: Vec<Uuid> = ids
        .iter()
        .filter(|id| {
            let simple = id.simple().to_string();
            simple.starts_with(&wanted) || simple.ends_with(&wanted)
        })
        .copied()
        .collect();
    found.sort();
    found.dedup();
    match found.as_slice() {
        [] => Err(format!("no request you can see matches {wanted:?}")),
        [one] => Ok(*one),
        many => Err(format!(
            "{wanted:?} matches {} requests ({}); give more digits",
            many.len(),
            many.iter()
                .map(|id| id.to_string())
                .collect::<Vec<_>>()
                .join(", ")
        )),
    }
}

/// How long ago: `now`, `45s`, `3m`, `2h`, `5d`.
pub fn age(since: Time, now: Time) -> String {
    compact((now - since).num_seconds().max(0))
}

fn compact(secs: i64) -> String {
    match secs {
        s if s < 5 => "now".to_string(),
        s if s < 60 => format!("{s}s"),
        s if s < 3600 => format!("{}m", s / 60),
        s if s < 86_400 => format!("{}h", s / 3600),
        s => format!("{}d", s / 86_400),
    }
}

/// A length of time to the minute: `45s`, `3m`, `2h5m`, `1d4h`.
fn span(secs: i64) -> String {
    let secs = secs.max(0);
    match secs {
        s if s < 60 => format!("{s}s"),
        s if s < 3600 => format!("{}m", s / 60),
        s if s < 86_400 => match (s % 3600) / 60 {
            0 => format!("{}h", s / 3600),
            m => format!("{}h{m}m", s / 3600),
        },
        s => match (s % 86_400) / 3600 {
            0 => format!("{}d", s / 86_400),
            h => format!("{}d{h}h", s / 86_400),
        },
    }
}

/// `in 2h5m` or `3m ago`.
pub fn relative(at: Time, now: Time) -> String {
    let secs = (at - now).num_seconds();
    if secs >= 0 {
        format!("in {}", span(secs))
    } else {
        format!("{} ago", span(-secs))
    }
}

pub fn time(at: Time) -> String {
    at.format("%Y-%m-%d %H:%M:%S UTC").to_string()
}

fn clock(at: Time) -> String {
    at.format("%H:%M:%S").to_string()
}

/// `carrot✓ vimes✗`
pub fn reviewers(request: &Request) -> String {
    request
        .reviews
        .iter()
        .map(|review| {
            let mark = match review.decision {
                Decision::Approve => '✓',
                Decision::Deny => '✗',
            };
            format!("{}{mark}", sanitize_inline(&review.author))
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// `1/2`: approvals so far over approvals needed.
pub fn votes(request: &Request) -> String {
    let (have, need) = request.votes();
    format!("{have}/{need}")
}

/// Cuts `text` to at most `width` columns, ending in `…` when cut.
pub fn truncate(text: &str, width: usize) -> String {
    if text.width() <= width {
        return text.to_string();
    }
    let mut out = String::new();
    let mut used = 0;
    for c in text.chars() {
        let w = c.width().unwrap_or(0);
        if used + w + 1 > width {
            break;
        }
        out.push(c);
        used += w;
    }
    out.push('…');
    out
}

fn state_cell(request: &Request) -> String {
    let mut cell = request.state.as_str().to_string();
    if request.emergency {
        cell.push_str(" !");
    }
    cell
}

/// The `request ls` table. With `width` (a terminal's), the reason, last, is cut to
/// fit; without (a pipe), it is whole.
pub fn list(requests: &[Request], now: Time, width: Option<usize>) -> String {
    if requests.is_empty() {
        return "No requests.\n".to_string();
    }
    let header = [
        "ID",
        "REQUESTER",
        "ROLES",
        "STATE",
        "VOTES",
        "REVIEWERS",
        "AGE",
        "REASON",
    ];
    let rows: Vec<[String; 8]> = requests
        .iter()
        .map(|r| {
            [
                short_id(&r.id),
                sanitize_inline(&r.user).into_owned(),
                truncate(&sanitize_inline(&r.roles.join(",")), ROLES_WIDTH),
                state_cell(r),
                votes(r),
                reviewers(r),
                age(r.created_at, now),
                sanitize_inline(r.reason.trim()).into_owned(),
            ]
        })
        .collect();
    let mut rows = rows;
    let mut widths: Vec<usize> = header.iter().map(|h| h.width()).collect();
    for row in &rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.width());
        }
    }
    if let Some(width) = width {
        let before: usize = widths[..widths.len() - 1].iter().map(|w| w + 2).sum();
        let room = width.saturating_sub(before).max(MIN_REASON_WIDTH);
        for row in &mut rows {
            row[7] = truncate(&row[7], room);
        }
    }
    let mut out = String::new();
    let mut push_row = |cells: Vec<&str>| {
        let last = cells.len() - 1;
        let mut line = String::new();
        for (i, cell) in cells.into_iter().enumerate() {
            line.push_str(cell);
            if i < last {
                line.push_str(&" ".repeat(widths[i] - cell.width() + 2));
            }
        }
        out.push_str(line.trim_end());
        out.push('\n');
    };
    push_row(header.to_vec());
    for row in &rows {
        push_row(row.iter().map(String::as_str).collect());
    }
    out
}

fn decision_word(decision: Decision) -> &'static str {
    match decision {
        Decision::Approve => "approved",
        Decision::Deny => "denied",
    }
}

/// One line per review as it arrives: `13:05:02  carrot approved: reason`.
pub fn review_line(review: &Review) -> String {
    let mut line = format!(
        "{}  {} {}",
        clock(review.created_at),
        sanitize_inline(&review.author),
        decision_word(review.decision)
    );
    if !review.roles.is_empty() {
        let _ = write!(
            line,
            " (roles: {})",
            sanitize_inline(&review.roles.join(", "))
        );
    }
    let _ = write!(line, ": {}", sanitize_inline(review.reason.trim()));
    line
}

/// The last words of `request create` once the request is no longer pending.
pub fn outcome(request: &Request, now: Time) -> String {
    outcome_for(request, now, true)
}

/// The outcome in words; how to give access back only to the requester, who can.
pub fn outcome_for(request: &Request, now: Time, to_requester: bool) -> String {
    let id = request.id;
    match request.state {
        State::Approved | State::Returned | State::Elapsed | State::Revoked => {
            let roles = sanitize_inline(&request.granted_roles.join(", ")).into_owned();
            let mut text = format!("Approved: {roles} granted");
            if let Some(access) = &request.access {
                let _ = write!(
                    text,
                    " from {} until {} ({}, ends {})",
                    time(access.starts_at),
                    time(access.ends_at),
                    span((access.ends_at - access.starts_at).num_seconds()),
                    relative(access.ends_at, now)
                );
            }
            text.push('.');
            if let Some(by) = &request.resolved_by {
                let _ = write!(text, "\nResolved by override by {}.", sanitize_inline(by));
            }
            if request.state == State::Approved && to_requester {
                let _ = write!(
                    text,
                    "\nGive it back when done: countersign request return {id}"
                );
            }
            if request.post_incident_review_owed() {
                text.push_str("\nThis was an emergency: a post-incident review is owed.");
            }
            text
        }
        State::Denied => {
            let mut text = "Denied".to_string();
            let deny = request
                .reviews
                .iter()
                .rev()
                .find(|r| r.decision == Decision::Deny);
            match (&request.resolved_by, deny) {
                (Some(by), _) => {
                    let _ = write!(text, " by override by {}", sanitize_inline(by));
                    if let Some(reason) = &request.resolve_reason {
                        let _ = write!(text, ": {}", sanitize_inline(reason.trim()));
                    }
                }
                (None, Some(review)) => {
                    let _ = write!(
                        text,
                        " by {}: {}",
                        sanitize_inline(&review.author),
                        sanitize_inline(review.reason.trim())
                    );
                }
                (None, None) => {}
            }
            text.push('.');
            text
        }
        State::Expired => format!(
            "Expired: no decision before the review deadline ({}).",
            time(request.pending_expires_at)
        ),
        State::Withdrawn => "Withdrawn by the requester.".to_string(),
        State::Pending => "Still pending.".to_string(),
    }
}

/// For each requested role, how far each of its clauses has come (counted by the
/// policy's replay, as the broker decides).
fn threshold_progress(request: &Request, out: &mut String) {
    for role in crate::policy::progress(request) {
        let satisfied = role
            .clauses
            .iter()
            .filter(|clause| {
                clause
                    .iter()
                    .any(|t| t.approve > 0 && t.approvals >= t.approve)
            })
            .count();
        let status = if role.clauses.is_empty() {
            String::new()
        } else {
            format!("  {satisfied}/{} rules met", role.clauses.len())
        };
        let _ = writeln!(out, "  {}{status}", sanitize_inline(&role.role));
        for (n, clause) in role.clauses.iter().enumerate() {
            let options: Vec<String> = clause
                .iter()
                .map(|t| {
                    let mark = if t.approve > 0 && t.approvals >= t.approve {
                        " ✓"
                    } else {
                        ""
                    };
                    let name = if t.name.is_empty() {
                        "threshold"
                    } else {
                        &t.name
                    };
                    // A zero count never fires (Teleport's reading of an absent count).
                    let side = |count: u32, of: u32, what: &str| {
                        if of == 0 {
                            format!("{what} never decide")
                        } else {
                            format!("{count}/{of} {what}")
                        }
                    };
                    let mut text = format!(
                        "{}: {}, {}{mark}",
                        sanitize_inline(name),
                        side(t.approvals, t.approve, "approvals"),
                        side(t.denials, t.deny, "denials"),
                    );
                    let filter = request
                        .thresholds
                        .get(t.index)
                        .map(|t| t.filter.trim())
                        .unwrap_or_default();
                    if !filter.is_empty() {
                        let _ = write!(text, " [reviewers where {}]", sanitize_inline(filter));
                    }
                    text
                })
                .collect();
            let _ = writeln!(out, "    rule {}: {}", n + 1, options.join("  or  "));
        }
    }
}

fn indented(text: &str, indent: &str) -> String {
    sanitize_multiline(text.trim_end())
        .lines()
        .map(|line| format!("{indent}{line}\n"))
        .collect()
}

/// Everything about one request, for `request show`.
/// The certificates section of `request show`; nothing when there are none.
pub fn certificates(list: &[crate::model::CertificateSummary], now: Time) -> String {
    let mut out = String::new();
    if list.is_empty() {
        return out;
    }
    let _ = writeln!(out, "Certificates");
    let _ = writeln!(
        out,
        "  {:<8} {:<30} {:<24} STATUS",
        "SERIAL", "LOGINS", "VALID UNTIL"
    );
    for cert in list {
        let status = if cert.revoked {
            "revoked".to_string()
        } else if cert.valid_before <= now {
            "expired".to_string()
        } else {
            format!("valid, ends {}", relative(cert.valid_before, now))
        };
        let _ = writeln!(
            out,
            "  {:<8} {:<30} {:<24} {status}",
            cert.serial,
            sanitize_inline(&cert.principals.join(", ")),
            time(cert.valid_before)
        );
    }
    out
}

pub fn show(request: &Request, now: Time) -> String {
    let mut out = String::new();
    let field = |out: &mut String, name: &str, value: &str| {
        // A name as long as the column still gets its space.
        let _ = writeln!(out, "{name:<18} {value}");
    };
    field(&mut out, "Request", &request.id.to_string());
    let mut state = request.state.as_str().to_string();
    if request.emergency {
        state.push_str("  EMERGENCY");
    }
    field(&mut out, "State", &state);
    field(&mut out, "Requester", &sanitize_inline(&request.user));
    field(
        &mut out,
        "Roles",
        &sanitize_inline(&request.roles.join(", ")),
    );
    if !request.granted_roles.is_empty() && request.granted_roles != request.roles {
        field(
            &mut out,
            "Granted roles",
            &sanitize_inline(&request.granted_roles.join(", ")),
        );
    }
    field(&mut out, "Votes", &votes(request));
    field(
        &mut out,
        "Created",
        &format!(
            "{} ({})",
            time(request.created_at),
            relative(request.created_at, now)
        ),
    );
    if request.state == State::Pending {
        field(
            &mut out,
            "Review deadline",
            &format!(
                "{} ({})",
                time(request.pending_expires_at),
                relative(request.pending_expires_at, now)
            ),
        );
    }
    if let Some(max) = &request.max_duration {
        field(&mut out, "Max duration", &max.to_string());
    }
    if let Some(estimate) = &request.estimate {
        field(&mut out, "Estimate", &estimate.to_string());
    }
    if let Some(access) = &request.access {
        field(
            &mut out,
            "Access",
            &format!(
                "{} until {} ({})",
                time(access.starts_at),
                time(access.ends_at),
                span((access.ends_at - access.starts_at).num_seconds())
            ),
        );
        match access.returned_at {
            Some(ended) if request.state == State::Revoked => {
                field(&mut out, "Revoked", &time(ended))
            }
            Some(returned) => field(&mut out, "Returned", &time(returned)),
            None if request.state == State::Approved => {
                field(&mut out, "Access ends", &relative(access.ends_at, now))
            }
            None => {}
        }
    }
    if !request.suggested_reviewers.is_empty() {
        field(
            &mut out,
            "Suggested reviewers",
            &sanitize_inline(&request.suggested_reviewers.join(", ")),
        );
    }
    for (key, values) in &request.annotations {
        field(
            &mut out,
            &format!("Annotation {}", sanitize_inline(key)),
            &sanitize_inline(&values.join(", ")),
        );
    }
    out.push_str("Reason\n");
    if request.reason.trim().is_empty() {
        out.push_str("  (none given)\n");
    } else {
        out.push_str(&indented(&request.reason, "  "));
    }
    out.push_str("Approval rules\n");
    threshold_progress(request, &mut out);
    if request.reviews.is_empty() {
        out.push_str("Reviews            none yet\n");
    } else {
        out.push_str("Reviews\n");
        for review in &request.reviews {
            let mut head = format!(
                "  {} {} at {} ({})",
                sanitize_inline(&review.author),
                decision_word(review.decision),
                time(review.created_at),
                relative(review.created_at, now)
            );
            if !review.roles.is_empty() {
                let _ = write!(
                    head,
                    ", roles: {}",
                    sanitize_inline(&review.roles.join(", "))
                );
            }
            out.push_str(&head);
            out.push('\n');
            out.push_str(&indented(&review.reason, "      "));
        }
    }
    if let Some(resolved_at) = request.resolved_at {
        let mut text = time(resolved_at);
        if let Some(by) = &request.resolved_by {
            let _ = write!(text, " by override by {}", sanitize_inline(by));
        }
        field(&mut out, "Resolved", &text);
        // After reviews, the reason is already shown with them; an override's is its own.
        if request.resolved_by.is_some()
            && let Some(reason) = request
                .resolve_reason
                .as_deref()
                .filter(|r| !r.trim().is_empty())
        {
            out.push_str(&indented(reason, "  "));
        }
    }
    if let Some(pir) = &request.post_incident_review {
        let outcome = match pir.outcome {
            IncidentOutcome::Justified => "justified",
            IncidentOutcome::Unjustified => "unjustified",
        };
        field(
            &mut out,
            "Post-incident",
            &format!(
                "{outcome} by {} at {}",
                sanitize_inline(&pir.author),
                time(pir.created_at)
            ),
        );
        out.push_str(&indented(&pir.notes, "  "));
    } else if request.post_incident_review_owed() {
        field(
            &mut out,
            "Post-incident",
            "owed (emergency access was granted)",
        );
    }
    out
}

/// `countersign whoami`.
pub fn whoami(me: &WhoAmI) -> String {
    let mut out = String::new();
    let list = |items: &[String]| {
        if items.is_empty() {
            "(none)".to_string()
        } else {
            sanitize_inline(&items.join(", ")).into_owned()
        }
    };
    let _ = writeln!(out, "{:<14}{}", "User", sanitize_inline(&me.user));
    let _ = writeln!(out, "{:<14}{}", "Roles", list(&me.roles));
    if me.traits.is_empty() {
        let _ = writeln!(out, "{:<14}(none)", "Traits");
    } else {
        let _ = writeln!(out, "Traits");
        for (key, values) in &me.traits {
            let _ = writeln!(out, "  {}: {}", sanitize_inline(key), list(values));
        }
    }
    let _ = writeln!(out, "{:<14}{}", "May request", list(&me.requestable_roles));
    let _ = writeln!(out, "{:<14}{}", "May review", list(&me.reviewable_roles));
    let _ = writeln!(
        out,
        "{:<14}{}",
        "Reason",
        if me.reason_required {
            "required when requesting"
        } else {
            "optional"
        }
    );
    if me.request_access.login_needs_request() {
        let _ = writeln!(
            out,
            "{:<14}every login needs an access request (request_access: {})",
            "Access",
            me.request_access.as_str()
        );
    }
    if let Some(prompt) = me
        .request_prompt
        .as_deref()
        .filter(|p| !p.trim().is_empty())
    {
        let _ = writeln!(out, "Prompt");
        out.push_str(&indented(prompt, "  "));
    }
    let mut rights = Vec::new();
    if me.can_list_all {
        rights.push("see all requests");
    }
    if me.can_override {
        rights.push("resolve requests by override");
    }
    if me.can_audit {
        rights.push("read the audit log");
    }
    if !rights.is_empty() {
        let _ = writeln!(out, "{:<14}{}", "Also may", rights.join(", "));
    }
    out
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use chrono::TimeZone;

    use super::*;
    use crate::model::{Access, Threshold};

    fn at(h: u32, m: u32, s: u32) -> Time {
        chrono::Utc
            .with_ymd_and_hms(2026, 11, 21, h, m, s)
            .single()
            .unwrap()
    }

    fn id(tail: u32) -> Uuid {
        Uuid::parse_str(&format!("0190a1b2-c3d4-7e5f-8a9b-0000{tail:08x}")).unwrap()
    }

    fn request(tail: u32) -> Request {
        Request {
            id: id(tail),
            user: "alice".into(),
            roles: vec!["production-db-access".into()],
            granted_roles: vec![],
            state: State::Pending,
            reason: "Investigating error spike, see incident #47".into(),
            emergency: false,
            created_at: at(12, 0, 0),
            pending_expires_at: at(20, 0, 0),
            max_duration: None,
            estimate: None,
            access: None,
            thresholds: vec![Threshold {
                name: "two".into(),
                filter: String::new(),
                approve: 2,
                deny: 1,
            }],
            role_thresholds: BTreeMap::from([("production-db-access".into(), vec![vec![0]])]),
            reviews: vec![],
            resolved_at: None,
            resolve_reason: None,
            resolved_by: None,
            suggested_reviewers: vec![],
            annotations: BTreeMap::new(),
            requester_annotations: BTreeMap::new(),
            request_prompt: None,
            post_incident_review: None,
        }
    }

    fn review(author: &str, decision: Decision, minute: u32) -> Review {
        Review {
            author: author.into(),
            decision,
            reason: format!("{author} says so"),
            roles: vec![],
            created_at: at(12, minute, 0),
            threshold_indexes: vec![0],
        }
    }

    #[test]
    fn ages_are_compact() {
        let now = at(12, 0, 0);
        assert_eq!(age(now, now), "now");
        assert_eq!(age(at(11, 59, 15), now), "45s");
        assert_eq!(age(at(11, 57, 0), now), "3m");
        assert_eq!(age(at(10, 0, 0), now), "2h");
        assert_eq!(age(now - chrono::TimeDelta::days(5), now), "5d");
        assert_eq!(
            age(at(12, 5, 0), now),
            "now",
            "future times are not negative"
        );
    }

    #[test]
    fn relative_times_read_both_ways() {
        let now = at(12, 0, 0);
        assert_eq!(relative(at(14, 5, 0), now), "in 2h5m");
        assert_eq!(relative(at(11, 57, 0), now), "3m ago");
    }

    #[test]
    fn short_id_is_the_random_tail() {
        assert_eq!(short_id(&id(0xdeadbeef)), "deadbeef");
    }

    #[test]
    fn ids_match_by_full_prefix_or_suffix() {
        let ids = [id(0xdeadbeef), id(0xfeedbeef)];
        assert_eq!(match_id(&ids, "deadbeef"), Ok(ids[0]));
        assert_eq!(match_id(&ids, &ids[1].to_string()), Ok(ids[1]));
        assert_eq!(match_id(&ids, "DEADBEEF"), Ok(ids[0]));
        let both = match_id(&ids, "beef").unwrap_err();
        assert!(both.contains("matches 2 requests"), "{both}");
        assert!(
            match_id(&ids, "0190a1b2").is_err(),
            "a shared prefix is ambiguous"
        );
        assert!(match_id(&ids, "abc").unwrap_err().contains("at least 4"));
        assert!(match_id(&ids, "zzzz").is_err());
        assert!(
            match_id(&ids, "12345678")
                .unwrap_err()
                .contains("no request")
        );
    }

    #[test]
    fn truncate_counts_columns() {
        assert_eq!(truncate("short", 10), "short");
        assert_eq!(truncate("abcdefghij", 5), "abcd…");
        assert_eq!(truncate("日本語テキスト", 5), "日本…");
    }

    #[test]
    fn list_shows_reviewers_votes_and_age() {
        let mut pending = request(0x1111aaaa);
        pending.reviews.push(review("carrot", Decision::Approve, 1));
        let mut denied = request(0x2222bbbb);
        denied.user = "rincewind".into();
        denied.state = State::Denied;
        denied.emergency = true;
        denied.reason = "EMERGENCY: \x1b[31mred\nalert".into();
        denied.reviews = vec![
            review("carrot", Decision::Approve, 1),
            review("vimes", Decision::Deny, 2),
        ];
        let table = list(&[pending.clone(), denied], at(12, 3, 0), None);
        let expected = "\
ID        REQUESTER  ROLES                 STATE     VOTES  REVIEWERS       AGE  REASON
1111aaaa  alice      production-db-access  pending   1/2    carrot✓         3m   Investigating error spike, see incident #47
2222bbbb  rincewind  production-db-access  denied !  1/2    carrot✓ vimes✗  3m   EMERGENCY: \\x1b[31mred\\nalert
";
        assert_eq!(table, expected);
        let narrow = list(&[pending], at(12, 3, 0), Some(100));
        let row = narrow.lines().nth(1).unwrap_or_default();
        assert_eq!(row.width(), 100, "{row}");
        assert!(row.ends_with("  Investigating error spik…"), "{row}");
    }

    #[test]
    fn empty_list_says_so() {
        assert_eq!(list(&[], at(12, 0, 0), Some(80)), "No requests.\n");
    }

    #[test]
    fn review_lines_are_sanitised() {
        let mut r = review("carrot", Decision::Approve, 5);
        r.reason = "ok\u{202e}evil".into();
        r.roles = vec!["db".into()];
        assert_eq!(
            review_line(&r),
            "12:05:00  carrot approved (roles: db): ok\\u{202e}evil"
        );
    }

    #[test]
    fn outcome_of_an_approval_names_roles_and_window() {
        let mut r = request(1);
        r.state = State::Approved;
        r.granted_roles = r.roles.clone();
        r.access = Some(Access {
            starts_at: at(12, 0, 0),
            ends_at: at(16, 0, 0),
            returned_at: None,
        });
        let text = outcome(&r, at(12, 0, 0));
        assert!(text.starts_with(
            "Approved: production-db-access granted from 2026-11-21 12:00:00 UTC until 2026-11-21 16:00:00 UTC (4h, ends in 4h)."
        ), "{text}");
        assert!(text.contains("countersign request return"));
        // The reviewer who approved it cannot give it back: not told to.
        let told = outcome_for(&r, at(12, 0, 0), false);
        assert!(!told.contains("Give it back"), "{told}");
        assert!(
            told.starts_with("Approved: production-db-access granted"),
            "{told}"
        );
    }

    #[test]
    fn show_keeps_a_space_after_a_long_field_name() {
        let mut r = request(1);
        r.suggested_reviewers = vec!["nosuchuser".into()];
        let text = show(&r, at(12, 0, 0));
        assert!(text.contains("Suggested reviewers nosuchuser"), "{text}");
        assert!(text.contains("Request            "), "{text}");
    }

    #[test]
    fn outcome_of_a_denial_quotes_the_reviewer() {
        let mut r = request(1);
        r.state = State::Denied;
        r.reviews.push(review("vimes", Decision::Deny, 1));
        assert_eq!(outcome(&r, at(12, 5, 0)), "Denied by vimes: vimes says so.");
        r.state = State::Expired;
        assert!(outcome(&r, at(12, 5, 0)).starts_with("Expired"));
    }

    #[test]
    fn show_has_rules_reviews_and_deadline() {
        let mut r = request(1);
        r.reviews.push(review("carrot", Decision::Approve, 1));
        r.reason = "line one\nline two".into();
        let text = show(&r, at(12, 2, 0));
        assert!(
            text.contains("Review deadline    2026-11-21 20:00:00 UTC (in 7h58m)"),
            "{text}"
        );
        assert!(
            text.contains("  production-db-access  0/1 rules met\n"),
            "{text}"
        );
        assert!(
            text.contains("    rule 1: two: 1/2 approvals, 0/1 denials\n"),
            "{text}"
        );
        assert!(
            text.contains(
                "  carrot approved at 2026-11-21 12:01:00 UTC (1m ago)\n      carrot says so\n"
            ),
            "{text}"
        );
        assert!(text.contains("Reason\n  line one\n  line two\n"), "{text}");
    }

    #[test]
    fn whoami_lists_rights() {
        let me = WhoAmI {
            user: "carrot".into(),
            roles: vec!["reviewer".into()],
            reviewable_roles: vec!["production-access".into()],
            reason_required: true,
            can_override: true,
            request_prompt: Some("Name the incident".into()),
            ..WhoAmI::default()
        };
        let text = whoami(&me);
        assert!(text.contains("May request   (none)\n"), "{text}");
        assert!(text.contains("May review    production-access\n"), "{text}");
        assert!(
            text.contains("Reason        required when requesting\n"),
            "{text}"
        );
        assert!(text.contains("Prompt\n  Name the incident\n"), "{text}");
        assert!(!text.contains("every login"), "{text}");
        let always = WhoAmI {
            request_access: crate::model::api::RequestAccess::Always,
            ..me.clone()
        };
        assert!(
            whoami(&always).contains(
                "Access        every login needs an access request (request_access: always)\n"
            ),
            "{}",
            whoami(&always)
        );
        assert!(
            text.contains("Also may      resolve requests by override\n"),
            "{text}"
        );
    }
}
