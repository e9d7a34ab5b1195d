//! Which requests each tab lists, in what order, and what is flagged about them.
//! Computed when data, tab, filter or sort change; drawing only reads the result.

use std::cmp::Ordering;
use std::collections::HashMap;

use uuid::Uuid;

pub use super::flags::{Flags, Repeats, Tickets};
use super::state::{Counts, SortKey, State, Tab};
use crate::model::{Request, State as RequestState, Time};

/// Recomputes flags, counts and the current tab's rows after data changed,
/// keeping the selection on the same request id.
pub fn refresh(state: &mut State, now: Time) {
    index(state, now);
    reorder(state);
}

/// Recomputes the current tab's rows after the tab, filter or sort changed.
pub fn reorder(state: &mut State) {
    // A filter keystroke only filters: the sort is redone when data, tab or sort
    // key change.
    let key = (state.tab, state.sort, state.generation);
    if state.sorted_for != Some(key) {
        state.sorted = sorted(state);
        state.sorted_for = Some(key);
    }
    state.rows = filtered(state);
    state.keep_selection();
}

fn tab_of(request: &Request) -> Tab {
    match request.state {
        RequestState::Pending => Tab::Queue,
        RequestState::Approved => Tab::Active,
        _ => Tab::History,
    }
}

/// Rebuilds the per-user index, flags and counts from every known request.
pub fn index(state: &mut State, now: Time) {
    let mut by_user: HashMap<String, Vec<Uuid>> = HashMap::new();
    for request in state.requests.values() {
        by_user
            .entry(request.user.clone())
            .or_default()
            .push(request.id);
    }
    state.by_user = by_user;
    state.flags.clear();
    state.search.clear();
    let users: Vec<String> = state.by_user.keys().cloned().collect();
    for user in users {
        index_user(state, &user, now);
    }
    count(state);
}

/// Re-sorts one user's requests and recomputes their flags (repeats depend on the
/// user's other requests).
pub fn index_user(state: &mut State, user: &str, now: Time) {
    let Some(ids) = state.by_user.get_mut(user) else {
        return;
    };
    let requests = &state.requests;
    ids.retain(|id| requests.contains_key(id));
    ids.sort_by(|a, b| newest_first(&requests[a], &requests[b]));
    let repeats = state.repeats;
    let window_start = now - chrono::TimeDelta::hours(repeats.window_hours);
    // How often each role was asked for in the window: one pass, not one per request.
    let mut asked: HashMap<&str, usize> = HashMap::new();
    for request in ids
        .iter()
        .map(|id| &requests[id])
        .filter(|r| r.created_at >= window_start)
    {
        for role in &request.roles {
            *asked.entry(role.as_str()).or_default() += 1;
        }
    }
    for id in ids.iter() {
        let request = &requests[id];
        let repeat = request
            .roles
            .iter()
            .map(|role| asked.get(role.as_str()).copied().unwrap_or(0))
            .max()
            .filter(|n| *n >= repeats.threshold && request.created_at >= window_start);
        let flags = Flags {
            emergency: request.emergency,
            no_ticket: !state.tickets.names_ticket(&request.reason),
            repeat,
            post_incident_owed: request.post_incident_review_owed(),
        };
        state.flags.insert(*id, flags);
        state.search.insert(*id, search_text(request));
    }
    state.generation += 1;
}

/// What the `/` filter looks in, lowercased once: requester, roles, reason, id.
fn search_text(request: &Request) -> String {
    let mut text = request.user.to_lowercase();
    for role in &request.roles {
        text.push('\n');
        text.push_str(&role.to_lowercase());
    }
    text.push('\n');
    text.push_str(&request.reason.to_lowercase());
    text.push('\n');
    text.push_str(&request.id.to_string());
    text.push('\n');
    text.push_str(&request.id.simple().to_string());
    text
}

/// Adds or replaces one request and refreshes what depends on it.
pub fn upsert(state: &mut State, request: Request, now: Time) {
    let user = request.user.clone();
    let id = request.id;
    if state.requests.insert(id, request).is_none() {
        state.by_user.entry(user.clone()).or_default().push(id);
    }
    index_user(state, &user, now);
    count(state);
}

