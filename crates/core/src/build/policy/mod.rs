//! Admission guardrails enforced by the API server itself: ValidatingAdmissionPolicies shared by
//! all tenants, parameterised per namespace by the operator-owned `TenantPolicy` named
//! `tenant-policy`. Why VAP rather than a webhook, what each policy enforces, who is exempt and
//! the design decisions: docs/admission-policies.md.
//!
//! One file per policy; `params` builds the `TenantPolicy`, `common` holds the building blocks.

mod budget;
mod common;
mod ingress_hosts;
mod managed_objects;
mod namespace_labels;
mod params;
mod rbac;
mod replicas;
mod services;
mod storage;
mod workloads;

use crate::build::{BuildContext, BuildError};
use crate::object::Object;

pub use common::exemptions;
pub(crate) use params::registry_prefixes;
pub use params::{
    RESERVED_PRIORITY_PREFIX, priority_class_error, tenant_policy, tenant_policy_spec,
};

/// Every shared object's name starts with this.
pub const NAME_PREFIX: &str = "tenant-";
pub const WORKLOADS: &str = "tenant-workloads";
pub const SERVICES: &str = "tenant-services";
pub const STORAGE: &str = "tenant-storage";
pub const REPLICAS: &str = "tenant-replicas";
pub const RBAC: &str = "tenant-rbac";
pub const MANAGED_OBJECTS: &str = "tenant-managed-objects";
pub const NAMESPACE_LABELS: &str = "tenant-namespace-labels";
pub const INGRESS_HOSTS: &str = "tenant-ingress-hosts";
pub const BUDGET: &str = "tenant-budget";

/// Kinds in a tenant namespace that only the operator may write, whoever created them.
pub const OPERATOR_KINDS: [&str; 4] = [
    "ResourceQuota",
    "LimitRange",
    "NetworkPolicy",
    "TenantPolicy",
];

