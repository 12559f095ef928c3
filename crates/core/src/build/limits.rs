//! The namespace's LimitRange `tenant-limits` (`limits`).
//!
//! - Pod `max`: `podCpuLimit`, `podMemoryLimit`.
//! - Container `max`: `containerCpuLimit`, `containerMemoryLimit`, `ephemeralStorageLimit`.
//! - Container `defaultRequest`: `podCpuRequest`, `podMemoryRequest`.
//! - Container `default` (the limit a container without one gets): `burstCpu`, `burstMemory`;
//!   for a resource whose limit is pinned to its request (below), the default request.
//! - `maxLimitRequestRatio`: cpu `1` when `allowBursting: false`; cpu and memory `1` for
//!   `qosClass: Guaranteed`. Kubernetes then rejects any container without both a request and a
//!   limit, so pinned resources always get both defaults.
//!
//! Two Kubernetes rules decide when defaults are needed even though the spec gives none:
//! the apiserver defaults a LimitRange's `default` to its `max` (and `defaultRequest` to
//! `default`), so a bare `max` would make every container *request* the maximum; and a
//! ResourceQuota on requests/limits of cpu or memory rejects every container that does not set
//! them. So when cpu or memory is constrained (a quota key, a container or pod max, a burst
//! limit or a pinned ratio) and the spec leaves a default open, it is filled in:
//! request [`DEFAULT_CPU_REQUEST`] / [`DEFAULT_MEMORY_REQUEST`], limit [`DEFAULT_CPU_LIMIT`] /
//! [`DEFAULT_MEMORY_LIMIT`] (never below the request), each clamped to the container and pod max.
//! With `isolation.cpuPinning` the cpu defaults are one whole CPU, which the pinning rule needs.
//! `ephemeralStorageLimit` gets the max as default limit (exceeding it evicts the pod, so no
//! lower guess) and [`DEFAULT_EPHEMERAL_STORAGE_REQUEST`] (clamped) as default request.
//!
//! `qosClass: BestEffort` gets no defaults at all. Combined with a compute quota, a max or a
//! pinned ratio, Kubernetes then rejects the tenant's pods (or fills `default` from `max`):
//! validation reports that combination; the builder renders what the spec says.

use crate::build::namespace::object_meta;
use crate::build::quota::{self, Hard, quantity};
use crate::build::{BuildContext, BuildError};
use crate::naming::names;
use crate::object::Object;
use crate::presets::Effective;
use crate::quantity::Quantity;
use k8s_openapi::api::core::v1::{LimitRange, LimitRangeItem, LimitRangeSpec};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity as K8sQuantity;
use std::collections::BTreeMap;
use tenant_api::{LimitsSpec, QosClass, Tenant};

/// CPU request of a container that sets none, when one is needed and the spec gives none.
pub const DEFAULT_CPU_REQUEST: &str = "100m";
/// Memory request of a container that sets none, when one is needed and the spec gives none.
pub const DEFAULT_MEMORY_REQUEST: &str = "128Mi";
/// CPU limit of a container that sets none, when one is needed and the spec gives none.
pub const DEFAULT_CPU_LIMIT: &str = "500m";
/// Memory limit of a container that sets none, when one is needed and the spec gives none.
pub const DEFAULT_MEMORY_LIMIT: &str = "512Mi";
/// CPU request and limit under `cpuPinning` (whole CPUs, limit = request).
pub const PINNED_CPU: &str = "1";
/// Ephemeral storage request of a container that sets none, when `ephemeralStorageLimit` is set.
pub const DEFAULT_EPHEMERAL_STORAGE_REQUEST: &str = "256Mi";

type ResourceList = BTreeMap<String, K8sQuantity>;

/// A spec value with its field path, checked.
#[derive(Clone)]
struct Value {
    field: String,
    text: String,
    q: Quantity,
}

fn value(field: &str, text: Option<&String>) -> Result<Option<Value>, BuildError> {
    let field = format!("spec.limits.{field}");
    text.map(|t| {
        Ok(Value {
            q: quantity(&field, t)?,
            field,
            text: t.clone(),
        })
    })
    .transpose()
}

fn constant(text: &str) -> Result<Value, BuildError> {
    Ok(Value {
        field: "default".to_string(),
        q: quantity("default", text)?,
        text: text.to_string(),
    })
}