/// Adds requests not known yet (a page from the broker) and refreshes each of
/// their requesters once, not once per request.
pub fn add_new(state: &mut State, requests: Vec<Request>, now: Time) {
    let mut users = std::collections::BTreeSet::new();
    for request in requests {
        if state.requests.contains_key(&request.id) {
            continue;
        }
        state
            .by_user
            .entry(request.user.clone())
            .or_default()
            .push(request.id);
        users.insert(request.user.clone());
        state.requests.insert(request.id, request);
    }
    for user in users {
        index_user(state, &user, now);
    }
    count(state);
}

fn count(state: &mut State) {
    let mut counts = Counts::default();
    for request in state.requests.values() {
        match tab_of(request) {
            Tab::Queue => {
                counts.pending += 1;
                counts.emergency += usize::from(request.emergency);
            }
            Tab::Active => counts.active += 1,
            Tab::History => counts.history += 1,
            Tab::Audit => {}
        }
    }
    state.counts = counts;
}

fn newest_first(a: &Request, b: &Request) -> Ordering {
    b.created_at.cmp(&a.created_at).then(b.id.cmp(&a.id))
}

/// Whether a request matches a filter (case-insensitive substring of requester,
/// a role, the reason or the id). `needle` is already lowercase.
pub fn matches(request: &Request, needle: &str) -> bool {
    needle.is_empty()
        || request.user.to_lowercase().contains(needle)
        || request
            .roles
            .iter()
            .any(|role| role.to_lowercase().contains(needle))
        || request.reason.to_lowercase().contains(needle)
        || request.id.to_string().contains(needle)
        || request.id.simple().to_string().contains(needle)
}

/// The sorted rows kept in `state.sorted`, narrowed by the filter.
pub fn filtered(state: &State) -> Vec<Uuid> {
    let needle = state.active_filter().trim().to_lowercase();
    if needle.is_empty() {
        return state.sorted.clone();
    }
    state
        .sorted
        .iter()
        .filter(|id| match state.search.get(*id) {
            Some(text) => text.contains(needle.as_str()),
            None => state.requests.get(*id).is_some_and(|r| matches(r, &needle)),
        })
        .copied()
        .collect()
}

/// The current tab's requests in display order, before any filter.
pub fn sorted(state: &State) -> Vec<Uuid> {
    let mut rows: Vec<&Request> = state
        .requests
        .values()
        .filter(|r| tab_of(r) == state.tab)
        .collect();
    let queue = state.tab == Tab::Queue;
    rows.sort_by(|a, b| {
        // Emergencies first and loudest in the queue, whatever the sort.
        let emergency = if queue {
            b.emergency.cmp(&a.emergency)
        } else {
            Ordering::Equal
        };
        let age = if queue {
            a.created_at.cmp(&b.created_at).then(a.id.cmp(&b.id))
        } else {
            newest_first(a, b)
        };
        let key = match state.sort {
            SortKey::Age => Ordering::Equal,
            SortKey::Requester => a.user.cmp(&b.user),
            SortKey::Votes => remaining(a).cmp(&remaining(b)),
        };
        emergency.then(key).then(age)
    });
    rows.into_iter().map(|r| r.id).collect()
}

/// Approvals still missing.
fn remaining(request: &Request) -> usize {
    let (have, need) = request.votes();
    need.saturating_sub(have)
}

