//! The tenant's monitoring objects (prometheus-operator kinds and Grafana dashboards), all in the
//! tenant namespace and all selecting only that namespace:
//!
//! - `PrometheusRule tenant-alerts` (`alertingEnabled`, default true): the quota alerts below,
//!   the SLO alerts ([`slo`]) and the budget alerts ([`budget_rules`]);
//! - `ServiceMonitor tenant-services` (`metricsEnabled`, default true) when the tenant has
//!   services: their `http` port's `/metrics`, with sample and target limits;
//! - `AlertmanagerConfig tenant-alerts` when `alertReceivers` is set: an e-mail receiver per
//!   address for the tenant's alerts (prometheus-operator confines it to the namespace);
//! - Grafana dashboards as ConfigMaps labelled `grafana_dashboard: "1"` (the sidecar's default):
//!   `tenant-dashboard` with `dashboardsEnabled: true`, and `tenant-dashboard-<name>` per
//!   `customDashboards` entry unless `dashboardsEnabled` is false.
//!
//! Quota alerts:
//! Rules: quota usage, from kube-state-metrics' `kube_resourcequota` series (`type="used"` and
//! `type="hard"`, per `resourcequota` and `resource`): `TenantQuotaAlmostFull` (warning) from
//! 80 % up to 100 % of a hard limit, `TenantQuotaFull` (critical) at 100 % and above, when the
//! API server starts refusing what needs more. The warning stops where the critical alert starts,
//! so a resource is never reported by both at once (in between, the critical alert is pending for
//! its `for:`). One alert per quota and resource, since the series carry both as labels. Hard limits of 0 (e.g. `services.nodeports` where NodePorts are forbidden) are
//! dropped before the division: they cannot fill up and would divide by zero. No quota (or one of
//! nothing but zero limits), no rule.
//!
//! Every selector names the tenant's namespace and quota objects, so a rule sees only the
//! tenant's own series even where Prometheus evaluates it without prometheus-operator's
//! `enforcedNamespaceLabel`. This assumes kube-state-metrics is scraped with `honorLabels: true`
//! (as kube-prometheus and kube-prometheus-stack do): otherwise the series' `namespace` label is
//! the scrape target's and the quota's namespace becomes `exported_namespace`.
//!
//! Routing: every alert carries `severity`, `tenant` (the tenant id), `environment` and
//! `namespace`, so the platform's Alertmanager can route and group per tenant. With
//! `monitoring.alertReceivers` set, alerts also carry `notify: tenant`: a platform route
//! matching it (grouped by `tenant`, `environment`) sends them on to the tenant's receivers;
//! without it they stay with the platform. The addresses are not put into the rule: Prometheus
//! expands templates in labels and annotations, and a receiver containing `{{` would make the
//! whole rule file fail to load.

mod dashboard;
mod slo;

use crate::build::namespace::object_meta;
use crate::build::{BuildContext, BuildError, quota};
use crate::naming::names;
use crate::object::{Object, ObjectError};
use crate::presets::Effective;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use serde_json::{Value, json};
use std::collections::BTreeMap;
use tenant_api::{Tenant, labels};

pub const API_VERSION: &str = "monitoring.coreos.com/v1";
pub const KIND: &str = "PrometheusRule";

/// The label alerts get when the tenant has alert receivers, and its value.
pub const NOTIFY_LABEL: &str = "notify";
pub const NOTIFY_TENANT: &str = "tenant";

/// Percentage of a hard limit from which the warning fires.
const WARNING_PERCENT: u8 = 80;
/// How long a quota must stay that full before the alert fires. Usage moves in steps (an object
/// created or deleted), so there is no flapping to wait out; the warning waits longer so that a
/// short burst (a rollout's surge pods) does not notify anyone.
const WARNING_FOR: &str = "15m";
const CRITICAL_FOR: &str = "5m";

/// The tenant's monitoring objects (see the module docs), in apply order.
pub fn build(
    tenant: &Tenant,
    eff: &Effective,
    ctx: &BuildContext,
) -> Result<Vec<Object>, BuildError> {
    let monitoring = tenant.spec.monitoring.clone().unwrap_or_default();
    // Everything put into PromQL or into a (templated) label value must be plain: validation
    // guarantees DNS labels, this makes a bypass an error instead of a rule file that breaks.
    promql_safe("spec.tenantId", &eff.tenant_id)?;
    promql_safe("spec.environment", &eff.environment)?;
    promql_safe("spec.namespaceConfig", &eff.namespace)?;
    let mut out = Vec::new();
    if monitoring.alerting_enabled != Some(false) {
        out.extend(alert_rules(tenant, eff, ctx, &monitoring)?);
    }
    if monitoring.metrics_enabled != Some(false)
        && tenant.spec.services.as_ref().is_some_and(|s| !s.is_empty())
    {
        out.push(service_monitor(tenant, eff)?);
    }
    let receivers = monitoring.alert_receivers.clone().unwrap_or_default();
    let billing_email = tenant
        .spec
        .billing
        .as_ref()
        .and_then(|b| b.billing_email.clone())
        .filter(|e| !e.trim().is_empty());
    if monitoring.alerting_enabled != Some(false)
        && (!receivers.is_empty() || billing_email.is_some())
    {
        out.push(alert_routing(
            tenant,
            eff,
            &receivers,
            billing_email.as_deref(),
        )?);
    }
    out.extend(dashboards(tenant, eff, &monitoring)?);
    Ok(out)
}

fn metadata_value(meta: &ObjectMeta, kind: &str, name: &str) -> Result<Value, BuildError> {
    Ok(serde_json::to_value(meta).map_err(|source| ObjectError {
        kind: kind.into(),
        name: name.into(),
        source,
    })?)
}

