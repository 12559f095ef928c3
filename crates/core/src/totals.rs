//! Quota totals per resource across tenants, and how they compare
//! with the cluster's capacity.
//!
//! The totals are read from the ResourceQuotas the builders render, so they are exactly what the
//! operator would enforce. When one tenant has several quotas naming the same key, the tightest
//! one bounds it. A tenant with no quota on a key is counted as unbounded for that key: its share
//! of the total is unknown, and the report says so rather than pretend it is zero.

use crate::build::{BuildContext, BuildError, tenant_objects};
use crate::quantity::Quantity;
use serde::Serialize;
use std::collections::BTreeMap;
use tenant_api::Tenant;

/// The share of capacity above which quotas are considered overcommitted (the usual advice is to
/// allocate at most 70-80% of capacity; see docs/field-origins.md).
pub const WARN_RATIO: f64 = 0.8;

/// Capacity keys and the quota keys they are compared with. Only requests are held against
/// capacity: the scheduler places pods by their requests, and limits above capacity are ordinary
/// overcommit (their totals are still reported).
pub const CAPACITY_KEYS: [(&str, &[&str]); 5] = [
    ("cpu", &["requests.cpu"]),
    ("memory", &["requests.memory"]),
    ("storage", &["requests.storage"]),
    ("ephemeral-storage", &["requests.ephemeral-storage"]),
    ("pods", &["pods"]),
];

/// One quota key summed over tenants.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct KeyTotal {
    /// The sum, canonically formatted (e.g. `350`, `896Gi`).
    pub total: String,
    /// How many tenants set this key.
    pub tenants: usize,
    /// tenantId/environment of the tenants that do not bound this key.
    pub unbounded: Vec<String>,
    /// The capacity compared against, when given.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub capacity: Option<String>,
    /// total / capacity, when a capacity was given.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ratio: Option<f64>,
}

/// The result of [`calculate_total_quota`].
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Totals {
    /// tenantId/environment of every tenant counted.
    pub tenants: Vec<String>,
    /// Sum of requests.cpu.
    pub total_cpu_quota: String,
    /// Sum of requests.memory.
    pub total_memory_quota: String,
    /// Every quota key.
    pub totals: BTreeMap<String, KeyTotal>,
    /// Human-readable warnings (over 80% of capacity, unbounded tenants against a capacity).
    pub warnings: Vec<String>,
}

/// Why the totals could not be computed.
#[derive(Debug, thiserror::Error)]
pub enum TotalsError {
    #[error("tenant {tenant}: {source}")]
    Build {
        tenant: String,
        #[source]
        source: BuildError,
    },
    #[error("tenant {tenant}: quota {key} = {value:?} is not a quantity")]
    Quantity {
        tenant: String,
        key: String,
        value: String,
    },
    #[error("capacity {key}: {message}")]
    Capacity { key: String, message: String },
}

/// Parses `cpu=100,memory=512Gi,storage=10Ti,pods=1000` into capacity quantities.
pub fn parse_capacity(spec: &str) -> Result<BTreeMap<String, Quantity>, TotalsError> {
    let mut out = BTreeMap::new();
    for part in spec.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let (key, value) = part.split_once('=').ok_or_else(|| TotalsError::Capacity {
            key: part.to_string(),
            message: "expected key=quantity".into(),
        })?;
        if !CAPACITY_KEYS.iter().any(|(k, _)| *k == key) {
            return Err(TotalsError::Capacity {
                key: key.to_string(),
                message: format!(
                    "unknown key; expected one of {}",
                    CAPACITY_KEYS.map(|(k, _)| k).join(", ")
                ),
            });
        }
        let q = Quantity::parse(value).map_err(|e| TotalsError::Capacity {
            key: key.to_string(),
            message: e.to_string(),
        })?;
        if q <= Quantity::ZERO {
            return Err(TotalsError::Capacity {
                key: key.to_string(),
                message: "must be positive".into(),
            });
        }
        out.insert(key.to_string(), q);
    }
    Ok(out)
}

/// The tightest hard limit per quota key of one tenant, from its rendered ResourceQuotas.
pub fn tenant_hard_limits(
    tenant: &Tenant,
    ctx: &BuildContext,
) -> Result<BTreeMap<String, Quantity>, TotalsError> {
    let id = tenant_label(tenant);
    let objects = tenant_objects(tenant, ctx).map_err(|source| TotalsError::Build {
        tenant: id.clone(),
        source,
    })?;
    let mut hard: BTreeMap<String, Quantity> = BTreeMap::new();
    for obj in objects.iter().filter(|o| o.kind == "ResourceQuota") {
        let Some(map) = obj
            .manifest
            .pointer("/spec/hard")
            .and_then(|h| h.as_object())
        else {
            continue;
        };
        for (key, value) in map {
            let text = value
                .as_str()
                .map(str::to_string)
                .unwrap_or_else(|| value.to_string());
            let q = Quantity::parse(&text).map_err(|_| TotalsError::Quantity {
                tenant: id.clone(),
                key: key.clone(),
                value: text.clone(),
            })?;
            hard.entry(key.clone())
                .and_modify(|cur| *cur = (*cur).min(q))
                .or_insert(q);
        }
    }
    Ok(hard)
}

fn tenant_label(t: &Tenant) -> String {
    format!(
        "{}/{}",
        t.spec.tenant_id,
        crate::naming::environment(&t.spec)
    )
}

