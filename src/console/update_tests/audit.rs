//! The Audit tab: fetched once, sorted, kept current as the log moves, the broker's ticket patterns.

use crate::console::action::{Action, Effect};
use crate::console::fixtures::harness::*;
use crate::console::fixtures::{RequestFixture, id, now, queue};
use crate::console::keymap::Command;
use crate::console::state::{SortKey, State, Tab};
use crate::console::update;

#[test]
fn audit_tab_fetches_once_sorts_by_severity_and_navigates() {
    use crate::model::{Duration, FindingKind, Severity};
    let mut state = loaded(queue());
    assert_eq!(cmd(&mut state, Command::PrevTab), vec![fetch_findings()]);
    assert_eq!(state.tab, Tab::Audit);
    // Switching away and back while the answer is pending asks only once.
    cmd(&mut state, Command::NextTab);
    assert!(cmd(&mut state, Command::PrevTab).is_empty());
    let report = crate::model::api::FindingsReport {
        findings: vec![
            finding(FindingKind::NoTicket, Severity::Low, 3, 1),
            finding(FindingKind::FastApproval, Severity::High, 4, 5),
            finding(FindingKind::RepeatRequest, Severity::Medium, 5, 2),
            finding(FindingKind::Override, Severity::High, 2, 1),
        ],
        window: Duration::from_hours(168),
        reviewers: Vec::new(),
        ticket_patterns: Vec::new(),
        repeat_threshold: None,
        next: None,
        total: None,
    };
    update(&mut state, Action::Findings(Ok(report)), now());
    let kinds: Vec<_> = state
        .audit
        .findings
        .as_ref()
        .unwrap()
        .iter()
        .map(|f| f.kind)
        .collect();
    assert_eq!(
        kinds,
        vec![
            FindingKind::Override,
            FindingKind::FastApproval,
            FindingKind::RepeatRequest,
            FindingKind::NoTicket
        ]
    );
    cmd(&mut state, Command::Down);
    cmd(&mut state, Command::Down);
    assert_eq!(
        state.audit.selected_finding().unwrap().kind,
        FindingKind::RepeatRequest
    );
    cmd(&mut state, Command::Bottom);
    assert_eq!(state.audit.selected, 3);
    // Reviews happen in the Queue; the request selection is untouched.
    assert!(cmd(&mut state, Command::Approve).is_empty());
    assert!(state.dialog().is_none());
    assert!(state.notice.as_ref().unwrap().error);
    // Refresh reloads both.
    assert_eq!(
        cmd(&mut state, Command::Refresh),
        vec![fetch_findings(), Effect::Refresh]
    );
    update(&mut state, Action::Findings(Err("forbidden".into())), now());
    assert_eq!(state.audit.error.as_deref(), Some("forbidden"));
    assert_eq!(
        state.audit.findings.as_ref().map(Vec::len),
        Some(4),
        "the last findings are kept"
    );
}

