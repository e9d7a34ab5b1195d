//! Who may review a request, and which thresholds a review counts toward. Review
//! rights come from the reviewer's static roles only, never from requested ones.

use super::predicate::{Context, Predicate};
use super::{ReviewRefusal, RoleSet};
use crate::model::{Request, User};

/// Whether the reviewer's static roles allow reviewing `name`, ignoring `where`
/// (a deny with a `where` is left to the check of a particular request).
fn may_review(set: &RoleSet, reviewer: &User, name: &str) -> bool {
    let traits = &reviewer.traits;
    let mut specs = set.user_specs(reviewer).map(|(_, spec)| spec);
    let denied = specs
        .clone()
        .any(|spec| spec.deny_review_where.is_none() && spec.deny_review.covers(name, traits));
    !denied && specs.any(|spec| spec.review.covers(name, traits))
}

/// Roles the user may review; `where` conditions depend on the request, so a role
/// listed here may still be refused for a particular request.
pub(super) fn reviewable_roles(set: &RoleSet, user: &User) -> Vec<String> {
    set.roles
        .keys()
        .filter(|name| may_review(set, user, name))
        .cloned()
        .collect()
}

pub(super) fn check_review(
    set: &RoleSet,
    reviewer: &User,
    request: &Request,
) -> Result<(), ReviewRefusal> {
    if reviewer.name == request.user {
        return Err(ReviewRefusal::SelfReview);
    }
    if let Some(name) = request
        .roles
        .iter()
        .find(|name| !may_review(set, reviewer, name))
    {
        return Err(ReviewRefusal::RoleNotReviewable(name.clone()));
    }
    let ctx = context(request, reviewer, "");
    let traits = &reviewer.traits;
    // A deny whose `where` holds for this request forbids the roles it names.
    let denied = request.roles.iter().find(|name| {
        set.user_specs(reviewer).any(|(_, spec)| {
            spec.deny_review_where
                .as_ref()
                .is_some_and(|p| p.eval(&ctx))
                && spec.deny_review.covers(name, traits)
        })
    });
    if let Some(name) = denied {
        return Err(ReviewRefusal::RoleNotReviewable(name.clone()));
    }
    // Each role needs one allowing role whose `where` holds for this request.
    let satisfied = request.roles.iter().all(|name| {
        set.user_specs(reviewer).any(|(_, spec)| {
            spec.review.covers(name, traits)
                && spec.review_where.as_ref().is_none_or(|p| p.eval(&ctx))
        })
    });
    if satisfied {
        Ok(())
    } else {
        Err(ReviewRefusal::WhereNotSatisfied)
    }
}

pub(super) fn matching_thresholds(
    request: &Request,
    reviewer: &User,
    review_reason: &str,
) -> Vec<usize> {
    let ctx = context(request, reviewer, review_reason);
    request
        .thresholds
        .iter()
        .enumerate()
        .filter(|(_, threshold)| {
            // Filters were checked when the role set was loaded; one that no longer
            // parses matches nobody rather than everybody.
            Predicate::parse(&threshold.filter).is_ok_and(|p| p.eval(&ctx))
        })
        .map(|(index, _)| index)
        .collect()
}

