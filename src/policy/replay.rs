//! Replays a request's reviews, in order, against its frozen thresholds.
//!
//! A review counts toward the thresholds in its `threshold_indexes`. A denial
//! denies the request once any threshold's deny count is reached. An approval with
//! a role subset counts only toward those roles and narrows what is granted. The
//! replay stops at the first resolution. If narrowing leaves nothing to grant, the
//! request stays pending (the broker refuses such reviews before they are stored).

use std::collections::BTreeMap;

use crate::model::{Decision, Outcome, Request, Review, State};

/// How far one requested role is toward approval, for display.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoleProgress {
    pub role: String,
    /// Still in the granted set (not narrowed away by an approval's subset).
    pub granted: bool,
    pub approved: bool,
    /// One entry per clause; a clause holds when any of its thresholds is met.
    pub clauses: Vec<Vec<ThresholdProgress>>,
}

/// One threshold of a clause, as counted for one role.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ThresholdProgress {
    pub index: usize,
    pub name: String,
    pub approvals: u32,
    pub approve: u32,
    pub denials: u32,
    pub deny: u32,
}

/// The counts of the reviews replayed so far.
struct Tally<'r> {
    request: &'r Request,
    granted: Vec<&'r str>,
    denials: BTreeMap<usize, u32>,
    /// Approvals per (threshold index, role).
    approvals: BTreeMap<(usize, &'r str), u32>,
    /// Approvals per role, whatever thresholds they matched.
    approvals_any: BTreeMap<&'r str, u32>,
}

impl<'r> Tally<'r> {
    fn new(request: &'r Request) -> Self {
        Tally {
            request,
            granted: unique(request.roles.iter().map(String::as_str)),
            denials: BTreeMap::new(),
            approvals: BTreeMap::new(),
            approvals_any: BTreeMap::new(),
        }
    }

    /// Counts one review; returns the resolution it causes, if any.
    fn add(&mut self, review: &'r Review) -> Option<State> {
        let thresholds = &self.request.thresholds;
        let indexes = unique(
            review
                .threshold_indexes
                .iter()
                .copied()
                .filter(|&i| i < thresholds.len()),
        );
        match review.decision {
            Decision::Deny => {
                let mut denied = false;
                for index in indexes {
                    let count = self.denials.entry(index).or_default();
                    *count += 1;
                    let needed = thresholds[index].deny;
                    denied |= needed > 0 && *count >= needed;
                }
                denied.then_some(State::Denied)
            }
            Decision::Approve => {
                let toward = unique(
                    self.request
                        .roles
                        .iter()
                        .filter(|role| review.roles.is_empty() || review.roles.contains(role))
                        .map(String::as_str),
                );
                self.granted.retain(|role| toward.contains(role));
                for &role in &toward {
                    *self.approvals_any.entry(role).or_default() += 1;
                    for &index in &indexes {
                        *self.approvals.entry((index, role)).or_default() += 1;
                    }
                }
                let approved = !self.granted.is_empty()
                    && self.granted.iter().all(|role| self.role_approved(role));
                approved.then_some(State::Approved)
            }
        }
    }

    fn count(&self, index: usize, role: &str) -> u32 {
        self.approvals
            .iter()
            .find(|((i, r), _)| *i == index && *r == role)
            .map_or(0, |(_, n)| *n)
    }

    /// A role is approved when each of its clauses has a threshold whose approvals
    /// (toward this role) reached its count. A role without clauses (not frozen by
    /// this broker) needs one approval toward it.
    fn role_approved(&self, role: &str) -> bool {
        let clauses = self
            .request
            .role_thresholds
            .get(role)
            .filter(|c| !c.is_empty());
        let Some(clauses) = clauses else {
            return self.approvals_any.get(role).is_some_and(|&n| n > 0);
        };
        clauses.iter().all(|clause| {
            clause.iter().any(|&index| {
                self.request
                    .thresholds
                    .get(index)
                    .is_some_and(|t| t.approve > 0 && self.count(index, role) >= t.approve)
            })
        })
    }
}

fn unique<T: PartialEq>(items: impl Iterator<Item = T>) -> Vec<T> {
    let mut out = Vec::new();
    for item in items {
        if !out.contains(&item) {
            out.push(item);
        }
    }
    out
}

/// Replays the reviews up to the first resolution.
fn tally(request: &Request) -> (Tally<'_>, State) {
    let mut tally = Tally::new(request);
    for review in &request.reviews {
        if let Some(state) = tally.add(review) {
            return (tally, state);
        }
    }
    (tally, State::Pending)
}

pub(super) fn replay(request: &Request) -> Outcome {
    let (tally, state) = tally(request);
    Outcome {
        state,
        granted_roles: tally.granted.iter().map(|r| r.to_string()).collect(),
    }
}