#[test]
fn the_audit_sort_cycles_and_keeps_the_selected_finding() {
    use crate::model::{FindingKind, Severity};
    let mut a = finding(FindingKind::NoTicket, Severity::Low, 3, 1);
    a.user = "angua".into();
    let mut b = finding(FindingKind::FastApproval, Severity::Medium, 4, 5);
    b.user = "vimes".into();
    let mut c = finding(FindingKind::NoTicket, Severity::Low, 5, 9);
    c.user = "carrot".into();
    let d = finding(FindingKind::Override, Severity::High, 2, 3);
    let mut state = audit_tab(vec![a, b, c, d]);
    let order = |state: &State| -> Vec<uuid::Uuid> {
        state
            .audit
            .findings
            .iter()
            .flatten()
            .filter_map(|f| f.request_id)
            .collect()
    };
    assert_eq!(
        order(&state),
        vec![id(2), id(4), id(3), id(5)],
        "severity, then newest"
    );
    cmd(&mut state, Command::Down);
    cmd(&mut state, Command::Down);
    assert_eq!(
        state.audit.selected_finding().unwrap().request_id,
        Some(id(3))
    );
    cmd(&mut state, Command::Sort);
    assert_eq!(state.audit.sort, crate::console::state::FindingSort::Kind);
    // The group with the most severe finding first, then DESIGN §6's order.
    assert_eq!(order(&state), vec![id(2), id(4), id(3), id(5)]);
    assert_eq!(
        state.audit.selected_finding().unwrap().request_id,
        Some(id(3))
    );
    cmd(&mut state, Command::Sort);
    assert_eq!(
        order(&state),
        vec![id(3), id(5), id(2), id(4)],
        "angua, carrot, detritus, vimes"
    );
    cmd(&mut state, Command::Sort);
    assert_eq!(
        order(&state),
        vec![id(3), id(2), id(4), id(5)],
        "newest first"
    );
    assert_eq!(
        state.audit.selected_finding().unwrap().request_id,
        Some(id(3))
    );
    cmd(&mut state, Command::Sort);
    assert_eq!(
        state.audit.sort,
        crate::console::state::FindingSort::Severity
    );
    // The queue's own sort is untouched.
    assert_eq!(state.sort, SortKey::Age);
}

#[test]
fn the_brokers_ticket_patterns_replace_the_defaults_once_findings_arrive() {
    let mut requests = queue();
    requests.push(
        RequestFixture::new(9, "ponder")
            .reason("per JIRA-12, rotate keys")
            .build(),
    );
    let mut state = loaded(requests);
    // Defaults: #47 and INC-2231 name tickets, JIRA-12 does too (two capitals).
    assert!(!state.flags_of(&id(1)).no_ticket);
    assert!(state.flags_of(&id(3)).no_ticket);
    let mut answer = report(Vec::new());
    answer.ticket_patterns = vec![r"\bJIRA-\d+\b".into()];
    cmd(&mut state, Command::PrevTab);
    update(&mut state, Action::Findings(Ok(answer.clone())), now());
    assert!(
        state.flags_of(&id(1)).no_ticket,
        "INC-2231 is not a JIRA ticket"
    );
    assert!(!state.flags_of(&id(9)).no_ticket);
    assert!(state.notice.is_none());

    // Patterns this console cannot use: the defaults, said once, no panic.
    let mut bad = report(Vec::new());
    bad.ticket_patterns = vec!["INC-(".into()];
    update(&mut state, Action::Findings(Ok(bad.clone())), now());
    assert!(!state.flags_of(&id(1)).no_ticket, "back on the defaults");
    let notice = state.notice.take().unwrap();
    assert!(
        notice.error && notice.text.contains("defaults"),
        "{}",
        notice.text
    );
    update(&mut state, Action::Findings(Ok(bad)), now());
    assert!(state.notice.is_none(), "not repeated on every refresh");
    // A broker that says nothing leaves what is in effect.
    update(&mut state, Action::Findings(Ok(report(Vec::new()))), now());
    assert!(!state.flags_of(&id(1)).no_ticket);
}

#[test]
fn the_audit_tab_fetches_again_when_the_log_moves_and_says_stale_meanwhile() {
    use crate::model::{FindingKind, Severity};
    let mut state = audit_tab(vec![finding(FindingKind::NoTicket, Severity::Low, 3, 1)]);
    assert!(!state.audit.stale);
    assert!(
        update(&mut state, Action::Tick, now()).is_empty(),
        "nothing moved"
    );

    // A request changed: the findings may be behind. Fetched again on a tick, but
    // not more often than every couple of seconds.
    update(&mut state, Action::Upserted(pending(8, "angua", 1)), now());
    assert!(state.audit.stale);
    assert!(update(&mut state, Action::Tick, now()).is_empty());
    let later = now() + chrono::TimeDelta::seconds(3);
    assert_eq!(
        update(&mut state, Action::Tick, later),
        vec![fetch_findings()]
    );
    assert!(!state.audit.stale && state.audit.loading);
    // A mark or a refusal moves the log too; one fetch at a time.
    update(&mut state, Action::AuditChanged, later);
    let much_later = later + chrono::TimeDelta::seconds(10);
    assert!(update(&mut state, Action::Tick, much_later).is_empty());
    update(
        &mut state,
        Action::Findings(Ok(report(Vec::new()))),
        much_later,
    );
    assert_eq!(
        update(&mut state, Action::Tick, much_later),
        vec![fetch_findings()],
        "what moved during the fetch is fetched next"
    );
    update(
        &mut state,
        Action::Findings(Ok(report(Vec::new()))),
        much_later,
    );

    // Away from the tab nothing is fetched; coming back to stale findings fetches.
    cmd(&mut state, Command::NextTab);
    update(&mut state, Action::AuditChanged, much_later);
    let then = much_later + chrono::TimeDelta::seconds(10);
    assert!(update(&mut state, Action::Tick, then).is_empty());
    assert_eq!(cmd(&mut state, Command::PrevTab), vec![fetch_findings()]);
}

