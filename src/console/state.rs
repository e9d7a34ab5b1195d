//! What the console knows and shows. Changed only by `update`; read by `draw`.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use ratatui_textarea::TextArea;
use uuid::Uuid;

use super::action::Effect;
use super::command::ModeKind;
use super::flags::{Flags, Repeats, Tickets};
use super::keymap::Keymap;
use super::theme::Theme;
use crate::model::api::WhoAmI;
use crate::model::certificate::CertificateSummary;
use crate::model::{
    AuditEvent, Decision, Duration, Finding, FindingKind, IncidentOutcome, Request, Time,
};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tab {
    /// Pending requests.
    Queue,
    /// Approved, access not over yet.
    Active,
    /// Everything resolved.
    History,
    /// The weekly review's findings (rule `event: list`).
    Audit,
}

impl Tab {
    pub const ALL: [Tab; 4] = [Tab::Queue, Tab::Active, Tab::History, Tab::Audit];

    pub fn title(self) -> &'static str {
        match self {
            Tab::Queue => "Queue",
            Tab::Active => "Active",
            Tab::History => "History",
            Tab::Audit => "Audit",
        }
    }

    pub fn index(self) -> usize {
        Tab::ALL.iter().position(|t| *t == self).unwrap_or(0)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SortKey {
    Age,
    Requester,
    Votes,
}

impl SortKey {
    pub fn next(self) -> SortKey {
        match self {
            SortKey::Age => SortKey::Requester,
            SortKey::Requester => SortKey::Votes,
            SortKey::Votes => SortKey::Age,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            SortKey::Age => "age",
            SortKey::Requester => "requester",
            SortKey::Votes => "votes",
        }
    }
}

/// The Audit tab's order. `Kind` groups the findings under a heading per kind.
pub use crate::model::FindingSort;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Connection {
    Connecting,
    /// The stream is open again but could not resume from an id: listing what
    /// happened meanwhile before saying "live".
    CatchingUp,
    /// Following the event stream.
    Live,
    /// The stream is unavailable; listing every few seconds.
    Polling,
    /// The broker cannot be reached; showing the last known queue.
    Offline,
}

/// What the console knows about a role beyond its name.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct RoleInfo {
    pub name: String,
    pub request_prompt: Option<String>,
    pub max_session_ttl: Option<Duration>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DialogFocus {
    Roles,
    Reason,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoleChoice {
    pub name: String,
    pub granted: bool,
}

/// A review being written, kept per request when the dialog is closed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Draft {
    pub decision: Decision,
    pub lines: Vec<String>,
    pub roles: Vec<RoleChoice>,
}

/// The reason of a cancelled bulk review, for the same decision on the same
/// requests only.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BulkDraft {
    pub decision: Decision,
    pub targets: Vec<Uuid>,
    pub lines: Vec<String>,
}

/// The review dialog, pinned to the request ids it was opened on.
#[derive(Debug, Clone)]
pub struct Dialog {
    pub decision: Decision,
    pub targets: Vec<Uuid>,
    /// The role subset picker (single approvals only).
    pub roles: Vec<RoleChoice>,
    pub role_cursor: usize,
    pub focus: DialogFocus,
    pub editor: TextArea<'static>,
    pub error: Option<String>,
    /// Submitted and not answered yet.
    pub in_flight: BTreeSet<Uuid>,
}

impl Dialog {
    pub fn reason(&self) -> String {
        self.editor.lines().join("\n")
    }

    pub fn is_bulk(&self) -> bool {
        self.targets.len() > 1
    }
}

/// What a note dialog records: a finding's mark, or the post-incident review an
/// approved emergency owes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NoteKind {
    /// Marks the finding with this key reviewed.
    Finding { key: String },
    /// Records the post-incident review of this request; no outcome until chosen.
    PostIncident {
        id: Uuid,
        outcome: Option<IncidentOutcome>,
    },
    /// Ends this request's approved access now; the reason goes in the audit log.
    Revoke { id: Uuid },
}

