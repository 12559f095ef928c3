//! SLO alerts (`monitoring.sloEnabled`; a `targetAvailability` or `targetLatency` set without
//! `sloEnabled` turns them on too, so a target is never silently ignored; `sloEnabled: false`
//! turns them off).
//!
//! **Availability** (`targetAvailability`, default 0.99 once SLOs are on): multi-window burn-rate
//! alerts on the error budget `1 - target`, per service, from the request counter the tenant's
//! services expose on `/metrics`:
//!
//! - `http_requests_total` with a `code` label (the HTTP status; `5..` counts as an error).
//!
//! `TenantErrorBudgetBurn` (critical) when the error ratio is over 14.4 times the budget over 1 h
//! and 5 m, or over 6 times over 6 h and 30 m (2 % or 5 % of a 30-day budget gone);
//! `TenantErrorBudgetBurnSlow` (warning) over 3 times over 1 d and 2 h, or once over 3 d and 6 h.
//! The short window makes an alert stop soon after the errors do. With a target of 1 the budget
//! is 0 and any sustained error fires.
//!
//! **Latency** (`targetLatency`): `TenantLatencyHigh` (warning) when a service's p99 over 5 m,
//! from the histogram `http_request_duration_seconds_bucket` (label `le`), is above the target
//! for 10 m.
//!
//! The series carry `namespace` and `service` as prometheus-operator's ServiceMonitor scrape
//! sets them; every selector names the tenant namespace.

use super::number;
use crate::build::BuildError;
use crate::presets::Effective;
use serde_json::{Value, json};
use tenant_api::MonitoringSpec;

/// The request counter and latency histogram the tenant's services are expected to expose.
pub const REQUESTS: &str = "http_requests_total";
pub const LATENCY_BUCKETS: &str = "http_request_duration_seconds_bucket";
/// `targetAvailability` when SLOs are on and it is unset.
pub const DEFAULT_AVAILABILITY: f64 = 0.99;

/// Burn-rate windows: (long, short, factor) per alert.
const FAST: [(&str, &str, f64); 2] = [("1h", "5m", 14.4), ("6h", "30m", 6.0)];
const SLOW: [(&str, &str, f64); 2] = [("1d", "2h", 3.0), ("3d", "6h", 1.0)];

/// Whether the tenant's SLO alerts are on.
pub fn enabled(m: &MonitoringSpec) -> bool {
    match m.slo_enabled {
        Some(on) => on,
        None => m.target_availability.is_some() || m.target_latency.is_some(),
    }
}

/// The SLO rules (empty when SLOs are off).
pub(super) fn rules(
    eff: &Effective,
    m: &MonitoringSpec,
    labels: &dyn Fn(&str) -> Value,
) -> Result<Vec<Value>, BuildError> {
    if !enabled(m) {
        return Ok(Vec::new());
    }
    let ns = &eff.namespace;
    let tenant = &eff.tenant_id;
    let mut out = Vec::new();
    let target = match m.target_availability {
        None => DEFAULT_AVAILABILITY,
        Some(t) if t.is_finite() && t > 0.0 && t <= 1.0 => t,
        Some(t) => {
            return Err(BuildError::Invalid {
                field: "spec.monitoring.targetAvailability".into(),
                message: format!("{t} must be greater than 0 and at most 1"),
            });
        }
    };
    let budget = number(1.0 - target);
    let ratio = |w: &str| {
        format!(
            "(sum by (service) (rate({REQUESTS}{{namespace=\"{ns}\",code=~\"5..\"}}[{w}])) \
             / sum by (service) (rate({REQUESTS}{{namespace=\"{ns}\"}}[{w}])))"
        )
    };
    let burn = |windows: &[(&str, &str, f64)]| {
        windows
            .iter()
            .map(|(long, short, factor)| {
                let limit = format!("{} * {budget}", number(*factor));
                format!(
                    "({} > ({limit}) and {} > ({limit}))",
                    ratio(long),
                    ratio(short)
                )
            })
            .collect::<Vec<_>>()
            .join(" or ")
    };
    let pct = number(target * 100.0);
    out.push(json!({
        "alert": "TenantErrorBudgetBurn",
        "expr": burn(&FAST),
        "for": "2m",
        "labels": labels("critical"),
        "annotations": {
            "summary": format!("Service {{{{ $labels.service }}}} of tenant {tenant} is burning its error budget fast."),
            "description": format!(
                "The 5xx ratio of {{{{ $labels.service }}}} in {ns} would use up the {pct} % availability target's \
                 error budget (monitoring.targetAvailability) within days at this rate."
            ),
        },
    }));
    out.push(json!({
        "alert": "TenantErrorBudgetBurnSlow",
        "expr": burn(&SLOW),
        "for": "15m",
        "labels": labels("warning"),
        "annotations": {
            "summary": format!("Service {{{{ $labels.service }}}} of tenant {tenant} is using its error budget faster than it lasts."),
            "description": format!(
                "The 5xx ratio of {{{{ $labels.service }}}} in {ns} exceeds what the {pct} % availability target \
                 (monitoring.targetAvailability) allows over days."
            ),
        },
    }));
    if let Some(latency) = &m.target_latency {
        let seconds = latency_seconds(latency).ok_or_else(|| BuildError::Invalid {
            field: "spec.monitoring.targetLatency".into(),
            message: format!("{latency:?} must be a duration in ms or s, such as 100ms"),
        })?;
        out.push(json!({
            "alert": "TenantLatencyHigh",
            "expr": format!(
                "histogram_quantile(0.99, sum by (service, le) (rate({LATENCY_BUCKETS}{{namespace=\"{ns}\"}}[5m]))) > {}",
                number(seconds)
            ),
            "for": "10m",
            "labels": labels("warning"),
            "annotations": {
                "summary": format!("Service {{{{ $labels.service }}}} of tenant {tenant} answers slower than {latency} at p99."),
                "description": format!(
                    "The p99 request latency of {{{{ $labels.service }}}} in {ns} is {{{{ $value | humanizeDuration }}}}, \
                     over the target {latency} (monitoring.targetLatency)."
                ),
            },
        }));
    }
    Ok(out)
}

/// `100ms` / `2s` in seconds.
fn latency_seconds(s: &str) -> Option<f64> {
    let (digits, scale) = if let Some(d) = s.strip_suffix("ms") {
        (d, 0.001)
    } else {
        (s.strip_suffix('s')?, 1.0)
    };
    if digits.is_empty() || !digits.chars().all(|c| c.is_ascii_digit()) {
        return None;
    }
    let v: f64 = digits.parse().ok()?;
    Some(v * scale).filter(|v| *v > 0.0 && v.is_finite())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn latencies_read_as_seconds() {
        assert_eq!(latency_seconds("100ms"), Some(0.1));
        assert_eq!(latency_seconds("2s"), Some(2.0));
        for bad in ["", "ms", "1.5s", "-1s", "10m", "0ms", "s"] {
            assert_eq!(latency_seconds(bad), None, "{bad}");
        }
    }

    #[test]
    fn a_target_turns_slos_on_unless_they_are_off() {
        let mut m = MonitoringSpec::default();
        assert!(!enabled(&m));
        m.target_latency = Some("100ms".into());
        assert!(enabled(&m));
        m.slo_enabled = Some(false);
        assert!(!enabled(&m));
        let on = MonitoringSpec {
            slo_enabled: Some(true),
            ..Default::default()
        };
        assert!(enabled(&on));
    }
}
