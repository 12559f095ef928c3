//! The namespace's ResourceQuota (`quota` and `resourceLimits`).
//!
//! Key mapping: `resourceLimits.cpuLimit` / `quota.cpuLimit` -> `limits.cpu`,
//! `resourceLimits.memoryLimit` / `quota.memoryLimit` -> `limits.memory`,
//! `resourceLimits.storageLimit` / `quota.storageQuota` -> `requests.storage`,
//! `quota.cpuQuota` -> `requests.cpu`, `quota.memoryQuota` -> `requests.memory`,
//! `quota.ephemeralStorageQuota` -> `requests.ephemeral-storage`, `quota.podQuota` -> `pods`,
//! `quota.deploymentQuota` -> `count/deployments.apps`, `quota.statefulsetQuota` ->
//! `count/statefulsets.apps`, `quota.jobQuota` -> `count/jobs.batch`, `quota.pvcQuota` /
//! `quota.pvQuota` -> `persistentvolumeclaims`, `quota.serviceQuota` -> `services`,
//! `quota.ingressQuota` -> `count/ingresses.networking.k8s.io`, `quota.configmapQuota` ->
//! `configmaps`, `quota.secretQuota` -> `secrets`, `quota.nodePortQuota` -> `services.nodeports`,
//! `quota.loadBalancerQuota` -> `services.loadbalancers`. Where `resourceLimits` and `quota`
//! name the same key, validation guarantees they agree; the `quota` value is used.
//!
//! Presets: `services.nodeports` is 0 unless the isolation level allows NodePorts, and
//! `services.loadbalancers` is 0 unless it allows LoadBalancers; an explicit quota field wins.
//! With LoadBalancers allowed and NodePorts not, the services policy makes LoadBalancers set
//! `allocateLoadBalancerNodePorts: false` and name no node port, which the quota then counts
//! as 0, so the two agree (Kubernetes counts a default LoadBalancer's ports as node ports).
//!
//! Scopes: Kubernetes lets a scoped quota track only pod counts and pod compute (`BestEffort`:
//! only `pods`), so one quota cannot hold both scopes and object counts. With `quota.scopes`
//! set, the keys of the `quota` section that every scope can track (`pods`, `requests.cpu`,
//! `requests.memory`, `limits.cpu`, `limits.memory`) move to a second quota
//! `tenant-quota-scoped` carrying the scopes, so the scope really restricts what they count.
//! Everything else, and every `resourceLimits` key (documented as a ceiling for *all* pods of
//! the namespace), stays in the unscoped `tenant-quota`. Scopes given without any such key
//! have nothing to restrict and are dropped.
//!
//! Not here: storage class restrictions (`storageIsolation`) are enforced at admission, and
//! budget enforcement needs the cost model.

use crate::build::namespace::object_meta;
use crate::build::{BuildContext, BuildError};
use crate::naming::names;
use crate::object::Object;
use crate::presets::Effective;
use crate::quantity::Quantity;
use k8s_openapi::api::core::v1::{ResourceQuota, ResourceQuotaSpec};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity as K8sQuantity;
use std::collections::BTreeMap;
use tenant_api::{QuotaSpec, Tenant};

/// Name of the scoped quota holding the compute keys when `quota.scopes` is set.
pub const SCOPED_QUOTA: &str = "tenant-quota-scoped";

pub const REQUESTS_CPU: &str = "requests.cpu";
pub const LIMITS_CPU: &str = "limits.cpu";
pub const REQUESTS_MEMORY: &str = "requests.memory";
pub const LIMITS_MEMORY: &str = "limits.memory";
pub const REQUESTS_EPHEMERAL_STORAGE: &str = "requests.ephemeral-storage";
pub const REQUESTS_STORAGE: &str = "requests.storage";
pub const PODS: &str = "pods";
pub const DEPLOYMENTS: &str = "count/deployments.apps";
pub const STATEFULSETS: &str = "count/statefulsets.apps";
pub const JOBS: &str = "count/jobs.batch";
pub const PVCS: &str = "persistentvolumeclaims";
pub const SERVICES: &str = "services";
pub const INGRESSES: &str = "count/ingresses.networking.k8s.io";
pub const CONFIGMAPS: &str = "configmaps";
pub const SECRETS: &str = "secrets";
pub const NODE_PORTS: &str = "services.nodeports";
pub const LOAD_BALANCERS: &str = "services.loadbalancers";

