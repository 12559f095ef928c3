//! The `TenantPolicy` of a tenant namespace: the parameters the shared policies read (see "The
//! parameter object" in docs/admission-policies.md).

use crate::build::{BuildContext, BuildError};
use crate::naming::{self, names};
use crate::object::{Object, ObjectError};
use crate::presets::Effective;
use crate::validate::names::dns_subdomain_error;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use tenant_api::{Tenant, TenantPolicy, TenantPolicySpec};

/// The `TenantPolicy` of one tenant namespace: the parameters of the shared policies.
pub fn tenant_policy(
    tenant: &Tenant,
    eff: &Effective,
    ctx: &BuildContext,
) -> Result<Object, BuildError> {
    let obj = TenantPolicy {
        metadata: ObjectMeta {
            name: Some(names::POLICY_PARAMS.to_string()),
            namespace: Some(eff.namespace.clone()),
            labels: Some(naming::common_labels(&tenant.spec)),
            annotations: Some(naming::common_annotations(tenant)),
            ..Default::default()
        },
        spec: tenant_policy_spec(tenant, eff, ctx)?,
    };
    let manifest = serde_json::to_value(&obj).map_err(|source| ObjectError {
        kind: "TenantPolicy".into(),
        name: names::POLICY_PARAMS.into(),
        source,
    })?;
    Ok(Object::from_value(manifest))
}

/// The parameters of one tenant, from its effective settings and the platform's settings in
/// `ctx` (its default PriorityClass; nothing depends on the other tenants or on the operator's
/// identity).
pub fn tenant_policy_spec(
    tenant: &Tenant,
    eff: &Effective,
    ctx: &BuildContext,
) -> Result<TenantPolicySpec, BuildError> {
    let iso = &eff.isolation;
    let (dedicated_node_label, dedicated_node_value) = if iso.dedicated_nodes {
        if iso.dedicated_node_label.trim().is_empty() {
            return Err(BuildError::Invalid {
                field: "spec.isolation.dedicatedNodeLabel".into(),
                message: "must be a label key when dedicatedNodes is true".into(),
            });
        }
        (iso.dedicated_node_label.clone(), eff.tenant_id.clone())
    } else {
        (String::new(), String::new())
    };
    let min_replicas = tenant
        .spec
        .limits
        .as_ref()
        .and_then(|l| l.min_replicas)
        .unwrap_or(0);
    if min_replicas < 0 {
        return Err(BuildError::Invalid {
            field: "spec.limits.minReplicas".into(),
            message: "must not be negative".into(),
        });
    }
    Ok(TenantPolicySpec {
        tenant_id: eff.tenant_id.clone(),
        environment: eff.environment.clone(),
        allowed_registries: registry_prefixes(
            &iso.allowed_registries,
            "spec.isolation.allowedRegistries",
        )?,
        blocked_registries: registry_prefixes(
            &iso.blocked_registries,
            "spec.isolation.blockedRegistries",
        )?,
        require_image_pull_policy_always: iso.require_image_pull_policy_always,
        allow_node_ports: iso.allow_node_ports,
        allow_load_balancers: iso.allow_load_balancers,
        allow_host_namespaces: iso.allow_host_namespaces,
        allow_host_path: iso.allow_host_path,
        require_app_armor: iso.app_armor,
        restrict_selinux: iso.selinux,
        cpu_pinning: iso.cpu_pinning,
        dedicated_node_label,
        dedicated_node_value,
        allowed_storage_classes: if iso.storage_isolation {
            iso.allowed_storage_classes.clone()
        } else {
            Vec::new()
        },
        pv_access_control: iso.pv_access_control,
        min_replicas,
        allowed_cluster_roles: Vec::new(),
        allowed_priority_classes: priority_classes(&iso.allowed_priority_classes)?,
        default_priority_class: default_priority_class(ctx.default_priority_class)?,
    })
}

/// Why `name` cannot be a PriorityClass a tenant may use: not a PriorityClass name (a DNS
/// subdomain), or one of the reserved `system-` classes, which preempt everything, node agents
/// included (see docs/admission-policies.md).
pub fn priority_class_error(name: &str) -> Option<String> {
    if name.starts_with(RESERVED_PRIORITY_PREFIX) {
        return Some(format!(
            "{name:?} is a reserved {RESERVED_PRIORITY_PREFIX} PriorityClass: those are for the cluster's own critical components and never allowed for a tenant"
        ));
    }
    dns_subdomain_error(name).map(|e| format!("{name:?} is not a PriorityClass name: {e}"))
}

/// The prefix Kubernetes reserves for its critical PriorityClasses (`system-node-critical`,
/// `system-cluster-critical`); the workloads policy refuses it whatever the parameters say.
pub const RESERVED_PRIORITY_PREFIX: &str = "system-";