/// The `PrometheusRule`: quota, SLO and budget groups; nothing when none applies.
fn alert_rules(
    tenant: &Tenant,
    eff: &Effective,
    ctx: &BuildContext,
    monitoring: &tenant_api::MonitoringSpec,
) -> Result<Vec<Object>, BuildError> {
    // Only quotas with a limit that can fill up: a quota of nothing but zeros (NodePorts and
    // LoadBalancers forbidden by the isolation level) would give a rule that never fires.
    let quota_names: Vec<String> = quota::quotas(tenant, eff, ctx)?
        .into_iter()
        .filter(|q| {
            q.spec
                .iter()
                .flat_map(|s| s.hard.iter().flatten())
                .any(|(_, v)| crate::quantity::Quantity::parse(&v.0).is_ok_and(|q| !q.is_zero()))
        })
        .filter_map(|q| q.metadata.name)
        .collect();
    for name in &quota_names {
        promql_safe("ResourceQuota name", name)?;
    }
    let notify = !monitoring
        .alert_receivers
        .as_ref()
        .is_none_or(|r| r.is_empty());
    let labels = |severity: &str| alert_labels(eff, severity, notify);
    let mut groups = Vec::new();
    if !quota_names.is_empty() {
        groups.push(
            json!({ "name": "tenant-quota", "rules": quota_rules(eff, &quota_names, notify) }),
        );
    }
    let slo_rules = slo::rules(eff, monitoring, &labels)?;
    if !slo_rules.is_empty() {
        groups.push(json!({ "name": "tenant-slo", "rules": slo_rules }));
    }
    let budget = budget_rules(tenant, eff, &labels);
    if !budget.is_empty() {
        groups.push(json!({ "name": "tenant-budget", "rules": budget }));
    }
    if groups.is_empty() {
        return Ok(Vec::new());
    }
    let meta = object_meta(tenant, eff, names::ALERT_RULES);
    Ok(vec![Object::from_value(json!({
        "apiVersion": API_VERSION,
        "kind": KIND,
        "metadata": metadata_value(&meta, KIND, names::ALERT_RULES)?,
        "spec": { "groups": groups },
    }))])
}

/// The labels every tenant alert carries (see "Routing" in the module docs).
fn alert_labels(eff: &Effective, severity: &str, notify: bool) -> Value {
    let mut l = json!({
        "severity": severity,
        "tenant": eff.tenant_id,
        "environment": eff.environment,
        "namespace": eff.namespace,
    });
    if notify {
        l[NOTIFY_LABEL] = json!(NOTIFY_TENANT);
    }
    l
}

/// The operator's metric of a tenant's budget use (month to date over `monthlyBudget`), selected
/// by the tenant namespace label the operator puts on it.
pub const BUDGET_METRIC: &str = "tenant_operator_tenant_budget_used_ratio";
/// The operator's metric of a tenant's forecast month over its budget.
pub const FORECAST_METRIC: &str = "tenant_operator_tenant_budget_forecast_ratio";

/// Budget alerts from the operator's own metrics, for a tenant with a `monthlyBudget`:
/// `TenantBudgetOverThreshold` (warning) from `budgetAlertThreshold` (default 0.8) to 1,
/// `TenantBudgetForecastOverThreshold` (warning) while the month's forecast is over the
/// threshold and the month to date is not yet, `TenantBudgetExceeded` (critical) above 1. The operator's ServiceMonitor keeps the metric's
/// `namespace` label (`honorLabels`), so the selector names the tenant namespace like every other
/// selector here.
fn budget_rules(tenant: &Tenant, eff: &Effective, labels: &dyn Fn(&str) -> Value) -> Vec<Value> {
    let Some(b) = tenant.spec.billing.as_ref() else {
        return Vec::new();
    };
    if crate::cost::sane(b.monthly_budget).is_none_or(|v| v <= 0.0) {
        return Vec::new();
    }
    let threshold = crate::cost::sane(b.budget_alert_threshold)
        .filter(|t| *t <= 1.0)
        .unwrap_or(crate::cost::DEFAULT_THRESHOLD);
    let series = format!("{BUDGET_METRIC}{{namespace=\"{}\"}}", eff.namespace);
    let forecast = format!("{FORECAST_METRIC}{{namespace=\"{}\"}}", eff.namespace);
    let tenant_id = &eff.tenant_id;
    let pct = (threshold * 100.0).round();
    let mut out = Vec::new();
    if threshold < 1.0 {
        out.push(json!({
            "alert": "TenantBudgetOverThreshold",
            "expr": format!("{series} >= {} < 1", number(threshold)),
            "for": "5m",
            "labels": labels("warning"),
            "annotations": {
                "summary": format!("Tenant {tenant_id} has used {pct} % or more of its monthly budget."),
                "description": format!(
                    "Tenant {tenant_id} (namespace {ns}) has spent {{{{ $value | humanizePercentage }}}} of its \
                     monthlyBudget this month (billing.budgetAlertThreshold is {pct} %). kubectl tenant cost shows the figures.",
                    ns = eff.namespace
                ),
            },
        }));
    }
    out.push(json!({
        "alert": "TenantBudgetForecastOverThreshold",
        "expr": format!("{forecast} >= {t} unless {series} >= {t}", t = number(threshold)),
        "for": "30m",
        "labels": labels("warning"),
        "annotations": {
            "summary": format!("Tenant {tenant_id} is forecast to spend {pct} % or more of its monthly budget."),
            "description": format!(
                "At its current hourly cost, tenant {tenant_id} (namespace {ns}) will have spent \
                 {{{{ $value | humanizePercentage }}}} of its monthlyBudget when the month ends \
                 (billing.budgetAlertThreshold is {pct} %).",
                ns = eff.namespace
            ),
        },
    }));
    out.push(json!({
        "alert": "TenantBudgetExceeded",
        "expr": format!("{series} > 1"),
        "for": "1m",
        "labels": labels("critical"),
        "annotations": {
            "summary": format!("Tenant {tenant_id} is over its monthly budget."),
            "description": format!(
                "Tenant {tenant_id} (namespace {ns}) has spent {{{{ $value | humanizePercentage }}}} of its monthlyBudget \
                 this month.{enforced}",
                ns = eff.namespace,
                enforced = if b.budget_enforcement == Some(true) {
                    " billing.budgetEnforcement is on: new pods are refused until the next month or a higher budget."
                } else {
                    ""
                }
            ),
        },
    }));
    out
}

