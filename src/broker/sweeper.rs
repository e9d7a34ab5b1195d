//! Moves pending requests past their deadline to `expired` and approved access past
//! its end to `elapsed`, within a second or two of due.

use std::sync::Arc;

use super::lifecycle;
use super::server::Broker;

pub async fn run(broker: Arc<Broker>) {
    let every = broker
        .config
        .sweep_interval
        .to_chrono()
        .to_std()
        .unwrap_or_default()
        .max(std::time::Duration::from_millis(50));
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let stop = super::server::stopped(broker.shutdown.clone());
    tokio::pin!(stop);
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = &mut stop => return,
        }
        let swept = broker
            .blocking(|b| {
                let now = b.now();
                let mut moved = 0;
                for id in b.store.due(now)? {
                    let step = Box::new(move |request: &mut crate::model::Request| {
                        lifecycle::sweep(now, request)
                    });
                    if b.store.mutate_request(id, step)?.is_ok() {
                        moved += 1;
                    }
                }
                Ok(moved)
            })
            .await;
        match swept {
            Ok(0) => {}
            Ok(n) => tracing::debug!("sweeper moved {n} requests"),
            Err(err) => tracing::warn!("sweeper: {}", err.message),
        }
    }
}