/// What a note draft is kept for between openings of its dialog.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum NoteTarget {
    Finding(String),
    PostIncident(Uuid),
    Revoke(Uuid),
}

impl NoteKind {
    pub fn target(&self) -> NoteTarget {
        match self {
            NoteKind::Finding { key } => NoteTarget::Finding(key.clone()),
            NoteKind::PostIncident { id, .. } => NoteTarget::PostIncident(*id),
            NoteKind::Revoke { id } => NoteTarget::Revoke(*id),
        }
    }
}

/// A note being written and kept when its dialog is closed unsent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NoteDraft {
    pub kind: NoteKind,
    pub lines: Vec<String>,
}

/// The dialog that marks a finding reviewed or records a post-incident review: a
/// note editor that refuses blank notes, pinned to what it was opened on.
#[derive(Debug, Clone)]
pub struct NoteDialog {
    pub kind: NoteKind,
    pub editor: TextArea<'static>,
    pub error: Option<String>,
    /// Submitted and not answered yet.
    pub in_flight: bool,
}

impl NoteDialog {
    pub fn note(&self) -> String {
        self.editor.lines().join("\n")
    }
}

/// One request's full detail and audit history, opened from a finding or a list.
#[derive(Debug, Clone, PartialEq)]
pub struct Inspect {
    pub id: Uuid,
    /// The finding it was opened from, for the title.
    pub from: Option<FindingKind>,
    /// The request as fetched, when the listing does not hold it.
    pub fetched: Option<Request>,
    pub request_error: Option<String>,
    /// The request's audit events by `seq`; `None` until the broker answers.
    pub events: Option<Vec<AuditEvent>>,
    pub events_error: Option<String>,
    pub detail_scroll: u16,
    pub history_scroll: usize,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notice {
    pub text: String,
    pub at: Time,
    pub error: bool,
}

/// Updates that arrived while the view was frozen, applied on unfreeze.
#[derive(Debug, Clone, PartialEq)]
pub enum Held {
    Loaded(Vec<Request>),
    Upserted(Box<Request>),
}

/// How many requests each tab holds before filtering.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Counts {
    pub pending: usize,
    pub emergency: usize,
    pub active: usize,
    pub history: usize,
}

pub struct State {
    pub keymap: Keymap,
    pub theme: Theme,
    pub broker: String,
    pub whoami: Option<WhoAmI>,
    /// The broker's notification outbox, once asked: failed ones mean an approver
    /// somewhere was not told.
    pub notifications: Option<crate::model::api::NotificationSummary>,
    pub connection: Connection,
    pub last_update: Option<Time>,
    /// Whether the first full listing arrived.
    pub loaded: bool,
    pub requests: HashMap<Uuid, Request>,
    /// Each requester's requests, newest first.
    pub by_user: HashMap<String, Vec<Uuid>>,
    pub flags: HashMap<Uuid, Flags>,
    pub roles: BTreeMap<String, RoleInfo>,
    pub counts: Counts,
    pub tab: Tab,
    /// The current tab's rows, filtered and sorted: recomputed when data, tab,
    /// filter or sort change, never while drawing.
    pub rows: Vec<Uuid>,
    /// Each request's lowercase text for the `/` filter, built when data changes.
    pub search: HashMap<Uuid, String>,
    /// Bumped whenever requests change, so the sorted tab below can be reused.
    pub generation: u64,
    /// The current tab's requests in order, before the filter, and what for.
    pub sorted: Vec<Uuid>,
    pub sorted_for: Option<(Tab, SortKey, u64)>,
    pub selected: Option<Uuid>,
    /// Where the selection was, to pick a neighbour when its row leaves.
    pub selected_index: usize,
    /// First visible row of the table.
    pub offset: usize,
    /// Rows the table showed at the last resize.
    pub page: usize,
    pub detail_scroll: u16,
    pub marked: BTreeSet<Uuid>,
    /// Arrived since the console started and not selected yet.
    pub unseen: BTreeSet<Uuid>,
    pub filter: String,
    pub sort: SortKey,
    /// `Some` while frozen: what arrived meanwhile.
    pub frozen: Option<Vec<Held>>,
    /// Review drafts by request and decision: an approval's reason never turns up
    /// in a denial.
    pub drafts: HashMap<(Uuid, Decision), Draft>,
    /// The reason of a bulk review that was cancelled.
    pub bulk_draft: Option<BulkDraft>,
    pub note_drafts: HashMap<NoteTarget, NoteDraft>,
    /// What has the keyboard: the tabs, a request's history, a dialog, the filter,
    /// or help over any of them.
    pub mode: Mode,
    /// What names a ticket, for the no-ticket flag.
    pub tickets: Tickets,
    /// When a repeated request is flagged.
    pub repeats: Repeats,
    /// The demo's environment file, when this console runs the demo.
    pub demo_env: Option<DemoEnv>,
    pub notice: Option<Notice>,
    pub size: (u16, u16),
    pub audit: Audit,
    /// The SSH certificates of requests whose detail was shown, asked once each and
    /// again when the request changes.
    pub certificates: HashMap<Uuid, Certificates>,
    /// The history the broker holds beyond what is loaded.
    pub older: super::older::Older,
    /// The broker's search for the applied filter, on the History tab.
    pub matches: Option<super::older::Matches>,
}