/// The hard limits of the tenant's quota object(s).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Hard {
    /// `tenant-quota`: no scopes.
    pub unscoped: BTreeMap<String, K8sQuantity>,
    /// `tenant-quota-scoped`: the compute keys of `quota`, restricted by `scopes`.
    pub scoped: BTreeMap<String, K8sQuantity>,
    /// `quota.scopes`, sorted and deduplicated (empty when `scoped` is empty).
    pub scopes: Vec<String>,
}

impl Hard {
    /// Whether any quota tracks requests or limits of `resource` (`cpu` or `memory`). The quota
    /// admission plugin then rejects every container that does not set that resource, so the
    /// LimitRange has to default it.
    pub fn constrains(&self, resource: &str) -> bool {
        let keys = [
            resource.to_string(),
            format!("requests.{resource}"),
            format!("limits.{resource}"),
        ];
        keys.iter()
            .any(|k| self.unscoped.contains_key(k) || self.scoped.contains_key(k))
    }
}

/// Whether a quota with `scope` may track `key` (Kubernetes' IsResourceQuotaScopeValidForResource).
/// `None` for a scope Kubernetes does not know.
fn scope_allows(scope: &str, key: &str) -> Option<bool> {
    const POD_COMPUTE: [&str; 7] = [
        PODS,
        "cpu",
        "memory",
        REQUESTS_CPU,
        REQUESTS_MEMORY,
        LIMITS_CPU,
        LIMITS_MEMORY,
    ];
    match scope {
        "BestEffort" => Some(key == PODS),
        "NotBestEffort"
        | "Terminating"
        | "NotTerminating"
        | "PriorityClass"
        | "CrossNamespacePodAffinity" => Some(POD_COMPUTE.contains(&key)),
        _ => None,
    }
}

/// Checks a quantity field (validation should have rejected a bad one; the error names it).
pub(crate) fn quantity(field: &str, value: &str) -> Result<Quantity, BuildError> {
    let q = Quantity::parse(value).map_err(|e| BuildError::Invalid {
        field: field.to_string(),
        message: e.to_string(),
    })?;
    if q < Quantity::ZERO {
        return Err(BuildError::Invalid {
            field: field.to_string(),
            message: format!("{value:?} must not be negative"),
        });
    }
    Ok(q)
}

fn put_quantity(
    map: &mut BTreeMap<String, K8sQuantity>,
    key: &str,
    field: &str,
    value: Option<&String>,
) -> Result<(), BuildError> {
    if let Some(v) = value {
        quantity(field, v)?;
        map.insert(key.to_string(), K8sQuantity(v.clone()));
    }
    Ok(())
}

fn put_count(
    map: &mut BTreeMap<String, K8sQuantity>,
    key: &str,
    field: &str,
    value: Option<i32>,
) -> Result<(), BuildError> {
    if let Some(n) = value {
        if n < 0 {
            return Err(BuildError::Invalid {
                field: field.to_string(),
                message: format!("{n} must not be negative"),
            });
        }
        map.insert(key.to_string(), K8sQuantity(n.to_string()));
    }
    Ok(())
}