/// Sums every quota key over the tenants and compares with `capacity`. A tenant that gets the
/// platform's default compute quota (`compute`) is counted with it, as the operator enforces it.
pub fn calculate_total_quota(
    tenants: &[Tenant],
    capacity: &BTreeMap<String, Quantity>,
    compute: &crate::presets::ComputeDefaults,
) -> Result<Totals, TotalsError> {
    let ctx = BuildContext {
        other_tenants: tenants,
        compute_defaults: compute,
        ..BuildContext::default()
    };
    let mut per_tenant = Vec::with_capacity(tenants.len());
    for t in tenants {
        per_tenant.push((tenant_label(t), tenant_hard_limits(t, &ctx)?));
    }
    let mut keys: Vec<String> = per_tenant
        .iter()
        .flat_map(|(_, h)| h.keys().cloned())
        .collect();
    for (_, quota_keys) in CAPACITY_KEYS {
        if quota_keys
            .iter()
            .any(|k| capacity.contains_key(capacity_key_of(k)))
        {
            keys.extend(quota_keys.iter().map(|k| k.to_string()));
        }
    }
    keys.sort();
    keys.dedup();

    let mut totals = BTreeMap::new();
    let mut warnings = Vec::new();
    for key in keys {
        let mut sum = Quantity::ZERO;
        let mut count = 0;
        let mut unbounded = Vec::new();
        for (label, hard) in &per_tenant {
            match hard.get(&key) {
                Some(q) => {
                    sum = sum.checked_add(*q).ok_or_else(|| TotalsError::Quantity {
                        tenant: label.clone(),
                        key: key.clone(),
                        value: "overflow".into(),
                    })?;
                    count += 1;
                }
                None => unbounded.push(label.clone()),
            }
        }
        let cap = capacity.get(capacity_key_of(&key)).copied();
        let ratio = cap.map(|c| sum.as_f64() / c.as_f64());
        if let (Some(c), Some(r)) = (cap, ratio) {
            if r > WARN_RATIO {
                warnings.push(format!(
                    "{key}: tenants' quotas total {sum} = {:.0}% of capacity {c} (above {:.0}%)",
                    r * 100.0,
                    WARN_RATIO * 100.0
                ));
            }
            if !unbounded.is_empty() {
                warnings.push(format!(
                    "{key}: {} tenant(s) have no quota on it ({}), so the total understates what they may use",
                    unbounded.len(),
                    unbounded.join(", ")
                ));
            }
        }
        totals.insert(
            key,
            KeyTotal {
                total: sum.to_canonical(),
                tenants: count,
                unbounded,
                capacity: cap.map(|c| c.to_canonical()),
                ratio,
            },
        );
    }
    let total_of = |k: &str| {
        totals
            .get(k)
            .map(|t: &KeyTotal| t.total.clone())
            .unwrap_or_else(|| "0".into())
    };
    Ok(Totals {
        tenants: per_tenant.iter().map(|(l, _)| l.clone()).collect(),
        total_cpu_quota: total_of("requests.cpu"),
        total_memory_quota: total_of("requests.memory"),
        totals,
        warnings,
    })
}

/// The capacity key a quota key is compared with (`limits.cpu` -> `cpu`).
fn capacity_key_of(quota_key: &str) -> &str {
    CAPACITY_KEYS
        .iter()
        .find(|(_, keys)| keys.contains(&quota_key))
        .map(|(k, _)| *k)
        .unwrap_or("")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn capacity_parsing() {
        let c = parse_capacity("cpu=100, memory=512Gi").unwrap_or_default();
        assert_eq!(c["cpu"], Quantity::parse("100").unwrap_or_default());
        assert!(parse_capacity("gpu=1").is_err());
        assert!(parse_capacity("cpu").is_err());
        assert!(parse_capacity("cpu=lots").is_err());
        assert!(parse_capacity("cpu=0").is_err());
    }

    #[test]
    fn capacity_keys_map_quota_keys() {
        assert_eq!(capacity_key_of("requests.cpu"), "cpu");
        assert_eq!(capacity_key_of("limits.cpu"), "", "limits may overcommit");
        assert_eq!(capacity_key_of("requests.storage"), "storage");
        assert_eq!(capacity_key_of("count/jobs.batch"), "");
    }

    /// The service-type keys as the presets set them: a standard tenant's load balancers take no
    /// node port (the services policy), so its `services.nodeports` 0 is a real bound.
    #[test]
    fn service_type_keys_follow_the_presets() {
        use tenant_api::{IsolationLevel, IsolationSpec, TenantSpec, TenantType};
        let tenants: Vec<Tenant> = IsolationLevel::ALL
            .iter()
            .map(|level| {
                let id = level.as_str();
                let mut spec = TenantSpec::new(id, TenantType::Production);
                spec.isolation = Some(IsolationSpec {
                    isolation_level: Some(*level),
                    ..Default::default()
                });
                Tenant::new(id, spec)
            })
            .collect();
        let Ok(t) = calculate_total_quota(&tenants, &BTreeMap::new(), &Default::default()) else {
            unreachable!("the presets render");
        };
        let node_ports = &t.totals["services.nodeports"];
        assert_eq!(
            (node_ports.total.as_str(), node_ports.tenants),
            ("0", 2),
            "strict and standard"
        );
        assert_eq!(node_ports.unbounded, ["permissive/production"]);
        let lbs = &t.totals["services.loadbalancers"];
        assert_eq!((lbs.total.as_str(), lbs.tenants), ("0", 1), "strict");
        assert_eq!(
            lbs.unbounded,
            ["standard/production", "permissive/production"]
        );
    }
}