#[test]
fn the_queue_flags_repeats_with_the_brokers_threshold_once_findings_bring_it() {
    let mut state = loaded(vec![pending(1, "vimes", 30), pending(2, "vimes", 10)]);
    assert_eq!(state.flags_of(&id(2)).repeat, None, "two is not three");
    cmd(&mut state, Command::PrevTab);
    let mut answer = report(Vec::new());
    answer.repeat_threshold = Some(2);
    update(&mut state, Action::Findings(Ok(answer)), now());
    assert_eq!(state.repeats.threshold, 2);
    assert_eq!(state.flags_of(&id(2)).repeat, Some(2));
    // A broker that does not say leaves it as it is.
    update(&mut state, Action::Findings(Ok(report(Vec::new()))), now());
    assert_eq!(state.flags_of(&id(2)).repeat, Some(2));
}

#[test]
fn a_click_in_the_grouped_audit_tab_selects_the_finding_drawn_there() {
    use crate::model::{FindingKind, Severity};
    let mut state = audit_tab(vec![
        finding(FindingKind::Override, Severity::High, 2, 1),
        finding(FindingKind::FastApproval, Severity::Medium, 4, 5),
        finding(FindingKind::NoTicket, Severity::Low, 42, 6),
        finding(FindingKind::FastApproval, Severity::Low, 3, 7),
    ]);
    cmd(&mut state, Command::Sort);
    assert_eq!(state.audit.sort, crate::console::state::FindingSort::Kind);
    let kind = |state: &crate::console::state::State| state.audit.selected_finding().unwrap().kind;
    // Rows from the top of the table's body (screen row 3), the worst group first:
    // the override heading, its finding, the fast_approval heading, two findings,
    // the no_ticket heading, its finding.
    let click = |state: &mut crate::console::state::State, body_row: u16| {
        update(
            state,
            Action::Click {
                column: 10,
                row: 3 + body_row,
            },
            now(),
        );
    };
    click(&mut state, 6);
    assert_eq!(kind(&state), FindingKind::NoTicket);
    click(&mut state, 4);
    assert_eq!(kind(&state), FindingKind::FastApproval);
    assert_eq!(
        state.audit.selected_finding().unwrap().request_id,
        Some(id(3))
    );
    // A heading stands for its group's first finding.
    click(&mut state, 2);
    assert_eq!(
        state.audit.selected_finding().unwrap().request_id,
        Some(id(4))
    );
    click(&mut state, 0);
    assert_eq!(kind(&state), FindingKind::Override);
    // Below the last row: nothing changes.
    click(&mut state, 20);
    assert_eq!(kind(&state), FindingKind::Override);
}

/// `n` low findings about requests 100.., one hour apart (newest first).
fn lows(from: u64, n: u64) -> Vec<crate::model::Finding> {
    use crate::model::{FindingKind, Severity};
    (from..from + n)
        .map(|i| finding(FindingKind::NoTicket, Severity::Low, 100 + i, i as i64 + 1))
        .collect()
}

