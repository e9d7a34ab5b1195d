//! Drawing the queue screen (200×60) with 100 and 100,000 known requests: the table
//! builds rows for the visible slice only, so both should cost about the same. Also a
//! filter keystroke over 100,000 requests.

use std::hint::black_box;

use countersign::console::action::Action;
use countersign::console::fixtures;
use countersign::console::keymap::Keymap;
use countersign::console::state::State;
use countersign::console::theme::Theme;
use countersign::console::{update, view};
use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use ratatui::Terminal;
use ratatui::backend::TestBackend;

const WIDTH: u16 = 200;
const HEIGHT: u16 = 60;

fn loaded(n: u64) -> State {
    let now = fixtures::now();
    let mut state = State::new("http://127.0.0.1:7800", Keymap::default(), Theme::default());
    update(
        &mut state,
        Action::Resize {
            width: WIDTH,
            height: HEIGHT,
        },
        now,
    );
    update(&mut state, Action::Loaded(fixtures::many(n)), now);
    // Somewhere in the middle, so the visible slice is not the first page.
    let middle = state.rows.len() / 2;
    state.select_index(middle);
    state
}

fn render_queue(c: &mut Criterion) {
    let mut group = c.benchmark_group("render_queue");
    for n in [100u64, 100_000] {
        let state = loaded(n);
        let now = fixtures::now();
        let Ok(mut terminal) = Terminal::new(TestBackend::new(WIDTH, HEIGHT));
        group.bench_with_input(BenchmarkId::from_parameter(n), &state, |b, state| {
            b.iter(|| {
                let drawn = terminal.draw(|frame| view::draw(black_box(state), frame, now));
                black_box(drawn.is_ok())
            })
        });
    }
    group.finish();
}

/// One filter keystroke and its backspace over 100,000 requests: each re-filters
/// and re-sorts the whole queue, as typing in `/` does.
fn refilter(c: &mut Criterion) {
    let mut group = c.benchmark_group("refilter");
    let mut state = loaded(100_000);
    let now = fixtures::now();
    group.bench_function("100000_two_keystrokes", |b| {
        b.iter(|| {
            update(&mut state, Action::FilterChar('a'), now);
            update(&mut state, Action::FilterBackspace, now);
            black_box(state.rows.len())
        })
    });
    group.finish();
}

criterion_group!(benches, render_queue, refilter);
criterion_main!(benches);