/// The tenant's PriorityClasses as the policy compares them: trimmed, duplicates dropped; an
/// empty or reserved entry is an error naming the field (the CRD's rules refuse both already).
fn priority_classes(list: &[String]) -> Result<Vec<String>, BuildError> {
    let mut out: Vec<String> = Vec::with_capacity(list.len());
    for (i, raw) in list.iter().enumerate() {
        let name = raw.trim();
        if let Some(message) = priority_class_error(name) {
            return Err(BuildError::Invalid {
                field: format!("spec.isolation.allowedPriorityClasses[{i}]"),
                message,
            });
        }
        if !out.iter().any(|o| o == name) {
            out.push(name.to_string());
        }
    }
    Ok(out)
}

/// The platform's default class, checked like a tenant's (the operator refuses a bad one at
/// start-up already).
fn default_priority_class(name: &str) -> Result<String, BuildError> {
    let name = name.trim();
    if name.is_empty() {
        return Ok(String::new());
    }
    match priority_class_error(name) {
        Some(message) => Err(BuildError::Invalid {
            field: "defaultPriorityClass (the operator's --default-priority-class)".into(),
            message,
        }),
        None => Ok(name.to_string()),
    }
}

/// Registry prefixes as the policy compares them: trimmed, without a trailing `/`, and with
/// Docker Hub's `index.docker.io` alias spelled `docker.io` (images are normalised the same way).
/// An empty entry is an error rather than dropped: dropping it from an allow list of one would
/// turn "nothing matches" into "anything goes".
pub(crate) fn registry_prefixes(list: &[String], field: &str) -> Result<Vec<String>, BuildError> {
    let mut out: Vec<String> = Vec::with_capacity(list.len());
    for (i, raw) in list.iter().enumerate() {
        let mut p = raw.trim().trim_end_matches('/').to_string();
        if p.is_empty() {
            return Err(BuildError::Invalid {
                field: format!("{field}[{i}]"),
                message: "must be a registry host or host/path prefix, not empty".into(),
            });
        }
        if p == "index.docker.io" || p.starts_with("index.docker.io/") {
            p = p.replacen("index.docker.io", "docker.io", 1);
        }
        if !out.contains(&p) {
            out.push(p);
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use tenant_api::{IsolationLevel, IsolationSpec, LimitsSpec, TenantSpec, TenantType, labels};

    fn tenant(spec: TenantSpec) -> Tenant {
        let mut t = Tenant::new("acme", spec);
        t.metadata.namespace = Some("tenants".into());
        t
    }

    #[test]
    fn strict_tenant_params_close_everything() {
        let mut spec = TenantSpec::new("acme", TenantType::Production);
        spec.isolation = Some(IsolationSpec {
            isolation_level: Some(IsolationLevel::Strict),
            dedicated_nodes: Some(true),
            allowed_storage_classes: Some(vec!["fast".into()]),
            allowed_registries: Some(vec![
                "ghcr.io/acme/".into(),
                "index.docker.io/library".into(),
            ]),
            ..Default::default()
        });
        spec.limits = Some(LimitsSpec {
            min_replicas: Some(2),
            ..Default::default()
        });
        let t = tenant(spec);
        let eff = Effective::of(&t);
        let obj = tenant_policy(&t, &eff, &BuildContext::default()).unwrap();
        assert_eq!(obj.kind, "TenantPolicy");
        assert_eq!(obj.api_version, "shop.pilab.hu/v1alpha1");
        assert_eq!(obj.name, "tenant-policy");
        assert_eq!(obj.namespace.as_deref(), Some("tenant-acme-production"));
        let m = &obj.manifest;
        assert_eq!(
            m["metadata"]["labels"][labels::MANAGED_BY],
            "tenant-operator"
        );
        assert_eq!(m["metadata"]["labels"][labels::TENANT_ID], "acme");
        assert_eq!(
            m["metadata"]["annotations"][labels::OWNER],
            "Tenant/tenants/acme"
        );
        let s = &m["spec"];
        assert_eq!(
            s["allowedRegistries"],
            serde_json::json!(["ghcr.io/acme", "docker.io/library"])
        );
        assert_eq!(s["requireImagePullPolicyAlways"], true);
        assert_eq!(s["allowNodePorts"], false);
        assert_eq!(s["allowLoadBalancers"], false);
        assert_eq!(s["allowHostNamespaces"], false);
        assert_eq!(s["allowHostPath"], false);
        assert_eq!(s["requireAppArmor"], true);
        assert_eq!(s["restrictSelinux"], true);
        assert_eq!(s["dedicatedNodeLabel"], "shop.pilab.hu/tenant-id");
        assert_eq!(s["dedicatedNodeValue"], "acme");
        assert_eq!(s["allowedStorageClasses"], serde_json::json!(["fast"]));
        assert_eq!(s["pvAccessControl"], true);
        assert_eq!(s["minReplicas"], 2);
        assert_eq!(s["allowedClusterRoles"], serde_json::json!([]));
    }

    #[test]
    fn storage_classes_only_with_storage_isolation_and_no_dedicated_rule_by_default() {
        let mut spec = TenantSpec::new("acme", TenantType::Staging);
        spec.isolation = Some(IsolationSpec {
            isolation_level: Some(IsolationLevel::Permissive),
            allowed_storage_classes: Some(vec!["fast".into()]),
            ..Default::default()
        });
        let t = tenant(spec);
        let s = tenant_policy_spec(&t, &Effective::of(&t), &BuildContext::default()).unwrap();
        assert!(s.allowed_storage_classes.is_empty());
        assert_eq!(s.dedicated_node_label, "");
        assert_eq!(s.min_replicas, 0);
        assert!(s.allow_node_ports && s.allow_host_namespaces && !s.pv_access_control);
    }

    #[test]
    fn priority_classes_from_the_tenant_and_the_platform() {
        let mut spec = TenantSpec::new("acme", TenantType::Staging);
        spec.isolation = Some(IsolationSpec {
            allowed_priority_classes: Some(vec![
                " tenant-high".into(),
                "batch.low".into(),
                "tenant-high".into(),
            ]),
            ..Default::default()
        });
        let t = tenant(spec);
        let eff = Effective::of(&t);
        let s = tenant_policy_spec(&t, &eff, &BuildContext::default()).unwrap();
        assert_eq!(s.allowed_priority_classes, ["tenant-high", "batch.low"]);
        assert_eq!(s.default_priority_class, "");
        let ctx = BuildContext {
            default_priority_class: "tenant-default",
            ..Default::default()
        };
        let s = tenant_policy_spec(&t, &eff, &ctx).unwrap();
        assert_eq!(s.default_priority_class, "tenant-default");
        // no preset allows any class
        for level in IsolationLevel::ALL {
            let mut spec = TenantSpec::new("acme", TenantType::Staging);
            spec.isolation = Some(IsolationSpec {
                isolation_level: Some(level),
                ..Default::default()
            });
            let t = tenant(spec);
            let s = tenant_policy_spec(&t, &Effective::of(&t), &ctx).unwrap();
            assert!(s.allowed_priority_classes.is_empty(), "{level:?}");
        }
    }

    #[test]
    fn reserved_or_malformed_priority_classes_are_errors_naming_the_field() {
        for bad in [
            "system-node-critical",
            "system-cluster-critical",
            "",
            "High",
        ] {
            let mut spec = TenantSpec::new("acme", TenantType::Staging);
            spec.isolation = Some(IsolationSpec {
                allowed_priority_classes: Some(vec!["tenant-high".into(), bad.into()]),
                ..Default::default()
            });
            let t = tenant(spec);
            match tenant_policy(&t, &Effective::of(&t), &BuildContext::default()) {
                Err(BuildError::Invalid { field, .. }) => {
                    assert_eq!(field, "spec.isolation.allowedPriorityClasses[1]", "{bad:?}")
                }
                other => panic!("expected Invalid for {bad:?}, got {other:?}"),
            }
        }
        let t = tenant(TenantSpec::new("acme", TenantType::Staging));
        let ctx = BuildContext {
            default_priority_class: "system-node-critical",
            ..Default::default()
        };
        match tenant_policy(&t, &Effective::of(&t), &ctx) {
            Err(BuildError::Invalid { field, message }) => {
                assert!(field.contains("--default-priority-class"), "{field}");
                assert!(message.contains("reserved"), "{message}");
            }
            other => panic!("expected Invalid, got {other:?}"),
        }
        assert!(priority_class_error("tenant-high").is_none());
        assert!(priority_class_error("system-x").is_some());
    }

    #[test]
    fn empty_registry_entry_is_an_error_naming_the_field() {
        let mut spec = TenantSpec::new("acme", TenantType::Staging);
        spec.isolation = Some(IsolationSpec {
            allowed_registries: Some(vec!["ghcr.io".into(), " / ".into()]),
            ..Default::default()
        });
        let t = tenant(spec);
        match tenant_policy(&t, &Effective::of(&t), &BuildContext::default()) {
            Err(BuildError::Invalid { field, .. }) => {
                assert_eq!(field, "spec.isolation.allowedRegistries[1]")
            }
            other => panic!("expected Invalid, got {other:?}"),
        }
    }
}
