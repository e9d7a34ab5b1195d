//! The console's vocabulary of commands and modes, below everything else: the
//! keymap binds keys to commands per mode, each mode's module declares what it
//! offers, and dispatch, the hint bar and `?` read those declarations.

/// Everything a key can ask for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Command {
    Up,
    Down,
    PageUp,
    PageDown,
    Top,
    Bottom,
    Approve,
    Deny,
    Mark,
    ClearMarks,
    Filter,
    Sort,
    Freeze,
    NextTab,
    PrevTab,
    DetailDown,
    DetailUp,
    Refresh,
    Help,
    Quit,
    Submit,
    Cancel,
    SwitchFocus,
    ToggleRole,
    MarkReviewed,
    PostIncident,
    Open,
    Back,
    ApplyFilter,
    ClearFilter,
    Tab1,
    Tab2,
    Tab3,
    Tab4,
    CopyId,
    Confirm,
    DemoEnv,
    Revoke,
    NextMatch,
    PrevMatch,
}

impl Command {
    pub const ALL: [Command; 40] = [
        Command::Up,
        Command::Down,
        Command::PageUp,
        Command::PageDown,
        Command::Top,
        Command::Bottom,
        Command::Approve,
        Command::Deny,
        Command::Mark,
        Command::ClearMarks,
        Command::MarkReviewed,
        Command::PostIncident,
        Command::Open,
        Command::Back,
        Command::Filter,
        Command::Sort,
        Command::Freeze,
        Command::NextTab,
        Command::PrevTab,
        Command::DetailDown,
        Command::DetailUp,
        Command::Refresh,
        Command::Help,
        Command::Quit,
        Command::Submit,
        Command::Cancel,
        Command::SwitchFocus,
        Command::ToggleRole,
        Command::ApplyFilter,
        Command::ClearFilter,
        Command::Tab1,
        Command::Tab2,
        Command::Tab3,
        Command::Tab4,
        Command::CopyId,
        Command::Confirm,
        Command::DemoEnv,
        Command::Revoke,
        Command::NextMatch,
        Command::PrevMatch,
    ];

    /// What the command is called in console.toml's `[keys]` and the hint bar.
    pub fn name(self) -> &'static str {
        match self {
            Command::Up => "up",
            Command::Down => "down",
            Command::PageUp => "page_up",
            Command::PageDown => "page_down",
            Command::Top => "top",
            Command::Bottom => "bottom",
            Command::Approve => "approve",
            Command::Deny => "deny",
            Command::Mark => "mark",
            Command::ClearMarks => "clear_marks",
            Command::Filter => "filter",
            Command::Sort => "sort",
            Command::Freeze => "freeze",
            Command::NextTab => "next_tab",
            Command::PrevTab => "prev_tab",
            Command::DetailDown => "detail_down",
            Command::DetailUp => "detail_up",
            Command::Refresh => "refresh",
            Command::Help => "help",
            Command::Quit => "quit",
            Command::Submit => "submit",
            Command::Cancel => "cancel",
            Command::SwitchFocus => "switch_focus",
            Command::ToggleRole => "toggle_role",
            Command::MarkReviewed => "mark_reviewed",
            Command::PostIncident => "post_incident_review",
            Command::Open => "open",
            Command::Back => "back",
            Command::ApplyFilter => "apply_filter",
            Command::ClearFilter => "clear_filter",
            Command::Tab1 => "tab_1",
            Command::Tab2 => "tab_2",
            Command::Tab3 => "tab_3",
            Command::Tab4 => "tab_4",
            Command::CopyId => "copy_id",
            Command::Confirm => "confirm",
            Command::DemoEnv => "demo_env",
            Command::Revoke => "revoke",
            Command::NextMatch => "next_match",
            Command::PrevMatch => "prev_match",
        }
    }

    pub fn by_name(name: &str) -> Option<Command> {
        Command::ALL.into_iter().find(|c| c.name() == name)
    }
}

/// Which mode has the keyboard; the keymap is keyed by it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ModeKind {
    /// Queue, Active, History and Audit.
    Tabs,
    /// A request's full detail and audit history.
    Inspect,
    /// The `/` filter being typed.
    Filter,
    /// The review dialog.
    Review,
    /// The mark-reviewed and post-incident review dialogs.
    Note,
    /// The `?` overlay.
    Help,
    /// A question before something that cannot be undone (quitting with drafts).
    Confirm,
    /// The demo's environment file, shown.
    Panel,
}

impl ModeKind {
    pub const ALL: [ModeKind; 8] = [
        ModeKind::Tabs,
        ModeKind::Inspect,
        ModeKind::Filter,
        ModeKind::Review,
        ModeKind::Note,
        ModeKind::Help,
        ModeKind::Confirm,
        ModeKind::Panel,
    ];

    /// The heading of the mode's section in `?`.
    pub fn title(self) -> &'static str {
        match self {
            ModeKind::Tabs => "In the tabs",
            ModeKind::Inspect => "In a request's history",
            ModeKind::Filter => "While typing a filter",
            ModeKind::Review => "In the review dialog",
            ModeKind::Note => "In the mark-reviewed, post-incident review and revoke dialogs",
            ModeKind::Help => "In this help",
            ModeKind::Confirm => "When asked to confirm",
            ModeKind::Panel => "In the demo's environment panel",
        }
    }

    /// Whether plain keys type text in this mode (so they cannot be commands).
    pub fn types_text(self) -> bool {
        matches!(self, ModeKind::Filter | ModeKind::Review | ModeKind::Note)
    }
}

/// One command a mode offers: what it does there, and whether the hint bar names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Offer {
    pub command: Command,
    pub about: &'static str,
    pub hint: bool,
    /// What the hint bar calls it, when not the command's own name.
    pub label: Option<&'static str>,
}

impl Offer {
    pub const fn new(command: Command, about: &'static str) -> Offer {
        Offer {
            command,
            about,
            hint: false,
            label: None,
        }
    }

    pub const fn hinted(command: Command, about: &'static str) -> Offer {
        Offer {
            command,
            about,
            hint: true,
            label: None,
        }
    }

    /// Hinted only when `hint` holds (a command that means nothing right now).
    pub const fn hinted_if(self, hint: bool) -> Offer {
        Offer { hint, ..self }
    }

    /// Named otherwise in the hint bar.
    pub const fn labelled(self, label: &'static str) -> Offer {
        Offer {
            label: Some(label),
            ..self
        }
    }

    /// The hint bar's word for it.
    pub fn hint_label(&self) -> String {
        self.label
            .map(str::to_string)
            .unwrap_or_else(|| self.command.name().replace('_', " "))
    }
}