fn more_after(after: &str) -> Effect {
    Effect::FetchFindings(crate::model::api::ListFindings {
        sort: Some(crate::model::FindingSort::Severity),
        limit: Some(crate::console::findings::PAGE),
        after: Some(after.into()),
        ..Default::default()
    })
}

#[test]
fn findings_come_a_page_at_a_time_as_the_tab_is_scrolled_and_the_count_is_the_brokers() {
    let mut state = loaded(queue());
    cmd(&mut state, Command::PrevTab);
    let mut first = report(lows(0, 60));
    first.next = Some("60/k".into());
    first.total = Some(75);
    // Sixty findings fill more than the 40-line table's page: nothing more yet.
    assert!(update(&mut state, Action::Findings(Ok(first)), now()).is_empty());
    assert_eq!(
        state.audit.count(),
        Some(75),
        "the tab counts what the broker holds"
    );
    assert!(cmd(&mut state, Command::Down).is_empty());
    // Near the end of what is loaded: the next page, once.
    assert_eq!(cmd(&mut state, Command::Bottom), vec![more_after("60/k")]);
    assert!(cmd(&mut state, Command::Up).is_empty(), "asked once");
    // A page for a list since replaced is dropped.
    let mut wrong = report(lows(90, 5));
    wrong.next = None;
    update(
        &mut state,
        Action::MoreFindings {
            after: "other".into(),
            result: Ok(wrong),
        },
        now(),
    );
    assert_eq!(state.audit.findings.as_ref().map(Vec::len), Some(60));
    // The page: one finding already here (it moved up meanwhile) is not doubled.
    let mut page = report(lows(59, 16));
    page.total = Some(75);
    update(
        &mut state,
        Action::MoreFindings {
            after: "60/k".into(),
            result: Ok(page),
        },
        now(),
    );
    assert_eq!(state.audit.findings.as_ref().map(Vec::len), Some(75));
    assert!(!state.audit.more());
    assert!(cmd(&mut state, Command::Bottom).is_empty(), "all loaded");
    // Refreshing asks again for as many as are loaded, from the top.
    state.audit.stale = true;
    let effects = update(
        &mut state,
        Action::Tick,
        now() + chrono::TimeDelta::seconds(5),
    );
    let Some(Effect::FetchFindings(query)) = effects.first() else {
        panic!("a refresh: {effects:?}");
    };
    assert_eq!((query.limit, query.after.as_deref()), (Some(100), None));
}

#[test]
fn a_failed_page_of_findings_says_so_and_waits_for_r() {
    let mut state = loaded(queue());
    cmd(&mut state, Command::PrevTab);
    let mut first = report(lows(0, 3));
    first.next = Some("3/k".into());
    assert_eq!(
        update(&mut state, Action::Findings(Ok(first)), now()),
        vec![more_after("3/k")]
    );
    update(
        &mut state,
        Action::MoreFindings {
            after: "3/k".into(),
            result: Err("503".into()),
        },
        now(),
    );
    assert_eq!(state.audit.more_error.as_deref(), Some("503"));
    assert!(
        cmd(&mut state, Command::Down).is_empty(),
        "not retried by itself"
    );
    let effects = cmd(&mut state, Command::Refresh);
    assert!(effects.contains(&fetch_findings()), "{effects:?}");
    assert_eq!(state.audit.more_error, None);
}

#[test]
fn sorting_a_partial_list_asks_the_broker_for_the_first_in_the_new_order() {
    let mut state = loaded(queue());
    cmd(&mut state, Command::PrevTab);
    let mut first = report(lows(0, 30));
    first.next = Some("30/k".into());
    update(&mut state, Action::Findings(Ok(first)), now());
    let effects = cmd(&mut state, Command::Sort);
    let Some(Effect::FetchFindings(query)) = effects.first() else {
        panic!("the first in the new order: {effects:?}");
    };
    assert_eq!(query.sort, Some(crate::model::FindingSort::Kind));
    assert_eq!(query.after, None);
    // With everything loaded, a sort is done here.
    let mut state = audit_tab(lows(0, 3));
    assert!(cmd(&mut state, Command::Sort).is_empty());
}
