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

#[test]
fn deploy_rbac_covers_the_operators_own_work() {
    let cluster = rules_of("ClusterRole");
    for (group, resource, verbs) in [
        (
            "shop.pilab.hu",
            "tenants",
            &["get", "list", "watch", "patch"][..],
        ),
        ("shop.pilab.hu", "tenants/status", &["patch"][..]),
        (
            "shop.pilab.hu",
            "tenantpolicies",
            &["get", "list", "watch", "create", "patch", "delete"][..],
        ),
        (
            "",
            "namespaces",
            &["get", "list", "watch", "create", "patch", "delete"][..],
        ),
        (
            "",
            "resourcequotas",
            &["list", "watch", "create", "patch", "delete"][..],
        ),
        (
            "",
            "limitranges",
            &["list", "watch", "create", "patch", "delete"][..],
        ),
        (
            "",
            "serviceaccounts",
            &["list", "watch", "create", "patch", "delete"][..],
        ),
        (
            "networking.k8s.io",
            "networkpolicies",
            &["list", "watch", "create", "patch", "delete"][..],
        ),
        (
            "rbac.authorization.k8s.io",
            "roles",
            &["list", "watch", "create", "patch", "delete"][..],
        ),
        (
            "rbac.authorization.k8s.io",
            "rolebindings",
            &["list", "watch", "create", "patch", "delete"][..],
        ),
        ("events.k8s.io", "events", &["create", "patch"][..]),
        (
            "admissionregistration.k8s.io",
            "validatingadmissionpolicies",
            &["get", "create", "patch"][..],
        ),
        (
            "admissionregistration.k8s.io",
            "validatingadmissionpolicybindings",
            &["get", "create", "patch"][..],
        ),
    ] {
        for verb in verbs {
            assert!(
                holds(&cluster, group, resource, verb),
                "missing {group}/{resource} {verb}"
            );
        }
    }
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
            for v in ["escalate", "bind", "impersonate"] {
                assert!(
                    !rule.verbs.iter().any(|x| x == v),
                    "{kind} grants {v}: {rule:?}"
                );
            }
        }
    }
}