/// A request's certificates as far as the console knows them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Certificates {
    /// Asked for, no answer yet.
    Loading,
    Loaded(Vec<CertificateSummary>),
    /// Why the broker would not say.
    Failed(String),
}

/// What has the keyboard. One value, so that two dialogs open at once, or a filter
/// typed under a dialog, cannot be represented.
#[derive(Debug, Clone)]
pub enum Mode {
    /// The tabs: Queue, Active, History, Audit.
    Tabs,
    /// One request's full detail and audit history, over the tabs.
    Inspect(Box<Inspect>),
    /// The `/` filter being typed.
    Filter(String),
    /// The review dialog, over the tabs or a request's history.
    Review {
        dialog: Box<Dialog>,
        over: Option<Box<Inspect>>,
    },
    /// The mark or post-incident review dialog, over the tabs or a history.
    Note {
        dialog: Box<NoteDialog>,
        over: Option<Box<Inspect>>,
    },
    /// The `?` overlay over any other mode, scrolled by `scroll` lines.
    Help { scroll: u16, over: Box<Mode> },
    /// A question over the tabs or a history; `yes` runs when confirmed.
    Confirm(Box<Confirm>),
    /// The demo's environment file over the tabs, scrolled by `scroll` lines.
    Panel { scroll: u16 },
}

/// Where the demo wrote its environment, and what.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DemoEnv {
    pub path: String,
    pub text: String,
}

/// What a confirmation asks and what it then does: a typed effect, not a flag.
#[derive(Debug, Clone, PartialEq)]
pub struct Confirm {
    pub question: String,
    pub yes: Effect,
    /// The history to go back to when refused (else the tabs).
    pub back: Option<Box<Inspect>>,
}

impl Mode {
    pub fn kind(&self) -> ModeKind {
        match self {
            Mode::Tabs => ModeKind::Tabs,
            Mode::Inspect(_) => ModeKind::Inspect,
            Mode::Filter(_) => ModeKind::Filter,
            Mode::Review { .. } => ModeKind::Review,
            Mode::Note { .. } => ModeKind::Note,
            Mode::Help { .. } => ModeKind::Help,
            Mode::Confirm(_) => ModeKind::Confirm,
            Mode::Panel { .. } => ModeKind::Panel,
        }
    }

    /// The mode under the help overlay, or this one.
    pub fn beneath_help(&self) -> &Mode {
        match self {
            Mode::Help { over, .. } => over.beneath_help(),
            other => other,
        }
    }