/// The smaller of the set maxima.
fn ceiling(a: Option<&Value>, b: Option<&Value>) -> Option<Value> {
    match (a, b) {
        (Some(a), Some(b)) => Some(if b.q < a.q { b.clone() } else { a.clone() }),
        (a, b) => a.or(b).cloned(),
    }
}

fn clamp(v: Value, ceiling: Option<&Value>) -> Value {
    match ceiling {
        Some(c) if c.q < v.q => c.clone(),
        _ => v,
    }
}

fn invalid(field: &str, message: String) -> BuildError {
    BuildError::Invalid {
        field: field.to_string(),
        message,
    }
}

/// The defaults of one resource (cpu or memory).
struct Defaults {
    request: Option<Value>,
    limit: Option<Value>,
}

struct ResourceInput<'a> {
    request: Option<Value>,
    burst: Option<Value>,
    ceiling: Option<&'a Value>,
    /// Limit pinned to the request (maxLimitRequestRatio 1).
    pinned: bool,
    /// Containers must end up with a request and a limit for this resource.
    needed: bool,
    sane_request: &'a str,
    sane_limit: &'a str,
}

fn defaults(r: ResourceInput) -> Result<Defaults, BuildError> {
    let needed = r.needed || r.pinned || r.burst.is_some();
    // Spec values must fit under the max, or every defaulted container is rejected.
    for v in [&r.request, &r.burst].into_iter().flatten() {
        if let Some(c) = r.ceiling.filter(|c| c.q < v.q) {
            return Err(invalid(
                &v.field,
                format!("{} exceeds the maximum {} ({})", v.text, c.text, c.field),
            ));
        }
    }
    if let (Some(req), Some(lim)) = (&r.request, &r.burst) {
        if lim.q < req.q {
            return Err(invalid(
                &lim.field,
                format!(
                    "{} is below the default request {} ({})",
                    lim.text, req.text, req.field
                ),
            ));
        }
        if r.pinned && lim.q != req.q {
            return Err(invalid(
                &lim.field,
                format!(
                    "{} must equal {} ({}): limits are pinned to requests",
                    lim.text, req.text, req.field
                ),
            ));
        }
    }
    let request = match (r.request, &r.burst) {
        (Some(req), _) => Some(req),
        (None, Some(b)) if r.pinned => Some(b.clone()),
        (None, _) if needed => Some(clamp(constant(r.sane_request)?, r.ceiling)),
        (None, _) => None,
    };
    let limit = match (r.burst, &request) {
        (Some(b), _) => Some(b),
        (None, Some(req)) if r.pinned => Some(req.clone()),
        (None, req) if needed => {
            let sane = constant(r.sane_limit)?;
            let at_least = match req {
                Some(req) if sane.q < req.q => req.clone(),
                _ => sane,
            };
            Some(clamp(at_least, r.ceiling))
        }
        (None, _) => None,
    };
    Ok(Defaults { request, limit })
}

fn put(list: &mut ResourceList, resource: &str, v: Option<&Value>) {
    if let Some(v) = v {
        list.insert(resource.to_string(), K8sQuantity(v.text.clone()));
    }
}

fn non_empty(list: ResourceList) -> Option<ResourceList> {
    (!list.is_empty()).then_some(list)
}

