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
            &["get", "list", "watch", "patch", "create"][..],
        ),
        ("shop.pilab.hu", "tenants/status", &["patch"][..]),
        // the PRStack controller (--prstacks)
        ("shop.pilab.hu", "prstacks", &["get", "list", "watch"][..]),
        ("shop.pilab.hu", "prstacks/status", &["patch"][..]),
        ("events.k8s.io", "events", &["create", "patch"][..]),
        // the domain map (ConfigMap tenant-domains in its namespace)
        ("", "configmaps", &["get", "create", "patch"][..]),
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

/// Admission policies and their bindings: get and patch only by name, and exactly the names of
/// the shared objects the operator renders; never delete, and no patch without names.
#[test]
fn the_operator_may_change_exactly_its_own_admission_policies() {
    use std::collections::{BTreeMap, BTreeSet};
    let cluster = rules_of("ClusterRole");
    let mut wanted: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for o in tenant_core::build::shared_objects(&Default::default()).expect("shared objects") {
        if let Some(k) = tenant_core::registry::find(&o.api_version, &o.kind)
            && k.group == "admissionregistration.k8s.io"
        {
            wanted
                .entry(k.plural.to_string())
                .or_default()
                .insert(o.name.clone());
        }
    }
    assert!(wanted.len() >= 4, "{wanted:?}");
    for (resource, names) in &wanted {
        let granted: BTreeSet<String> = cluster
            .iter()
            .filter(|r| r.resources.iter().flatten().any(|x| x == resource))
            .filter(|r| r.verbs.iter().any(|v| v == "patch"))
            .flat_map(|r| r.resource_names.clone().unwrap_or_default())
            .collect();
        assert_eq!(
            &granted, names,
            "{resource}: get/patch by exactly these names"
        );
        for verb in ["get", "patch"] {
            for n in names {
                assert!(
                    cluster.iter().any(|r| {
                        r.resources.iter().flatten().any(|x| x == resource)
                            && r.verbs.iter().any(|v| v == verb)
                            && r.resource_names.iter().flatten().any(|x| x == n)
                    }),
                    "{resource} {verb} {n}"
                );
            }
        }
        assert!(
            !cluster.iter().any(|r| {
                r.resources.iter().flatten().any(|x| x == resource)
                    && r.resource_names.is_none()
                    && r.verbs
                        .iter()
                        .any(|v| matches!(v.as_str(), "get" | "patch" | "update" | "delete"))
            }),
            "{resource}: get, patch, update or delete on any name"
        );
    }
}

/// The fence (deploy/operator/fence.yaml) lets the operator write exactly the kinds it manages in
/// tenant namespaces, and names its user and its tenant ClusterRoles.
#[test]
fn the_fence_lists_what_the_operator_manages() {
    use tenant_core::registry::{self, Role};
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../deploy/operator/fence.yaml"
    );
    let text = std::fs::read_to_string(path).expect("deploy/operator/fence.yaml");
    let docs: Vec<Value> = serde_saphyr::from_multiple(&text).expect("fence.yaml parses");
    let policy = docs
        .iter()
        .find(|d| d["kind"] == "ValidatingAdmissionPolicy")
        .expect("the policy");
    let variable = |name: &str| -> Vec<String> {
        let expr = policy["spec"]["variables"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|v| v["name"] == name)
            .and_then(|v| v["expression"].as_str())
            .unwrap_or_else(|| panic!("variable {name}"));
        let mut items: Vec<String> = expr
            .trim_matches(|c| c == '[' || c == ']')
            .split(',')
            .map(|s| s.trim().trim_matches('\'').to_string())
            .collect();
        items.sort();
        items
    };
    let mut managed: Vec<String> = registry::with_role(Role::PerOwner)
        .filter(|k| k.namespaced && k.home == registry::Home::Tenant)
        .map(|k| k.plural.to_string())
        .collect();
    managed.sort();
    assert_eq!(variable("managedKinds"), managed);
    // In Velero's namespace: the kinds whose home it is, and the final Backup.
    let mut velero: Vec<String> = registry::with_role(Role::PerOwner)
        .filter(|k| k.home == registry::Home::Velero)
        .map(|k| k.plural.to_string())
        .chain(["backups".to_string(), "restores".to_string()])
        .collect();
    velero.sort();
    assert_eq!(variable("veleroKinds"), velero);
    let mut roles: Vec<String> = BuiltinRole::ALL
        .iter()
        .map(|b| b.role_name().to_string())
        .collect();
    roles.sort();
    assert_eq!(variable("clusterRoles"), roles);
    let user = policy["spec"]["matchConditions"][0]["expression"]
        .as_str()
        .unwrap_or_default();
    assert!(
        user.contains(&format!("'{}'", tenant_core::build::DEFAULT_OPERATOR_USER)),
        "{user}"
    );
    // The domain map is the one object it may write outside tenant namespaces by name.
    let rules = serde_json::to_string(&policy["spec"]["validations"]).unwrap_or_default();
    assert!(
        rules.contains(&format!(
            "request.namespace == '{}' && request.name == '{}'",
            tenant_core::build::DEFAULT_OPERATOR_NAMESPACE,
            tenant_core::build::domains::CONFIG_MAP
        )),
        "{rules}"
    );
    // The operator may not change its own fence.
    let cluster = rules_of("ClusterRole");
    assert!(!cluster.iter().any(|r| {
        r.resource_names
            .iter()
            .flatten()
            .any(|n| n == "tenant-operator-fence")
    }));
    assert!(
        docs.iter()
            .all(|d| d["metadata"]["labels"][tenant_api::labels::MANAGED_BY].is_null()),
        "the fence is installed with the operator, not managed by it"
    );
}
