//! Requests and limits of the services' containers, so that they fit the tenant's LimitRange and
//! quota.
//!
//! A value set in `serviceSettings` is used as given. Every other value starts from the
//! LimitRange's container default (else the operator's sane default: 100m / 128Mi requested,
//! 500m / 512Mi limit; nothing for a BestEffort tenant without a quota) and is then cut down to
//! the tenant's share of the quota: when the quota bounds a resource (`limits.cpu`,
//! `requests.memory`, ...), what the explicit values do not take is shared evenly among the
//! defaulted containers, counting every replica plus one surge pod per service, so that all
//! services, each rolling out at once, still fit. CPU is rounded down to millicores (whole CPUs
//! under cpuPinning), memory to MiB. A quota too small to give each defaulted container at least
//! 10m CPU and 32Mi of memory is an error naming the quota field.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::ResourceRequirements;
use k8s_openapi::apimachinery::pkg::api::resource::Quantity as K8sQuantity;
use tenant_api::{LimitsSpec, QosClass, Tenant};

use super::ServicePlan;
use crate::build::{BuildContext, BuildError, limits, quota};
use crate::presets::Effective;
use crate::quantity::Quantity;

const MILLI: i128 = 1_000_000;
const MIB: i128 = (1 << 20) * 1_000_000_000;
const CPU: i128 = 1_000_000_000;
const MIN_CPU: i128 = 10 * MILLI;
const MIN_MEMORY: i128 = 32 * MIB;

/// One resource (cpu or memory) of one container: `(request, limit)`.
type Pair = (Option<Quantity>, Option<Quantity>);

fn parse(field: &str, v: Option<&String>) -> Result<Option<Quantity>, BuildError> {
    v.map(|s| {
        Quantity::parse(s).map_err(|e| BuildError::Invalid {
            field: field.to_string(),
            message: e.to_string(),
        })
    })
    .transpose()
}

fn render_cpu(q: Quantity) -> String {
    let m = q.nanos() / MILLI;
    if m % 1000 == 0 {
        format!("{}", m / 1000)
    } else {
        format!("{m}m")
    }
}

fn render_memory(q: Quantity) -> String {
    let mib = q.nanos() / MIB;
    if mib % 1024 == 0 {
        format!("{}Gi", mib / 1024)
    } else {
        format!("{mib}Mi")
    }
}

/// The bound the quota puts on the sum of `what` (`requests` or `limits`) of `resource`.
fn bound(hard: &quota::Hard, what: &str, resource: &str) -> Option<(String, Quantity)> {
    let keys: &[String] = &if what == "requests" {
        vec![format!("requests.{resource}"), resource.to_string()]
    } else {
        vec![format!("limits.{resource}")]
    };
    keys.iter()
        .filter_map(|k| {
            let v = hard.unscoped.get(k)?;
            Some((k.clone(), Quantity::parse(&v.0).ok()?))
        })
        .min_by_key(|(_, q)| *q)
}

/// Sizes one resource for every service.
struct Resource<'a> {
    name: &'a str,
    /// Explicit values per service (`cpuRequest`/`cpuLimit`, ...).
    explicit: Vec<Pair>,
    /// The starting point of defaulted values.
    base: Pair,
    /// LimitRange max per container.
    max: Option<Quantity>,
    /// Limit equal to request (Guaranteed QoS, or no bursting for CPU).
    pinned: bool,
    /// Whole CPUs only (cpuPinning).
    whole: bool,
    unit: i128,
    minimum: i128,
    /// What the tenant's dedicated data stores take of the quota `(requests, limits)`.
    reserved: (Quantity, Quantity),
}

fn round_down(q: Quantity, unit: i128) -> Quantity {
    Quantity::from_nanos(q.nanos() / unit * unit)
}

