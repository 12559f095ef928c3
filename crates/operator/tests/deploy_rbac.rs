#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)] // tests fail by panicking

//! Offline checks of deploy/operator/rbac.yaml: no wildcards, and every permission the tenant
//! Roles grant (crates/core/src/build/rbac.rs) is held by the operator, since the API server's
//! RBAC escalation check refuses a Role its creator does not fully hold.

use k8s_openapi::api::rbac::v1::PolicyRule;
use serde_json::Value;
use tenant_core::build::rbac::BuiltinRole;

fn documents() -> Vec<Value> {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../deploy/operator/rbac.yaml"
    );
    let text = std::fs::read_to_string(path).expect("deploy/operator/rbac.yaml is readable");
    serde_saphyr::from_multiple(&text).expect("rbac.yaml parses")
}

fn rules_of(kind: &str) -> Vec<PolicyRule> {
    documents()
        .into_iter()
        .filter(|d| d["kind"] == kind)
        .flat_map(|d| {
            serde_json::from_value::<Vec<PolicyRule>>(d["rules"].clone()).expect("rules parse")
        })
        .collect()
}

fn holds(rules: &[PolicyRule], group: &str, resource: &str, verb: &str) -> bool {
    rules.iter().any(|r| {
        r.resource_names.is_none()
            && r.api_groups.iter().flatten().any(|g| g == group)
            && r.resources.iter().flatten().any(|x| x == resource)
            && r.verbs.iter().any(|v| v == verb)
    })
}

#[test]
fn deploy_rbac_covers_the_tenant_roles() {
    let cluster = rules_of("ClusterRole");
    let mut missing = Vec::new();
    for role in BuiltinRole::ALL {
        for rule in role.rules() {
            for group in rule.api_groups.iter().flatten() {
                for resource in rule.resources.iter().flatten() {
                    for verb in &rule.verbs {
                        if !holds(&cluster, group, resource, verb) {
                            missing
                                .push(format!("{}: {group}/{resource} {verb}", role.role_name()));
                        }
                    }
                }
            }
        }
    }
    assert!(
        missing.is_empty(),
        "the operator's ClusterRole lacks:\n{}",
        missing.join("\n")
    );
}

/// Whether a rule limited to object names grants `verb` on `resource`.
fn holds_by_name(rules: &[PolicyRule], group: &str, resource: &str, verb: &str) -> bool {
    rules.iter().any(|r| {
        r.resource_names.as_ref().is_some_and(|n| !n.is_empty())
            && r.api_groups.iter().flatten().any(|g| g == group)
            && r.resources.iter().flatten().any(|x| x == resource)
            && r.verbs.iter().any(|v| v == verb)
    })
}

/// Every kind of the registry gets the verbs the operator uses on it (shared objects may be
/// limited to their names for get and patch), plus what the operator needs beyond managed
/// kinds: its own resources, Events, and the CRD watch that notices optional integrations.
#[test]
fn deploy_rbac_covers_the_operators_own_work() {
    use tenant_core::registry::{self, Role};
    let cluster = rules_of("ClusterRole");
    let mut missing = Vec::new();
    for k in registry::KINDS {
        for verb in k.verbs() {
            let ok = holds(&cluster, k.group, k.plural, verb)
                || (k.role == Role::Shared
                    && matches!(*verb, "get" | "patch")
                    && holds_by_name(&cluster, k.group, k.plural, verb));
            if !ok {
                missing.push(format!("{}/{} {verb}", k.group, k.plural));
            }
        }
    }
    for (group, resource, verbs) in [
        (
            "shop.pilab.hu",
            "tenants",
            &["get", "list", "watch", "patch"][..],
        ),
        ("shop.pilab.hu", "tenants/status", &["patch"][..]),
        ("events.k8s.io", "events", &["create", "patch"][..]),
        (
            "apiextensions.k8s.io",
            "customresourcedefinitions",
            &["list", "watch"][..],
        ),
    ] {
        for verb in verbs {
            if !holds(&cluster, group, resource, verb) {
                missing.push(format!("{group}/{resource} {verb}"));
            }
        }
    }
    assert!(
        missing.is_empty(),
        "deploy/operator/rbac.yaml lacks:\n{}",
        missing.join("\n")
    );
}

#[test]
fn the_operator_may_update_and_bind_exactly_the_tenant_cluster_roles() {
    let cluster = rules_of("ClusterRole");
    for b in BuiltinRole::ALL {
        for verb in ["get", "patch", "bind"] {
            assert!(
                cluster.iter().any(
                    |r| r.resources.iter().flatten().any(|x| x == "clusterroles")
                        && r.verbs.iter().any(|v| v == verb)
                        && r.resource_names
                            .iter()
                            .flatten()
                            .any(|n| n == b.role_name())
                ),
                "missing clusterroles {verb} on {}",
                b.role_name()
            );
        }
    }
    // Nothing else may be patched or deleted by name or otherwise.
    assert!(
        !cluster.iter().any(
            |r| r.resources.iter().flatten().any(|x| x == "clusterroles")
                && r.resource_names.is_none()
                && r.verbs
                    .iter()
                    .any(|v| v == "patch" || v == "delete" || v == "update")
        ),
        "the operator may change any ClusterRole"
    );
}

#[test]
fn no_wildcards_and_no_escalation_verbs() {
    for kind in ["ClusterRole", "Role"] {
        for rule in rules_of(kind) {
            let all = rule
                .api_groups
                .iter()
                .flatten()
                .chain(rule.resources.iter().flatten())
                .chain(rule.verbs.iter());
            for s in all {
                assert!(!s.contains('*'), "{kind} has a wildcard: {rule:?}");
            }
            for v in ["escalate", "impersonate"] {
                assert!(
                    !rule.verbs.iter().any(|x| x == v),
                    "{kind} grants {v}: {rule:?}"
                );
            }
            // `bind` only on the tenant ClusterRoles, by name.
            if rule.verbs.iter().any(|x| x == "bind") {
                let builtin: Vec<&str> = BuiltinRole::ALL.iter().map(|b| b.role_name()).collect();
                assert_eq!(
                    rule.resources.as_deref(),
                    Some(&["clusterroles".to_string()][..]),
                    "{kind} grants bind beyond clusterroles: {rule:?}"
                );
                let names = rule.resource_names.clone().unwrap_or_default();
                assert!(
                    !names.is_empty() && names.iter().all(|n| builtin.contains(&n.as_str())),
                    "{kind} grants bind on other ClusterRoles than the tenant ones: {rule:?}"
                );
            }
        }
    }
}
