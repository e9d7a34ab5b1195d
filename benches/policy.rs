//! Role files under load and under attack:
//!
//!   cargo bench --bench policy
//!
//! Times applying the test fixture's roles, refusing an alias bomb (one anchor
//! referenced 5,000 times) and 100,000 nested `[`, and deciding who may request
//! what (`*` expansion through claims_to_roles) for a set of 200 roles.

use countersign::model::User;
use countersign::policy::RoleSet;
use criterion::{Criterion, criterion_group, criterion_main};

const FIXTURE: &str = include_str!("../tests/fixtures/roles.yaml");
const HEAD: &str = "kind: role\nversion: v7\nmetadata:\n  name: a\n";

fn many_roles() -> String {
    let mut text = String::from(
        "kind: role\nversion: v7\nmetadata: {name: requester}\nspec:\n  allow:\n    request:\n      roles: ['team-*']\n      claims_to_roles:\n        - {claim: groups, value: '^admin-(.*)$', roles: ['svc-$1']}\n",
    );
    for i in 0..100 {
        text.push_str(&format!(
            "---\nkind: role\nversion: v7\nmetadata: {{name: team-{i}}}\n---\nkind: role\nversion: v7\nmetadata: {{name: svc-{i}}}\n"
        ));
    }
    text
}

fn bench(c: &mut Criterion) {
    c.bench_function("apply the fixture roles", |b| {
        b.iter(|| RoleSet::from_yaml(FIXTURE, "roles.yaml").expect("fixture loads"))
    });
    let refs = vec!["*x"; 5000].join(", ");
    let bomb = format!("{HEAD}x: &x [1, 2, 3, 4, 5, 6, 7, 8, 9, 10]\ny: [{refs}]\n");
    c.bench_function("refuse an alias bomb (5,000 references)", |b| {
        b.iter(|| RoleSet::from_yaml(&bomb, "bomb.yaml").expect_err("refused"))
    });
    let deep = format!("{HEAD}y: {}\n", "[".repeat(100_000));
    c.bench_function("refuse 100,000 nested [", |b| {
        b.iter(|| RoleSet::from_yaml(&deep, "deep.yaml").expect_err("refused"))
    });
    let set = RoleSet::from_yaml(&many_roles(), "many.yaml").expect("roles load");
    let user = User {
        name: "alice".into(),
        roles: vec!["requester".into()],
        traits: [(
            "groups".to_string(),
            (0..20).map(|i| format!("admin-{i}")).collect(),
        )]
        .into(),
    };
    assert_eq!(set.requestable_roles(&user).len(), 120);
    c.bench_function("requestable roles of 201 (globs and $1 claims)", |b| {
        b.iter(|| set.requestable_roles(&user))
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