    fn beneath_help_mut(&mut self) -> &mut Mode {
        match self {
            Mode::Help { over, .. } => over.beneath_help_mut(),
            other => other,
        }
    }

    /// The request history open, under a dialog or help too.
    pub fn inspect(&self) -> Option<&Inspect> {
        match self.beneath_help() {
            Mode::Inspect(inspect) => Some(inspect),
            Mode::Review { over, .. } | Mode::Note { over, .. } => over.as_deref(),
            _ => None,
        }
    }

    pub fn inspect_mut(&mut self) -> Option<&mut Inspect> {
        match self.beneath_help_mut() {
            Mode::Inspect(inspect) => Some(inspect),
            Mode::Review { over, .. } | Mode::Note { over, .. } => over.as_deref_mut(),
            _ => None,
        }
    }

    pub fn dialog(&self) -> Option<&Dialog> {
        match self.beneath_help() {
            Mode::Review { dialog, .. } => Some(dialog),
            _ => None,
        }
    }

    pub fn dialog_mut(&mut self) -> Option<&mut Dialog> {
        match self.beneath_help_mut() {
            Mode::Review { dialog, .. } => Some(dialog),
            _ => None,
        }
    }

    pub fn note(&self) -> Option<&NoteDialog> {
        match self.beneath_help() {
            Mode::Note { dialog, .. } => Some(dialog),
            _ => None,
        }
    }

    pub fn note_mut(&mut self) -> Option<&mut NoteDialog> {
        match self.beneath_help_mut() {
            Mode::Note { dialog, .. } => Some(dialog),
            _ => None,
        }
    }

    /// The filter being typed.
    pub fn filter_input(&self) -> Option<&str> {
        match self.beneath_help() {
            Mode::Filter(input) => Some(input),
            _ => None,
        }
    }

    pub fn help_open(&self) -> bool {
        matches!(self, Mode::Help { .. })
    }

    /// The history a dialog opens over (taken out of this mode).
    fn take_view(&mut self) -> Option<Box<Inspect>> {
        match std::mem::replace(self, Mode::Tabs) {
            Mode::Inspect(inspect) => Some(inspect),
            Mode::Review { over, .. } | Mode::Note { over, .. } => over,
            Mode::Help { mut over, .. } => over.take_view(),
            Mode::Confirm(confirm) => confirm.back,
            Mode::Tabs | Mode::Filter(_) | Mode::Panel { .. } => None,
        }
    }

    pub fn open_review(&mut self, dialog: Dialog) {
        let over = self.take_view();
        *self = Mode::Review {
            dialog: Box::new(dialog),
            over,
        };
    }

    pub fn open_note(&mut self, dialog: NoteDialog) {
        let over = self.take_view();
        *self = Mode::Note {
            dialog: Box::new(dialog),
            over,
        };
    }

    pub fn open_inspect(&mut self, inspect: Inspect) {
        *self = Mode::Inspect(Box::new(inspect));
    }

    /// Closes the review dialog, back to what it was opened over.
    pub fn take_dialog(&mut self) -> Option<Dialog> {
        self.dialog()?;
        match std::mem::replace(self, Mode::Tabs) {
            Mode::Review { dialog, over } => {
                *self = back_to(over);
                Some(*dialog)
            }
            Mode::Help { mut over, scroll } => {
                let dialog = over.take_dialog();
                *self = Mode::Help { over, scroll };
                dialog
            }
            other => {
                *self = other;
                None
            }
        }
    }

    /// Closes the note dialog, back to what it was opened over.
    pub fn take_note(&mut self) -> Option<NoteDialog> {
        self.note()?;
        match std::mem::replace(self, Mode::Tabs) {
            Mode::Note { dialog, over } => {
                *self = back_to(over);
                Some(*dialog)
            }
            Mode::Help { mut over, scroll } => {
                let dialog = over.take_note();
                *self = Mode::Help { over, scroll };
                dialog
            }
            other => {
                *self = other;
                None
            }
        }
    }

