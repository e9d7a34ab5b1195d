//! Replays a request's reviews, in order, against its frozen thresholds.
//!
//! A review counts toward the thresholds in its `threshold_indexes`. A denial
//! denies the request once any threshold's deny count is reached. An approval with
//! a role subset counts only toward those roles and narrows what is granted. The
//! replay stops at the first resolution. If narrowing leaves nothing to grant, the
//! request stays pending (the broker refuses such reviews before they are stored).

use std::collections::BTreeMap;

use crate::model::{Decision, Outcome, Request, State};

pub(super) fn replay(request: &Request) -> Outcome {
    let mut granted: Vec<String> = Vec::new();
    for role in &request.roles {
        if !granted.contains(role) {
            granted.push(role.clone());
        }
    }
    let mut denials: BTreeMap<usize, u32> = BTreeMap::new();
    // Approvals per (threshold index, role).
    let mut approvals: BTreeMap<(usize, &str), u32> = BTreeMap::new();
    let mut approvals_any: BTreeMap<&str, u32> = BTreeMap::new();
    let known = |i: &usize| *i < request.thresholds.len();

    for review in &request.reviews {
        match review.decision {
            Decision::Deny => {
                for &index in review.threshold_indexes.iter().filter(|i| known(i)) {
                    let count = denials.entry(index).or_default();
                    *count += 1;
                    let needed = request.thresholds[index].deny;
                    if needed > 0 && *count >= needed {
                        return Outcome {
                            state: State::Denied,
                            granted_roles: granted,
                        };
                    }
                }
            }
            Decision::Approve => {
                let toward: Vec<&str> = request
                    .roles
                    .iter()
                    .filter(|role| review.roles.is_empty() || review.roles.contains(role))
                    .map(String::as_str)
                    .collect();
                granted.retain(|role| toward.contains(&role.as_str()));
                for role in &toward {
                    *approvals_any.entry(role).or_default() += 1;
                }
                for &index in review.threshold_indexes.iter().filter(|i| known(i)) {
                    for role in &toward {
                        *approvals.entry((index, role)).or_default() += 1;
                    }
                }
                if !granted.is_empty()
                    && granted
                        .iter()
                        .all(|role| approved(request, &approvals, &approvals_any, role))
                {
                    return Outcome {
                        state: State::Approved,
                        granted_roles: granted,
                    };
                }
            }
        }
    }
    Outcome {
        state: State::Pending,
        granted_roles: granted,
    }
}

