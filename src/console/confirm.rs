//! A question before what cannot be undone (quitting with unsent drafts): `y`
//! does what was asked, `n` or Esc goes back.

use super::action::Effect;
use super::command::{Command, Offer};
use super::state::State;

pub fn commands(_state: &State) -> Vec<Offer> {
    vec![
        Offer::hinted(Command::Confirm, "yes, do it"),
        Offer::hinted(Command::Cancel, "no, go back"),
    ]
}

pub(super) fn run(state: &mut State, command: Command) -> Vec<Effect> {
    let answer = match command {
        Command::Confirm => true,
        Command::Cancel => false,
        _ => return Vec::new(),
    };
    state.mode.answer(answer).into_iter().collect()
}