impl Resource<'_> {
    fn size(&self, plans: &[ServicePlan], hard: &quota::Hard) -> Result<Vec<Pair>, BuildError> {
        // slots: every replica plus one surge pod per Deployment (a canary is one more)
        let slots: Vec<i128> = plans
            .iter()
            .map(|p| {
                i128::from(p.replicas.max(1))
                    + 1
                    + p.canary.as_ref().map_or(0, |(_, n)| i128::from(*n) + 1)
            })
            .collect();
        let mut out: Vec<Pair> = Vec::with_capacity(plans.len());
        for (req, lim) in &self.explicit {
            let (mut r, mut l) = (*req, *lim);
            if r.is_none() {
                r = self.base.0;
                if let (Some(x), Some(l)) = (r, l)
                    && x > l
                {
                    r = Some(l);
                }
            }
            if l.is_none() {
                l = if self.pinned { r } else { self.base.1 };
                if let (Some(x), Some(y)) = (r, l)
                    && y < x
                {
                    l = Some(x);
                }
            }
            if let (Some(m), Some(v)) = (self.max, l)
                && v > m
                && lim.is_none()
            {
                l = Some(m);
            }
            out.push((r, l));
        }
        for (pick, what) in [(1usize, "limits"), (0, "requests")] {
            let Some((key, total)) = bound(hard, what, self.name) else {
                continue;
            };
            let given = |p: &Pair| if pick == 0 { p.0 } else { p.1 };
            let mut taken: i128 = if pick == 0 {
                self.reserved.0.nanos()
            } else {
                self.reserved.1.nanos()
            };
            let mut free_slots: i128 = 0;
            for (i, e) in self.explicit.iter().enumerate() {
                match given(e) {
                    Some(v) => taken += v.nanos() * slots[i],
                    None => free_slots += slots[i],
                }
            }
            if free_slots == 0 {
                continue;
            }
            let left = total.nanos() - taken;
            let share = round_down(
                Quantity::from_nanos(left.max(0) / free_slots),
                if self.whole { CPU } else { self.unit },
            );
            let minimum = if self.whole { CPU } else { self.minimum };
            if share.nanos() < minimum {
                let names: Vec<&str> = plans
                    .iter()
                    .zip(&self.explicit)
                    .filter(|(_, e)| given(e).is_none())
                    .map(|(p, _)| p.name.as_str())
                    .collect();
                return Err(BuildError::Invalid {
                    field: format!("quota {key}"),
                    message: format!(
                        "{}{} leaves {} per container for services {} ({} pods counting one surge pod each); at least {} is needed: raise the quota or set their {} in spec.serviceSettings",
                        total.to_canonical(),
                        if taken > 0 && self.explicit.iter().all(|e| given(e).is_none()) {
                            " (less what the dedicated data stores take)"
                        } else {
                            ""
                        },
                        self.render(Quantity::from_nanos(left.max(0) / free_slots)),
                        names.join(", "),
                        free_slots,
                        self.render(Quantity::from_nanos(minimum)),
                        if pick == 0 { "requests" } else { "limits" },
                    ),
                });
            }
            for (i, e) in self.explicit.iter().enumerate() {
                if given(e).is_some() {
                    continue;
                }
                let (r, l) = &mut out[i];
                let slot = if pick == 0 { &mut *r } else { &mut *l };
                *slot = Some(match *slot {
                    Some(v) if v <= share => v,
                    _ => share,
                });
                // keep request <= limit, and pinned pairs equal
                if let (Some(x), Some(y)) = (*r, *l) {
                    if self.pinned {
                        let m = x.min(y);
                        *r = Some(m);
                        *l = Some(m);
                    } else if x > y {
                        *r = Some(y);
                    }
                }
            }
        }
        if self.whole {
            for ((r, l), e) in out.iter_mut().zip(&self.explicit) {
                if e.0.is_some() || e.1.is_some() {
                    // explicit values are applied as written (the admission policy judges them)
                    continue;
                }
                // whole CPUs, request equal to limit
                let v = l
                    .or(*r)
                    .map(|v| round_down(v, CPU).max(Quantity::from_nanos(CPU)));
                *r = v;
                *l = v;
            }
        }
        Ok(out)
    }

    fn render(&self, q: Quantity) -> String {
        if self.name == "cpu" {
            render_cpu(q)
        } else {
            render_memory(q)
        }
    }
}

/// The LimitRange container defaults `(defaultRequest, default, max)` of `resource`.
fn limit_range(
    items: &[k8s_openapi::api::core::v1::LimitRangeItem],
    resource: &str,
) -> (Option<Quantity>, Option<Quantity>, Option<Quantity>) {
    let get = |m: &Option<BTreeMap<String, K8sQuantity>>| {
        m.as_ref()
            .and_then(|m| m.get(resource))
            .and_then(|v| Quantity::parse(&v.0).ok())
    };
    let container = items.iter().find(|i| i.type_ == "Container");
    let pod_max = items
        .iter()
        .find(|i| i.type_ == "Pod")
        .and_then(|i| get(&i.max));
    match container {
        Some(c) => {
            let max = match (get(&c.max), pod_max) {
                (Some(a), Some(b)) => Some(a.min(b)),
                (a, b) => a.or(b),
            };
            (get(&c.default_request), get(&c.default), max)
        }
        None => (None, None, pod_max),
    }
}

