//! Helpers shared by the policy tests: load fixtures, make users, requests, reviews.

use std::collections::BTreeMap;

use chrono::TimeZone;

use super::{RoleSet, matching_thresholds, replay};
use crate::model::{Decision, Outcome, Request, Review, State, User};

pub(crate) const RUNBOOK: &str = include_str!("testdata/runbook.yaml");

pub(crate) fn load(files: &[(&str, &str)]) -> RoleSet {
    let mut roles = Vec::new();
    for (name, text) in files {
        match RoleSet::parse(text, name) {
            Ok(parsed) => roles.extend(parsed),
            Err(e) => panic!("{name} does not parse: {e}"),
        }
    }
    match RoleSet::new(roles) {
        Ok(set) => set,
        Err(e) => panic!("roles do not validate: {e}"),
    }
}

pub(crate) fn load_one(text: &str) -> RoleSet {
    load(&[("roles.yaml", text)])
}

pub(crate) fn user(name: &str, roles: &[&str]) -> User {
    User {
        name: name.into(),
        roles: roles.iter().map(|r| r.to_string()).collect(),
        traits: BTreeMap::new(),
    }
}

pub(crate) fn with_trait(mut user: User, key: &str, values: &[&str]) -> User {
    user.traits
        .insert(key.into(), values.iter().map(|v| v.to_string()).collect());
    user
}

pub(crate) fn strings(items: &[&str]) -> Vec<String> {
    items.iter().map(|s| s.to_string()).collect()
}

/// A pending request with the thresholds the policy freezes for `requester`.
pub(crate) fn request(set: &RoleSet, requester: &User, roles: &[&str], reason: &str) -> Request {
    let frozen = match set.check_request(requester, &strings(roles)) {
        Ok(frozen) => frozen,
        Err(e) => panic!("{} may not request {roles:?}: {e}", requester.name),
    };
    let mut request = blank_request(&requester.name, roles, reason);
    request.thresholds = frozen.thresholds;
    request.role_thresholds = frozen.role_thresholds;
    request.suggested_reviewers = frozen.suggested_reviewers;
    request.annotations = frozen.annotations;
    request
}

/// A pending request with nothing frozen on it.
pub(crate) fn blank_request(requester: &str, roles: &[&str], reason: &str) -> Request {
    let roles = strings(roles);
    let created = chrono::Utc
        .with_ymd_and_hms(2026, 11, 21, 12, 0, 0)
        .unwrap();
    Request {
        id: uuid::Uuid::nil(),
        user: requester.to_string(),
        granted_roles: roles.clone(),
        roles,
        state: State::Pending,
        reason: reason.into(),
        emergency: false,
        created_at: created,
        pending_expires_at: created + chrono::TimeDelta::hours(24),
        max_duration: None,
        estimate: None,
        access: None,
        thresholds: Vec::new(),
        role_thresholds: BTreeMap::new(),
        reviews: Vec::new(),
        resolved_at: None,
        resolve_reason: None,
        resolved_by: None,
        suggested_reviewers: Vec::new(),
        annotations: BTreeMap::new(),
        requester_annotations: BTreeMap::new(),
        request_prompt: None,
        post_incident_review: None,
    }
}

/// Adds a review as the broker would (thresholds matched now) and replays.
pub(crate) fn review(
    request: &mut Request,
    reviewer: &User,
    decision: Decision,
    roles: &[&str],
) -> Outcome {
    let reason = format!("{decision} by {}", reviewer.name);
    let threshold_indexes = matching_thresholds(request, reviewer, &reason);
    request.reviews.push(Review {
        author: reviewer.name.clone(),
        decision,
        reason,
        roles: strings(roles),
        created_at: request.created_at,
        threshold_indexes,
    });
    let outcome = replay(request);
    request.state = outcome.state;
    request.granted_roles = outcome.granted_roles.clone();
    outcome
}