/// A role is approved when each of its clauses has a threshold whose approvals
/// (toward this role) reached its count. A role without clauses (not frozen by
/// this broker) needs one approval toward it on any threshold.
fn approved(
    request: &Request,
    approvals: &BTreeMap<(usize, &str), u32>,
    approvals_any: &BTreeMap<&str, u32>,
    role: &str,
) -> bool {
    let count = |index: usize| approvals.get(&(index, role)).copied().unwrap_or(0);
    let clauses = request.role_thresholds.get(role).filter(|c| !c.is_empty());
    let Some(clauses) = clauses else {
        return approvals_any.get(role).is_some_and(|&n| n > 0);
    };
    clauses.iter().all(|clause| {
        clause.iter().any(|&index| {
            request
                .thresholds
                .get(index)
                .is_some_and(|t| count(index) >= t.approve.max(1))
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Review, Threshold};
    use crate::policy::testkit::{blank_request, strings};

    fn threshold(name: &str, approve: u32, deny: u32) -> Threshold {
        Threshold {
            name: name.into(),
            filter: String::new(),
            approve,
            deny,
        }
    }

    /// A request for `roles` with thresholds and per-role clauses given directly.
    fn request(
        roles: &[&str],
        thresholds: Vec<Threshold>,
        clauses: &[(&str, Vec<Vec<usize>>)],
    ) -> Request {
        let mut request = blank_request("alice", roles, "x");
        request.thresholds = thresholds;
        request.role_thresholds = clauses
            .iter()
            .map(|(role, c)| (role.to_string(), c.clone()))
            .collect();
        request
    }

    fn with_reviews(
        mut request: Request,
        reviews: &[(&str, Decision, &[&str], &[usize])],
    ) -> Request {
        for (author, decision, roles, indexes) in reviews {
            request.reviews.push(Review {
                author: author.to_string(),
                decision: *decision,
                reason: "because".into(),
                roles: strings(roles),
                created_at: request.created_at,
                threshold_indexes: indexes.to_vec(),
            });
        }
        request
    }

    use Decision::{Approve as A, Deny as D};

    #[test]
    fn replays_in_order() {
        let one = || vec![threshold("default", 1, 1)];
        let two = || vec![threshold("two", 2, 1)];
        type Case<'a> = (
            &'a str,
            Request,
            &'a [(&'a str, Decision, &'a [&'a str], &'a [usize])],
            State,
            &'a [&'a str],
        );
        let cases: Vec<Case> = vec![
            (
                "no reviews",
                request(&["p"], one(), &[("p", vec![vec![0]])]),
                &[],
                State::Pending,
                &["p"],
            ),
            (
                "one approval suffices",
                request(&["p"], one(), &[("p", vec![vec![0]])]),
                &[("bob", A, &[], &[0])],
                State::Approved,
                &["p"],
            ),
            (
                "two approvals needed",
                request(&["db"], two(), &[("db", vec![vec![0]])]),
                &[("bob", A, &[], &[0])],
                State::Pending,
                &["db"],
            ),
            (
                "two approvals reached",
                request(&["db"], two(), &[("db", vec![vec![0]])]),
                &[("bob", A, &[], &[0]), ("carol", A, &[], &[0])],
                State::Approved,
                &["db"],
            ),
            (
                "one denial kills it",
                request(&["db"], two(), &[("db", vec![vec![0]])]),
                &[("bob", A, &[], &[0]), ("carol", D, &[], &[0])],
                State::Denied,
                &["db"],
            ),
            (
                "deny first wins even if approvals follow",
                request(&["db"], two(), &[("db", vec![vec![0]])]),
                &[
                    ("carol", D, &[], &[0]),
                    ("bob", A, &[], &[0]),
                    ("dave", A, &[], &[0]),
                ],
                State::Denied,
                &["db"],
            ),
            (
                "resolution stops the replay",
                request(&["p"], one(), &[("p", vec![vec![0]])]),
                &[("bob", A, &[], &[0]), ("carol", D, &[], &[0])],
                State::Approved,
                &["p"],
            ),
            (
                "a review matching no threshold counts for nothing",
                request(&["p"], one(), &[("p", vec![vec![0]])]),
                &[("bob", A, &[], &[]), ("eve", D, &[], &[])],
                State::Pending,
                &["p"],
            ),
            (
                "deny 2 needs two denials",
                request(&["p"], vec![threshold("t", 3, 2)], &[("p", vec![vec![0]])]),
                &[("bob", D, &[], &[0])],
                State::Pending,
                &["p"],
            ),
            (
                "deny 0 never denies",
                request(&["p"], vec![threshold("t", 1, 0)], &[("p", vec![vec![0]])]),
                &[("bob", D, &[], &[0]), ("carol", D, &[], &[0])],
                State::Pending,
                &["p"],
            ),
            (
                "either threshold of a clause will do",
                request(
                    &["p"],
                    vec![threshold("sec", 1, 1), threshold("team", 2, 1)],
                    &[("p", vec![vec![0, 1]])],
                ),
                &[("bob", A, &[], &[1]), ("carol", A, &[], &[1])],
                State::Approved,
                &["p"],
            ),
            (
                "every clause must hold",
                request(
                    &["p"],
                    vec![threshold("sec", 1, 1), threshold("team", 1, 1)],
                    &[("p", vec![vec![0], vec![1]])],
                ),
                &[("bob", A, &[], &[1]), ("carol", A, &[], &[1])],
                State::Pending,
                &["p"],
            ),
            (
                "every clause held",
                request(
                    &["p"],
                    vec![threshold("sec", 1, 1), threshold("team", 1, 1)],
                    &[("p", vec![vec![0], vec![1]])],
                ),
                &[("bob", A, &[], &[1]), ("carol", A, &[], &[0])],
                State::Approved,
                &["p"],
            ),
            (
                "multi-role: every role must be approved",
                request(
                    &["p", "db"],
                    vec![threshold("default", 1, 1), threshold("two", 2, 1)],
                    &[("p", vec![vec![0]]), ("db", vec![vec![1]])],
                ),
                &[("bob", A, &[], &[0, 1])],
                State::Pending,
                &["p", "db"],
            ),
            (
                "multi-role: approved when both are",
                request(
                    &["p", "db"],
                    vec![threshold("default", 1, 1), threshold("two", 2, 1)],
                    &[("p", vec![vec![0]]), ("db", vec![vec![1]])],
                ),
                &[("bob", A, &[], &[0, 1]), ("carol", A, &[], &[0, 1])],
                State::Approved,
                &["p", "db"],
            ),
            (
                "narrowed grant: approve only the approved subset",
                request(
                    &["p", "db"],
                    vec![threshold("default", 1, 1), threshold("two", 2, 1)],
                    &[("p", vec![vec![0]]), ("db", vec![vec![1]])],
                ),
                &[("bob", A, &["p"], &[0, 1])],
                State::Approved,
                &["p"],
            ),
            (
                "a later full approval keeps the earlier narrowing",
                request(
                    &["p", "db"],
                    two(),
                    &[("p", vec![vec![0]]), ("db", vec![vec![0]])],
                ),
                &[("bob", A, &["p"], &[0]), ("carol", A, &[], &[0])],
                State::Approved,
                &["p"],
            ),
            (
                "most restrictive subset wins",
                request(
                    &["a", "b", "c"],
                    two(),
                    &[
                        ("a", vec![vec![0]]),
                        ("b", vec![vec![0]]),
                        ("c", vec![vec![0]]),
                    ],
                ),
                &[
                    ("bob", A, &["a", "b"], &[0]),
                    ("carol", A, &["b", "c"], &[0]),
                ],
                State::Approved,
                &["b"],
            ),
            (
                "disjoint subsets leave nothing: pending",
                request(
                    &["a", "b"],
                    one(),
                    &[("a", vec![vec![0]]), ("b", vec![vec![0]])],
                ),
                &[("bob", A, &["a"], &[]), ("carol", A, &["b"], &[0])],
                State::Pending,
                &[],
            ),
            (
                "a subset naming unknown roles only narrows to nothing",
                request(&["a"], one(), &[("a", vec![vec![0]])]),
                &[("bob", A, &["zzz"], &[0])],
                State::Pending,
                &[],
            ),
            (
                "out-of-range indexes are ignored",
                request(&["p"], one(), &[("p", vec![vec![0]])]),
                &[("bob", D, &[], &[7]), ("carol", A, &[], &[7, 0])],
                State::Approved,
                &["p"],
            ),
            (
                "a role without clauses needs one approval toward it",
                request(&["p"], vec![], &[]),
                &[("bob", A, &[], &[])],
                State::Approved,
                &["p"],
            ),
        ];
        for (name, request, reviews, state, granted) in cases {
            let outcome = replay(&with_reviews(request, reviews));
            assert_eq!(outcome.state, state, "{name}");
            assert_eq!(outcome.granted_roles, strings(granted), "{name}");
        }
    }
}