/// A number as PromQL reads it: up to 6 decimals, no trailing zeros.
pub(crate) fn number(v: f64) -> String {
    let s = format!("{v:.6}");
    let s = s.trim_end_matches('0').trim_end_matches('.');
    if s.is_empty() || s == "-" {
        "0".to_string()
    } else {
        s.to_string()
    }
}

/// Most samples one scrape of a tenant service may return, and most targets: a tenant cannot
/// flood the platform's Prometheus (a scrape over the limit fails and `up` says so).
pub const SAMPLE_LIMIT: i64 = 20_000;
pub const TARGET_LIMIT: i64 = 200;
/// Scrape interval of the tenant's services.
pub const SCRAPE_INTERVAL: &str = "30s";

/// The `ServiceMonitor` of the tenant's services: the Services the operator runs for it (their
/// `http` port), in its namespace only.
fn service_monitor(tenant: &Tenant, eff: &Effective) -> Result<Object, BuildError> {
    let meta = object_meta(tenant, eff, names::SERVICE_MONITOR);
    let mut selector = BTreeMap::new();
    selector.insert(labels::TENANT_ID.to_string(), eff.tenant_id.clone());
    selector.insert(
        labels::APP_COMPONENT.to_string(),
        crate::build::services::COMPONENT.to_string(),
    );
    selector.insert(labels::MANAGED_BY.to_string(), labels::MANAGER.to_string());
    Ok(Object::from_value(json!({
        "apiVersion": API_VERSION,
        "kind": SERVICE_MONITOR_KIND,
        "metadata": metadata_value(&meta, SERVICE_MONITOR_KIND, names::SERVICE_MONITOR)?,
        "spec": {
            "selector": { "matchLabels": selector },
            "namespaceSelector": { "matchNames": [eff.namespace] },
            "endpoints": [{
                "port": crate::build::services::PORT_NAME,
                "path": "/metrics",
                "interval": SCRAPE_INTERVAL,
                "scrapeTimeout": "10s",
            }],
            "sampleLimit": SAMPLE_LIMIT,
            "targetLimit": TARGET_LIMIT,
        },
    })))
}

pub const SERVICE_MONITOR_KIND: &str = "ServiceMonitor";
pub const ALERTMANAGER_CONFIG_API_VERSION: &str = "monitoring.coreos.com/v1alpha1";
pub const ALERTMANAGER_CONFIG_KIND: &str = "AlertmanagerConfig";

/// The `AlertmanagerConfig` sending the tenant's alerts (label `tenant`) to its
/// `alertReceivers` by e-mail, and its budget alerts also to `billing.billingEmail`.
/// prometheus-operator adds a `namespace` matcher to its route, so it can only ever see alerts of
/// this namespace; the SMTP settings are the platform Alertmanager's global ones.
fn alert_routing(
    tenant: &Tenant,
    eff: &Effective,
    receivers: &[String],
    billing_email: Option<&str>,
) -> Result<Object, BuildError> {
    let meta = object_meta(tenant, eff, names::ALERT_ROUTING);
    let emails: Vec<Value> = receivers
        .iter()
        .map(|to| json!({ "to": to, "sendResolved": true }))
        .collect();
    let mut tenant_receiver = json!({ "name": "tenant" });
    if !emails.is_empty() {
        tenant_receiver["emailConfigs"] = json!(emails);
    }
    let mut all_receivers = vec![tenant_receiver];
    let mut routes = Vec::new();
    if let Some(to) = billing_email {
        all_receivers.push(json!({
            "name": "billing",
            "emailConfigs": [{ "to": to, "sendResolved": true }],
        }));
        routes.push(json!({
            "receiver": "billing",
            "matchers": [{ "name": "alertname", "value": "TenantBudget.*", "matchType": "=~" }],
            "continue": true,
        }));
    }
    Ok(Object::from_value(json!({
        "apiVersion": ALERTMANAGER_CONFIG_API_VERSION,
        "kind": ALERTMANAGER_CONFIG_KIND,
        "metadata": metadata_value(&meta, ALERTMANAGER_CONFIG_KIND, names::ALERT_ROUTING)?,
        "spec": {
            "route": {
                "receiver": "tenant",
                "groupBy": ["alertname", "tenant", "environment"],
                "groupWait": "30s",
                "groupInterval": "5m",
                "repeatInterval": "4h",
                "matchers": [{ "name": "tenant", "value": eff.tenant_id, "matchType": "=" }],
                "routes": routes,
            },
            "receivers": all_receivers,
        },
    })))
}

/// The label Grafana's dashboard sidecar looks for (its default), and the annotation naming
/// the folder (the sidecar's `folderAnnotation`, as kube-prometheus-stack configures it).
pub const DASHBOARD_LABEL: &str = "grafana_dashboard";
pub const DASHBOARD_FOLDER: &str = "grafana_folder";

