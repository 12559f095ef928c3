//! ResourceQuota, LimitRange and the tenant's own workloads against both.

use super::super::Ctx;
use super::super::quantities::{Q, Quantities};
use crate::quantity::Quantity;
use tenant_api::{IsolationLevel, QosClass, QuotaSpec, TenantSpec};

/// The quota keys as the quota builder resolves them (`quota` wins where both sections set a key;
/// `quota.resourceLimitsAgree` makes sure they agree).
pub(crate) struct QuotaKeys<'a> {
    pub limits_cpu: Option<&'a Q>,
    pub limits_memory: Option<&'a Q>,
    pub requests_cpu: Option<&'a Q>,
    pub requests_memory: Option<&'a Q>,
    pub requests_ephemeral: Option<&'a Q>,
}

impl<'a> QuotaKeys<'a> {
    pub fn of(q: &'a Quantities) -> QuotaKeys<'a> {
        QuotaKeys {
            limits_cpu: q
                .get("spec.quota.cpuLimit")
                .or(q.get("spec.resourceLimits.cpuLimit")),
            limits_memory: q
                .get("spec.quota.memoryLimit")
                .or(q.get("spec.resourceLimits.memoryLimit")),
            requests_cpu: q.get("spec.quota.cpuQuota"),
            requests_memory: q.get("spec.quota.memoryQuota"),
            requests_ephemeral: q.get("spec.quota.ephemeralStorageQuota"),
        }
    }
}

/// A tenant whose spec bounds no cpu, memory or pod count: strict and standard get the platform's
/// default compute quota (said here, since it is not in the spec); permissive gets nothing, and
/// one tenant could then take the cluster.
fn compute_bounded(spec: &TenantSpec, keys: &QuotaKeys, ctx: &mut Ctx) {
    let level = crate::presets::Isolation::resolve(spec.isolation.as_ref()).level;
    let pods = spec.quota.as_ref().and_then(|q| q.pod_quota).is_some();
    let unbounded: Vec<&str> = [
        ("cpu", keys.requests_cpu.or(keys.limits_cpu).is_some()),
        (
            "memory",
            keys.requests_memory.or(keys.limits_memory).is_some(),
        ),
        ("pod count", pods),
    ]
    .into_iter()
    .filter(|(_, bounded)| !bounded)
    .map(|(r, _)| r)
    .collect();
    ctx.check(
        "quota.presetCompute",
        "spec.quota",
        "cpu, memory and the pod count are bounded by a quota (the spec's or the platform's default)",
        |g| {
            if unbounded.is_empty() {
                return;
            }
            let what = match unbounded.split_last() {
                Some((last, [])) => last.to_string(),
                Some((last, rest)) => format!("{} and {last}", rest.join(", ")),
                None => String::new(),
            };
            if level == IsolationLevel::Permissive {
                g.warn(
                    "spec.quota",
                    format!(
                        "sets no {what} quota, and the permissive preset adds none: this tenant's pods may use all of the cluster's {what}; set spec.quota.cpuQuota/memoryQuota (or cpuLimit/memoryLimit) and podQuota"
                    ),
                );
            } else {
                let builtin = crate::presets::ComputeDefaults::builtin();
                g.warn(
                    "spec.quota",
                    format!(
                        "sets no {what} quota: the platform's default compute quota for tenantType {} applies to {what} (built in: {}; the operator's --default-compute-quota may change it)",
                        spec.tenant_type.as_str(),
                        builtin.describe(spec.tenant_type)
                    ),
                );
            }
        },
    );
}

fn l(field: &str) -> String {
    format!("spec.limits.{field}")
}

pub(crate) fn run(spec: &TenantSpec, q: &Quantities, ctx: &mut Ctx) {
    let keys = QuotaKeys::of(q);
    ctx.check(
        "quota.resourceLimitsAgree",
        "spec.resourceLimits",
        "resourceLimits and quota agree wherever both set a quota key",
        |g| {
            for (rl, quota, key) in [
                ("cpuLimit", "cpuLimit", "limits.cpu"),
                ("memoryLimit", "memoryLimit", "limits.memory"),
                ("storageLimit", "storageQuota", "requests.storage"),
            ] {
                let a = q.get(&format!("spec.resourceLimits.{rl}"));
                let b = q.get(&format!("spec.quota.{quota}"));
                if let (Some(a), Some(b)) = (a, b)
                    && a.q != b.q
                {
                    g.fail(
                        &b.field,
                        format!(
                            "must equal {} when both are set (both set the ResourceQuota's {key})",
                            a.cite()
                        ),
                    );
                }
            }
        },
    );
    compute_bounded(spec, &keys, ctx);
    let quota = spec.quota.clone().unwrap_or_default();
    ctx.check("quota.pvQuotaAgree", "spec.quota.pvQuota", "pvQuota and pvcQuota agree", |g| {
        if let (Some(pv), Some(pvc)) = (quota.pv_quota, quota.pvc_quota)
            && pv != pvc {
                g.fail(
                    "spec.quota.pvQuota",
                    format!("must equal spec.quota.pvcQuota ({pvc}) when both are set (both set the ResourceQuota's persistentvolumeclaims)"),
                );
            }
    });
    ctx.check(
        "quota.requestsWithinLimits",
        "spec.quota",
        "requests quotas are not above the limits quotas",
        |g| {
            for (req, lim, key) in [
                (keys.requests_cpu, keys.limits_cpu, "cpu"),
                (keys.requests_memory, keys.limits_memory, "memory"),
            ] {
                if let (Some(r), Some(lm)) = (req, lim)
                    && r.q > lm.q {
                        g.fail(
                            &r.field,
                            format!(
                                "{:?} (requests.{key}) is above the namespace's limits.{key}, {}: a container's request never exceeds its limit, so the difference can never be used",
                                r.raw,
                                lm.cite()
                            ),
                        );
                    }
            }
        },
    );
    ctx.check(
        "quota.scopes",
        "spec.quota.scopes",
        "quota scopes are consistent with each other and with the quota's keys",
        |g| {
            let scopes = quota.scopes.clone().unwrap_or_default();
            let has = |s: &str| scopes.iter().any(|x| x == s);
            for (a, b) in [("BestEffort", "NotBestEffort"), ("Terminating", "NotTerminating")] {
                if has(a) && has(b) {
                    g.fail(
                        "spec.quota.scopes",
                        format!("{a} and {b} exclude each other: the apiserver rejects the ResourceQuota"),
                    );
                }
            }
            let compute = [
                quota.cpu_quota.is_some(),
                quota.cpu_limit.is_some(),
                quota.memory_quota.is_some(),
                quota.memory_limit.is_some(),
            ]
            .contains(&true);
            if has("BestEffort") && compute {
                g.fail(
                    "spec.quota.scopes",
                    "BestEffort can only track pods, but the quota section sets cpu/memory keys: the apiserver rejects the scoped ResourceQuota",
                );
            }
        },
    );

    let limits = spec.limits.clone().unwrap_or_default();
    let get = |n: &str| q.get(&l(n));
    ctx.check(
        "limits.withinQuota",
        "spec.limits",
        "per-pod and per-container limits fit in the namespace quota",
        |g| {
            let pairs = [
                ("containerCpuLimit", keys.limits_cpu, "limits.cpu"),
                ("podCpuLimit", keys.limits_cpu, "limits.cpu"),
                ("burstCpu", keys.limits_cpu, "limits.cpu"),
                ("podCpuRequest", keys.requests_cpu, "requests.cpu"),
                ("podCpuRequest", keys.limits_cpu, "limits.cpu"),
                ("containerMemoryLimit", keys.limits_memory, "limits.memory"),
                ("podMemoryLimit", keys.limits_memory, "limits.memory"),
                ("burstMemory", keys.limits_memory, "limits.memory"),
                ("podMemoryRequest", keys.requests_memory, "requests.memory"),
                ("podMemoryRequest", keys.limits_memory, "limits.memory"),
                ("ephemeralStorageLimit", keys.requests_ephemeral, "requests.ephemeral-storage"),
            ];
            for (field, quota, key) in pairs {
                if let (Some(v), Some(qt)) = (get(field), quota)
                    && v.q > qt.q {
                        g.fail(
                            &v.field,
                            format!(
                                "{:?} is above the namespace's {key}, {}: no pod at that size fits in the quota",
                                v.raw,
                                qt.cite()
                            ),
                        );
                    }
            }
        },
    );
    ctx.check(
        "limits.containerWithinPod",
        "spec.limits",
        "container maxima are not above pod maxima",
        |g| {
            for (c, p) in [
                ("containerCpuLimit", "podCpuLimit"),
                ("containerMemoryLimit", "podMemoryLimit"),
            ] {
                if let (Some(c), Some(p)) = (get(c), get(p))
                    && c.q > p.q
                {
                    g.fail(
                        &c.field,
                        format!(
                            "{:?} is above {}: a container can never use more than its pod",
                            c.raw,
                            p.cite()
                        ),
                    );
                }
            }
        },
    );
    ctx.check(
        "limits.defaultsWithinMax",
        "spec.limits",
        "default requests and limits are within the maxima",
        |g| {
            for (d, m, what) in [
                (
                    "podCpuRequest",
                    "containerCpuLimit",
                    "the apiserver rejects a LimitRange whose default request is above its max",
                ),
                (
                    "burstCpu",
                    "containerCpuLimit",
                    "the apiserver rejects a LimitRange whose default limit is above its max",
                ),
                (
                    "podMemoryRequest",
                    "containerMemoryLimit",
                    "the apiserver rejects a LimitRange whose default request is above its max",
                ),
                (
                    "burstMemory",
                    "containerMemoryLimit",
                    "the apiserver rejects a LimitRange whose default limit is above its max",
                ),
                (
                    "podCpuRequest",
                    "podCpuLimit",
                    "a container taking the default request could never be admitted",
                ),
                (
                    "podMemoryRequest",
                    "podMemoryLimit",
                    "a container taking the default request could never be admitted",
                ),
            ] {
                if let (Some(d), Some(m)) = (get(d), get(m))
                    && d.q > m.q
                {
                    g.fail(
                        &d.field,
                        format!("{:?} is above {}: {what}", d.raw, m.cite()),
                    );
                }
            }
        },
    );
    ctx.check(
        "limits.defaultLimitAboveRequest",
        "spec.limits",
        "default limits are not below default requests",
        |g| {
            for (lim, req) in [("burstCpu", "podCpuRequest"), ("burstMemory", "podMemoryRequest")] {
                if let (Some(lm), Some(r)) = (get(lim), get(req))
                    && lm.q < r.q {
                        g.fail(
                            &lm.field,
                            format!(
                                "{:?} is below {}: the default limit must be at least the default request (the apiserver rejects the LimitRange)",
                                lm.raw,
                                r.cite()
                            ),
                        );
                    }
            }
        },
    );
    ctx.check("limits.qosClass", "spec.limits.qosClass", "qosClass agrees with the other limits", |g| {
        match limits.qos_class {
            Some(QosClass::Guaranteed) => {
                if limits.allow_bursting == Some(true) {
                    g.fail(
                        "spec.limits.allowBursting",
                        "must not be true with qosClass Guaranteed: Guaranteed pins limits to requests, bursting lets them differ",
                    );
                }
                for (lim, req) in [("burstCpu", "podCpuRequest"), ("burstMemory", "podMemoryRequest")] {
                    if let (Some(lm), Some(r)) = (get(lim), get(req))
                        && lm.q != r.q {
                            g.fail(
                                &lm.field,
                                format!("must equal {} with qosClass Guaranteed (limits equal requests)", r.cite()),
                            );
                        }
                }
            }
            Some(QosClass::BestEffort) => {
                for f in ["podCpuRequest", "podMemoryRequest", "burstCpu", "burstMemory"] {
                    if let Some(v) = get(f) {
                        g.warn(
                            &v.field,
                            "is set with qosClass BestEffort: a default request or limit makes containers Burstable or Guaranteed, not BestEffort",
                        );
                    }
                }
                if [keys.requests_cpu, keys.limits_cpu, keys.requests_memory, keys.limits_memory]
                    .iter()
                    .any(Option::is_some)
                {
                    g.warn(
                        "spec.limits.qosClass",
                        "BestEffort with a cpu/memory quota: the quota rejects every container that sets no requests/limits, i.e. every BestEffort pod",
                    );
                }
            }
            _ => {}
        }
    });
    ctx.check(
        "limits.bursting",
        "spec.limits.allowBursting",
        "default limits agree with allowBursting",
        |g| {
            if limits.allow_bursting == Some(false)
                && let (Some(lm), Some(r)) = (get("burstCpu"), get("podCpuRequest"))
                    && lm.q != r.q {
                        g.fail(
                            &lm.field,
                            format!(
                                "must equal {} when allowBursting is false (the CPU limit/request ratio is pinned to 1, so containers taking these defaults would be rejected)",
                                r.cite()
                            ),
                        );
                    }
        },
    );
    ctx.check(
        "limits.minReplicasFitQuota",
        "spec.limits.minReplicas",
        "minReplicas fits in the pod quota",
        |g| {
            if let (Some(min), Some(pods)) = (limits.min_replicas, quota.pod_quota)
                && min > pods
                && counts_deployment_pods(&quota)
            {
                    g.fail(
                        "spec.limits.minReplicas",
                        format!("{min} is above spec.quota.podQuota ({pods}): no Deployment could ever be scheduled in full"),
                    );
                }
        },
    );
    own_services(spec, q, &keys, ctx);
}

/// Whether the `quota` section's pod and compute keys count the pods of Deployments (long-running,
/// with requests): with scopes (build/quota.rs moves those keys to a scoped quota) only
/// NotTerminating and NotBestEffort keep them in.
fn counts_deployment_pods(quota: &QuotaSpec) -> bool {
    quota
        .scopes
        .iter()
        .flatten()
        .all(|s| s == "NotTerminating" || s == "NotBestEffort")
}

/// Replicas a service runs while the tenant is active (the apps builder's rule).
pub(crate) fn replicas(spec: &TenantSpec, svc: &str) -> i64 {
    let set = spec
        .service_settings
        .as_ref()
        .and_then(|m| m.get(svc))
        .and_then(|s| s.replicas);
    let min = spec.limits.as_ref().and_then(|l| l.min_replicas);
    i64::from(set.or(min).unwrap_or(1))
}

/// The services the operator deploys must pass the guardrails the same tenant sets.
fn own_services(spec: &TenantSpec, q: &Quantities, keys: &QuotaKeys, ctx: &mut Ctx) {
    let services = spec.services.clone().unwrap_or_default();
    let quota = spec.quota.clone().unwrap_or_default();
    let min = spec.limits.as_ref().and_then(|l| l.min_replicas);
    ctx.check(
        "services.replicasAtLeastMin",
        "spec.serviceSettings",
        "no service runs fewer replicas than limits.minReplicas",
        |g| {
            let Some(min) = min else { return };
            for (svc, s) in spec.service_settings.iter().flatten() {
                if let Some(r) = s.replicas
                    && r < min {
                        g.fail(
                            format!("spec.serviceSettings.{svc}.replicas"),
                            format!("{r} is below spec.limits.minReplicas ({min}): the min-replica admission rule would reject the operator's own Deployment"),
                        );
                    }
            }
        },
    );
    ctx.check(
        "quota.fitsOwnServices",
        "spec.quota",
        "the quota leaves room for the tenant's own services",
        |g| {
            if services.is_empty() {
                return;
            }
            let n = services.len() as i64;
            let count = |g: &mut super::super::Group, field: &str, limit: Option<i32>, need: i64, what: &str| {
                if let Some(limit) = limit
                    && need > i64::from(limit) {
                        g.fail(
                            format!("spec.quota.{field}"),
                            format!("{limit} is below the {need} {what} the tenant's own services need"),
                        );
                    }
            };
            count(g, "deploymentQuota", quota.deployment_quota, n, "Deployments");
            count(g, "serviceQuota", quota.service_quota, n, "Services");
            let exposed = spec.custom_domain.is_some()
                && services.iter().any(|s| super::services::ingress_path(spec, s).is_some());
            if exposed {
                count(g, "ingressQuota", quota.ingress_quota, 1, "Ingress");
            }
            if !spec.active {
                return;
            }
            let counted = counts_deployment_pods(&quota);
            let pods: i64 = services.iter().map(|s| replicas(spec, s)).sum();
            if let Some(limit) = quota.pod_quota.filter(|_| counted) {
                if pods > i64::from(limit) {
                    g.fail(
                        "spec.quota.podQuota",
                        format!("{limit} is below the {pods} pods the tenant's own services run"),
                    );
                } else if pods + 1 > i64::from(limit) && pods > 0 {
                    g.warn(
                        "spec.quota.podQuota",
                        format!("{limit} leaves no room for a rolling update of the tenant's own services ({pods} pods): a rollout needs one extra pod"),
                    );
                }
            }
            // Compute: only when every service's figure is known (explicit or a LimitRange default).
            for (quota_q, setting, default, key) in [
                (keys.requests_cpu, "cpuRequest", "podCpuRequest", "requests.cpu"),
                (keys.requests_memory, "memoryRequest", "podMemoryRequest", "requests.memory"),
                (keys.limits_cpu, "cpuLimit", "burstCpu", "limits.cpu"),
                (keys.limits_memory, "memoryLimit", "burstMemory", "limits.memory"),
            ] {
                let Some(quota_q) = quota_q else { continue };
                if !counted && quota_q.field.starts_with("spec.quota.") {
                    continue; // a scoped key that does not count these pods
                }
                let mut total = Some(Quantity::ZERO);
                for s in &services {
                    let per = q
                        .get(&format!("spec.serviceSettings.{s}.{setting}"))
                        .or(q.get(&l(default)))
                        .map(|x| x.q);
                    total = match (total, per) {
                        (Some(t), Some(p)) => (0..replicas(spec, s)).try_fold(t, |acc, _| acc.checked_add(p)),
                        _ => None,
                    };
                }
                if let Some(total) = total
                    && total > quota_q.q {
                        g.fail(
                            &quota_q.field,
                            format!(
                                "{:?} ({key}) is below the {total} the tenant's own services take (replicas x {setting}, else the {default} default)",
                                quota_q.raw
                            ),
                        );
                    }
            }
        },
    );
    ctx.check(
        "services.resources",
        "spec.serviceSettings",
        "service requests and limits are consistent and within the LimitRange",
        |g| {
            let get = |f: String| q.get(&f);
            for svc in spec.service_settings.iter().flat_map(|m| m.keys()) {
                let f = |n: &str| format!("spec.serviceSettings.{svc}.{n}");
                for (req, lim, default_lim, max) in [
                    ("cpuRequest", "cpuLimit", "burstCpu", "containerCpuLimit"),
                    ("memoryRequest", "memoryLimit", "burstMemory", "containerMemoryLimit"),
                ] {
                    let r = get(f(req));
                    let explicit = get(f(lim));
                    match (r, explicit, get(l(default_lim))) {
                        (Some(r), Some(lm), _) if r.q > lm.q => g.fail(
                            &r.field,
                            format!("{:?} is above {}: the apiserver rejects a container whose request exceeds its limit", r.raw, lm.cite()),
                        ),
                        (Some(r), None, Some(d)) if r.q > d.q => g.fail(
                            &r.field,
                            format!("{:?} is above the default limit {} the container gets without its own {lim}: the pod would be rejected", r.raw, d.cite()),
                        ),
                        _ => {}
                    }
                    if let (Some(v), Some(m)) = (explicit.or(r), get(l(max)))
                        && v.q > m.q {
                            g.fail(
                                &v.field,
                                format!("{:?} is above {}: the LimitRange rejects the operator's own pods", v.raw, m.cite()),
                            );
                        }
                }
            }
        },
    );
}
