//! The loop: terminal events, a one-second tick and broker messages become actions;
//! `update` changes the state; effects go to the network side; frames are drawn
//! coalesced (once per burst) inside synchronized updates. The terminal is restored
//! on every way out: normal exit, error, panic (ratatui's hook) and SIGTERM.

use std::io::{self, Stdout};
use std::time::Duration as StdDuration;

use crossterm::event::{
    DisableMouseCapture, EnableMouseCapture, Event, EventStream, MouseEventKind,
};
use crossterm::execute;
use crossterm::terminal::{BeginSynchronizedUpdate, EndSynchronizedUpdate};
use futures_util::StreamExt;
use ratatui::Terminal;
use ratatui::backend::CrosstermBackend;
use tokio::sync::mpsc;

use super::action::{Action, Effect};
use super::state::State;
use super::{update, view};

/// Owns the terminal in raw mode on the alternate screen; gives it back on drop.
pub struct Screen {
    terminal: Terminal<CrosstermBackend<Stdout>>,
}

impl Screen {
    pub fn enter() -> io::Result<Screen> {
        // Installs a panic hook that restores the terminal before the message prints.
        let mut terminal = ratatui::try_init()?;
        // Click to select, wheel to scroll; Shift still selects text in most terminals.
        execute!(terminal.backend_mut(), EnableMouseCapture)?;
        Ok(Screen { terminal })
    }

    fn draw(&mut self, state: &State) -> io::Result<()> {
        let now = chrono::Utc::now();
        execute!(self.terminal.backend_mut(), BeginSynchronizedUpdate)?;
        let drawn = self
            .terminal
            .draw(|frame| view::draw(state, frame, now))
            .map(|_| ());
        execute!(self.terminal.backend_mut(), EndSynchronizedUpdate)?;
        drawn
    }
}

impl Drop for Screen {
    fn drop(&mut self) {
        let _ = execute!(self.terminal.backend_mut(), DisableMouseCapture);
        let _ = self.terminal.show_cursor();
        ratatui::restore();
    }
}

/// Runs the console until the user quits or SIGTERM arrives. `network` brings the
/// broker's messages in; `effects` takes review submissions, refreshes and
/// notifications out. Returns the final state.
pub async fn run(
    mut state: State,
    mut network: mpsc::UnboundedReceiver<Action>,
    effects: mpsc::UnboundedSender<Effect>,
) -> anyhow::Result<State> {
    let mut screen = Screen::enter()?;
    let mut events = EventStream::new();
    let mut tick = tokio::time::interval(StdDuration::from_secs(1));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    let mut terminate = terminate_signal()?;
    // A closed terminal (SIGHUP) ends the console the same way, so the demo's
    // temporary directory is removed on the way out.
    let mut hangup = hangup_signal()?;
    let size = screen.terminal.size()?;
    update(
        &mut state,
        Action::Resize {
            width: size.width,
            height: size.height,
        },
        chrono::Utc::now(),
    );
    let mut network_open = true;
    loop {
        screen.draw(&state)?;
        let action = tokio::select! {
            event = events.next() => match event {
                Some(Ok(event)) => translate(&state, event),
                Some(Err(error)) => return Err(error.into()),
                None => break,
            },
            action = network.recv(), if network_open => match action {
                Some(action) => Some(action),
                None => {
                    network_open = false;
                    None
                }
            },
            _ = tick.tick() => Some(Action::Tick),
            _ = terminate.recv() => break,
            _ = hangup.recv() => break,
        };
        let mut quit = apply(&mut state, action, &effects, &mut screen);
        // Coalesce: apply everything else already waiting before drawing again.
        while let Ok(action) = network.try_recv() {
            quit |= apply(&mut state, Some(action), &effects, &mut screen);
        }
        if quit {
            break;
        }
    }
    drop(screen);
    Ok(state)
}

fn translate(state: &State, event: Event) -> Option<Action> {
    match event {
        Event::Key(key) => super::input::action_for(state, key),
        Event::Resize(width, height) => Some(Action::Resize { width, height }),
        Event::Mouse(mouse) => match mouse.kind {
            MouseEventKind::Down(crossterm::event::MouseButton::Left) => Some(Action::Click {
                column: mouse.column,
                row: mouse.row,
            }),
            MouseEventKind::ScrollDown => Some(Action::Wheel(1)),
            MouseEventKind::ScrollUp => Some(Action::Wheel(-1)),
            _ => None,
        },
        _ => None,
    }
}

/// Returns whether the user asked to quit.
fn apply(
    state: &mut State,
    action: Option<Action>,
    effects: &mpsc::UnboundedSender<Effect>,
    screen: &mut Screen,
) -> bool {
    let Some(action) = action else { return false };
    let mut quit = false;
    for effect in update(state, action, chrono::Utc::now()) {
        match effect {
            Effect::Quit => quit = true,
            Effect::Copy(text) => {
                use std::io::Write;
                // A terminal that cannot take it ignores it; nothing to report.
                let out = screen.terminal.backend_mut();
                let _ = out.write_all(super::clipboard::osc52(&text).as_bytes());
                let _ = out.flush();
            }
            // The network side may be gone (offline demo, shutting down): nothing to do.
            other => {
                let _ = effects.send(other);
            }
        }
    }
    quit
}

#[cfg(unix)]
fn terminate_signal() -> io::Result<impl SignalStream> {
    tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
}

#[cfg(not(unix))]
fn terminate_signal() -> io::Result<impl SignalStream> {
    Ok(NeverSignal)
}

#[cfg(unix)]
fn hangup_signal() -> io::Result<impl SignalStream> {
    tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup())
}

#[cfg(not(unix))]
fn hangup_signal() -> io::Result<impl SignalStream> {
    Ok(NeverSignal)
}

/// Waits for Ctrl-C, SIGTERM or SIGHUP: how a headless demo is stopped.
pub async fn until_stopped() -> io::Result<()> {
    let mut terminate = terminate_signal()?;
    let mut hangup = hangup_signal()?;
    tokio::select! {
        stopped = tokio::signal::ctrl_c() => stopped,
        _ = terminate.recv() => Ok(()),
        _ = hangup.recv() => Ok(()),
    }
}

/// The one thing the loop needs from a signal: wait for the next one.
pub trait SignalStream {
    fn recv(&mut self) -> impl std::future::Future<Output = Option<()>>;
}

#[cfg(unix)]
impl SignalStream for tokio::signal::unix::Signal {
    fn recv(&mut self) -> impl std::future::Future<Output = Option<()>> {
        tokio::signal::unix::Signal::recv(self)
    }
}

#[cfg(not(unix))]
struct NeverSignal;

#[cfg(not(unix))]
impl SignalStream for NeverSignal {
    fn recv(&mut self) -> impl std::future::Future<Output = Option<()>> {
        std::future::pending()
    }
}