    /// Closes a request's history (and anything over it), back to the tabs.
    pub fn close_inspect(&mut self) {
        if self.inspect().is_some() {
            *self = Mode::Tabs;
        }
    }

    /// Asks before `yes`; refusing comes back here.
    pub fn confirm(&mut self, question: String, yes: Effect) {
        let back = self.take_view();
        *self = Mode::Confirm(Box::new(Confirm {
            question,
            yes,
            back,
        }));
    }

    /// Answers the open question: the effect when confirmed; back either way.
    pub fn answer(&mut self, confirmed: bool) -> Option<Effect> {
        let Mode::Confirm(confirm) = std::mem::replace(self, Mode::Tabs) else {
            return None;
        };
        let Confirm { yes, back, .. } = *confirm;
        *self = back_to(back);
        confirmed.then_some(yes)
    }

    /// Opens help over this mode, or closes it.
    pub fn toggle_help(&mut self) {
        *self = match std::mem::replace(self, Mode::Tabs) {
            Mode::Help { over, .. } => *over,
            other => Mode::Help {
                scroll: 0,
                over: Box::new(other),
            },
        };
    }
}

fn back_to(over: Option<Box<Inspect>>) -> Mode {
    match over {
        Some(inspect) => Mode::Inspect(inspect),
        None => Mode::Tabs,
    }
}

/// The Audit tab: findings of the weekly review, in the order of `sort`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Audit {
    /// `None` until the first answer; sorted when they arrive or the sort changes.
    pub findings: Option<Vec<Finding>>,
    pub sort: FindingSort,
    pub window: Option<Duration>,
    pub error: Option<String>,
    pub selected: usize,
    pub offset: usize,
    pub loading: bool,
    /// The audit log moved since the findings were asked for.
    pub stale: bool,
    /// When the findings shown were asked for.
    pub asked_at: Option<Time>,
    /// Where the broker's next page of findings starts; `None` once all are here.
    pub next: Option<String>,
    /// How many findings the broker's report holds, loaded or not.
    pub total: Option<usize>,
    /// A further page was asked for and not answered yet.
    pub more_loading: bool,
    /// Why the last further page could not be had (the next try is `r`).
    pub more_error: Option<String>,
}

impl Audit {
    /// The count the tab shows: the broker's total when it says, else what is here.
    pub fn count(&self) -> Option<usize> {
        let loaded = self.findings.as_ref().map(Vec::len)?;
        Some(self.total.unwrap_or(loaded).max(loaded))
    }

    /// Whether the broker holds findings not loaded yet.
    pub fn more(&self) -> bool {
        self.next.is_some()
    }

    pub fn selected_finding(&self) -> Option<&Finding> {
        self.findings.as_ref().and_then(|f| f.get(self.selected))
    }
}

impl State {
    pub fn new(broker: impl Into<String>, keymap: Keymap, theme: Theme) -> Self {
        State {
            keymap,
            theme,
            broker: broker.into(),
            whoami: None,
            notifications: None,
            connection: Connection::Connecting,
            last_update: None,
            loaded: false,
            requests: HashMap::new(),
            by_user: HashMap::new(),
            flags: HashMap::new(),
            roles: BTreeMap::new(),
            counts: Counts::default(),
            tab: Tab::Queue,
            rows: Vec::new(),
            search: HashMap::new(),
            generation: 0,
            sorted: Vec::new(),
            sorted_for: None,
            selected: None,
            selected_index: 0,
            offset: 0,
            page: 10,
            detail_scroll: 0,
            marked: BTreeSet::new(),
            unseen: BTreeSet::new(),
            filter: String::new(),
            sort: SortKey::Age,
            frozen: None,
            drafts: HashMap::new(),
            bulk_draft: None,
            note_drafts: HashMap::new(),
            mode: Mode::Tabs,
            tickets: Tickets::default(),
            repeats: Repeats::default(),
            demo_env: None,
            notice: None,
            size: (0, 0),
            audit: Audit::default(),
            certificates: HashMap::new(),
            older: Default::default(),
            matches: None,
        }
    }