pub(super) fn progress(request: &Request) -> Vec<RoleProgress> {
    let (tally, _) = tally(request);
    unique(request.roles.iter().map(String::as_str))
        .into_iter()
        .map(|role| {
            let clauses = request
                .role_thresholds
                .get(role)
                .cloned()
                .unwrap_or_default();
            RoleProgress {
                role: role.to_string(),
                granted: tally.granted.contains(&role),
                approved: tally.role_approved(role),
                clauses: clauses
                    .iter()
                    .map(|clause| {
                        clause
                            .iter()
                            .filter_map(|&index| {
                                let t = request.thresholds.get(index)?;
                                Some(ThresholdProgress {
                                    index,
                                    name: t.name.clone(),
                                    approvals: tally.count(index, role),
                                    approve: t.approve,
                                    denials: tally.denials.get(&index).copied().unwrap_or(0),
                                    deny: t.deny,
                                })
                            })
                            .collect()
                    })
                    .collect(),
            }
        })
        .collect()
}

/// (approvals counted, approvals needed) for one role, as the replay counts them:
/// per clause, the threshold closest to its count. A clause no threshold can
/// approve (every `approve` is 0) needs one approval that counting never gives.
fn role_votes(tally: &Tally<'_>, role: &str) -> (usize, usize) {
    let request = tally.request;
    let clauses = request.role_thresholds.get(role).filter(|c| !c.is_empty());
    let Some(clauses) = clauses else {
        let approvals = tally.approvals_any.get(role).copied().unwrap_or(0);
        return (usize::from(approvals > 0), 1);
    };
    let mut have = 0;
    let mut need = 0;
    for clause in clauses {
        let best = clause
            .iter()
            .filter_map(|&index| {
                let t = request.thresholds.get(index).filter(|t| t.approve > 0)?;
                let count = tally.count(index, role).min(t.approve);
                Some((count as usize, t.approve as usize))
            })
            .min_by_key(|&(count, approve)| approve - count);
        let (h, n) = best.unwrap_or((0, 1));
        have += h;
        need += n;
    }
    (have, need)
}

pub(super) fn role_progress_votes(request: &Request, role: &str) -> (usize, usize) {
    let (tally, _) = tally(request);
    role_votes(&tally, role)
}

