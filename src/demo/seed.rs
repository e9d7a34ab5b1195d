//! A week of history in the order it happened, so the audit chain reads forward in
//! time, with at least one case of every kind the weekly review looks for, then the
//! queue as it stands now.

use chrono::TimeDelta;

use super::Actor;
use crate::model::{Decision, Duration, IncidentOutcome, State, Time};

fn at(now: Time, days: i64, hours: i64, minutes: i64) -> Time {
    now - TimeDelta::days(days) - TimeDelta::hours(hours) - TimeDelta::minutes(minutes)
}

fn plus(t: Time, minutes: i64, seconds: i64) -> Time {
    t + TimeDelta::minutes(minutes) + TimeDelta::seconds(seconds)
}

pub fn week(a: &Actor, now: Time) -> anyhow::Result<()> {
    use Decision::{Approve, Deny};
    let prod = ["production-access"];
    let db = ["production-db-access"];

    // Day 6: a routine deploy, returned early.
    let t = at(now, 6, 20, 0);
    let id = a.create(
        "ponder",
        &prod,
        "Deploy hotfix for the Post Office sorting service, OPS-311",
        Some(Duration::from_hours(1)),
        t,
    )?;
    a.review(
        id,
        "carrot",
        Approve,
        "OPS-311 is in the change calendar, approved",
        plus(t, 6, 0),
    )?;
    a.give_back(id, "ponder", plus(t, 56, 0))?;

    // Day 5, 03:10: break-glass, approved by phone, never reviewed afterwards.
    let t = at(now, 5, 21, 0);
    let id = a.create(
        "angua",
        &prod,
        "EMERGENCY: clacks relay down, merchants guild payments failing",
        None,
        t,
    )?;
    a.review(
        id,
        "carrot",
        Approve,
        "Angua called at 03:10, relay confirmed down",
        plus(t, 4, 10),
    )?;
    a.give_back(id, "angua", plus(t, 95, 0))?;

    // Day 5: database backfill held far longer than its estimate.
    let t = at(now, 5, 14, 0);
    let id = a.create(
        "cheery",
        &db,
        "Backfill ledger table after the migration, OPS-305",
        Some(Duration::from_mins(30)),
        t,
    )?;
    a.review(
        id,
        "carrot",
        Approve,
        "OPS-305 reviewed, fine",
        plus(t, 7, 0),
    )?;
    a.review(
        id,
        "adora-belle",
        Approve,
        "Second approval for the backfill",
        plus(t, 12, 0),
    )?;
    a.give_back(id, "cheery", plus(t, 12 + 55, 0))?;

    // Day 5: the same developer again; and one with no ticket at all.
    let t = at(now, 5, 9, 0);
    let id = a.create(
        "ponder",
        &prod,
        "Sorting service still dropping letters, OPS-311",
        Some(Duration::from_hours(1)),
        t,
    )?;
    a.review(
        id,
        "adora-belle",
        Approve,
        "OPS-311 follow-up, approved",
        plus(t, 9, 0),
    )?;
    a.give_back(id, "ponder", plus(t, 50, 0))?;
    let t = at(now, 5, 6, 0);
    let id = a.create(
        "detritus",
        &prod,
        "need to look at something on app-02",
        None,
        t,
    )?;
    a.review(id, "adora-belle", Approve, "ok", plus(t, 5, 0))?;
    a.give_back(id, "detritus", plus(t, 40, 0))?;

    // Day 4: Igor tries to approve his own request.
    let t = at(now, 4, 22, 0);
    let id = a.create(
        "igor",
        &prod,
        "Rotate TLS certificates on the clacks gateway, OPS-320",
        Some(Duration::from_mins(45)),
        t,
    )?;
    a.attempt_review(id, "igor", "it's my own change, approving", plus(t, 0, 40))?;
    a.review(
        id,
        "carrot",
        Approve,
        "OPS-320 approved; Igor, you cannot approve your own",
        plus(t, 11, 0),
    )?;
    a.give_back(id, "igor", plus(t, 40, 0))?;

    // Day 4: approved 48 seconds after it was asked for.
    let t = at(now, 4, 15, 0);
    let id = a.create(
        "angua",
        &prod,
        "Investigating error spike on merchants-guild-app-02, see incident #47",
        Some(Duration::from_hours(2)),
        t,
    )?;
    a.review(
        id,
        "adora-belle",
        Approve,
        "Confirmed incident #47, approved",
        plus(t, 0, 48),
    )?;
    a.give_back(id, "angua", plus(t, 80, 0))?;

    // Day 4: no incident, denied as the runbook says.
    let t = at(now, 4, 10, 0);
    let id = a.create(
        "rincewind",
        &prod,
        "Want to poke around production",
        None,
        t,
    )?;
    a.review(
        id,
        "carrot",
        Deny,
        "No active incident, please raise one first",
        plus(t, 14, 0),
    )?;

    // Day 3: the third time this week for the same access.
    let t = at(now, 3, 23, 0);
    let id = a.create(
        "ponder",
        &prod,
        "Sorting service metrics look wrong again, OPS-311",
        Some(Duration::from_hours(1)),
        t,
    )?;
    a.review(
        id,
        "carrot",
        Approve,
        "Approved; Ponder, should this be a standing role?",
        plus(t, 10, 0),
    )?;
    a.give_back(id, "ponder", plus(t, 45, 0))?;

    // Day 3: the Patrician's office resolves a contractor's request directly.
    let t = at(now, 3, 17, 0);
    let id = a.create(
        "nobby",
        &["dba"],
        "Contract work on the guild database, GLD-12",
        Some(Duration::from_mins(30)),
        t,
    )?;
    a.override_resolve(
        id,
        "vetinari",
        State::Approved,
        "On the Patrician's instruction",
        plus(t, 3, 0),
    )?;
    a.give_back(id, "nobby", plus(t, 30, 0))?;

    // Day 3: held to the very end of a four-hour window without an estimate.
    let t = at(now, 3, 12, 0);
    let id = a.create(
        "detritus",
        &prod,
        "Deploy the troll bridge toll service, OPS-330",
        None,
        t,
    )?;
    let approved = a.review(
        id,
        "adora-belle",
        Approve,
        "OPS-330 approved",
        plus(t, 8, 0),
    )?;
    if let Some(access) = approved.access {
        a.sweep(id, access.ends_at)?;
    }

    // Day 3: nobody got to it in time.
    let t = at(now, 3, 8, 0);
    let id = a.create(
        "cheery",
        &db,
        "Reindex the accounts table, OPS-333",
        Some(Duration::from_mins(20)),
        t,
    )?;
    a.review(id, "adora-belle", Approve, "fine by me", plus(t, 30, 0))?;
    a.sweep(id, plus(t, 24 * 60, 0))?;

    // Day 2: a fourth request for the same thing; a withdrawal; a reviewed emergency.
    let t = at(now, 2, 20, 0);
    let id = a.create(
        "ponder",
        &prod,
        "Sorting service deploy, OPS-311",
        Some(Duration::from_hours(1)),
        t,
    )?;
    a.review(
        id,
        "adora-belle",
        Approve,
        "OPS-311 again, approved",
        plus(t, 7, 0),
    )?;
    a.give_back(id, "ponder", plus(t, 52, 0))?;
    let t = at(now, 2, 16, 0);
    let id = a.create(
        "rincewind",
        &prod,
        "Checking the Unseen University backups, INC-921",
        None,
        t,
    )?;
    a.withdraw(id, "rincewind", plus(t, 20, 0))?;
    let t = at(now, 2, 2, 0);
    let id = a.create(
        "angua",
        &prod,
        "EMERGENCY: ledger replica lag, INC-902",
        None,
        t,
    )?;
    a.review(
        id,
        "carrot",
        Approve,
        "INC-902 confirmed on the dashboard",
        plus(t, 6, 0),
    )?;
    a.give_back(id, "angua", plus(t, 70, 0))?;
    a.post_incident_review(
        id,
        "adora-belle",
        IncidentOutcome::Justified,
        "Replica lag was real; access used for 70 minutes, commands logged.",
        plus(t, 22 * 60, 0),
    )?;

    // Day 1: a review attempted twice; a database denial.
    let t = at(now, 1, 18, 0);
    let id = a.create(
        "cheery",
        &db,
        "Migrate the guild ledger indexes, OPS-340",
        Some(Duration::from_mins(40)),
        t,
    )?;
    a.review(id, "carrot", Approve, "OPS-340 looks right", plus(t, 9, 0))?;
    a.attempt_review(
        id,
        "carrot",
        "approving again to speed it up",
        plus(t, 15, 0),
    )?;
    a.review(
        id,
        "vimes",
        Deny,
        "Not during the guild's trading hours",
        plus(t, 21, 0),
    )?;

    // Now: the queue.
    let id = a.create(
        "rincewind",
        &prod,
        "Need prod for the demo tomorrow",
        None,
        at(now, 0, 3, 5),
    )?;
    let _ = id;
    a.create(
        "nobby",
        &["dba"],
        "Schema review for guild accounts, GLD-14",
        Some(Duration::from_mins(30)),
        at(now, 0, 1, 2),
    )?;
    let id = a.create(
        "angua",
        &db,
        "Investigate slow queries on the guild ledger, INC-915",
        Some(Duration::from_mins(45)),
        at(now, 0, 0, 41),
    )?;
    a.review(
        id,
        "adora-belle",
        Approve,
        "INC-915 is open, approved",
        at(now, 0, 0, 33),
    )?;
    a.create(
        "ponder",
        &prod,
        "Sorting service deploy, take five, OPS-311",
        Some(Duration::from_hours(1)),
        at(now, 0, 0, 26),
    )?;
    a.create(
        "detritus",
        &prod,
        "quick look at the logs",
        None,
        at(now, 0, 0, 12),
    )?;
    a.create(
        "cheery",
        &prod,
        "Certificate renewal for app-03, OPS-341",
        Some(Duration::from_mins(30)),
        at(now, 0, 0, 6),
    )?;
    a.create(
        "angua",
        &prod,
        "EMERGENCY: clacks gateway unreachable, merchants guild payments down",
        None,
        at(now, 0, 0, 2),
    )?;
    // Access open right now, so the demo's SSH login has something to certify.
    let id = a.create(
        "rincewind",
        &prod,
        "Roll out the clacks relay fix to app-02, OPS-352",
        Some(Duration::from_hours(2)),
        at(now, 0, 0, 25),
    )?;
    a.review(
        id,
        "adora-belle",
        Approve,
        "OPS-352 is in the change calendar, approved",
        at(now, 0, 0, 15),
    )?;
    Ok(())
}