/// The dashboard ConfigMaps: the standard one with `dashboardsEnabled: true`, the custom ones
/// unless `dashboardsEnabled` is false. A custom dashboard that is not a JSON object is an
/// error naming its entry.
fn dashboards(
    tenant: &Tenant,
    eff: &Effective,
    monitoring: &tenant_api::MonitoringSpec,
) -> Result<Vec<Object>, BuildError> {
    if monitoring.dashboards_enabled == Some(false) {
        return Ok(Vec::new());
    }
    let mut out = Vec::new();
    let config_map =
        |name: String, file: String, json_text: String| -> Result<Object, BuildError> {
            let mut meta = object_meta(tenant, eff, &name);
            meta.labels
                .get_or_insert_with(BTreeMap::new)
                .insert(DASHBOARD_LABEL.to_string(), "1".to_string());
            meta.annotations.get_or_insert_with(BTreeMap::new).insert(
                DASHBOARD_FOLDER.to_string(),
                format!("tenant-{}", eff.tenant_id),
            );
            Ok(Object::from_value(json!({
                "apiVersion": "v1",
                "kind": "ConfigMap",
                "metadata": metadata_value(&meta, "ConfigMap", &name)?,
                "data": { file: json_text },
            })))
        };
    if monitoring.dashboards_enabled == Some(true) {
        let text = dashboard::standard(eff).to_string();
        out.push(config_map(
            names::DASHBOARD.to_string(),
            format!("tenant-{}.json", eff.tenant_id),
            text,
        )?);
    }
    for (i, d) in monitoring.custom_dashboards.iter().flatten().enumerate() {
        let parsed: Value = serde_json::from_str(&d.json).map_err(|e| BuildError::Invalid {
            field: format!("spec.monitoring.customDashboards[{i}].json"),
            message: format!("is not valid JSON: {e}"),
        })?;
        if !parsed.is_object() {
            return Err(BuildError::Invalid {
                field: format!("spec.monitoring.customDashboards[{i}].json"),
                message: "must be a Grafana dashboard (a JSON object)".into(),
            });
        }
        out.push(config_map(
            format!("{}-{}", names::DASHBOARD, d.name),
            format!("{}.json", d.name),
            d.json.clone(),
        )?);
    }
    Ok(out)
}

/// `kube_resourcequota` of the tenant's quotas, for one `type` (`used` or `hard`).
fn quota_series(namespace: &str, quota_names: &[String], kind: &str) -> String {
    let quota = match quota_names {
        [one] => format!("resourcequota=\"{one}\""),
        many => format!("resourcequota=~\"{}\"", many.join("|")),
    };
    format!("kube_resourcequota{{namespace=\"{namespace}\",{quota},type=\"{kind}\"}}")
}

/// Used over hard per quota and resource; `> 0` drops zero limits (see the module docs).
fn usage_ratio(namespace: &str, quota_names: &[String]) -> String {
    format!(
        "{used} / ignoring(type) ({hard} > 0)",
        used = quota_series(namespace, quota_names, "used"),
        hard = quota_series(namespace, quota_names, "hard"),
    )
}

fn quota_rules(eff: &Effective, quota_names: &[String], notify: bool) -> Vec<Value> {
    let ns = &eff.namespace;
    let ratio = usage_ratio(ns, quota_names);
    let labels = |severity: &str| alert_labels(eff, severity, notify);
    let tenant = &eff.tenant_id;
    let warning_ratio = f64::from(WARNING_PERCENT) / 100.0;
    vec![
        json!({
            "alert": "TenantQuotaAlmostFull",
            "expr": format!("({ratio}) >= {warning_ratio} < 1"),
            "for": WARNING_FOR,
            "labels": labels("warning"),
            "annotations": {
                "summary": format!("Tenant {tenant} has used {WARNING_PERCENT} % or more of its {{{{ $labels.resource }}}} quota in {ns}."),
                "description": format!(
                    "{{{{ $labels.resource }}}} of ResourceQuota {{{{ $labels.resourcequota }}}} in namespace {ns} \
                     (tenant {tenant}) is at {{{{ $value | humanizePercentage }}}} of its hard limit. At 100 % the \
                     API server refuses anything that needs more: raise the quota in the Tenant or free some up."
                ),
            },
        }),
        json!({
            "alert": "TenantQuotaFull",
            "expr": format!("({ratio}) >= 1"),
            "for": CRITICAL_FOR,
            "labels": labels("critical"),
            "annotations": {
                "summary": format!("Tenant {tenant} has used all of its {{{{ $labels.resource }}}} quota in {ns}."),
                "description": format!(
                    "{{{{ $labels.resource }}}} of ResourceQuota {{{{ $labels.resourcequota }}}} in namespace {ns} \
                     (tenant {tenant}) is at {{{{ $value | humanizePercentage }}}} of its hard limit: the API server \
                     refuses new objects and pods that need more. Raise the quota in the Tenant or free some up."
                ),
            },
        }),
    ]
}

/// Only lower-case letters, digits and `-` (a DNS label): literal inside a PromQL string, a regex
/// alternation and a Prometheus template.
fn promql_safe(field: &str, value: &str) -> Result<(), BuildError> {
    let ok = !value.is_empty()
        && value
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
    if ok {
        Ok(())
    } else {
        Err(BuildError::Invalid {
            field: field.to_string(),
            message: format!("{value:?} must be a DNS label to be used in alert rules"),
        })
    }
}

#[cfg(test)]
#[allow(clippy::panic, clippy::unwrap_used, clippy::expect_used)] // tests fail by panicking
mod tests {
    use super::*;
    use tenant_api::{
        IsolationLevel, IsolationSpec, MonitoringSpec, QuotaSpec, TenantSpec, TenantType, labels,
    };

    fn tenant(spec: TenantSpec) -> Tenant {
        let mut t = Tenant::new("acme", spec);
        t.metadata.namespace = Some("tenants".into());
        t
    }

    fn render(spec: TenantSpec) -> Vec<Object> {
        let t = tenant(spec);
        build(&t, &Effective::of(&t), &BuildContext::default()).unwrap_or_else(|e| panic!("{e}"))
    }

    fn with_quota() -> TenantSpec {
        let mut spec = TenantSpec::new("acme", TenantType::Production);
        spec.quota = Some(QuotaSpec {
            cpu_quota: Some("8".into()),
            pod_quota: Some(50),
            ..Default::default()
        });
        spec
    }

    /// Permissive isolation allows NodePorts and LoadBalancers, so without a quota section no
    /// ResourceQuota is rendered (stricter levels pin those two to 0).
    fn without_quota() -> TenantSpec {
        let mut spec = TenantSpec::new("acme", TenantType::Development);
        spec.isolation = Some(IsolationSpec {
            isolation_level: Some(IsolationLevel::Permissive),
            ..Default::default()
        });
        spec
    }