    pub fn selected_request(&self) -> Option<&Request> {
        self.selected.and_then(|id| self.requests.get(&id))
    }

    /// A request by id: from the listing, else the one fetched for the open view.
    pub fn request(&self, id: &Uuid) -> Option<&Request> {
        self.requests.get(id).or_else(|| {
            self.inspect()
                .and_then(|i| i.fetched.as_ref())
                .filter(|r| r.id == *id)
        })
    }

    /// The request whose detail and history are open.
    pub fn inspected_request(&self) -> Option<&Request> {
        self.inspect().and_then(|i| self.request(&i.id))
    }

    pub fn inspect(&self) -> Option<&Inspect> {
        self.mode.inspect()
    }

    pub fn dialog(&self) -> Option<&Dialog> {
        self.mode.dialog()
    }

    pub fn note(&self) -> Option<&NoteDialog> {
        self.mode.note()
    }

    /// The filter in effect: the one being typed, else the applied one.
    pub fn active_filter(&self) -> &str {
        self.mode.filter_input().unwrap_or(&self.filter)
    }

    /// A line for the status bar: what just happened, or why a key did nothing.
    pub fn set_notice(&mut self, text: impl Into<String>, now: Time, error: bool) {
        self.notice = Some(Notice {
            text: text.into(),
            at: now,
            error,
        });
    }

    pub fn me(&self) -> Option<&str> {
        self.whoami.as_ref().map(|w| w.user.as_str())
    }

    /// Whether the signed-in user may review this request, as far as whoami tells.
    pub fn may_review(&self, request: &Request) -> bool {
        let Some(me) = &self.whoami else { return false };
        request.user != me.user
            && request.review_by(&me.user).is_none()
            && request
                .roles
                .iter()
                .all(|role| me.reviewable_roles.contains(role))
    }

    pub fn flags_of(&self, id: &Uuid) -> Flags {
        self.flags.get(id).copied().unwrap_or_default()
    }

    /// After the rows changed: the selection stays on its request, or moves to
    /// its neighbour when that left.
    pub fn keep_selection(&mut self) {
        let found = self
            .selected
            .and_then(|id| self.rows.iter().position(|row| *row == id));
        match found {
            Some(index) => {
                // Rows arriving or leaving above move a scrolled window with the
                // selection, so the selected row stays where the eye is; an unscrolled
                // window stays at the top, where new emergencies appear.
                if self.offset > 0 {
                    self.offset = (self.offset + index).saturating_sub(self.selected_index);
                }
                self.selected_index = index;
            }
            None if self.rows.is_empty() => {
                self.selected = None;
                self.selected_index = 0;
            }
            None => {
                // The selected row left: take its neighbour, not the top.
                let index = self.selected_index.min(self.rows.len() - 1);
                self.selected_index = index;
                self.selected = Some(self.rows[index]);
                self.detail_scroll = 0;
            }
        }
        self.scroll_to_selection();
    }

    pub fn select_index(&mut self, index: usize) {
        if self.rows.is_empty() {
            return;
        }
        let index = index.min(self.rows.len() - 1);
        if self.selected != Some(self.rows[index]) {
            self.detail_scroll = 0;
        }
        self.selected_index = index;
        self.selected = Some(self.rows[index]);
        self.unseen.remove(&self.rows[index]);
        self.scroll_to_selection();
    }

    /// Moves the table's window just enough to show the selected row.
    pub fn scroll_to_selection(&mut self) {
        let page = self.page.max(1);
        if self.selected_index < self.offset {
            self.offset = self.selected_index;
        } else if self.selected_index >= self.offset + page {
            self.offset = self.selected_index + 1 - page;
        }
        self.offset = self.offset.min(self.rows.len().saturating_sub(page));
    }
}
