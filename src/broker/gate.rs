//! Per-user limits of DESIGN §12 that live in the broker's memory: how many event
//! streams a user holds open, and how fast a user's refused attempts are recorded.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use super::config::Limits;

/// Open event streams per user.
#[derive(Debug, Default)]
pub struct StreamSlots {
    open: Arc<Mutex<HashMap<String, usize>>>,
}

/// One open stream; the count goes down when it is dropped.
#[derive(Debug)]
pub struct StreamSlot {
    open: Arc<Mutex<HashMap<String, usize>>>,
    user: String,
}

impl StreamSlots {
    /// A slot for `user`, or `None` when they already hold `max`.
    pub fn take(&self, user: &str, max: usize) -> Option<StreamSlot> {
        let mut open = self.open.lock().unwrap_or_else(|p| p.into_inner());
        let count = open.entry(user.to_string()).or_insert(0);
        if *count >= max {
            return None;
        }
        *count += 1;
        Some(StreamSlot {
            open: self.open.clone(),
            user: user.to_string(),
        })
    }

    pub fn open(&self, user: &str) -> usize {
        let open = self.open.lock().unwrap_or_else(|p| p.into_inner());
        open.get(user).copied().unwrap_or(0)
    }
}

impl Drop for StreamSlot {
    fn drop(&mut self) {
        let mut open = self.open.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(count) = open.get_mut(&self.user) {
            *count = count.saturating_sub(1);
            if *count == 0 {
                open.remove(&self.user);
            }
        }
    }
}

/// A token bucket per user for refused attempts, and how many went unrecorded.
#[derive(Debug)]
pub struct RefusalLimiter {
    burst: f64,
    per_second: f64,
    users: Mutex<HashMap<String, Bucket>>,
}

#[derive(Debug, Clone, Copy)]
struct Bucket {
    tokens: f64,
    at: Instant,
    dropped: u64,
}

impl RefusalLimiter {
    pub fn new(limits: &Limits) -> Self {
        RefusalLimiter {
            burst: f64::from(limits.refused_burst.max(1)),
            per_second: f64::from(limits.refused_per_minute) / 60.0,
            users: Mutex::new(HashMap::new()),
        }
    }

    fn with_bucket<T>(&self, user: &str, now: Instant, f: impl FnOnce(&mut Bucket) -> T) -> T {
        let mut users = self.users.lock().unwrap_or_else(|p| p.into_inner());
        let bucket = users.entry(user.to_string()).or_insert(Bucket {
            tokens: self.burst,
            at: now,
            dropped: 0,
        });
        let elapsed = now.saturating_duration_since(bucket.at).as_secs_f64();
        bucket.tokens = (bucket.tokens + elapsed * self.per_second).min(self.burst);
        bucket.at = now;
        f(bucket)
    }

    /// Whether `user` has used up their refused attempts for now.
    pub fn exhausted(&self, user: &str, now: Instant) -> bool {
        self.with_bucket(user, now, |b| b.tokens < 1.0)
    }

    /// A refused attempt was recorded.
    pub fn charge(&self, user: &str, now: Instant) {
        self.with_bucket(user, now, |b| b.tokens = (b.tokens - 1.0).max(0.0));
    }

    /// A refused attempt was answered 429 and not recorded.
    pub fn drop_one(&self, user: &str, now: Instant) {
        self.with_bucket(user, now, |b| b.dropped += 1);
    }

    /// The users with unrecorded attempts and how many, reset to none; users whose
    /// bucket is full again are forgotten.
    pub fn take_dropped(&self, now: Instant) -> Vec<(String, u64)> {
        let mut users = self.users.lock().unwrap_or_else(|p| p.into_inner());
        let mut out = Vec::new();
        users.retain(|user, bucket| {
            if bucket.dropped > 0 {
                out.push((user.clone(), bucket.dropped));
                bucket.dropped = 0;
            }
            let elapsed = now.saturating_duration_since(bucket.at).as_secs_f64();
            bucket.tokens + elapsed * self.per_second < self.burst
        });
        out.sort();
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn streams_are_counted_per_user_and_freed_on_drop() {
        let slots = StreamSlots::default();
        let held: Vec<_> = (0..3).map(|_| slots.take("carrot", 3).unwrap()).collect();
        assert!(slots.take("carrot", 3).is_none());
        assert!(slots.take("adora", 3).is_some());
        drop(held);
        assert_eq!(slots.open("carrot"), 0);
        assert!(slots.take("carrot", 3).is_some());
    }

    #[test]
    fn refusals_run_out_after_the_burst_and_come_back_with_time() {
        let limits = Limits {
            refused_burst: 3,
            refused_per_minute: 60,
            ..Limits::default()
        };
        let limiter = RefusalLimiter::new(&limits);
        let t0 = Instant::now();
        for _ in 0..3 {
            assert!(!limiter.exhausted("mallory", t0));
            limiter.charge("mallory", t0);
        }
        assert!(limiter.exhausted("mallory", t0));
        assert!(!limiter.exhausted("bob", t0));
        limiter.drop_one("mallory", t0);
        limiter.drop_one("mallory", t0);
        assert_eq!(limiter.take_dropped(t0), vec![("mallory".to_string(), 2)]);
        assert!(limiter.take_dropped(t0).is_empty());
        // One a second comes back.
        assert!(!limiter.exhausted("mallory", t0 + Duration::from_millis(1100)));
    }
}