/// The request's `1/2`: the votes of the granted role furthest from approval.
pub(super) fn votes(request: &Request) -> (usize, usize) {
    let (tally, _) = tally(request);
    let roles = if tally.granted.is_empty() {
        unique(request.roles.iter().map(String::as_str))
    } else {
        tally.granted.clone()
    };
    roles
        .iter()
        .map(|role| role_votes(&tally, role))
        .max_by_key(|&(have, need)| (need - have, need))
        .unwrap_or((0, 1))
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
        let mut cases: Vec<Case> = vec![
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
                "approve 0 never approves by counting",
                request(&["p"], vec![threshold("t", 0, 1)], &[("p", vec![vec![0]])]),
                &[
                    ("bob", A, &[], &[0]),
                    ("carol", A, &[], &[0]),
                    ("dave", A, &[], &[0]),
                ],
                State::Pending,
                &["p"],
            ),
            (
                "approve 0 still denies",
                request(&["p"], vec![threshold("t", 0, 1)], &[("p", vec![vec![0]])]),
                &[("bob", A, &[], &[0]), ("carol", D, &[], &[0])],
                State::Denied,
                &["p"],
            ),
            (
                "a never-approving threshold beside a real one: the real one decides",
                request(
                    &["p"],
                    vec![threshold("veto", 0, 1), threshold("team", 2, 0)],
                    &[("p", vec![vec![0, 1]])],
                ),
                &[("bob", A, &[], &[0, 1]), ("carol", A, &[], &[0, 1])],
                State::Approved,
                &["p"],
            ),
            (
                "approve 3 deny 0: dissent never denies",
                request(&["p"], vec![threshold("t", 3, 0)], &[("p", vec![vec![0]])]),
                &[
                    ("bob", D, &[], &[0]),
                    ("carol", D, &[], &[0]),
                    ("dave", A, &[], &[0]),
                    ("eve", A, &[], &[0]),
                    ("fred", A, &[], &[0]),
                ],
                State::Approved,
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
        cases.push((
            "duplicates count once",
            request(&["p", "p"], two(), &[("p", vec![vec![0]])]),
            &[("bob", A, &[], &[0, 0])],
            State::Pending,
            &["p"],
        ));
        for (name, request, reviews, state, granted) in cases {
            let outcome = replay(&with_reviews(request, reviews));
            assert_eq!(outcome.state, state, "{name}");
            assert_eq!(outcome.granted_roles, strings(granted), "{name}");
        }
    }

    #[test]
    fn progress_per_role_and_clause() {
        let req = request(
            &["p", "db"],
            vec![threshold("sec", 1, 1), threshold("team", 2, 2)],
            &[("p", vec![vec![0, 1]]), ("db", vec![vec![1], vec![0]])],
        );
        let req = with_reviews(req, &[("bob", A, &["db"], &[1]), ("eve", D, &[], &[1])]);
        let progress = super::progress(&req);
        type Counts = Vec<Vec<(u32, u32, u32)>>;
        let summary: Vec<(&str, bool, bool, Counts)> = progress
            .iter()
            .map(|p| {
                let clauses = p
                    .clauses
                    .iter()
                    .map(|c| {
                        c.iter()
                            .map(|t| (t.approvals, t.approve, t.denials))
                            .collect()
                    })
                    .collect();
                (p.role.as_str(), p.granted, p.approved, clauses)
            })
            .collect();
        assert_eq!(
            summary,
            vec![
                ("p", false, false, vec![vec![(0, 1, 0), (0, 2, 1)]]),
                ("db", true, false, vec![vec![(1, 2, 1)], vec![(0, 1, 0)]]),
            ]
        );
        assert_eq!(replay(&req).state, State::Pending);
    }

    #[test]
    fn votes_count_as_the_replay_does() {
        // (thresholds, clauses of p, reviews, votes of p)
        type Case<'a> = (
            Vec<Threshold>,
            Vec<Vec<usize>>,
            &'a [(&'a str, Decision, &'a [&'a str], &'a [usize])],
            (usize, usize),
        );
        let cases: Vec<Case> = vec![
            (vec![threshold("t", 2, 1)], vec![vec![0]], &[], (0, 2)),
            (
                vec![threshold("t", 2, 1)],
                vec![vec![0]],
                &[("bob", A, &[], &[0])],
                (1, 2),
            ),
            // A review matching no threshold is no vote.
            (
                vec![threshold("t", 2, 1)],
                vec![vec![0]],
                &[("bob", A, &[], &[])],
                (0, 2),
            ),
            // The clause's nearest threshold shows.
            (
                vec![threshold("a", 3, 1), threshold("b", 1, 1)],
                vec![vec![0, 1]],
                &[],
                (0, 1),
            ),
            // Clauses add up.
            (
                vec![threshold("a", 2, 1), threshold("b", 1, 1)],
                vec![vec![0], vec![1]],
                &[("bob", A, &[], &[0, 1])],
                (2, 3),
            ),
            // approve 0 never counts: one vote that never comes.
            (
                vec![threshold("veto", 0, 1)],
                vec![vec![0]],
                &[("bob", A, &[], &[0])],
                (0, 1),
            ),
            // Votes after the resolution are not counted.
            (
                vec![threshold("t", 1, 1)],
                vec![vec![0]],
                &[("bob", A, &[], &[0]), ("carol", A, &[], &[0])],
                (1, 1),
            ),
        ];
        for (thresholds, clauses, reviews, expected) in cases {
            let req = with_reviews(request(&["p"], thresholds, &[("p", clauses)]), reviews);
            assert_eq!(votes(&req), expected, "{reviews:?}");
            assert_eq!(role_progress_votes(&req, "p"), expected, "{reviews:?}");
        }
        // Several roles: the one furthest from approval.
        let req = request(
            &["p", "db"],
            vec![threshold("one", 1, 1), threshold("two", 2, 1)],
            &[("p", vec![vec![0]]), ("db", vec![vec![1]])],
        );
        let req = with_reviews(req, &[("bob", A, &[], &[0, 1])]);
        assert_eq!(votes(&req), (1, 2));
        // Narrowed to p, only p counts.
        let req = request(
            &["p", "db"],
            vec![threshold("two", 2, 1), threshold("three", 3, 1)],
            &[("p", vec![vec![0]]), ("db", vec![vec![1]])],
        );
        let req = with_reviews(req, &[("bob", A, &["p"], &[0, 1])]);
        assert_eq!(votes(&req), (1, 2));
    }

    #[test]
    fn narrowed_grant_previews_an_approval() {
        let req = request(&["a", "b", "c"], vec![threshold("t", 3, 1)], &[]);
        let req = with_reviews(req, &[("bob", A, &["a", "b"], &[0])]);
        let cases: [(&[&str], &[&str]); 4] = [
            (&[], &["a", "b"]),
            (&["b", "c"], &["b"]),
            (&["c"], &[]),
            (&["zzz"], &[]),
        ];
        for (subset, expected) in cases {
            assert_eq!(
                crate::policy::narrowed_grant(&req, &strings(subset)),
                strings(expected),
                "{subset:?}"
            );
        }
    }
}
