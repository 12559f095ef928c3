//! The Tenant finalizer, added by the API server when a Tenant is created.
//!
//! A MutatingAdmissionPolicy (admissionregistration.k8s.io/v1, Kubernetes 1.36 and later) adds
//! `shop.pilab.hu/cleanup` to every new Tenant. The Tenant then carries the finalizer from its
//! first moment, without a separate write, and a Tenant deleted before the operator saw it
//! still waits for its cleanup. On clusters that do not serve the kind the operator adds the
//! finalizer itself (a patch on the first reconcile), which is also what happens to Tenants
//! created before the policy existed or while it could not run (`failurePolicy: Ignore`).

use crate::object::Object;
use serde_json::{Value, json};
use tenant_api::labels;

/// The name of the policy and of its binding.
pub const POLICY_NAME: &str = "tenant-finalizer";
/// The API version the policy is served under.
pub const API_VERSION: &str = "admissionregistration.k8s.io/v1";
/// The kinds of these objects: a cluster without them still works (see the module docs).
pub const KINDS: [&str; 2] = ["MutatingAdmissionPolicy", "MutatingAdmissionPolicyBinding"];

fn metadata() -> Value {
    json!({
        "name": POLICY_NAME,
        "labels": {
            labels::MANAGED_BY: labels::MANAGER,
            labels::PART_OF: "tenant",
            labels::APP_COMPONENT: "admission-policy",
        },
    })
}

/// The CEL expression of the mutation: the JSON patch that adds the finalizer when it is
/// missing (and nothing when a client already set it).
pub fn expression() -> String {
    let f = labels::FINALIZER;
    format!(
        "!has(object.metadata.finalizers) ? \
         [JSONPatch{{op: 'add', path: '/metadata/finalizers', value: ['{f}']}}] : \
         ('{f}' in object.metadata.finalizers ? [] : \
         [JSONPatch{{op: 'add', path: '/metadata/finalizers/-', value: '{f}'}}])"
    )
}

/// Whether `obj` is the policy or its binding (objects a cluster may not serve).
pub fn is_policy_object(obj: &Object) -> bool {
    obj.api_version == API_VERSION && KINDS.contains(&obj.kind.as_str())
}

/// The policy and its binding.
pub fn objects() -> Vec<Object> {
    let group = tenant_api::GROUP;
    let policy = json!({
        "apiVersion": API_VERSION,
        "kind": KINDS[0],
        "metadata": metadata(),
        "spec": {
            // If the policy cannot run, the Tenant is still created; the operator adds the
            // finalizer on its first reconcile.
            "failurePolicy": "Ignore",
            "reinvocationPolicy": "Never",
            "matchConstraints": {
                "resourceRules": [{
                    "apiGroups": [group],
                    "apiVersions": ["*"],
                    "operations": ["CREATE"],
                    "resources": ["tenants"],
                }],
            },
            "mutations": [{
                "patchType": "JSONPatch",
                "jsonPatch": { "expression": expression() },
            }],
        },
    });
    let binding = json!({
        "apiVersion": API_VERSION,
        "kind": KINDS[1],
        "metadata": metadata(),
        "spec": { "policyName": POLICY_NAME },
    });
    vec![Object::from_value(policy), Object::from_value(binding)]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_policy_matches_tenant_creates_only_and_names_the_finalizer() {
        let objs = objects();
        assert_eq!(objs.len(), 2);
        let p = &objs[0].manifest;
        assert_eq!(p["kind"], "MutatingAdmissionPolicy");
        let rule = &p["spec"]["matchConstraints"]["resourceRules"][0];
        assert_eq!(rule["operations"], json!(["CREATE"]));
        assert_eq!(rule["resources"], json!(["tenants"]));
        assert_eq!(rule["apiGroups"], json!([tenant_api::GROUP]));
        let expr = p["spec"]["mutations"][0]["jsonPatch"]["expression"]
            .as_str()
            .unwrap_or_default();
        assert_eq!(expr.matches(labels::FINALIZER).count(), 3, "{expr}");
        assert_eq!(objs[1].manifest["spec"]["policyName"], POLICY_NAME);
        for o in &objs {
            assert!(is_policy_object(o));
            assert_eq!(o.name, POLICY_NAME);
            assert_eq!(o.namespace, None);
            assert_eq!(
                o.manifest["metadata"]["labels"][labels::MANAGED_BY],
                labels::MANAGER
            );
        }
    }
}