/// The keys `spec.quota` sets, presets for NodePorts and LoadBalancers included.
fn quota_section(
    q: &QuotaSpec,
    eff: &Effective,
) -> Result<BTreeMap<String, K8sQuantity>, BuildError> {
    let mut m = BTreeMap::new();
    let f = |name: &str| format!("spec.quota.{name}");
    put_quantity(&mut m, REQUESTS_CPU, &f("cpuQuota"), q.cpu_quota.as_ref())?;
    put_quantity(&mut m, LIMITS_CPU, &f("cpuLimit"), q.cpu_limit.as_ref())?;
    put_quantity(
        &mut m,
        REQUESTS_MEMORY,
        &f("memoryQuota"),
        q.memory_quota.as_ref(),
    )?;
    put_quantity(
        &mut m,
        LIMITS_MEMORY,
        &f("memoryLimit"),
        q.memory_limit.as_ref(),
    )?;
    put_quantity(
        &mut m,
        REQUESTS_EPHEMERAL_STORAGE,
        &f("ephemeralStorageQuota"),
        q.ephemeral_storage_quota.as_ref(),
    )?;
    put_quantity(
        &mut m,
        REQUESTS_STORAGE,
        &f("storageQuota"),
        q.storage_quota.as_ref(),
    )?;
    put_count(&mut m, PODS, &f("podQuota"), q.pod_quota)?;
    put_count(
        &mut m,
        DEPLOYMENTS,
        &f("deploymentQuota"),
        q.deployment_quota,
    )?;
    put_count(
        &mut m,
        STATEFULSETS,
        &f("statefulsetQuota"),
        q.statefulset_quota,
    )?;
    put_count(&mut m, JOBS, &f("jobQuota"), q.job_quota)?;
    // pvQuota and pvcQuota both count claims; validation makes them agree, pvcQuota is used.
    put_count(&mut m, PVCS, &f("pvQuota"), q.pv_quota)?;
    put_count(&mut m, PVCS, &f("pvcQuota"), q.pvc_quota)?;
    put_count(&mut m, SERVICES, &f("serviceQuota"), q.service_quota)?;
    put_count(&mut m, INGRESSES, &f("ingressQuota"), q.ingress_quota)?;
    put_count(&mut m, CONFIGMAPS, &f("configmapQuota"), q.configmap_quota)?;
    put_count(&mut m, SECRETS, &f("secretQuota"), q.secret_quota)?;
    let node_ports = q
        .node_port_quota
        .or((!eff.isolation.allow_node_ports).then_some(0));
    put_count(&mut m, NODE_PORTS, &f("nodePortQuota"), node_ports)?;
    let load_balancers = q
        .load_balancer_quota
        .or((!eff.isolation.allow_load_balancers).then_some(0));
    put_count(
        &mut m,
        LOAD_BALANCERS,
        &f("loadBalancerQuota"),
        load_balancers,
    )?;
    Ok(m)
}

/// The hard limits, split into the unscoped and the scoped quota (see the module docs).
pub fn hard_limits(
    tenant: &Tenant,
    eff: &Effective,
    ctx: &BuildContext,
) -> Result<Hard, BuildError> {
    let spec = &tenant.spec;
    let mut hard = Hard::default();
    if let Some(rl) = &spec.resource_limits {
        let f = |name: &str| format!("spec.resourceLimits.{name}");
        put_quantity(
            &mut hard.unscoped,
            LIMITS_CPU,
            &f("cpuLimit"),
            rl.cpu_limit.as_ref(),
        )?;
        put_quantity(
            &mut hard.unscoped,
            LIMITS_MEMORY,
            &f("memoryLimit"),
            rl.memory_limit.as_ref(),
        )?;
        put_quantity(
            &mut hard.unscoped,
            REQUESTS_STORAGE,
            &f("storageLimit"),
            rl.storage_limit.as_ref(),
        )?;
    }
    let empty = QuotaSpec::default();
    let q = spec.quota.as_ref().unwrap_or(&empty);
    let mut scopes = q.scopes.clone().unwrap_or_default();
    scopes.sort();
    scopes.dedup();
    for (i, s) in scopes.iter().enumerate() {
        if scope_allows(s, PODS).is_none() {
            return Err(BuildError::Invalid {
                field: format!("spec.quota.scopes[{i}]"),
                message: format!("{s:?} is not a ResourceQuota scope"),
            });
        }
    }
    for (key, value) in quota_section(q, eff)? {
        let scoped =
            !scopes.is_empty() && scopes.iter().all(|s| scope_allows(s, &key) == Some(true));
        if scoped {
            hard.scoped.insert(key, value);
        } else {
            hard.unscoped.insert(key, value);
        }
    }
    if !hard.scoped.is_empty() {
        hard.scopes = scopes;
    }
    for (key, value) in default_compute(&hard, eff, ctx) {
        hard.unscoped.insert(key, value);
    }
    Ok(hard)
}