/// Requests and limits per service, in `plans` order.
pub fn resources(
    tenant: &Tenant,
    eff: &Effective,
    ctx: &BuildContext,
    plans: &[ServicePlan],
) -> Result<Vec<ResourceRequirements>, BuildError> {
    let hard = quota::hard_limits(tenant, eff, ctx)?;
    let items = limits::limit_items(tenant, eff, &hard)?;
    let empty = LimitsSpec::default();
    let l = tenant.spec.limits.as_ref().unwrap_or(&empty);
    let best_effort = l.qos_class == Some(QosClass::BestEffort);
    let guaranteed = l.qos_class == Some(QosClass::Guaranteed);
    let sane = |s: &str| Quantity::parse(s).ok();
    let active =
        crate::build::services::lifecycle(tenant, ctx.now)?.active && !ctx.budget_hibernated;
    let [cpu_req, cpu_lim, mem_req, mem_lim] = crate::build::dedicated::reserved(tenant, active);
    let mut sized = Vec::new();
    for (name, unit, minimum) in [("cpu", MILLI, MIN_CPU), ("memory", MIB, MIN_MEMORY)] {
        let explicit = plans
            .iter()
            .map(|p| {
                let f = |what: &str| format!("spec.serviceSettings.{}.{name}{what}", p.name);
                let s = &p.settings;
                let (req, lim) = if name == "cpu" {
                    (&s.cpu_request, &s.cpu_limit)
                } else {
                    (&s.memory_request, &s.memory_limit)
                };
                Ok((
                    parse(&f("Request"), req.as_ref())?,
                    parse(&f("Limit"), lim.as_ref())?,
                ))
            })
            .collect::<Result<Vec<Pair>, BuildError>>()?;
        let (lr_req, lr_lim, max) = limit_range(&items, name);
        let base = if best_effort && lr_req.is_none() && lr_lim.is_none() {
            (None, None)
        } else if name == "cpu" {
            (
                lr_req.or_else(|| sane(limits::DEFAULT_CPU_REQUEST)),
                lr_lim.or_else(|| sane(limits::DEFAULT_CPU_LIMIT)),
            )
        } else {
            (
                lr_req.or_else(|| sane(limits::DEFAULT_MEMORY_REQUEST)),
                lr_lim.or_else(|| sane(limits::DEFAULT_MEMORY_LIMIT)),
            )
        };
        let r = Resource {
            name,
            explicit,
            base,
            max,
            pinned: guaranteed || (name == "cpu" && l.allow_bursting == Some(false)),
            whole: name == "cpu" && eff.isolation.cpu_pinning,
            unit,
            minimum,
            reserved: if name == "cpu" {
                (cpu_req, cpu_lim)
            } else {
                (mem_req, mem_lim)
            },
        };
        sized.push((name, r.size(plans, &hard)?, r));
    }
    Ok((0..plans.len())
        .map(|i| {
            let mut requests = BTreeMap::new();
            let mut limits = BTreeMap::new();
            for (name, pairs, r) in &sized {
                let (req, lim) = pairs[i];
                let explicit = r.explicit[i];
                let text = |q: Quantity, given: Option<Quantity>, spec: Option<&String>| {
                    // an explicit value is applied as written
                    match (given, spec) {
                        (Some(g), Some(s)) if g == q => s.clone(),
                        _ => r.render(q),
                    }
                };
                let s = &plans[i].settings;
                let (req_spec, lim_spec) = if *name == "cpu" {
                    (s.cpu_request.as_ref(), s.cpu_limit.as_ref())
                } else {
                    (s.memory_request.as_ref(), s.memory_limit.as_ref())
                };
                if let Some(v) = req {
                    requests.insert(name.to_string(), K8sQuantity(text(v, explicit.0, req_spec)));
                }
                if let Some(v) = lim {
                    limits.insert(name.to_string(), K8sQuantity(text(v, explicit.1, lim_spec)));
                }
            }
            ResourceRequirements {
                requests: (!requests.is_empty()).then_some(requests),
                limits: (!limits.is_empty()).then_some(limits),
                claims: None,
            }
        })
        .collect())
}
