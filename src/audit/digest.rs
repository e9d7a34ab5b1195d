//! What one request contributes to the weekly review, worked out on its own: its
//! findings, its votes and overrides for the reviewer summary, and the roles it
//! asked for (for repeats). Digesting needs nothing but the request, the config and
//! the window, so the broker digests on every core and the [`Analyzer`] only adds
//! the digests up.
//!
//! [`Analyzer`]: super::Analyzer

use uuid::Uuid;

use crate::model::{Decision, Duration, Finding, FindingKind, Request, Severity, Time};

use super::CompiledConfig;
use super::heuristics::{self, Window, span};

/// An override, from the request (`resolved_by`) or its `access_request.update` event.
#[derive(Debug, Clone)]
pub(super) struct Override {
    pub by: String,
    pub at: Time,
    pub approved: bool,
    pub roles: Vec<String>,
    pub reason: Option<String>,
}

/// One vote in the window: an approval with how long after the ask it came and
/// whether that was fast, or a denial.
#[derive(Debug, Clone)]
pub(super) struct Vote {
    pub reviewer: String,
    pub approval: Option<(Duration, bool)>,
}

/// The part of the review one request makes on its own.
#[derive(Debug, Clone)]
pub struct RequestDigest {
    pub(super) id: Uuid,
    pub(super) requester: String,
    pub(super) findings: Vec<Finding>,
    pub(super) votes: Vec<Vote>,
    pub(super) overridden: Option<Override>,
    /// When it was created and its distinct roles, if it was created in the window.
    pub(super) asked: Option<(Time, Vec<String>)>,
}

/// Digests requests for one window; cheap to copy and shareable across threads.
#[derive(Debug, Clone, Copy)]
pub struct Digester<'c> {
    pub(super) config: &'c CompiledConfig,
    pub(super) window: Window,
}

impl Digester<'_> {
    pub fn digest(&self, request: &Request) -> RequestDigest {
        let (config, window) = (self.config, self.window);
        let mut findings: Vec<Finding> = [
            heuristics::no_ticket(config, request, window),
            heuristics::overheld(config, request, window),
            heuristics::emergency_unreviewed(config, request, window),
        ]
        .into_iter()
        .flatten()
        .collect();
        let mut votes = self.votes(request, &mut findings);
        let overridden = self.overridden(request, &mut votes, &mut findings);
        let asked = window.contains(request.created_at).then(|| {
            let mut roles = request.roles.clone();
            roles.sort_unstable();
            roles.dedup();
            (request.created_at, roles)
        });
        RequestDigest {
            id: request.id,
            requester: request.user.clone(),
            findings,
            votes,
            overridden,
            asked,
        }
    }

    /// Votes in the window, for the reviewer summary and `fast_approval`.
    fn votes(&self, request: &Request, findings: &mut Vec<Finding>) -> Vec<Vote> {
        let mut votes = Vec::new();
        for review in &request.reviews {
            if !self.window.contains(review.created_at) {
                continue;
            }
            let approval = match review.decision {
                Decision::Approve => {
                    let after = Duration::from_chrono(review.created_at - request.created_at);
                    let fast = after < self.config.fast_approval;
                    if fast {
                        findings.push(self.fast_approval(
                            request,
                            &review.author,
                            review.created_at,
                            "",
                        ));
                    }
                    Some((after, fast))
                }
                Decision::Deny => None,
            };
            votes.push(Vote {
                reviewer: review.author.clone(),
                approval,
            });
        }
        votes
    }

    /// A request resolved directly by someone with `access_request: update`: their
    /// resolution counts as their vote.
    fn overridden(
        &self,
        request: &Request,
        votes: &mut Vec<Vote>,
        findings: &mut Vec<Finding>,
    ) -> Option<Override> {
        let (Some(by), Some(at)) = (request.resolved_by.as_deref(), request.resolved_at) else {
            return None;
        };
        if !self.window.contains(at) {
            return None;
        }
        let approved = heuristics::was_approved(request);
        let approval = approved.then(|| {
            let after = Duration::from_chrono(at - request.created_at);
            let fast = after < self.config.fast_approval;
            // Approving and then overriding the same request is one fast approval.
            let approved_fast_already = findings
                .iter()
                .any(|f| f.kind == FindingKind::FastApproval && f.reviewer.as_deref() == Some(by));
            if fast && !approved_fast_already {
                findings.push(self.fast_approval(request, by, at, " (override)"));
            }
            (after, fast)
        });
        votes.push(Vote {
            reviewer: by.to_string(),
            approval,
        });
        Some(Override {
            by: by.to_string(),
            at,
            approved,
            roles: if approved && !request.granted_roles.is_empty() {
                request.granted_roles.clone()
            } else {
                request.roles.clone()
            },
            reason: request.resolve_reason.clone(),
        })
    }

    fn fast_approval(&self, request: &Request, by: &str, at: Time, how: &str) -> Finding {
        let after = span(request.created_at, at);
        let (severity, why) = if request.emergency {
            // The emergency procedure is meant to be fast; its post-incident review is
            // where it gets looked at.
            (
                Severity::Low,
                " (an emergency: check its post-incident review)",
            )
        } else {
            (Severity::Medium, "")
        };
        heuristics::finding(
            FindingKind::FastApproval,
            severity,
            request,
            Some(by),
            request.roles.clone(),
            format!("approved by {by}{how} {after} after it was asked for{why}"),
            at,
        )
    }
}
