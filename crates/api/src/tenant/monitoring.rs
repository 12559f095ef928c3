//! `spec.monitoring`: metrics, logs, alerts, SLOs and dashboards.

use kube::KubeSchema;
use serde::{Deserialize, Serialize};

/// Metrics, logs, alerts, SLOs and dashboards.
#[serde_with::skip_serializing_none]
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct MonitoringSpec {
    /// Scrape the tenant's services (a ServiceMonitor `tenant-services` on their `http` port's `/metrics`, when the tenant has services). Default true.
    pub metrics_enabled: Option<bool>,
    /// Metrics retention (e.g. `30d`): recorded as the namespace annotation `shop.pilab.hu/metrics-retention` for a metrics backend with per-tenant retention (Prometheus itself has one retention for all).
    #[x_kube(validation = Rule::new("self.matches('^([0-9]+(s|m|h|d|w|y))+$')").message("must be a duration such as 30d"))]
    #[schemars(length(max = 32))]
    pub metrics_retention: Option<String>,
    /// Collect logs centrally: labels the namespace `shop.pilab.hu/logging=enabled` (or `disabled`) for the log collector to select on.
    pub logging_enabled: Option<bool>,
    /// Log level passed to the services (`LOG_LEVEL`).
    pub log_level: Option<LogLevel>,
    /// Log retention (e.g. `7d`): recorded as the namespace annotation `shop.pilab.hu/log-retention` for the log backend.
    #[x_kube(validation = Rule::new("self.matches('^([0-9]+(s|m|h|d|w|y))+$')").message("must be a duration such as 7d"))]
    #[schemars(length(max = 32))]
    pub log_retention: Option<String>,
    /// Log format passed to the services (`LOG_FORMAT`): json or text.
    pub log_format: Option<LogFormat>,
    /// Alert rules for the tenant (PrometheusRule `tenant-alerts`: quota, SLO and budget alerts) and their routing. Default true.
    pub alerting_enabled: Option<bool>,
    /// E-mail addresses the tenant's alerts are sent to (an AlertmanagerConfig `tenant-alerts` in the tenant namespace).
    #[schemars(length(max = 16))]
    pub alert_receivers: Option<Vec<String>>,
    /// Availability and latency SLO alerts (burn rate on `http_requests_total`, p99 of `http_request_duration_seconds`). Unset: on when a target is set.
    pub slo_enabled: Option<bool>,
    /// Target availability (0-1), e.g. 0.99 (the default once SLOs are on).
    #[x_kube(validation = Rule::new("self > 0.0 && self <= 1.0").message("must be greater than 0 and at most 1"))]
    pub target_availability: Option<f64>,
    /// Target p99 request latency (e.g. `100ms`, `1s`).
    #[x_kube(validation = Rule::new("self.matches('^[0-9]+(ms|s)$')").message("must be a duration in ms or s, such as 100ms"))]
    #[schemars(length(max = 16))]
    pub target_latency: Option<String>,
    /// Provision the standard tenant dashboard (ConfigMap `tenant-dashboard` labelled `grafana_dashboard: "1"` for Grafana's sidecar). Unset: only the custom dashboards; false: none.
    pub dashboards_enabled: Option<bool>,
    /// Extra dashboards (Grafana JSON), one ConfigMap `tenant-dashboard-<name>` each.
    #[schemars(length(max = 16))]
    pub custom_dashboards: Option<Vec<CustomDashboard>>,
}

/// Log levels.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, schemars::JsonSchema)]
pub enum LogLevel {
    Debug,
    Info,
    Warn,
    Error,
}

/// Log formats.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    Json,
    Text,
}

/// A Grafana dashboard.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct CustomDashboard {
    /// Dashboard name (a DNS label; names the ConfigMap).
    #[x_kube(validation = Rule::new("self.matches('^[a-z0-9]([-a-z0-9]*[a-z0-9])?$')").message("must be a DNS label"))]
    #[schemars(length(min = 1, max = 40))]
    pub name: String,
    /// Dashboard JSON.
    #[schemars(length(max = 262144))]
    pub json: String,
}
