//! How hard the API is writing, so that deliveries give way to a burst: committed
//! events counted in fixed windows as they arrive, not averaged over however long
//! the dispatcher happened to look away (after an idle spell that span is long,
//! and a burst's first events read as quiet).

use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::{Notify, broadcast};
use tokio::time::Instant;

use crate::broker::stream::Outgoing;

/// The span over which the commit rate is counted.
pub const WINDOW: Duration = Duration::from_millis(100);
/// While events commit faster than this (a burst of API writes), deliveries wait…
const GIVE_WAY_ABOVE_PER_SEC: u64 = 200;
/// …but never longer than this at a stretch, so notifications still flow in a flood.
const GIVE_WAY_AT_MOST: Duration = Duration::from_secs(3);

/// Events counted in consecutive windows of [`WINDOW`].
#[derive(Debug, Clone)]
pub struct Rate {
    start: Instant,
    current: u64,
    /// The whole window just before the current one (0 if it saw nothing or
    /// more than one window has passed).
    previous: u64,
}

impl Rate {
    pub fn new(now: Instant) -> Rate {
        Rate {
            start: now,
            current: 0,
            previous: 0,
        }
    }

    fn roll(&mut self, now: Instant) {
        let open = now.saturating_duration_since(self.start);
        if open < WINDOW {
            return;
        }
        let passed = open.as_nanos() / WINDOW.as_nanos();
        self.previous = if passed == 1 { self.current } else { 0 };
        self.current = 0;
        let step = u32::try_from(passed).unwrap_or(u32::MAX);
        self.start += WINDOW.saturating_mul(step);
    }

    /// `n` events committed at `now`.
    pub fn add(&mut self, now: Instant, n: u64) {
        self.roll(now);
        self.current = self.current.saturating_add(n);
    }

    /// Whether the last whole window, or the current one so far, is above the limit.
    pub fn busy(&mut self, now: Instant) -> bool {
        self.roll(now);
        let limit = GIVE_WAY_ABOVE_PER_SEC * WINDOW.as_millis() as u64 / 1000;
        self.previous.max(self.current) > limit
    }
}

/// Deliveries wait while the API is busy, but for at most [`GIVE_WAY_AT_MOST`]
/// at a stretch; then one round goes through.
#[derive(Debug, Default)]
pub struct GiveWay {
    since: Option<Instant>,
}

impl GiveWay {
    pub fn wait(&mut self, busy: bool, now: Instant) -> bool {
        if !busy {
            self.since = None;
            return false;
        }
        let since = *self.since.get_or_insert(now);
        if now.saturating_duration_since(since) >= GIVE_WAY_AT_MOST {
            self.since = None;
            return false;
        }
        true
    }
}

/// The commit rate, fed by its own task from the event bus, and a wake-up for
/// the dispatcher when something was committed.
pub struct Meter {
    rate: Mutex<Rate>,
    pub committed: Notify,
}

impl Meter {
    pub fn busy(&self) -> bool {
        let now = Instant::now();
        self.rate.lock().map(|mut r| r.busy(now)).unwrap_or(false)
    }
}

/// Starts counting the bus's events as they arrive.
pub fn meter(mut events: broadcast::Receiver<Arc<Outgoing>>) -> Arc<Meter> {
    let meter = Arc::new(Meter {
        rate: Mutex::new(Rate::new(Instant::now())),
        committed: Notify::new(),
    });
    let counting = meter.clone();
    tokio::spawn(async move {
        loop {
            let n = match events.recv().await {
                Ok(_) => 1,
                Err(broadcast::error::RecvError::Lagged(n)) => n,
                Err(broadcast::error::RecvError::Closed) => return,
            };
            if let Ok(mut rate) = counting.rate.lock() {
                rate.add(Instant::now(), n);
            }
            counting.committed.notify_one();
        }
    });
    meter
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn a_burst_after_an_idle_spell_reads_as_busy_at_once() {
        let t0 = Instant::now();
        let mut rate = Rate::new(t0);
        rate.add(t0 + ms(5), 1);
        // Ten quiet seconds, then 25 events within 10 ms.
        let burst = t0 + Duration::from_secs(10);
        for i in 0..25 {
            rate.add(burst + ms(i / 3), 1);
        }
        assert!(rate.busy(burst + ms(10)));
    }

    #[test]
    fn the_rate_is_per_window_not_per_look() {
        // (events per 100 ms window, busy afterwards)
        let cases = [(0, false), (5, false), (20, false), (21, true), (500, true)];
        for (events, busy) in cases {
            let t0 = Instant::now();
            let mut rate = Rate::new(t0);
            for i in 0..events {
                rate.add(t0 + ms(i * 99 / events.max(1)), 1);
            }
            // Judged just after the window closed, from the whole window.
            assert_eq!(rate.busy(t0 + ms(150)), busy, "{events} events");
            // Two windows later the burst is over.
            assert!(!rate.busy(t0 + ms(320)), "{events} events");
        }
    }

    #[test]
    fn a_steady_trickle_is_quiet_and_a_steady_flood_is_busy() {
        let t0 = Instant::now();
        let (mut trickle, mut flood) = (Rate::new(t0), Rate::new(t0));
        for i in 0..100 {
            // 100 events/s and 1,000 events/s, for a second.
            trickle.add(t0 + ms(i * 10), 1);
            for j in 0..10 {
                flood.add(t0 + ms(i * 10 + j), 1);
            }
            let now = t0 + ms(i * 10 + 9);
            assert!(!trickle.busy(now), "trickle at {i}");
            if i >= 3 {
                assert!(flood.busy(now), "flood at {i}");
            }
        }
    }

    #[test]
    fn giving_way_lasts_at_most_its_limit() {
        let t0 = Instant::now();
        let mut give_way = GiveWay::default();
        assert!(!give_way.wait(false, t0));
        assert!(give_way.wait(true, t0));
        assert!(give_way.wait(true, t0 + ms(2_900)));
        // One round through, then waiting again.
        assert!(!give_way.wait(true, t0 + ms(3_000)));
        assert!(give_way.wait(true, t0 + ms(3_100)));
        // Quiet resets it.
        assert!(!give_way.wait(false, t0 + ms(3_200)));
        assert!(give_way.wait(true, t0 + ms(3_300)));
        assert!(give_way.wait(true, t0 + ms(6_200)));
    }
}
