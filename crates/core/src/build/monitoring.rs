//! The tenant's alert rules (`monitoring.alertingEnabled`, default true): one prometheus-operator
//! `PrometheusRule` named `tenant-alerts` in the tenant namespace.
//!
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

use crate::build::namespace::object_meta;
use crate::build::{BuildContext, BuildError, quota};
use crate::naming::names;
use crate::object::{Object, ObjectError};
use crate::presets::Effective;
use serde_json::{Value, json};
use tenant_api::Tenant;

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

/// The tenant's `PrometheusRule`, or nothing when alerting is off or the tenant has no quota.
pub fn build(
    tenant: &Tenant,
    eff: &Effective,
    ctx: &BuildContext,
) -> Result<Vec<Object>, BuildError> {
    let monitoring = tenant.spec.monitoring.clone().unwrap_or_default();
    if monitoring.alerting_enabled == Some(false) {
        return Ok(Vec::new());
    }
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
    if quota_names.is_empty() {
        return Ok(Vec::new());
    }
    // Everything put into PromQL or into a (templated) label value must be plain: validation
    // guarantees DNS labels, this makes a bypass an error instead of a rule file that breaks.
    promql_safe("spec.tenantId", &eff.tenant_id)?;
    promql_safe("spec.environment", &eff.environment)?;
    promql_safe("spec.namespaceConfig", &eff.namespace)?;
    for name in &quota_names {
        promql_safe("ResourceQuota name", name)?;
    }
    let notify = !monitoring.alert_receivers.unwrap_or_default().is_empty();
    let rules = quota_rules(eff, &quota_names, notify);

    let meta = object_meta(tenant, eff, names::ALERT_RULES);
    let metadata = serde_json::to_value(&meta).map_err(|source| ObjectError {
        kind: KIND.into(),
        name: names::ALERT_RULES.into(),
        source,
    })?;
    Ok(vec![Object::from_value(json!({
        "apiVersion": API_VERSION,
        "kind": KIND,
        "metadata": metadata,
        "spec": {
            "groups": [{ "name": "tenant-quota", "rules": rules }],
        },
    }))])
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
    let labels = |severity: &str| {
        let mut l = json!({
            "severity": severity,
            "tenant": eff.tenant_id,
            "environment": eff.environment,
            "namespace": ns,
        });
        if notify {
            l[NOTIFY_LABEL] = json!(NOTIFY_TENANT);
        }
        l
    };
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
        let mut objs = render(spec);
        assert_eq!(objs.len(), 1, "{objs:?}");
        objs.remove(0)
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
