//! The standard tenant dashboard (Grafana JSON, schema 39): the tenant's pods' CPU and memory,
//! its quota use, its services' request rate, error ratio and p99 latency, and its cost and
//! budget from the operator's metrics. Every query names the tenant namespace; the data source
//! is a variable (`datasource`, type prometheus), so it works with whatever the platform's
//! Prometheus data source is called.

use crate::presets::Effective;
use serde_json::{Value, json};

fn panel(id: u32, title: &str, unit: &str, (x, y): (u32, u32), targets: &[(&str, &str)]) -> Value {
    let targets: Vec<Value> = targets
        .iter()
        .enumerate()
        .map(|(i, (expr, legend))| {
            json!({
                "datasource": {"type": "prometheus", "uid": "${datasource}"},
                "expr": expr,
                "legendFormat": legend,
                "refId": char::from(b'A' + u8::try_from(i).unwrap_or(0)).to_string(),
            })
        })
        .collect();
    json!({
        "id": id,
        "type": "timeseries",
        "title": title,
        "datasource": {"type": "prometheus", "uid": "${datasource}"},
        "gridPos": {"h": 8, "w": 12, "x": x, "y": y},
        "fieldConfig": {"defaults": {"unit": unit}, "overrides": []},
        "options": {"legend": {"displayMode": "list", "placement": "bottom"}},
        "targets": targets,
    })
}

/// The dashboard of one tenant.
pub fn standard(eff: &Effective) -> Value {
    let ns = &eff.namespace;
    let id = &eff.tenant_id;
    let sel = format!("namespace=\"{ns}\"");
    let panels = vec![
        panel(
            1,
            "CPU by pod",
            "short",
            (0, 0),
            &[(
                &format!(
                    "sum by (pod) (rate(container_cpu_usage_seconds_total{{{sel},container!=\"\"}}[5m]))"
                ),
                "{{pod}}",
            )],
        ),
        panel(
            2,
            "Memory by pod",
            "bytes",
            (12, 0),
            &[(
                &format!(
                    "sum by (pod) (container_memory_working_set_bytes{{{sel},container!=\"\"}})"
                ),
                "{{pod}}",
            )],
        ),
        panel(
            3,
            "Quota used",
            "percentunit",
            (0, 8),
            &[(
                &format!(
                    "kube_resourcequota{{{sel},type=\"used\"}} / ignoring(type) (kube_resourcequota{{{sel},type=\"hard\"}} > 0)"
                ),
                "{{resource}}",
            )],
        ),
        panel(
            4,
            "Requests per second by service",
            "reqps",
            (12, 8),
            &[(
                &format!("sum by (service) (rate(http_requests_total{{{sel}}}[5m]))"),
                "{{service}}",
            )],
        ),
        panel(
            5,
            "5xx ratio by service",
            "percentunit",
            (0, 16),
            &[(
                &format!(
                    "sum by (service) (rate(http_requests_total{{{sel},code=~\"5..\"}}[5m])) / sum by (service) (rate(http_requests_total{{{sel}}}[5m]))"
                ),
                "{{service}}",
            )],
        ),
        panel(
            6,
            "p99 latency by service",
            "s",
            (12, 16),
            &[(
                &format!(
                    "histogram_quantile(0.99, sum by (service, le) (rate(http_request_duration_seconds_bucket{{{sel}}}[5m])))"
                ),
                "{{service}}",
            )],
        ),
        panel(
            7,
            "Cost per hour and month to date",
            "short",
            (0, 24),
            &[
                (
                    &format!("tenant_operator_tenant_hourly_cost{{{sel}}}"),
                    "per hour",
                ),
                (
                    &format!("tenant_operator_tenant_cost_month_to_date{{{sel}}}"),
                    "month to date",
                ),
            ],
        ),
        panel(
            8,
            "Budget used",
            "percentunit",
            (12, 24),
            &[(
                &format!("tenant_operator_tenant_budget_used_ratio{{{sel}}}"),
                "budget used",
            )],
        ),
    ];
    json!({
        "uid": format!("tenant-{}", short_uid(ns)),
        "title": format!("Tenant {id} ({ns})"),
        "tags": ["tenant", id],
        "timezone": "utc",
        "schemaVersion": 39,
        "version": 1,
        "editable": false,
        "time": {"from": "now-6h", "to": "now"},
        "refresh": "1m",
        "templating": {"list": [{
            "name": "datasource",
            "label": "Data source",
            "type": "datasource",
            "query": "prometheus",
            "current": {},
            "hide": 0,
        }]},
        "panels": panels,
    })
}

/// Grafana uids are at most 40 characters: the namespace (a DNS label, up to 63) cut to fit
/// with a hash of the whole, so two long namespaces never share one.
fn short_uid(ns: &str) -> String {
    if ns.len() <= 32 {
        return ns.to_string();
    }
    let hash = ns.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    });
    format!("{}-{:06x}", &ns[..25], hash & 0xff_ffff)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn uids_fit_grafanas_limit_and_differ() {
        let a = short_uid(&"a".repeat(63));
        let b = short_uid(&format!("{}b", "a".repeat(62)));
        assert!(a.len() <= 32 && b.len() <= 32, "{a} {b}");
        assert_ne!(a, b);
        assert_eq!(
            short_uid("tenant-acme-production"),
            "tenant-acme-production"
        );
    }
}