/// The LimitRange items: `Pod` (max) and `Container` (max, defaults, ratios), each only when
/// it says something. `hard` is the tenant's quota (see [`quota::hard_limits`]).
pub fn limit_items(
    tenant: &Tenant,
    eff: &Effective,
    hard: &Hard,
) -> Result<Vec<LimitRangeItem>, BuildError> {
    let empty = LimitsSpec::default();
    let l = tenant.spec.limits.as_ref().unwrap_or(&empty);
    let pod_cpu = value("podCpuLimit", l.pod_cpu_limit.as_ref())?;
    let pod_memory = value("podMemoryLimit", l.pod_memory_limit.as_ref())?;
    let container_cpu = value("containerCpuLimit", l.container_cpu_limit.as_ref())?;
    let container_memory = value("containerMemoryLimit", l.container_memory_limit.as_ref())?;
    let ephemeral = value("ephemeralStorageLimit", l.ephemeral_storage_limit.as_ref())?;
    let cpu_ceiling = ceiling(container_cpu.as_ref(), pod_cpu.as_ref());
    let memory_ceiling = ceiling(container_memory.as_ref(), pod_memory.as_ref());

    let guaranteed = l.qos_class == Some(QosClass::Guaranteed);
    let best_effort = l.qos_class == Some(QosClass::BestEffort);
    let pin_cpu = guaranteed || l.allow_bursting == Some(false);
    let pin_memory = guaranteed;

    let mut pod_max = ResourceList::new();
    put(&mut pod_max, "cpu", pod_cpu.as_ref());
    put(&mut pod_max, "memory", pod_memory.as_ref());

    let mut max = ResourceList::new();
    put(&mut max, "cpu", container_cpu.as_ref());
    put(&mut max, "memory", container_memory.as_ref());
    put(&mut max, "ephemeral-storage", ephemeral.as_ref());

    let mut ratio = ResourceList::new();
    if pin_cpu {
        ratio.insert("cpu".into(), K8sQuantity("1".into()));
    }
    if pin_memory {
        ratio.insert("memory".into(), K8sQuantity("1".into()));
    }

    let mut default_request = ResourceList::new();
    let mut default_limit = ResourceList::new();
    if !best_effort {
        let cpu_pinning = eff.isolation.cpu_pinning;
        let cpu = defaults(ResourceInput {
            request: value("podCpuRequest", l.pod_cpu_request.as_ref())?,
            burst: value("burstCpu", l.burst_cpu.as_ref())?,
            ceiling: cpu_ceiling.as_ref(),
            pinned: pin_cpu,
            needed: hard.constrains("cpu") || cpu_ceiling.is_some(),
            sane_request: if cpu_pinning {
                PINNED_CPU
            } else {
                DEFAULT_CPU_REQUEST
            },
            sane_limit: if cpu_pinning {
                PINNED_CPU
            } else {
                DEFAULT_CPU_LIMIT
            },
        })?;
        let memory = defaults(ResourceInput {
            request: value("podMemoryRequest", l.pod_memory_request.as_ref())?,
            burst: value("burstMemory", l.burst_memory.as_ref())?,
            ceiling: memory_ceiling.as_ref(),
            pinned: pin_memory,
            needed: hard.constrains("memory") || memory_ceiling.is_some(),
            sane_request: DEFAULT_MEMORY_REQUEST,
            sane_limit: DEFAULT_MEMORY_LIMIT,
        })?;
        put(&mut default_request, "cpu", cpu.request.as_ref());
        put(&mut default_limit, "cpu", cpu.limit.as_ref());
        put(&mut default_request, "memory", memory.request.as_ref());
        put(&mut default_limit, "memory", memory.limit.as_ref());
        if let Some(e) = &ephemeral {
            let req = clamp(constant(DEFAULT_EPHEMERAL_STORAGE_REQUEST)?, Some(e));
            put(&mut default_request, "ephemeral-storage", Some(&req));
            put(&mut default_limit, "ephemeral-storage", Some(e));
        }
    }

    let mut items = Vec::new();
    if !pod_max.is_empty() {
        items.push(LimitRangeItem {
            type_: "Pod".into(),
            max: Some(pod_max),
            ..Default::default()
        });
    }
    let container = LimitRangeItem {
        type_: "Container".into(),
        max: non_empty(max),
        default: non_empty(default_limit),
        default_request: non_empty(default_request),
        max_limit_request_ratio: non_empty(ratio),
        min: None,
    };
    if container
        != (LimitRangeItem {
            type_: "Container".into(),
            ..Default::default()
        })
    {
        items.push(container);
    }
    Ok(items)
}

/// The typed LimitRange, or `None` when it would have no item.
pub fn limit_range(
    tenant: &Tenant,
    eff: &Effective,
    ctx: &BuildContext,
) -> Result<Option<LimitRange>, BuildError> {
    let hard = quota::hard_limits(tenant, eff, ctx)?;
    let items = limit_items(tenant, eff, &hard)?;
    if items.is_empty() {
        return Ok(None);
    }
    Ok(Some(LimitRange {
        metadata: object_meta(tenant, eff, names::LIMIT_RANGE),
        spec: Some(LimitRangeSpec { limits: items }),
    }))
}

/// The tenant's LimitRange `tenant-limits` (zero or one object).
pub fn build(
    tenant: &Tenant,
    eff: &Effective,
    ctx: &BuildContext,
) -> Result<Vec<Object>, BuildError> {
    limit_range(tenant, eff, ctx)?
        .iter()
        .map(|lr| Object::from_resource(lr).map_err(BuildError::from))
        .collect()
}

#[cfg(test)]
#[allow(clippy::panic, clippy::unwrap_used, clippy::expect_used)] // tests fail by panicking
mod tests {
    use super::*;
    use serde_json::{Value as Json, json};
    use tenant_api::{
        IsolationLevel, IsolationSpec, QuotaSpec, ResourceLimits, TenantSpec, TenantType,
    };

