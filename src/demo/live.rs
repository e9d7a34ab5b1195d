//! Keeps the demo queue alive: new requests every few seconds, other reviewers
//! voting, requesters returning access, and now and then an emergency.

use std::collections::BTreeMap;
use std::sync::Arc;

use rand::rngs::StdRng;
use rand::seq::IndexedRandom;
use rand::{Rng, SeedableRng};

use super::{Actor, DemoOptions, Reasons};
use crate::broker::store::{RequestQuery, Store};
use crate::model::{Decision, Duration, State, User};
use crate::policy::RoleSet;

const REQUESTERS: &[(&str, &[&str])] = &[
    ("angua", &["production-access", "production-db-access"]),
    ("ponder", &["production-access"]),
    ("detritus", &["production-access"]),
    ("cheery", &["production-access", "production-db-access"]),
    ("rincewind", &["production-access"]),
    ("igor", &["production-access"]),
    ("nobby", &["dba"]),
];
const VOTERS: &[&str] = &["adora-belle", "vimes"];
const MAX_PENDING: usize = 14;

pub async fn run(
    store: Arc<dyn Store>,
    roles: Arc<RoleSet>,
    people: BTreeMap<String, User>,
    reasons: Reasons,
    options: DemoOptions,
) {
    let mut rng = StdRng::seed_from_u64(options.seed);
    let mut beat: u64 = 0;
    loop {
        let pause = options.pace_secs * 1000 + rng.random_range(0..3000);
        tokio::time::sleep(std::time::Duration::from_millis(pause)).await;
        beat += 1;
        let emergency = beat.is_multiple_of(15);
        let roll: u32 = rng.random_range(0..100);
        let choice_seed: u64 = rng.random();
        let (store, roles, people, reasons) = (
            store.clone(),
            roles.clone(),
            people.clone(),
            reasons.clone(),
        );
        let step = tokio::task::spawn_blocking(move || {
            let mut rng = StdRng::seed_from_u64(choice_seed);
            let actor = Actor::new(store.as_ref(), &roles, &people);
            step(&actor, store.as_ref(), &reasons, &mut rng, roll, emergency)
        })
        .await;
        if let Ok(Err(err)) = step {
            tracing::debug!("demo step: {err}");
        }
    }
}

fn step(
    actor: &Actor,
    store: &dyn Store,
    reasons: &Reasons,
    rng: &mut StdRng,
    roll: u32,
    emergency: bool,
) -> anyhow::Result<()> {
    let now = chrono::Utc::now();
    let pending = store.list_requests(&RequestQuery {
        state: Some(State::Pending),
        limit: 100,
        ..RequestQuery::default()
    })?;
    if emergency {
        let reason = reasons.emergency.choose(rng).cloned().unwrap_or_default();
        actor.create("angua", &["production-access"], &reason, None, now)?;
        return Ok(());
    }
    if roll < 45 && pending.len() < MAX_PENDING {
        let (user, allowed) = REQUESTERS
            .choose(rng)
            .copied()
            .unwrap_or(("ponder", &["production-access"]));
        let role = allowed.choose(rng).copied().unwrap_or("production-access");
        let pool = if rng.random_range(0..4) == 0 {
            &reasons.unticketed
        } else {
            &reasons.ticketed
        };
        let reason = pool.choose(rng).cloned().unwrap_or_default();
        let estimate = Duration::from_mins(*[20u64, 30, 45, 60, 90].choose(rng).unwrap_or(&30));
        actor.create(user, &[role], &reason, Some(estimate), now)?;
    } else if roll < 85 {
        // Someone else votes on the oldest request they have not voted on.
        let voter = VOTERS.choose(rng).copied().unwrap_or("adora-belle");
        if let Some(request) = pending
            .iter()
            .rev()
            .find(|r| r.user != voter && r.review_by(voter).is_none())
        {
            let approve = rng.random_range(0..100) < 80;
            let (decision, reason) = if approve {
                (Decision::Approve, "Checked the ticket, approved")
            } else {
                (Decision::Deny, "Not without an incident ticket")
            };
            actor.review(request.id, voter, decision, reason, now)?;
        }
    } else {
        let approved = store.list_requests(&RequestQuery {
            state: Some(State::Approved),
            limit: 20,
            ..RequestQuery::default()
        })?;
        if let Some(request) = approved.choose(rng) {
            actor.give_back(request.id, &request.user.clone(), now)?;
        }
    }
    Ok(())
}