    fn the_rule(spec: TenantSpec) -> Object {
        let objs = render(spec);
        let rules: Vec<Object> = objs.into_iter().filter(|o| o.kind == KIND).collect();
        assert_eq!(rules.len(), 1, "{rules:?}");
        rules.into_iter().next().unwrap()
    }

    fn of_kind(objs: &[Object], kind: &str) -> Vec<Object> {
        objs.iter().filter(|o| o.kind == kind).cloned().collect()
    }

    fn group<'a>(obj: &'a Object, name: &str) -> Option<&'a Vec<Value>> {
        obj.manifest["spec"]["groups"]
            .as_array()
            .unwrap()
            .iter()
            .find(|g| g["name"] == name)
            .map(|g| g["rules"].as_array().unwrap())
    }

    fn with_services() -> TenantSpec {
        let mut spec = with_quota();
        spec.services = Some(vec!["api".into(), "web".into()]);
        spec
    }

    #[test]
    fn a_service_monitor_scrapes_only_the_tenants_own_services() {
        let objs = render(with_services());
        let sm = of_kind(&objs, SERVICE_MONITOR_KIND);
        assert_eq!(sm.len(), 1);
        let m = &sm[0].manifest;
        assert_eq!(m["metadata"]["name"], "tenant-services");
        assert_eq!(m["metadata"]["namespace"], "tenant-acme-production");
        assert_eq!(
            m["spec"]["namespaceSelector"]["matchNames"],
            json!(["tenant-acme-production"])
        );
        let sel = &m["spec"]["selector"]["matchLabels"];
        assert_eq!(sel[labels::TENANT_ID], "acme");
        assert_eq!(sel[labels::APP_COMPONENT], "service");
        assert_eq!(m["spec"]["endpoints"][0]["port"], "http");
        assert_eq!(m["spec"]["endpoints"][0]["path"], "/metrics");
        assert_eq!(m["spec"]["sampleLimit"], SAMPLE_LIMIT);
        // no services, or metrics off: none
        assert!(of_kind(&render(with_quota()), SERVICE_MONITOR_KIND).is_empty());
        let mut off = with_services();
        off.monitoring = Some(MonitoringSpec {
            metrics_enabled: Some(false),
            ..Default::default()
        });
        assert!(of_kind(&render(off), SERVICE_MONITOR_KIND).is_empty());
    }

    #[test]
    fn receivers_get_an_alertmanager_config_matching_the_tenant() {
        let mut spec = with_quota();
        spec.monitoring = Some(MonitoringSpec {
            alert_receivers: Some(vec![
                "oncall@acme.example".into(),
                "cto@acme.example".into(),
            ]),
            ..Default::default()
        });
        let objs = render(spec.clone());
        let amc = of_kind(&objs, ALERTMANAGER_CONFIG_KIND);
        assert_eq!(amc.len(), 1);
        assert_eq!(amc[0].api_version, "monitoring.coreos.com/v1alpha1");
        let s = &amc[0].manifest["spec"];
        assert_eq!(s["route"]["receiver"], "tenant");
        assert_eq!(
            s["route"]["matchers"],
            json!([{"name": "tenant", "value": "acme", "matchType": "="}])
        );
        assert_eq!(
            s["receivers"][0]["emailConfigs"][1]["to"],
            "cto@acme.example"
        );
        assert_eq!(s["route"]["routes"], json!([]));
        // a billing e-mail gets the budget alerts (and the tenant's receivers keep them)
        spec.billing =
            Some(serde_json::from_value(json!({"billingEmail": "billing@acme.example"})).unwrap());
        let amc = of_kind(&render(spec.clone()), ALERTMANAGER_CONFIG_KIND);
        let s = &amc[0].manifest["spec"];
        assert_eq!(s["receivers"][1]["name"], "billing");
        assert_eq!(
            s["receivers"][1]["emailConfigs"][0]["to"],
            "billing@acme.example"
        );
        assert_eq!(s["route"]["routes"][0]["receiver"], "billing");
        assert_eq!(s["route"]["routes"][0]["continue"], true);
        // only a billing e-mail: a routing with an empty tenant receiver
        let mut billing_only = with_quota();
        billing_only.billing = spec.billing.clone();
        let amc = of_kind(&render(billing_only), ALERTMANAGER_CONFIG_KIND);
        assert_eq!(
            amc[0].manifest["spec"]["receivers"][0],
            json!({"name": "tenant"})
        );
        // alerting off: no routing either
        spec.monitoring.as_mut().unwrap().alerting_enabled = Some(false);
        assert!(render(spec).is_empty());
    }

    #[test]
    fn slo_alerts_burn_the_error_budget_and_watch_the_p99() {
        let mut spec = with_quota();
        spec.monitoring = Some(MonitoringSpec {
            target_availability: Some(0.999),
            target_latency: Some("250ms".into()),
            ..Default::default()
        });
        let obj = the_rule(spec);
        let slo = group(&obj, "tenant-slo").expect("an SLO group");
        let names: Vec<&str> = slo.iter().map(|r| r["alert"].as_str().unwrap()).collect();
        assert_eq!(
            names,
            [
                "TenantErrorBudgetBurn",
                "TenantErrorBudgetBurnSlow",
                "TenantLatencyHigh"
            ]
        );
        let fast = slo[0]["expr"].as_str().unwrap();
        assert!(fast.contains("> (14.4 * 0.001)"), "{fast}");
        assert!(
            fast.contains("[1h]") && fast.contains("[5m]") && fast.contains("[6h]"),
            "{fast}"
        );
        assert!(!fast.contains("namespace=\"\""), "{fast}");
        assert_eq!(
            fast.matches("namespace=\"tenant-acme-production\"").count(),
            8,
            "{fast}"
        );
        let latency = slo[2]["expr"].as_str().unwrap();
        assert!(latency.ends_with("> 0.25"), "{latency}");
        assert!(
            latency.starts_with("histogram_quantile(0.99, "),
            "{latency}"
        );
        // quota rules are still there
        assert!(group(&obj, "tenant-quota").is_some());
        // no SLO without a target or sloEnabled; none with sloEnabled false
        assert!(group(&the_rule(with_quota()), "tenant-slo").is_none());
        let mut off = with_quota();
        off.monitoring = Some(MonitoringSpec {
            slo_enabled: Some(false),
            target_availability: Some(0.9),
            ..Default::default()
        });
        assert!(group(&the_rule(off), "tenant-slo").is_none());
        // sloEnabled alone: the default target, no latency alert
        let mut on = with_quota();
        on.monitoring = Some(MonitoringSpec {
            slo_enabled: Some(true),
            ..Default::default()
        });
        let obj = the_rule(on);
        let slo = group(&obj, "tenant-slo").unwrap();
        assert_eq!(slo.len(), 2);
        assert!(slo[0]["expr"].as_str().unwrap().contains("(14.4 * 0.01)"));
    }

    #[test]
    fn a_budget_gets_threshold_and_exceeded_alerts_from_the_operators_metric() {
        let mut spec = with_quota();
        spec.billing = Some(
            serde_json::from_value(json!({
                "monthlyBudget": 100.0, "budgetAlertThreshold": 0.75, "budgetEnforcement": true
            }))
            .unwrap(),
        );
        let obj = the_rule(spec);
        let b = group(&obj, "tenant-budget").expect("a budget group");
        assert_eq!(b[0]["alert"], "TenantBudgetOverThreshold");
        assert_eq!(
            b[0]["expr"],
            "tenant_operator_tenant_budget_used_ratio{namespace=\"tenant-acme-production\"} >= 0.75 < 1"
        );
        assert_eq!(b[1]["alert"], "TenantBudgetForecastOverThreshold");
        assert_eq!(
            b[1]["expr"],
            "tenant_operator_tenant_budget_forecast_ratio{namespace=\"tenant-acme-production\"} >= 0.75 \
             unless tenant_operator_tenant_budget_used_ratio{namespace=\"tenant-acme-production\"} >= 0.75"
        );
        let b = &b[1..].to_vec();
        assert_eq!(b[1]["alert"], "TenantBudgetExceeded");
        assert_eq!(
            b[1]["expr"],
            "tenant_operator_tenant_budget_used_ratio{namespace=\"tenant-acme-production\"} > 1"
        );
        assert!(
            b[1]["annotations"]["description"]
                .as_str()
                .unwrap()
                .contains("new pods are refused")
        );
        // no budget: no group; alerting off: no rule at all
        assert!(group(&the_rule(with_quota()), "tenant-budget").is_none());
        let mut budget_only = without_quota();
        budget_only.billing = Some(serde_json::from_value(json!({"monthlyBudget": 5.0})).unwrap());
        let obj = the_rule(budget_only);
        assert_eq!(group(&obj, "tenant-budget").unwrap().len(), 3);
        assert!(group(&obj, "tenant-quota").is_none());
    }

    #[test]
    fn dashboards_are_sidecar_config_maps() {
        let mut spec = with_quota();
        spec.monitoring = Some(MonitoringSpec {
            dashboards_enabled: Some(true),
            custom_dashboards: Some(vec![tenant_api::CustomDashboard {
                name: "orders".into(),
                json: r#"{"title": "Orders", "panels": []}"#.into(),
            }]),
            ..Default::default()
        });
        let objs = render(spec.clone());
        let cms = of_kind(&objs, "ConfigMap");
        let names: Vec<&str> = cms.iter().map(|c| c.name.as_str()).collect();
        assert_eq!(names, ["tenant-dashboard", "tenant-dashboard-orders"]);
        for c in &cms {
            assert_eq!(c.manifest["metadata"]["labels"][DASHBOARD_LABEL], "1");
            assert_eq!(
                c.manifest["metadata"]["annotations"][DASHBOARD_FOLDER],
                "tenant-acme"
            );
        }
        let standard: Value = serde_json::from_str(
            cms[0].manifest["data"]["tenant-acme.json"]
                .as_str()
                .unwrap(),
        )
        .unwrap();
        assert_eq!(standard["uid"], "tenant-tenant-acme-production");
        let exprs: Vec<String> = standard["panels"]
            .as_array()
            .unwrap()
            .iter()
            .flat_map(|p| p["targets"].as_array().unwrap().clone())
            .map(|t| t["expr"].as_str().unwrap().to_string())
            .collect();
        assert!(exprs.len() >= 8);
        for e in &exprs {
            assert!(e.contains("namespace=\"tenant-acme-production\""), "{e}");
        }
        assert_eq!(
            cms[1].manifest["data"]["orders.json"],
            r#"{"title": "Orders", "panels": []}"#
        );
        // unset: only the custom ones; false: none
        spec.monitoring.as_mut().unwrap().dashboards_enabled = None;
        assert_eq!(of_kind(&render(spec.clone()), "ConfigMap").len(), 1);
        spec.monitoring.as_mut().unwrap().dashboards_enabled = Some(false);
        assert!(of_kind(&render(spec.clone()), "ConfigMap").is_empty());
        // a custom dashboard that is not JSON is an error naming it
        spec.monitoring.as_mut().unwrap().dashboards_enabled = None;
        spec.monitoring
            .as_mut()
            .unwrap()
            .custom_dashboards
            .as_mut()
            .unwrap()[0]
            .json = "[1, 2".into();
        let t = tenant(spec);
        match build(&t, &Effective::of(&t), &BuildContext::default()) {
            Err(BuildError::Invalid { field, .. }) => {
                assert_eq!(field, "spec.monitoring.customDashboards[0].json")
            }
            other => panic!("expected Invalid, got {other:?}"),
        }
    }

    fn rules(obj: &Object) -> &Vec<Value> {
        let groups = obj.manifest["spec"]["groups"].as_array().unwrap();
        assert_eq!(groups.len(), 1);
        assert_eq!(groups[0]["name"], "tenant-quota");
        groups[0]["rules"].as_array().unwrap()
    }

    fn exprs(obj: &Object) -> Vec<String> {
        rules(obj)
            .iter()
            .map(|r| r["expr"].as_str().unwrap().to_string())
            .collect()
    }

    #[test]
    fn one_prometheus_rule_in_the_tenant_namespace_with_the_common_metadata() {
        let obj = the_rule(with_quota());
        assert_eq!(obj.api_version, "monitoring.coreos.com/v1");
        assert_eq!(obj.kind, "PrometheusRule");
        assert_eq!(obj.name, "tenant-alerts");
        assert_eq!(obj.namespace.as_deref(), Some("tenant-acme-production"));
        let m = &obj.manifest;
        assert_eq!(m["apiVersion"], "monitoring.coreos.com/v1");
        assert_eq!(m["kind"], "PrometheusRule");
        assert_eq!(m["metadata"]["name"], "tenant-alerts");
        assert_eq!(m["metadata"]["namespace"], "tenant-acme-production");
        let l = &m["metadata"]["labels"];
        assert_eq!(l[labels::MANAGED_BY], "tenant-operator");
        assert_eq!(l[labels::TENANT_ID], "acme");
        assert_eq!(l[labels::ENVIRONMENT], "production");
        assert_eq!(
            m["metadata"]["annotations"][labels::OWNER],
            "Tenant/tenants/acme"
        );
    }

    #[test]
    fn a_warning_and_a_critical_alert_labelled_for_the_tenant() {
        let obj = the_rule(with_quota());
        let rs = rules(&obj);
        let names: Vec<&str> = rs.iter().map(|r| r["alert"].as_str().unwrap()).collect();
        assert_eq!(names, ["TenantQuotaAlmostFull", "TenantQuotaFull"]);
        for (r, severity) in rs.iter().zip(["warning", "critical"]) {
            let l = &r["labels"];
            assert_eq!(l["severity"], severity);
            assert_eq!(l["tenant"], "acme");
            assert_eq!(l["environment"], "production");
            assert_eq!(l["namespace"], "tenant-acme-production");
            assert!(l.get(NOTIFY_LABEL).is_none());
            let d = r["annotations"]["description"].as_str().unwrap();
            assert!(d.contains("{{ $labels.resource }}"), "{d}");
            assert!(d.contains("{{ $value | humanizePercentage }}"), "{d}");
            assert!(
                r["annotations"]["summary"]
                    .as_str()
                    .unwrap()
                    .contains("acme")
            );
            assert!(
                ["5m", "15m"].contains(&r["for"].as_str().unwrap()),
                "{}",
                r["for"]
            );
        }
        let e = exprs(&obj);
        assert!(e[0].ends_with(") >= 0.8 < 1"), "{}", e[0]);
        assert!(e[1].ends_with(") >= 1"), "{}", e[1]);
    }

    #[test]
    fn the_expressions_read_only_the_tenants_quota() {
        let obj = the_rule(with_quota());
        for e in exprs(&obj) {
            assert_eq!(
                e,
                format!(
                    "(kube_resourcequota{{namespace=\"tenant-acme-production\",resourcequota=\"tenant-quota\",type=\"used\"}} \
                     / ignoring(type) (kube_resourcequota{{namespace=\"tenant-acme-production\",resourcequota=\"tenant-quota\",type=\"hard\"}} > 0)) {}",
                    if e.ends_with("< 1") {
                        ">= 0.8 < 1"
                    } else {
                        ">= 1"
                    }
                )
            );
            let selectors = selectors(&e);
            assert_eq!(selectors.len(), 2, "{e}");
            for s in selectors {
                let ns: Vec<&str> = s
                    .iter()
                    .filter(|(k, _, _)| k == "namespace")
                    .map(|(_, op, v)| {
                        assert_eq!(op, "=");
                        v.as_str()
                    })
                    .collect();
                assert_eq!(ns, ["tenant-acme-production"], "{e}");
            }
        }
    }

    #[test]
    fn scoped_quotas_are_both_selected() {
        let mut spec = with_quota();
        spec.quota.as_mut().unwrap().scopes = Some(vec!["NotBestEffort".into()]);
        spec.quota.as_mut().unwrap().secret_quota = Some(10);
        let obj = the_rule(spec);
        for e in exprs(&obj) {
            assert!(
                e.contains("resourcequota=~\"tenant-quota|tenant-quota-scoped\""),
                "{e}"
            );
            assert_plausible_promql(&e);
        }
    }

    #[test]
    fn alert_receivers_add_the_routing_label() {
        let mut spec = with_quota();
        spec.monitoring = Some(MonitoringSpec {
            alert_receivers: Some(vec!["oncall@acme.example".into()]),
            ..Default::default()
        });
        let obj = the_rule(spec);
        for r in rules(&obj) {
            assert_eq!(r["labels"][NOTIFY_LABEL], NOTIFY_TENANT);
            assert_eq!(r["labels"]["tenant"], "acme");
            // the addresses stay out of the rule (templates)
            assert!(!r.to_string().contains("oncall@"), "{r}");
        }
    }

    #[test]
    fn alerting_disabled_renders_nothing() {
        let mut spec = with_quota();
        spec.monitoring = Some(MonitoringSpec {
            alerting_enabled: Some(false),
            ..Default::default()
        });
        assert!(render(spec).is_empty());
        let mut spec = with_quota();
        spec.monitoring = Some(MonitoringSpec {
            alerting_enabled: Some(true),
            ..Default::default()
        });
        assert_eq!(render(spec).len(), 1);
    }

    #[test]
    fn a_quota_of_only_zero_limits_gets_no_rule() {
        // Standard isolation pins NodePorts to 0: a ResourceQuota, but nothing that can fill up.
        let spec = TenantSpec::new("acme", TenantType::Production);
        let t = tenant(spec.clone());
        let ctx = crate::build::context_without_compute_defaults();
        assert!(
            !quota::quotas(&t, &Effective::of(&t), &ctx)
                .unwrap()
                .is_empty()
        );
        assert!(build(&t, &Effective::of(&t), &ctx).unwrap().is_empty());
        // with the platform's default compute quota there is something to watch
        assert_eq!(render(spec).len(), 1);
    }

    #[test]
    fn a_tenant_without_quota_gets_no_rule() {
        let spec = without_quota();
        let t = tenant(spec.clone());
        assert!(
            quota::quotas(&t, &Effective::of(&t), &BuildContext::default())
                .unwrap()
                .is_empty()
        );
        assert!(render(spec).is_empty());
        // the same tenant with a quota does get one
        let mut spec = without_quota();
        spec.quota = Some(QuotaSpec {
            secret_quota: Some(10),
            ..Default::default()
        });
        assert_eq!(render(spec).len(), 1);
    }

    #[test]
    fn the_promql_is_plausible() {
        for spec in [with_quota(), {
            let mut s = with_quota();
            s.quota.as_mut().unwrap().scopes = Some(vec!["Terminating".into()]);
            s
        }] {
            let obj = the_rule(spec);
            for e in exprs(&obj) {
                assert_plausible_promql(&e);
            }
        }
    }

    #[test]
    fn an_unsafe_namespace_is_an_error_not_a_broken_rule() {
        let mut spec = with_quota();
        spec.namespace_config = Some(tenant_api::NamespaceConfig {
            name: Some("a\"b{{x}}".into()),
            ..Default::default()
        });
        let t = tenant(spec);
        match build(&t, &Effective::of(&t), &BuildContext::default()) {
            Err(BuildError::Invalid { field, .. }) => assert_eq!(field, "spec.namespaceConfig"),
            other => panic!("expected Invalid, got {other:?}"),
        }
    }

    #[test]
    fn the_checker_rejects_broken_promql() {
        for bad in [
            "kube_resourcequota{} / 2",
            "(kube_resourcequota{namespace=\"a\"} / 2",
            "kube_resourcequota{namespace=\"a\"} / (2))",
            "kube_resourcequota{namespace=\"a\"}) / (2",
            "kube_resourcequota{namespace=\"a\"} /",
            "kube_resourcequota{namespace=\"a} > 0",
            "kube_resourcequota{namespace=\"\"} > 0",
            "kube_resourcequota{namespace=a} > 0",
            "{namespace=\"a\"} > 0",
            "kube_resourcequota{namespace=\"a\"} / ()",
        ] {
            let caught = std::panic::catch_unwind(|| assert_plausible_promql(bad));
            assert!(caught.is_err(), "accepted {bad}");
        }
        assert_plausible_promql("(kube_resourcequota{namespace=\"a\",type=\"used\"} > 0) >= 1");
    }

    // ----- a small PromQL sanity checker (the real check is promtool) -----

    /// The label matchers `(name, op, value)` of every `{...}` selector in `e`.
    fn selectors(e: &str) -> Vec<Vec<(String, String, String)>> {
        let mut out = Vec::new();
        let mut rest = e;
        while let Some(open) = rest.find('{') {
            let close = rest[open..].find('}').unwrap() + open;
            let body = &rest[open + 1..close];
            let mut matchers = Vec::new();
            for m in body.split(',') {
                let op_at = m
                    .find(['=', '!'])
                    .unwrap_or_else(|| panic!("no operator in {m:?}"));
                let name = &m[..op_at];
                let after = &m[op_at..];
                let op = ["=~", "!~", "!=", "="]
                    .into_iter()
                    .find(|op| after.starts_with(op))
                    .unwrap();
                let value = &after[op.len()..];
                assert!(
                    !name.is_empty() && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'),
                    "label name {name:?} in {e}"
                );
                assert!(
                    value.len() >= 2 && value.starts_with('"') && value.ends_with('"'),
                    "value {value:?} in {e}"
                );
                let inner = &value[1..value.len() - 1];
                assert!(
                    !inner.is_empty() && !inner.contains(['"', '\\']),
                    "value {value:?} in {e}"
                );
                matchers.push((name.to_string(), op.to_string(), inner.to_string()));
            }
            out.push(matchers);
            rest = &rest[close + 1..];
        }
        out
    }

    fn assert_plausible_promql(e: &str) {
        // balanced (), {}, [] outside string literals; no empty group
        let mut stack = Vec::new();
        let mut in_string = false;
        let mut prev = ' ';
        for c in e.chars() {
            if in_string {
                if c == '"' {
                    in_string = false;
                }
                prev = c;
                continue;
            }
            match c {
                '"' => in_string = true,
                '(' | '{' | '[' => stack.push(c),
                ')' | '}' | ']' => {
                    let open = stack
                        .pop()
                        .unwrap_or_else(|| panic!("unbalanced {c} in {e}"));
                    let expected = match open {
                        '(' => ')',
                        '{' => '}',
                        _ => ']',
                    };
                    assert_eq!(c, expected, "mismatched {open}{c} in {e}");
                    assert_ne!(prev, open, "empty {open}{c} in {e}");
                }
                _ => {}
            }
            if !c.is_whitespace() {
                prev = c;
            }
        }
        assert!(!in_string, "unterminated string in {e}");
        assert!(stack.is_empty(), "unclosed {stack:?} in {e}");
        // every selector has matchers, and every metric name is followed by one
        let sels = selectors(e);
        assert!(!sels.is_empty(), "{e}");
        assert!(sels.iter().all(|s| !s.is_empty()), "{e}");
        assert_eq!(
            e.matches("kube_resourcequota{").count(),
            sels.len(),
            "a selector without a metric name in {e}"
        );
        // no binary operator without a right-hand side
        let t = e.trim_end();
        assert!(
            !["/", "*", "+", "-", ">", "<", "=", "and", "or", "unless"]
                .iter()
                .any(|op| t.ends_with(op)),
            "{e}"
        );
        assert!(!e.contains("  "), "double space in {e}");
    }
}