/// The cluster-scoped policies and bindings shared by all tenants, each policy before its
/// bindings.
pub fn shared_policies(ctx: &BuildContext) -> Result<Vec<Object>, BuildError> {
    if ctx.operator_user.trim().is_empty() {
        return Err(BuildError::Invalid {
            field: "operatorUser".into(),
            message: "the operator's user name is needed to exempt it from the policies".into(),
        });
    }
    let mut out = Vec::new();
    for def in [
        workloads::policy(),
        services::policy(),
        storage::policy(),
        replicas::policy(),
        rbac::policy(),
        managed_objects::policy(),
        namespace_labels::policy(),
        budget::policy(),
    ] {
        out.push(Object::from_resource(&def.policy(ctx))?);
        for b in def.bindings() {
            out.push(Object::from_resource(&b)?);
        }
    }
    out.extend(ingress_hosts::objects(ctx)?);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Value;
    use tenant_api::labels;

    #[test]
    fn shared_objects_are_policies_followed_by_their_bindings() {
        let objs = shared_policies(&BuildContext::default()).unwrap();
        let mut seen_policies = Vec::new();
        for o in &objs {
            assert!(o.name.starts_with(NAME_PREFIX), "{}", o.name);
            assert_eq!(o.namespace, None);
            assert_eq!(o.api_version, "admissionregistration.k8s.io/v1");
            let labels = &o.manifest["metadata"]["labels"];
            assert_eq!(labels[labels::MANAGED_BY], "tenant-operator");
            assert!(labels.get(labels::TENANT_ID).is_none());
            match o.kind.as_str() {
                "ValidatingAdmissionPolicy" => {
                    let spec = &o.manifest["spec"];
                    assert_eq!(spec["failurePolicy"], "Fail");
                    let conds = spec["matchConditions"].as_array().unwrap();
                    // the budget policy holds kube-system's controllers too (they create the pods)
                    assert_eq!(
                        conds.len(),
                        if o.name == BUDGET { 2 } else { 3 },
                        "{}",
                        o.name
                    );
                    assert!(
                        conds[0]["expression"]
                            .as_str()
                            .unwrap()
                            .contains("'system:serviceaccount:tenant-system:tenant-operator'")
                    );
                    seen_policies.push(o.name.clone());
                }
                "ValidatingAdmissionPolicyBinding" => {
                    let spec = &o.manifest["spec"];
                    let policy = spec["policyName"].as_str().unwrap();
                    assert!(
                        seen_policies.iter().any(|p| p == policy),
                        "{} before its policy",
                        o.name
                    );
                    assert_eq!(spec["validationActions"], serde_json::json!(["Deny"]));
                    let params = objs
                        .iter()
                        .find(|p| p.name == policy && p.kind == "ValidatingAdmissionPolicy")
                        .map(|p| p.manifest["spec"].get("paramKind").is_some())
                        .unwrap();
                    if policy == INGRESS_HOSTS {
                        // one cluster-wide map in the operator's namespace
                        assert_eq!(spec["paramRef"]["name"], "tenant-domains");
                        assert_eq!(spec["paramRef"]["namespace"], "tenant-system");
                        assert_eq!(spec["paramRef"]["parameterNotFoundAction"], "Deny");
                    } else if params {
                        assert_eq!(spec["paramRef"]["name"], "tenant-policy");
                        assert!(spec["paramRef"].get("namespace").is_none());
                        let ops = &spec["matchResources"]["resourceRules"][0]["operations"];
                        let expected = if o.name.ends_with("-create") {
                            "Deny"
                        } else {
                            "Allow"
                        };
                        assert_eq!(spec["paramRef"]["parameterNotFoundAction"], expected);
                        assert_eq!(ops.as_array().unwrap().len(), 1);
                    } else {
                        assert!(spec.get("paramRef").is_none());
                    }
                    if policy == NAMESPACE_LABELS {
                        assert!(spec["matchResources"].get("namespaceSelector").is_none());
                        assert!(spec["matchResources"].get("objectSelector").is_some());
                    } else {
                        assert_eq!(
                            spec["matchResources"]["namespaceSelector"]["matchLabels"]
                                [labels::TENANT_NAMESPACE],
                            "true"
                        );
                    }
                }
                other => panic!("unexpected kind {other}"),
            }
        }
        assert_eq!(
            seen_policies,
            [
                WORKLOADS,
                SERVICES,
                STORAGE,
                REPLICAS,
                RBAC,
                MANAGED_OBJECTS,
                NAMESPACE_LABELS,
                BUDGET,
                INGRESS_HOSTS
            ]
        );
    }

    #[test]
    fn params_policies_name_the_tenant_policy_kind() {
        let objs = shared_policies(&BuildContext::default()).unwrap();
        for o in objs
            .iter()
            .filter(|o| o.kind == "ValidatingAdmissionPolicy")
        {
            let pk: &Value = &o.manifest["spec"]["paramKind"];
            if [MANAGED_OBJECTS, NAMESPACE_LABELS, BUDGET].contains(&o.name.as_str()) {
                assert!(pk.is_null());
            } else if o.name == INGRESS_HOSTS {
                assert_eq!(pk["apiVersion"], "v1");
                assert_eq!(pk["kind"], "ConfigMap");
            } else {
                assert_eq!(pk["apiVersion"], "shop.pilab.hu/v1alpha1");
                assert_eq!(pk["kind"], "TenantPolicy");
            }
        }
    }

    #[test]
    fn operator_user_is_quoted_as_a_cel_literal() {
        let ctx = BuildContext {
            operator_user: "it's\\me",
            ..Default::default()
        };
        assert_eq!(
            exemptions(&ctx)[0].expression,
            r"request.userInfo.username != 'it\'s\\me'"
        );
        let empty = BuildContext {
            operator_user: " ",
            ..Default::default()
        };
        assert!(matches!(
            shared_policies(&empty),
            Err(BuildError::Invalid { .. })
        ));
    }
}
