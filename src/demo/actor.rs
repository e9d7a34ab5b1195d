//! Acting as the demo's people directly on the store, at any moment in time: how the
//! seeded week gets its past timestamps and the live queue its new requests.

use std::collections::BTreeMap;

use uuid::Uuid;

use crate::broker::lifecycle::{self, CreateSettings};
use crate::broker::store::{Mutated, Store};
use crate::model::api::{CreateRequest, Resolve, SubmitPostIncidentReview, SubmitReview};
use crate::model::{Decision, Duration, IncidentOutcome, Request, State, Time, User};
use crate::policy::RoleSet;

pub struct Actor<'a> {
    store: &'a dyn Store,
    roles: &'a RoleSet,
    people: &'a BTreeMap<String, User>,
}

fn person<'p>(people: &'p BTreeMap<String, User>, name: &str) -> anyhow::Result<&'p User> {
    people
        .get(name)
        .ok_or_else(|| anyhow::anyhow!("demo: no person {name}"))
}

fn settled(result: Mutated) -> anyhow::Result<Request> {
    result
        .map(|(request, _)| request)
        .map_err(|refusal| anyhow::anyhow!("demo step refused: {}", refusal.message))
}

impl<'a> Actor<'a> {
    pub fn new(
        store: &'a dyn Store,
        roles: &'a RoleSet,
        people: &'a BTreeMap<String, User>,
    ) -> Self {
        Actor {
            store,
            roles,
            people,
        }
    }

    pub fn create(
        &self,
        user: &str,
        roles: &[&str],
        reason: &str,
        estimate: Option<Duration>,
        at: Time,
    ) -> anyhow::Result<Uuid> {
        let body = CreateRequest {
            roles: roles.iter().map(|r| r.to_string()).collect(),
            reason: reason.to_string(),
            estimate,
            ..CreateRequest::default()
        };
        let settings = CreateSettings {
            default_pending_ttl: Duration::from_hours(24),
            max_pending_ttl: Duration::from_hours(24 * 7),
        };
        let request =
            lifecycle::new_request(self.roles, person(self.people, user)?, body, settings, at)
                .map_err(|r| anyhow::anyhow!("demo create for {user}: {}", r.message))?;
        let id = request.id;
        let draft = lifecycle::created_event(&request);
        self.store.create_request(request, draft)?;
        Ok(id)
    }

    pub fn review(
        &self,
        id: Uuid,
        reviewer: &str,
        decision: Decision,
        reason: &str,
        at: Time,
    ) -> anyhow::Result<Request> {
        let reviewer = person(self.people, reviewer)?.clone();
        let body = SubmitReview {
            decision,
            reason: reason.to_string(),
            roles: Vec::new(),
        };
        let roles = self.roles.clone();
        settled(self.store.mutate_request(
            id,
            Box::new(move |r| lifecycle::review(&roles, &reviewer, &body, at, r)),
        )?)
    }

    /// A review attempt that the broker refuses (and records); returns the code.
    pub fn attempt_review(
        &self,
        id: Uuid,
        reviewer: &str,
        reason: &str,
        at: Time,
    ) -> anyhow::Result<Option<String>> {
        let reviewer = person(self.people, reviewer)?.clone();
        let body = SubmitReview {
            decision: Decision::Approve,
            reason: reason.to_string(),
            roles: Vec::new(),
        };
        let roles = self.roles.clone();
        let result = self.store.mutate_request(
            id,
            Box::new(move |r| lifecycle::review(&roles, &reviewer, &body, at, r)),
        )?;
        Ok(result
            .err()
            .map(|refusal| refusal.code.as_str().to_string()))
    }

    pub fn give_back(&self, id: Uuid, user: &str, at: Time) -> anyhow::Result<Request> {
        let user = person(self.people, user)?.clone();
        settled(
            self.store
                .mutate_request(id, Box::new(move |r| lifecycle::give_back(&user, at, r)))?,
        )
    }

    pub fn withdraw(&self, id: Uuid, user: &str, at: Time) -> anyhow::Result<Request> {
        let user = person(self.people, user)?.clone();
        settled(
            self.store
                .mutate_request(id, Box::new(move |r| lifecycle::withdraw(&user, at, r)))?,
        )
    }

    pub fn sweep(&self, id: Uuid, at: Time) -> anyhow::Result<Request> {
        settled(
            self.store
                .mutate_request(id, Box::new(move |r| lifecycle::sweep(at, r)))?,
        )
    }

    pub fn override_resolve(
        &self,
        id: Uuid,
        admin: &str,
        state: State,
        reason: &str,
        at: Time,
    ) -> anyhow::Result<Request> {
        let admin = person(self.people, admin)?.clone();
        let body = Resolve {
            state,
            reason: reason.to_string(),
            roles: Vec::new(),
        };
        let roles = self.roles.clone();
        settled(self.store.mutate_request(
            id,
            Box::new(move |r| lifecycle::resolve(&roles, &admin, &body, at, r)),
        )?)
    }

    pub fn post_incident_review(
        &self,
        id: Uuid,
        reviewer: &str,
        outcome: IncidentOutcome,
        notes: &str,
        at: Time,
    ) -> anyhow::Result<Request> {
        let reviewer = person(self.people, reviewer)?.clone();
        let body = SubmitPostIncidentReview {
            outcome,
            notes: notes.to_string(),
        };
        let roles = self.roles.clone();
        settled(self.store.mutate_request(
            id,
            Box::new(move |r| lifecycle::post_incident_review(&roles, &reviewer, &body, at, r)),
        )?)
    }
}