/// The platform's default compute keys for each resource (cpu, memory) that no quota of a strict
/// or standard tenant bounds yet.
pub fn default_compute(
    hard: &Hard,
    eff: &Effective,
    ctx: &BuildContext,
) -> BTreeMap<String, K8sQuantity> {
    if eff.isolation.level == tenant_api::IsolationLevel::Permissive {
        return BTreeMap::new();
    }
    ctx.compute_defaults
        .of(eff.tenant_type)
        .iter()
        .filter(|(key, _)| {
            let resource = key.rsplit('.').next().unwrap_or(key);
            !hard.constrains(resource)
        })
        .map(|(k, v)| (k.clone(), K8sQuantity(v.clone())))
        .collect()
}

fn quota_object(
    tenant: &Tenant,
    eff: &Effective,
    name: &str,
    hard: BTreeMap<String, K8sQuantity>,
    scopes: Vec<String>,
) -> ResourceQuota {
    ResourceQuota {
        metadata: object_meta(tenant, eff, name),
        spec: Some(ResourceQuotaSpec {
            hard: Some(hard),
            scopes: (!scopes.is_empty()).then_some(scopes),
            scope_selector: None,
        }),
        status: None,
    }
}

/// The typed quotas: `tenant-quota` and, with scopes, `tenant-quota-scoped`; a quota without
/// any hard limit is left out.
pub fn quotas(
    tenant: &Tenant,
    eff: &Effective,
    ctx: &BuildContext,
) -> Result<Vec<ResourceQuota>, BuildError> {
    let hard = hard_limits(tenant, eff, ctx)?;
    let mut out = Vec::new();
    if !hard.unscoped.is_empty() {
        out.push(quota_object(
            tenant,
            eff,
            names::QUOTA,
            hard.unscoped,
            Vec::new(),
        ));
    }
    if !hard.scoped.is_empty() {
        out.push(quota_object(
            tenant,
            eff,
            SCOPED_QUOTA,
            hard.scoped,
            hard.scopes,
        ));
    }
    Ok(out)
}

/// The tenant's ResourceQuota objects (zero, one or two).
pub fn build(
    tenant: &Tenant,
    eff: &Effective,
    ctx: &BuildContext,
) -> Result<Vec<Object>, BuildError> {
    quotas(tenant, eff, ctx)?
        .iter()
        .map(|q| Object::from_resource(q).map_err(BuildError::from))
        .collect()
}

#[cfg(test)]
#[allow(clippy::panic, clippy::unwrap_used, clippy::expect_used)] // tests fail by panicking
mod tests {
    use super::*;
    use tenant_api::{IsolationLevel, IsolationSpec, ResourceLimits, TenantSpec, TenantType};

    fn tenant(spec: TenantSpec) -> Tenant {
        let mut t = Tenant::new("acme", spec);
        t.metadata.namespace = Some("tenants".into());
        t
    }

    fn spec_at(level: IsolationLevel) -> TenantSpec {
        let mut spec = TenantSpec::new("acme", TenantType::Production);
        spec.isolation = Some(IsolationSpec {
            isolation_level: Some(level),
            ..Default::default()
        });
        spec
    }

    /// The hard limits without the platform's compute defaults (this builder's own rules).
    fn hard_of(spec: TenantSpec) -> Hard {
        let t = tenant(spec);
        hard_limits(
            &t,
            &Effective::of(&t),
            &crate::build::context_without_compute_defaults(),
        )
        .unwrap_or_else(|e| panic!("{e}"))
    }

    fn objects(spec: TenantSpec) -> Vec<Object> {
        let t = tenant(spec);
        build(
            &t,
            &Effective::of(&t),
            &crate::build::context_without_compute_defaults(),
        )
        .unwrap_or_else(|e| panic!("{e}"))
    }