/// Per requested role: (matching approvals counted, approvals needed), for the
/// detail pane's threshold progress.
pub fn role_progress(request: &Request, role: &str) -> (usize, usize) {
    crate::policy::role_votes(request, role)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::audit::{DEFAULT_TICKET_PATTERNS, MAX_PATTERN_BYTES};
    use crate::console::fixtures::{RequestFixture, now};
    use crate::console::flags::MAX_TICKET_PATTERNS;
    use crate::model::{Decision, Review, Threshold};

    #[test]
    fn tickets_are_recognised_by_the_audit_defaults() {
        let tickets = Tickets::default();
        assert_eq!(tickets.patterns(), DEFAULT_TICKET_PATTERNS);
        for reason in [
            "see incident #47",
            "INC-123 pager",
            "per OPS-9",
            "(SEC2-88)",
        ] {
            assert!(tickets.names_ticket(reason), "{reason}");
        }
        // As the broker's no_ticket: a one-letter prefix is not a ticket.
        for reason in [
            "restart the thing",
            "#hashtag",
            "inc-123",
            "A-",
            "X-1",
            "2-4 hours",
        ] {
            assert!(!tickets.names_ticket(reason), "{reason}");
        }
    }

    #[test]
    fn the_brokers_patterns_replace_the_defaults_and_bad_ones_are_refused() {
        let tickets = Tickets::from_broker(&[r"\bJIRA-\d+\b".to_string()]).unwrap();
        assert!(tickets.names_ticket("see JIRA-12"));
        assert!(!tickets.names_ticket("see #12"));
        assert!(tickets.was_told(&[r"\bJIRA-\d+\b".to_string()]));
        // Not a regex, too long, too big once compiled, too many.
        let refused = [
            vec!["INC-(".to_string()],
            vec!["a".repeat(MAX_PATTERN_BYTES + 1)],
            vec![r"\w{1000}\w{1000}\w{1000}".to_string()],
            vec!["x".to_string(); MAX_TICKET_PATTERNS + 1],
        ];
        for patterns in refused {
            assert!(
                Tickets::from_broker(&patterns).is_err(),
                "{:.40?}",
                patterns
            );
        }
    }

    #[test]
    fn matching_is_case_insensitive_and_covers_ids() {
        let request = RequestFixture::new(1, "Adora-Belle").build();
        assert!(matches(&request, "adora"));
        assert!(matches(&request, "production-acc"));
        assert!(matches(&request, "merchants-guild"));
        assert!(matches(&request, &request.id.to_string()[..13]));
        assert!(!matches(&request, "vimes"));
    }

    #[test]
    fn role_progress_counts_matching_approvals_per_role() {
        let mut request = RequestFixture::new(1, "vimes")
            .roles(["production-db-access", "production-access"])
            .needs(2)
            .build();
        request.thresholds.push(Threshold {
            name: "dba".into(),
            filter: "x".into(),
            approve: 1,
            deny: 1,
        });
        // production-access: either threshold 0 (2 approvals) or threshold 1 (1 approval).
        request
            .role_thresholds
            .insert("production-access".into(), vec![vec![0, 1]]);
        let review = |author: &str, roles: Vec<String>, indexes: Vec<usize>| Review {
            author: author.into(),
            decision: Decision::Approve,
            reason: "ok".into(),
            roles,
            created_at: now(),
            threshold_indexes: indexes,
        };
        assert_eq!(role_progress(&request, "production-db-access"), (0, 2));
        assert_eq!(role_progress(&request, "production-access"), (0, 1));
        request.reviews.push(review("carrot", vec![], vec![0]));
        assert_eq!(role_progress(&request, "production-db-access"), (1, 2));
        // A subset approval counts only for the roles it names.
        request.reviews.push(review(
            "adora-belle",
            vec!["production-access".into()],
            vec![0, 1],
        ));
        assert_eq!(role_progress(&request, "production-db-access"), (1, 2));
        let (have, need) = role_progress(&request, "production-access");
        assert_eq!(have, need, "satisfied by either threshold");
        // Before adora-belle, the easier threshold shows what is missing.
        request.reviews.pop();
        request.reviews[0].threshold_indexes = vec![0];
        assert_eq!(role_progress(&request, "production-access"), (1, 2));
    }

    #[test]
    fn repeat_requests_count_within_the_window_only() {
        use crate::console::keymap::Keymap;
        use crate::console::theme::Theme;
        let mut state = State::new("b", Keymap::default(), Theme::no_color());
        let asks = [(1, 10), (2, 60 * 24), (3, 60 * 24 * 6), (4, 60 * 24 * 8)];
        for (n, age) in asks {
            let request = RequestFixture::new(n, "detritus")
                .reason("again")
                .age_mins(age)
                .build();
            state.requests.insert(request.id, request);
        }
        let other = RequestFixture::new(5, "ponder")
            .roles(["developer-db"])
            .build();
        state.requests.insert(other.id, other);
        index(&mut state, now());
        let flags = |n| state.flags_of(&crate::console::fixtures::id(n));
        assert_eq!(
            flags(1).repeat,
            Some(3),
            "the 8-day-old request is outside the window"
        );
        assert_eq!(flags(3).repeat, Some(3));
        assert_eq!(flags(4).repeat, None, "itself outside the window");
        assert_eq!(flags(5).repeat, None);
        assert!(flags(1).no_ticket && !flags(5).no_ticket);
    }
}