fn context<'a>(request: &'a Request, reviewer: &'a User, review_reason: &'a str) -> Context<'a> {
    Context {
        reviewer,
        request_roles: &request.roles,
        request_reason: &request.reason,
        request_annotations: &request.annotations,
        review_reason,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Decision;
    use crate::policy::testkit::{load_one, request, review, strings, user, with_trait};

    const ROLES: &str = r#"
kind: role
version: v7
metadata: {name: dev}
spec:
  allow:
    request:
      roles: [prod, db, reviewer]
      thresholds:
        - name: security
          filter: 'contains(reviewer.roles, "security")'
          approve: 1
          deny: 1
        - name: two-team
          filter: 'contains(reviewer.traits["team"], "infra") && !equals(review.reason, "")'
          approve: 2
          deny: 2
---
kind: role
version: v7
metadata: {name: reviewer}
spec:
  allow:
    review_requests:
      roles: ['prod', 'db', 'reviewer']
---
kind: role
version: v7
metadata: {name: security}
spec:
  allow:
    review_requests:
      roles: ['*']
---
kind: role
version: v7
metadata: {name: no-db}
spec:
  deny:
    review_requests:
      roles: ['db']
---
kind: role
version: v7
metadata: {name: ticketed}
spec:
  allow:
    review_requests:
      roles: [prod]
      where: 'contains(request.annotations["ticket"], "INC-1") || equals(request.reason, "incident #47")'
---
kind: role
version: v7
metadata: {name: prod}
---
kind: role
version: v7
metadata: {name: db}
"#;

    #[test]
    fn who_may_review() {
        let set = load_one(ROLES);
        let alice = user("alice", &["dev"]);
        let prod = request(&set, &alice, &["prod"], "incident #47");
        let both = request(&set, &alice, &["prod", "db"], "routine");
        let cases = [
            ("carrot", vec!["reviewer"], &prod, Ok(())),
            ("carrot", vec!["reviewer"], &both, Ok(())),
            (
                "alice",
                vec!["reviewer"],
                &prod,
                Err(ReviewRefusal::SelfReview),
            ),
            (
                "bob",
                vec!["dev"],
                &prod,
                Err(ReviewRefusal::RoleNotReviewable("prod".into())),
            ),
            (
                "bob",
                vec!["missing"],
                &prod,
                Err(ReviewRefusal::RoleNotReviewable("prod".into())),
            ),
            ("vimes", vec!["security", "no-db"], &prod, Ok(())),
            (
                "vimes",
                vec!["security", "no-db"],
                &both,
                Err(ReviewRefusal::RoleNotReviewable("db".into())),
            ),
            ("nobby", vec!["ticketed"], &prod, Ok(())),
            (
                "nobby",
                vec!["ticketed"],
                &both,
                Err(ReviewRefusal::RoleNotReviewable("db".into())),
            ),
            // A deny about db does not touch prod.
            ("nobby", vec!["ticketed", "no-db"], &prod, Ok(())),
        ];
        for (name, roles, request, expected) in cases {
            let reviewer = user(name, &roles);
            assert_eq!(
                set.check_review(&reviewer, request),
                expected,
                "{name} {roles:?}"
            );
        }
        let mut routine = request(&set, &alice, &["prod"], "routine");
        assert_eq!(
            set.check_review(&user("nobby", &["ticketed"]), &routine),
            Err(ReviewRefusal::WhereNotSatisfied)
        );
        routine
            .annotations
            .insert("ticket".into(), strings(&["INC-1"]));
        assert_eq!(
            set.check_review(&user("nobby", &["ticketed"]), &routine),
            Ok(())
        );
    }

    #[test]
    fn reviewable_roles_come_from_static_roles_only() {
        let set = load_one(ROLES);
        assert_eq!(
            set.reviewable_roles(&user("carrot", &["reviewer"])),
            strings(&["db", "prod", "reviewer"])
        );
        assert_eq!(
            set.reviewable_roles(&user("vimes", &["security", "no-db"])),
            strings(&["dev", "no-db", "prod", "reviewer", "security", "ticketed"])
        );
        // alice may request `reviewer`, and even after an approved request for it
        // her static roles are what count: she may review nothing.
        let alice = user("alice", &["dev"]);
        assert!(
            set.requestable_roles(&alice)
                .contains(&"reviewer".to_string())
        );
        assert!(set.reviewable_roles(&alice).is_empty());
        let bob = user("bob", &["dev"]);
        let bobs = request(&set, &bob, &["prod"], "x");
        assert_eq!(
            set.check_review(&alice, &bobs),
            Err(ReviewRefusal::RoleNotReviewable("prod".into()))
        );
    }

    #[test]
    fn reviews_count_toward_the_thresholds_their_filters_match() {
        let set = load_one(ROLES);
        let alice = user("alice", &["dev"]);
        let mut req = request(&set, &alice, &["prod"], "x");
        assert_eq!(req.role_thresholds["prod"], vec![vec![0, 1]]);
        let infra = |name: &str| with_trait(user(name, &["reviewer"]), "team", &["infra"]);
        let cases = [
            (user("vimes", &["security"]), "ok", vec![0]),
            (infra("carrot"), "ok", vec![1]),
            (infra("carrot"), "", vec![]),
            (
                with_trait(user("x", &["security"]), "team", &["infra"]),
                "ok",
                vec![0, 1],
            ),
            (user("nobby", &["reviewer"]), "ok", vec![]),
        ];
        for (reviewer, reason, expected) in cases {
            assert_eq!(
                matching_thresholds(&req, &reviewer, reason),
                expected,
                "{} {reason:?}",
                reviewer.name
            );
        }

        // Two infra approvals satisfy the clause through the second threshold...
        let outcome = review(&mut req, &infra("carrot"), Decision::Approve, &[]);
        assert_eq!(outcome.state, crate::model::State::Pending);
        let outcome = review(&mut req, &infra("angua"), Decision::Approve, &[]);
        assert_eq!(outcome.state, crate::model::State::Approved);

        // ...one security approval through the first.
        let mut req = request(&set, &alice, &["prod"], "x");
        let outcome = review(
            &mut req,
            &user("vimes", &["security"]),
            Decision::Approve,
            &[],
        );
        assert_eq!(outcome.state, crate::model::State::Approved);

        // A reviewer matching no threshold neither approves nor denies.
        let mut req = request(&set, &alice, &["prod"], "x");
        let outcome = review(&mut req, &user("nobby", &["reviewer"]), Decision::Deny, &[]);
        assert_eq!(outcome.state, crate::model::State::Pending);
        // One infra denial is not enough (deny: 2); a security denial is.
        let outcome = review(&mut req, &infra("carrot"), Decision::Deny, &[]);
        assert_eq!(outcome.state, crate::model::State::Pending);
        let outcome = review(&mut req, &user("vimes", &["security"]), Decision::Deny, &[]);
        assert_eq!(outcome.state, crate::model::State::Denied);
    }
}