    fn hard_with(spec: TenantSpec, defaults: &crate::presets::ComputeDefaults) -> Hard {
        let t = tenant(spec);
        let ctx = BuildContext {
            compute_defaults: defaults,
            ..BuildContext::default()
        };
        hard_limits(&t, &Effective::of(&t), &ctx).unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn strict_and_standard_get_the_default_compute_quota_per_tenant_type() {
        let builtin = crate::presets::ComputeDefaults::builtin();
        for level in [IsolationLevel::Strict, IsolationLevel::Standard] {
            let hard = hard_with(spec_at(level), &builtin);
            for (k, v) in [
                ("requests.cpu", "8"),
                ("limits.cpu", "16"),
                ("requests.memory", "16Gi"),
                ("limits.memory", "32Gi"),
                ("pods", "200"),
            ] {
                assert_eq!(hard.unscoped[k], K8sQuantity(v.into()), "{k}");
            }
        }
        let mut dev = spec_at(IsolationLevel::Strict);
        dev.tenant_type = TenantType::Development;
        assert_eq!(
            hard_with(dev, &builtin).unscoped[REQUESTS_CPU],
            K8sQuantity("2".into())
        );
        // permissive trusts the tenant: no default (validation warns)
        let hard = hard_with(spec_at(IsolationLevel::Permissive), &builtin);
        assert!(!hard.constrains("cpu") && !hard.constrains("memory"));
    }

    #[test]
    fn the_default_fills_only_the_resource_the_spec_leaves_unbounded() {
        let builtin = crate::presets::ComputeDefaults::builtin();
        let mut spec = spec_at(IsolationLevel::Standard);
        spec.quota = Some(QuotaSpec {
            cpu_quota: Some("64".into()),
            pod_quota: Some(500),
            ..Default::default()
        });
        let hard = hard_with(spec.clone(), &builtin);
        assert_eq!(hard.unscoped[PODS], K8sQuantity("500".into()));
        assert_eq!(hard.unscoped[REQUESTS_CPU], K8sQuantity("64".into()));
        assert!(
            !hard.unscoped.contains_key(LIMITS_CPU),
            "cpu is bounded by the spec"
        );
        assert_eq!(hard.unscoped[REQUESTS_MEMORY], K8sQuantity("16Gi".into()));
        assert_eq!(hard.unscoped[LIMITS_MEMORY], K8sQuantity("32Gi".into()));
        // a memory ceiling from resourceLimits bounds memory too
        spec.resource_limits = Some(ResourceLimits {
            memory_limit: Some("4Gi".into()),
            ..Default::default()
        });
        let hard = hard_with(spec, &builtin);
        assert_eq!(hard.unscoped[LIMITS_MEMORY], K8sQuantity("4Gi".into()));
        assert!(!hard.unscoped.contains_key(REQUESTS_MEMORY));
    }

    #[test]
    fn the_platform_sets_the_defaults() {
        let mut d = crate::presets::ComputeDefaults::builtin();
        d.set("production:requests.cpu=100,requests.memory=1Ti")
            .unwrap();
        let hard = hard_with(spec_at(IsolationLevel::Strict), &d);
        assert_eq!(hard.unscoped[REQUESTS_CPU], K8sQuantity("100".into()));
        assert!(!hard.unscoped.contains_key(LIMITS_CPU));
        d.set("production:none").unwrap();
        let hard = hard_with(spec_at(IsolationLevel::Strict), &d);
        assert!(!hard.constrains("cpu") && !hard.constrains("memory"));
    }

    fn map(pairs: &[(&str, &str)]) -> BTreeMap<String, K8sQuantity> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), K8sQuantity(v.to_string())))
            .collect()
    }

    fn full_quota() -> QuotaSpec {
        QuotaSpec {
            cpu_quota: Some("200".into()),
            cpu_limit: Some("300".into()),
            memory_quota: Some("512Gi".into()),
            memory_limit: Some("600Gi".into()),
            ephemeral_storage_quota: Some("100Gi".into()),
            storage_quota: Some("2Ti".into()),
            pod_quota: Some(1000),
            deployment_quota: Some(100),
            statefulset_quota: Some(20),
            job_quota: Some(50),
            pv_quota: Some(40),
            service_quota: Some(30),
            ingress_quota: Some(10),
            configmap_quota: Some(200),
            secret_quota: Some(150),
            pvc_quota: Some(40),
            node_port_quota: Some(3),
            load_balancer_quota: Some(2),
            scopes: None,
        }
    }

    #[test]
    fn every_quota_field_maps_to_its_key() {
        let mut spec = spec_at(IsolationLevel::Standard);
        spec.quota = Some(full_quota());
        let hard = hard_of(spec);
        assert_eq!(
            hard.unscoped,
            map(&[
                ("requests.cpu", "200"),
                ("limits.cpu", "300"),
                ("requests.memory", "512Gi"),
                ("limits.memory", "600Gi"),
                ("requests.ephemeral-storage", "100Gi"),
                ("requests.storage", "2Ti"),
                ("pods", "1000"),
                ("count/deployments.apps", "100"),
                ("count/statefulsets.apps", "20"),
                ("count/jobs.batch", "50"),
                ("persistentvolumeclaims", "40"),
                ("services", "30"),
                ("count/ingresses.networking.k8s.io", "10"),
                ("configmaps", "200"),
                ("secrets", "150"),
                ("services.nodeports", "3"),
                ("services.loadbalancers", "2"),
            ])
        );
        assert!(hard.scoped.is_empty() && hard.scopes.is_empty());
    }

    #[test]
    fn pv_quota_alone_counts_claims() {
        let mut spec = spec_at(IsolationLevel::Permissive);
        spec.quota = Some(QuotaSpec {
            pv_quota: Some(7),
            ..Default::default()
        });
        assert_eq!(
            hard_of(spec).unscoped,
            map(&[("persistentvolumeclaims", "7")])
        );
    }

    #[test]
    fn resource_limits_map_to_limits_and_storage() {
        let mut spec = spec_at(IsolationLevel::Permissive);
        spec.resource_limits = Some(ResourceLimits {
            cpu_limit: Some("2".into()),
            memory_limit: Some("4Gi".into()),
            storage_limit: Some("20Gi".into()),
        });
        assert_eq!(
            hard_of(spec).unscoped,
            map(&[
                ("limits.cpu", "2"),
                ("limits.memory", "4Gi"),
                ("requests.storage", "20Gi"),
            ])
        );
    }

    #[test]
    fn strict_preset_closes_node_ports_and_load_balancers() {
        let hard = hard_of(spec_at(IsolationLevel::Strict));
        assert_eq!(
            hard.unscoped,
            map(&[("services.loadbalancers", "0"), ("services.nodeports", "0")])
        );
    }

    #[test]
    fn standard_preset_closes_only_node_ports() {
        let objs = objects(spec_at(IsolationLevel::Standard));
        assert_eq!(objs.len(), 1);
        let m = &objs[0].manifest;
        assert_eq!(m["kind"], "ResourceQuota");
        assert_eq!(m["metadata"]["name"], "tenant-quota");
        assert_eq!(m["metadata"]["namespace"], "tenant-acme-production");
        assert_eq!(
            m["spec"]["hard"],
            serde_json::json!({"services.nodeports": "0"})
        );
        assert!(m["spec"].get("scopes").is_none());
    }

    #[test]
    fn explicit_node_port_quota_wins_over_the_preset() {
        let mut spec = spec_at(IsolationLevel::Strict);
        spec.quota = Some(QuotaSpec {
            node_port_quota: Some(2),
            ..Default::default()
        });
        assert_eq!(hard_of(spec).unscoped[NODE_PORTS], K8sQuantity("2".into()));
    }

    #[test]
    fn permissive_without_limits_renders_no_quota() {
        assert!(objects(spec_at(IsolationLevel::Permissive)).is_empty());
    }

    #[test]
    fn isolation_override_opens_load_balancers() {
        let mut spec = spec_at(IsolationLevel::Strict);
        if let Some(i) = spec.isolation.as_mut() {
            i.allow_load_balancers = Some(true);
        }
        let hard = hard_of(spec);
        assert!(!hard.unscoped.contains_key(LOAD_BALANCERS));
        assert!(hard.unscoped.contains_key(NODE_PORTS));
    }

    #[test]
    fn scopes_move_compute_keys_to_a_scoped_quota() {
        let mut spec = spec_at(IsolationLevel::Standard);
        let mut q = full_quota();
        q.scopes = Some(vec![
            "NotTerminating".into(),
            "NotBestEffort".into(),
            "NotTerminating".into(),
        ]);
        spec.quota = Some(q);
        spec.resource_limits = Some(ResourceLimits {
            cpu_limit: Some("300".into()),
            ..Default::default()
        });
        let objs = objects(spec);
        assert_eq!(objs.len(), 2);
        let (plain, scoped) = (&objs[0].manifest, &objs[1].manifest);
        assert_eq!(plain["metadata"]["name"], "tenant-quota");
        assert_eq!(scoped["metadata"]["name"], "tenant-quota-scoped");
        assert_eq!(
            scoped["spec"]["scopes"],
            serde_json::json!(["NotBestEffort", "NotTerminating"])
        );
        assert_eq!(
            scoped["spec"]["hard"],
            serde_json::json!({
                "limits.cpu": "300", "limits.memory": "600Gi", "pods": "1000",
                "requests.cpu": "200", "requests.memory": "512Gi"
            })
        );
        let plain_hard = &plain["spec"]["hard"];
        assert!(plain["spec"].get("scopes").is_none());
        // resourceLimits is a namespace-wide ceiling: it stays unscoped
        assert_eq!(plain_hard["limits.cpu"], "300");
        for k in ["requests.cpu", "requests.memory", "limits.memory", "pods"] {
            assert!(
                plain_hard.get(k).is_none(),
                "{k} must be only in the scoped quota"
            );
        }
        for k in [
            "secrets",
            "requests.storage",
            "requests.ephemeral-storage",
            "services.nodeports",
        ] {
            assert!(plain_hard.get(k).is_some(), "{k} stays unscoped");
        }
    }

    #[test]
    fn best_effort_scope_takes_only_pods() {
        let mut spec = spec_at(IsolationLevel::Permissive);
        spec.quota = Some(QuotaSpec {
            pod_quota: Some(5),
            cpu_quota: Some("1".into()),
            scopes: Some(vec!["BestEffort".into()]),
            ..Default::default()
        });
        let hard = hard_of(spec);
        assert_eq!(hard.scoped, map(&[("pods", "5")]));
        assert_eq!(hard.unscoped, map(&[("requests.cpu", "1")]));
        assert_eq!(hard.scopes, vec!["BestEffort".to_string()]);
    }

    #[test]
    fn scopes_without_compute_keys_are_dropped() {
        let mut spec = spec_at(IsolationLevel::Strict);
        spec.quota = Some(QuotaSpec {
            secret_quota: Some(5),
            scopes: Some(vec!["Terminating".into()]),
            ..Default::default()
        });
        let objs = objects(spec);
        assert_eq!(objs.len(), 1);
        assert!(objs[0].manifest["spec"].get("scopes").is_none());
    }

    #[test]
    fn bad_input_names_the_field() {
        let mut spec = spec_at(IsolationLevel::Standard);
        spec.quota = Some(QuotaSpec {
            memory_quota: Some("lots".into()),
            ..Default::default()
        });
        let t = tenant(spec);
        match hard_limits(&t, &Effective::of(&t), &BuildContext::default()) {
            Err(BuildError::Invalid { field, .. }) => assert_eq!(field, "spec.quota.memoryQuota"),
            other => panic!("expected an invalid-field error, got {other:?}"),
        }
        let mut spec = spec_at(IsolationLevel::Standard);
        spec.quota = Some(QuotaSpec {
            pod_quota: Some(-1),
            scopes: Some(vec!["Sometimes".into()]),
            ..Default::default()
        });
        let t = tenant(spec);
        assert!(hard_limits(&t, &Effective::of(&t), &BuildContext::default()).is_err());
    }

    #[test]
    fn constrains_reports_compute_keys() {
        let mut spec = spec_at(IsolationLevel::Standard);
        spec.resource_limits = Some(ResourceLimits {
            memory_limit: Some("1Gi".into()),
            ..Default::default()
        });
        let hard = hard_of(spec);
        assert!(hard.constrains("memory"));
        assert!(!hard.constrains("cpu"));
    }

    #[test]
    fn deterministic() {
        let mut spec = spec_at(IsolationLevel::Strict);
        let mut q = full_quota();
        q.scopes = Some(vec!["NotTerminating".into()]);
        spec.quota = Some(q);
        let a = objects(spec.clone());
        let b = objects(spec);
        assert_eq!(a, b);
        let s = |o: &[Object]| o.iter().map(|o| o.manifest.to_string()).collect::<Vec<_>>();
        assert_eq!(s(&a), s(&b));
    }
}
