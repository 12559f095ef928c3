//! Every quantity field of a spec, parsed once (check `quantities.valid`) and looked up by path.

use super::Ctx;
use crate::quantity::Quantity;
use std::collections::BTreeMap;
use tenant_api::{ResourceLimits, TenantSpec};

#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Unit {
    Cpu,
    Bytes,
}

/// A parsed quantity with where it came from.
#[derive(Clone, Debug)]
pub(crate) struct Q {
    pub q: Quantity,
    pub raw: String,
    pub field: String,
}

impl Q {
    /// `spec.limits.burstCpu ("4")`, for messages.
    pub fn cite(&self) -> String {
        format!("{} ({:?})", self.field, self.raw)
    }
}

#[derive(Default)]
pub(crate) struct Quantities {
    map: BTreeMap<String, Q>,
}

impl Quantities {
    pub fn get(&self, field: &str) -> Option<&Q> {
        self.map.get(field)
    }

    /// Parses the given fields and records the `quantities.valid` check.
    pub fn collect(fields: Vec<(String, Option<&String>, Unit)>, ctx: &mut Ctx) -> Quantities {
        let mut out = Quantities::default();
        ctx.check(
            "quantities.valid",
            "spec",
            "every quantity parses and is not negative",
            |g| {
                for (field, raw, unit) in fields {
                    let Some(raw) = raw else { continue };
                    match Quantity::parse(raw) {
                        Err(e) => g.fail_unless_cel(field, format!("must be a Kubernetes quantity: {e}")),
                        Ok(q) if q < Quantity::ZERO => g.fail(
                            field,
                            format!("{raw:?} must not be negative (the apiserver rejects negative quota and limit values)"),
                        ),
                        Ok(q) => {
                            let suffix = raw.trim_start_matches(|c: char| c.is_ascii_digit() || c == '.' || c == '+');
                            if unit == Unit::Bytes && suffix == "m" {
                                g.warn(
                                    &field,
                                    format!("{raw:?} is in thousandths of a byte; did you mean {}Mi?", raw.trim_end_matches('m')),
                                );
                            }
                            if unit == Unit::Cpu && suffix.ends_with('i') {
                                g.warn(&field, format!("{raw:?} uses a binary (byte) suffix on a CPU quantity ({} CPUs)", q));
                            }
                            out.map.insert(
                                field.clone(),
                                Q {
                                    q,
                                    raw: raw.clone(),
                                    field,
                                },
                            );
                        }
                    }
                }
            },
        );
        out
    }
}

pub(crate) fn resource_limit_fields<'a>(
    prefix: &str,
    rl: Option<&'a ResourceLimits>,
) -> Vec<(String, Option<&'a String>, Unit)> {
    let f = |n: &str| format!("{prefix}.resourceLimits.{n}");
    match rl {
        None => Vec::new(),
        Some(rl) => vec![
            (f("cpuLimit"), rl.cpu_limit.as_ref(), Unit::Cpu),
            (f("memoryLimit"), rl.memory_limit.as_ref(), Unit::Bytes),
            (f("storageLimit"), rl.storage_limit.as_ref(), Unit::Bytes),
        ],
    }
}

/// Every quantity field of a Tenant spec.
pub(crate) fn tenant_fields(spec: &TenantSpec) -> Vec<(String, Option<&String>, Unit)> {
    use Unit::*;
    let mut v = resource_limit_fields("spec", spec.resource_limits.as_ref());
    if let Some(q) = &spec.quota {
        let f = |n: &str| format!("spec.quota.{n}");
        v.extend([
            (f("cpuQuota"), q.cpu_quota.as_ref(), Cpu),
            (f("cpuLimit"), q.cpu_limit.as_ref(), Cpu),
            (f("memoryQuota"), q.memory_quota.as_ref(), Bytes),
            (f("memoryLimit"), q.memory_limit.as_ref(), Bytes),
            (
                f("ephemeralStorageQuota"),
                q.ephemeral_storage_quota.as_ref(),
                Bytes,
            ),
            (f("storageQuota"), q.storage_quota.as_ref(), Bytes),
        ]);
    }
    if let Some(l) = &spec.limits {
        let f = |n: &str| format!("spec.limits.{n}");
        v.extend([
            (f("podCpuLimit"), l.pod_cpu_limit.as_ref(), Cpu),
            (f("podMemoryLimit"), l.pod_memory_limit.as_ref(), Bytes),
            (f("podCpuRequest"), l.pod_cpu_request.as_ref(), Cpu),
            (f("podMemoryRequest"), l.pod_memory_request.as_ref(), Bytes),
            (f("containerCpuLimit"), l.container_cpu_limit.as_ref(), Cpu),
            (
                f("containerMemoryLimit"),
                l.container_memory_limit.as_ref(),
                Bytes,
            ),
            (f("burstCpu"), l.burst_cpu.as_ref(), Cpu),
            (f("burstMemory"), l.burst_memory.as_ref(), Bytes),
            (
                f("ephemeralStorageLimit"),
                l.ephemeral_storage_limit.as_ref(),
                Bytes,
            ),
        ]);
    }
    for (svc, s) in spec.service_settings.iter().flatten() {
        let f = |n: &str| format!("spec.serviceSettings.{svc}.{n}");
        v.extend([
            (f("cpuRequest"), s.cpu_request.as_ref(), Cpu),
            (f("memoryRequest"), s.memory_request.as_ref(), Bytes),
            (f("cpuLimit"), s.cpu_limit.as_ref(), Cpu),
            (f("memoryLimit"), s.memory_limit.as_ref(), Bytes),
        ]);
    }
    v
}