    fn tenant(limits: Option<LimitsSpec>, level: IsolationLevel) -> Tenant {
        let mut spec = TenantSpec::new("acme", TenantType::Production);
        spec.limits = limits;
        spec.isolation = Some(IsolationSpec {
            isolation_level: Some(level),
            ..Default::default()
        });
        let mut t = Tenant::new("acme", spec);
        t.metadata.namespace = Some("tenants".into());
        t
    }

    /// Renders without the platform's compute defaults, to see this builder's own rules.
    fn render(t: &Tenant) -> Option<Json> {
        render_in(t, &crate::build::context_without_compute_defaults())
    }

    fn render_in(t: &Tenant, ctx: &BuildContext) -> Option<Json> {
        let objs = build(t, &Effective::of(t), ctx).unwrap_or_else(|e| panic!("{e}"));
        assert!(objs.len() <= 1);
        objs.into_iter().next().map(|o| o.manifest)
    }

    fn item<'a>(m: &'a Json, kind: &str) -> Option<&'a Json> {
        m["spec"]["limits"]
            .as_array()
            .and_then(|items| items.iter().find(|i| i["type"] == kind))
    }

    fn container(m: &Json) -> &Json {
        item(m, "Container").unwrap_or(&Json::Null)
    }

    fn err_field(t: &Tenant) -> String {
        match build(t, &Effective::of(t), &BuildContext::default()) {
            Err(BuildError::Invalid { field, .. }) => field,
            other => panic!("expected an invalid-field error, got {other:?}"),
        }
    }

    #[test]
    fn no_limits_and_no_compute_quota_renders_nothing() {
        assert_eq!(render(&tenant(None, IsolationLevel::Strict)), None);
        let empty = Some(LimitsSpec::default());
        assert_eq!(render(&tenant(empty, IsolationLevel::Permissive)), None);
    }

    #[test]
    fn the_default_compute_quota_gets_container_defaults() {
        // strict and standard tenants without a compute quota get the platform's: their
        // containers then need requests and limits, which the LimitRange fills in
        for level in [IsolationLevel::Strict, IsolationLevel::Standard] {
            let m = render_in(&tenant(None, level), &BuildContext::default()).unwrap_or_default();
            let c = container(&m);
            assert_eq!(
                c["defaultRequest"],
                json!({"cpu": "100m", "memory": "128Mi"})
            );
            assert_eq!(c["default"], json!({"cpu": "500m", "memory": "512Mi"}));
        }
        assert_eq!(
            render_in(
                &tenant(None, IsolationLevel::Permissive),
                &BuildContext::default()
            ),
            None
        );
    }

    #[test]
    fn seed_example_maps_every_field() {
        let limits = LimitsSpec {
            pod_cpu_limit: Some("10".into()),
            pod_memory_limit: Some("32Gi".into()),
            pod_cpu_request: Some("100m".into()),
            pod_memory_request: Some("128Mi".into()),
            container_cpu_limit: Some("8".into()),
            container_memory_limit: Some("16Gi".into()),
            qos_class: Some(QosClass::Burstable),
            allow_bursting: Some(true),
            burst_cpu: Some("2".into()),
            burst_memory: Some("1Gi".into()),
            min_replicas: Some(2),
            ephemeral_storage_limit: Some("4Gi".into()),
        };
        let m = render(&tenant(Some(limits), IsolationLevel::Standard)).unwrap_or_default();
        assert_eq!(m["kind"], "LimitRange");
        assert_eq!(m["metadata"]["name"], "tenant-limits");
        assert_eq!(m["metadata"]["namespace"], "tenant-acme-production");
        assert_eq!(
            item(&m, "Pod").map(|p| &p["max"]),
            Some(&json!({"cpu": "10", "memory": "32Gi"}))
        );
        let c = container(&m);
        assert_eq!(
            c["max"],
            json!({"cpu": "8", "memory": "16Gi", "ephemeral-storage": "4Gi"})
        );
        assert_eq!(
            c["defaultRequest"],
            json!({"cpu": "100m", "memory": "128Mi", "ephemeral-storage": "256Mi"})
        );
        assert_eq!(
            c["default"],
            json!({"cpu": "2", "memory": "1Gi", "ephemeral-storage": "4Gi"})
        );
        assert!(c.get("maxLimitRequestRatio").is_none(), "bursting allowed");
    }

    #[test]
    fn a_bare_max_gets_explicit_defaults_instead_of_the_max() {
        let limits = LimitsSpec {
            container_cpu_limit: Some("4".into()),
            container_memory_limit: Some("256Mi".into()),
            ..Default::default()
        };
        let m = render(&tenant(Some(limits), IsolationLevel::Permissive)).unwrap_or_default();
        let c = container(&m);
        // without these the apiserver would default request = limit = max
        assert_eq!(
            c["defaultRequest"],
            json!({"cpu": "100m", "memory": "128Mi"})
        );
        // memory default limit 512Mi clamped to the 256Mi max
        assert_eq!(c["default"], json!({"cpu": "500m", "memory": "256Mi"}));
    }

    #[test]
    fn compute_quota_gets_sane_defaults() {
        let mut t = tenant(None, IsolationLevel::Standard);
        t.spec.quota = Some(QuotaSpec {
            cpu_quota: Some("10".into()),
            ..Default::default()
        });
        t.spec.resource_limits = Some(ResourceLimits {
            memory_limit: Some("8Gi".into()),
            ..Default::default()
        });
        let m = render(&t).unwrap_or_default();
        assert!(item(&m, "Pod").is_none());
        let c = container(&m);
        assert!(c.get("max").is_none());
        assert_eq!(
            c["defaultRequest"],
            json!({"cpu": "100m", "memory": "128Mi"})
        );
        assert_eq!(c["default"], json!({"cpu": "500m", "memory": "512Mi"}));
    }

    #[test]
    fn only_the_constrained_resource_gets_defaults() {
        let mut t = tenant(None, IsolationLevel::Standard);
        t.spec.resource_limits = Some(ResourceLimits {
            cpu_limit: Some("2".into()),
            storage_limit: Some("20Gi".into()),
            ..Default::default()
        });
        let c = container(&render(&t).unwrap_or_default()).clone();
        assert_eq!(c["defaultRequest"], json!({"cpu": "100m"}));
        assert_eq!(c["default"], json!({"cpu": "500m"}));
    }

    #[test]
    fn default_limit_is_never_below_the_request() {
        let mut t = tenant(
            Some(LimitsSpec {
                pod_cpu_request: Some("2".into()),
                ..Default::default()
            }),
            IsolationLevel::Standard,
        );
        t.spec.quota = Some(QuotaSpec {
            cpu_limit: Some("20".into()),
            ..Default::default()
        });
        let c = container(&render(&t).unwrap_or_default()).clone();
        assert_eq!(c["defaultRequest"]["cpu"], "2");
        assert_eq!(c["default"]["cpu"], "2");
    }

    #[test]
    fn pod_max_clamps_container_defaults() {
        let limits = LimitsSpec {
            pod_cpu_limit: Some("250m".into()),
            ..Default::default()
        };
        let m = render(&tenant(Some(limits), IsolationLevel::Standard)).unwrap_or_default();
        let c = container(&m);
        assert_eq!(c["defaultRequest"]["cpu"], "100m");
        assert_eq!(c["default"]["cpu"], "250m");
        assert!(c.get("max").is_none());
    }

    #[test]
    fn guaranteed_pins_limits_to_requests() {
        let limits = LimitsSpec {
            qos_class: Some(QosClass::Guaranteed),
            pod_cpu_request: Some("250m".into()),
            pod_memory_request: Some("1Gi".into()),
            ..Default::default()
        };
        let m = render(&tenant(Some(limits), IsolationLevel::Standard)).unwrap_or_default();
        let c = container(&m);
        assert_eq!(
            c["maxLimitRequestRatio"],
            json!({"cpu": "1", "memory": "1"})
        );
        assert_eq!(c["defaultRequest"], json!({"cpu": "250m", "memory": "1Gi"}));
        assert_eq!(c["default"], c["defaultRequest"]);
    }

    #[test]
    fn guaranteed_with_only_a_burst_uses_it_as_request() {
        let limits = LimitsSpec {
            qos_class: Some(QosClass::Guaranteed),
            burst_cpu: Some("2".into()),
            ..Default::default()
        };
        let m = render(&tenant(Some(limits), IsolationLevel::Standard)).unwrap_or_default();
        let c = container(&m);
        assert_eq!(c["defaultRequest"], json!({"cpu": "2", "memory": "128Mi"}));
        assert_eq!(c["default"], json!({"cpu": "2", "memory": "128Mi"}));
    }

    #[test]
    fn no_bursting_pins_cpu_only() {
        let limits = LimitsSpec {
            allow_bursting: Some(false),
            ..Default::default()
        };
        let m = render(&tenant(Some(limits), IsolationLevel::Standard)).unwrap_or_default();
        let c = container(&m);
        assert_eq!(c["maxLimitRequestRatio"], json!({"cpu": "1"}));
        // the ratio needs a request and a limit on every container
        assert_eq!(c["defaultRequest"], json!({"cpu": "100m"}));
        assert_eq!(c["default"], json!({"cpu": "100m"}));
    }

    #[test]
    fn burst_alone_gets_a_smaller_request() {
        let limits = LimitsSpec {
            burst_memory: Some("2Gi".into()),
            ..Default::default()
        };
        let m = render(&tenant(Some(limits), IsolationLevel::Standard)).unwrap_or_default();
        let c = container(&m);
        assert_eq!(c["default"], json!({"memory": "2Gi"}));
        assert_eq!(c["defaultRequest"], json!({"memory": "128Mi"}));
    }

    #[test]
    fn best_effort_gets_no_defaults() {
        let mut t = tenant(
            Some(LimitsSpec {
                qos_class: Some(QosClass::BestEffort),
                container_cpu_limit: Some("2".into()),
                ..Default::default()
            }),
            IsolationLevel::Standard,
        );
        t.spec.quota = Some(QuotaSpec {
            cpu_quota: Some("10".into()),
            ..Default::default()
        });
        let c = container(&render(&t).unwrap_or_default()).clone();
        assert_eq!(c["max"], json!({"cpu": "2"}));
        assert!(c.get("default").is_none() && c.get("defaultRequest").is_none());
    }

    #[test]
    fn cpu_pinning_defaults_to_whole_cpus() {
        let mut t = tenant(None, IsolationLevel::Standard);
        if let Some(i) = t.spec.isolation.as_mut() {
            i.cpu_pinning = Some(true);
        }
        t.spec.quota = Some(QuotaSpec {
            cpu_quota: Some("8".into()),
            ..Default::default()
        });
        let c = container(&render(&t).unwrap_or_default()).clone();
        assert_eq!(c["defaultRequest"], json!({"cpu": "1"}));
        assert_eq!(c["default"], json!({"cpu": "1"}));
    }

    #[test]
    fn contradictions_name_the_field() {
        let over_max = tenant(
            Some(LimitsSpec {
                container_cpu_limit: Some("1".into()),
                burst_cpu: Some("2".into()),
                ..Default::default()
            }),
            IsolationLevel::Standard,
        );
        assert_eq!(err_field(&over_max), "spec.limits.burstCpu");
        let limit_below_request = tenant(
            Some(LimitsSpec {
                pod_memory_request: Some("1Gi".into()),
                burst_memory: Some("512Mi".into()),
                ..Default::default()
            }),
            IsolationLevel::Standard,
        );
        assert_eq!(err_field(&limit_below_request), "spec.limits.burstMemory");
        let guaranteed_burst = tenant(
            Some(LimitsSpec {
                qos_class: Some(QosClass::Guaranteed),
                pod_cpu_request: Some("1".into()),
                burst_cpu: Some("2".into()),
                ..Default::default()
            }),
            IsolationLevel::Standard,
        );
        assert_eq!(err_field(&guaranteed_burst), "spec.limits.burstCpu");
        let garbage = tenant(
            Some(LimitsSpec {
                pod_cpu_limit: Some("ten".into()),
                ..Default::default()
            }),
            IsolationLevel::Standard,
        );
        assert_eq!(err_field(&garbage), "spec.limits.podCpuLimit");
    }

    #[test]
    fn deterministic() {
        let limits = LimitsSpec {
            container_cpu_limit: Some("4".into()),
            pod_memory_limit: Some("8Gi".into()),
            ephemeral_storage_limit: Some("100Mi".into()),
            ..Default::default()
        };
        let t = tenant(Some(limits), IsolationLevel::Strict);
        let a = render(&t).map(|m| m.to_string());
        assert!(a.is_some());
        assert_eq!(a, render(&t).map(|m| m.to_string()));
        // the ephemeral default request is clamped to the 100Mi max
        let m = render(&t).unwrap_or_default();
        assert_eq!(
            container(&m)["defaultRequest"]["ephemeral-storage"],
            "100Mi"
        );
    }
}
