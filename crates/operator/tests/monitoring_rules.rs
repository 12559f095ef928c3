//! Alert rules checked by the real promtool (Prometheus 3.x, built from its Go module by
//! `hack/components promtool`), and the operator's monitoring objects validated by the API
//! server against prometheus-operator's real CRDs:
//! - the operator's own rules (`deploy/operator/monitoring/prometheusrule.yaml`) pass
//!   `promtool check rules`, and its unit tests (`tests/operator-rules.test.yaml`) pass
//!   `promtool test rules`; the same tests with one expectation turned around fail;
//! - every PrometheusRule the examples render (the builders `kubectl tenant render` calls)
//!   passes `promtool check rules`;
//! - a tenant's budget and SLO alerts fire in `promtool test rules` on its own namespace's
//!   series only (and a wrong expectation fails);
//! - promtool rejects a broken expression, so a wrapper that passes everything is caught;
//! - `kubectl apply --server-side -k deploy/operator/monitoring` is accepted by a control plane
//!   with the CRDs, which rejects a rule whose `for:` is not a duration.
//!
//! A test binary of its own: installing CRDs changes the whole control plane.
#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)]

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use anyhow::{Context, Result, bail, ensure};
use common::{TIMEOUT, apply_yaml, repo_path};
use kube::api::{Api, ApiResource, DynamicObject, Patch, PatchParams};
use serde_json::{Value, json};
use tenant_api::Tenant;
use tenant_core::build::{self, BuildContext};
use testenv::{ControlPlane, poll_until, unique_name};

const MONITORING: &str = "deploy/operator/monitoring";
/// The unit tests name the rules file they test by this name, in their own directory.
const RULES_FILE: &str = "operator-rules.yaml";
const UNIT_TESTS: &str = "tests/operator-rules.test.yaml";

fn promtool() -> Result<PathBuf> {
    let bin = testenv::component("promtool")?.join("promtool");
    ensure!(
        bin.is_file(),
        "hack/components promtool printed no promtool: {}",
        bin.display()
    );
    Ok(bin)
}

/// A fresh directory for this test's files (kept after the run, for a look at a failure).
fn scratch(what: &str) -> Result<PathBuf> {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(unique_name(what));
    std::fs::create_dir_all(&dir)?;
    Ok(dir)
}

fn run(bin: &Path, args: &[&str], dir: &Path) -> Result<Output> {
    Command::new(bin)
        .args(args)
        .current_dir(dir)
        .output()
        .with_context(|| format!("running {} {}", bin.display(), args.join(" ")))
}

fn text(out: &Output) -> String {
    format!(
        "exit {:?}\n--- stdout\n{}--- stderr\n{}",
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// How many rules a rules file (`groups: [{rules: [...]}]`) holds.
fn rule_count(spec: &Value) -> usize {
    spec["groups"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|g| g["rules"].as_array().map_or(0, Vec::len))
        .sum()
}

/// `promtool check rules FILE` passes and reports exactly the rules the file holds (so a rules
/// file that parses to nothing does not pass as checked).
fn check_rules(promtool: &Path, spec: &Value, dir: &Path, name: &str) -> Result<()> {
    let n = rule_count(spec);
    ensure!(n > 0, "{name}: no rules in {spec}");
    std::fs::write(dir.join(name), serde_saphyr::to_string(spec)?)?;
    let out = run(promtool, &["check", "rules", name], dir)?;
    let said = text(&out);
    ensure!(out.status.success(), "promtool check rules {name}: {said}");
    ensure!(
        said.contains(&format!("SUCCESS: {n} rules found")),
        "promtool check rules {name} should report {n} rules: {said}"
    );
    Ok(())
}

fn yaml_docs(path: &str) -> Result<Vec<Value>> {
    let text = std::fs::read_to_string(path).with_context(|| format!("reading {path}"))?;
    let docs: Vec<Value> =
        serde_saphyr::from_multiple(&text).with_context(|| format!("parsing {path}"))?;
    Ok(docs.into_iter().filter(|d| !d.is_null()).collect())
}

fn operator_rule() -> Result<Value> {
    let docs = yaml_docs(&repo_path(&format!("{MONITORING}/prometheusrule.yaml")))?;
    let [rule] = docs.as_slice() else {
        bail!(
            "prometheusrule.yaml should hold one object, holds {}",
            docs.len()
        );
    };
    ensure!(rule["kind"] == "PrometheusRule", "{}", rule["kind"]);
    Ok(rule.clone())
}

#[test]
#[ignore = "needs hack/components promtool (a Go build): hack/test runs it"]
fn the_operator_rules_pass_promtool_check_and_their_unit_tests() -> Result<()> {
    let promtool = promtool()?;
    let dir = scratch("operator-rules")?;
    let rule = operator_rule()?;
    check_rules(&promtool, &rule["spec"], &dir, RULES_FILE)?;

    // The unit tests, beside the rules file they name.
    let tests_path = repo_path(&format!("{MONITORING}/{UNIT_TESTS}"));
    let tests_text = std::fs::read_to_string(&tests_path)?;
    std::fs::write(dir.join("operator-rules.test.yaml"), &tests_text)?;
    let out = run(
        &promtool,
        &["test", "rules", "operator-rules.test.yaml"],
        &dir,
    )?;
    ensure!(out.status.success(), "promtool test rules: {}", text(&out));
    let said = text(&out);
    ensure!(said.contains("SUCCESS"), "promtool test rules: {said}");

    // Every alert is exercised by some unit test: a new alert without one fails here.
    let tests: Value = serde_saphyr::from_str(&tests_text)?;
    let tested: Vec<&str> = tests["tests"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|t| t["alert_rule_test"].as_array().into_iter().flatten())
        .filter_map(|a| a["alertname"].as_str())
        .collect();
    for group in rule["spec"]["groups"].as_array().into_iter().flatten() {
        for r in group["rules"].as_array().into_iter().flatten() {
            let name = r["alert"].as_str().context("a rule without alert")?;
            ensure!(
                tested.contains(&name),
                "{name} has no promtool unit test in {UNIT_TESTS}"
            );
        }
    }

    // The unit tests can fail: expect the over-budget and the reconcile-errors alerts to stay
    // silent where they fire, one at a time, and promtool must say so.
    for alert in ["TenantOverBudget", "TenantOperatorReconcileErrors"] {
        let mut turned = tests.clone();
        let mut n = 0;
        for t in turned["tests"].as_array_mut().into_iter().flatten() {
            for a in t["alert_rule_test"].as_array_mut().into_iter().flatten() {
                let fires = a["exp_alerts"].as_array().is_some_and(|e| !e.is_empty());
                if a["alertname"] == alert && fires {
                    a["exp_alerts"] = json!([]);
                    n += 1;
                }
            }
        }
        ensure!(n > 0, "{UNIT_TESTS} has no case where {alert} fires");
        let name = format!("turned-{alert}.test.yaml");
        std::fs::write(dir.join(&name), serde_saphyr::to_string(&turned)?)?;
        let out = run(&promtool, &["test", "rules", &name], &dir)?;
        let said = text(&out);
        ensure!(
            !out.status.success() && said.contains(alert),
            "promtool test rules should fail when {alert} is expected not to fire: {said}"
        );
    }
    Ok(())
}

/// Every Tenant of `examples/` through the builders `kubectl tenant render` calls: validated,
/// then rendered with the other Tenants of its file, as `kubectl tenant render FILE` does.
fn rendered_rules() -> Result<Vec<(String, Value)>> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(repo_path("examples"))?
        .map(|e| e.map(|e| e.path()))
        .collect::<std::io::Result<_>>()?;
    files.retain(|p| p.extension().is_some_and(|e| e == "yaml"));
    files.sort();
    ensure!(!files.is_empty(), "no examples/*.yaml");
    let mut rules = Vec::new();
    for file in &files {
        let shown = file.file_name().unwrap_or_default().to_string_lossy();
        let mut tenants = Vec::new();
        for doc in yaml_docs(&file.to_string_lossy())? {
            let report = tenant_core::validate::validate_value(&doc);
            ensure!(report.valid, "{shown}: {:?}", report.errors);
            tenants.push(serde_json::from_value::<Tenant>(doc)?);
        }
        let ctx = BuildContext {
            other_tenants: &tenants,
            ..BuildContext::default()
        };
        for t in &tenants {
            for o in build::tenant_objects(t, &ctx)? {
                if o.kind == "PrometheusRule" {
                    let at = format!("{shown}: {}/{}", o.namespace.unwrap_or_default(), o.name);
                    rules.push((at, o.manifest["spec"].clone()));
                }
            }
        }
    }
    Ok(rules)
}

#[test]
#[ignore = "needs hack/components promtool (a Go build): hack/test runs it"]
fn every_rule_the_examples_render_passes_promtool_check() -> Result<()> {
    let promtool = promtool()?;
    let dir = scratch("rendered-rules")?;
    let rules = rendered_rules()?;
    // Not vacuous: most examples have a quota, and so an alert rule.
    ensure!(!rules.is_empty(), "the examples rendered no PrometheusRule");
    for (i, (at, spec)) in rules.iter().enumerate() {
        check_rules(&promtool, spec, &dir, &format!("rendered-{i}.yaml"))
            .with_context(|| at.clone())?;
    }
    eprintln!("promtool checked {} rendered PrometheusRules", rules.len());
    Ok(())
}

#[test]
#[ignore = "needs hack/components promtool (a Go build): hack/test runs it"]
fn promtool_rejects_a_broken_expression() -> Result<()> {
    let promtool = promtool()?;
    let dir = scratch("broken-rule")?;
    let good = json!({"groups": [{"name": "g", "rules": [
        {"alert": "Fine", "expr": "sum(rate(tenant_operator_reconciles_total[5m])) > 0", "for": "5m"}
    ]}]});
    check_rules(&promtool, &good, &dir, "good.yaml")?;
    for (name, expr) in [
        (
            "unbalanced.yaml",
            "sum(rate(tenant_operator_reconciles_total[5m]) > 0",
        ),
        (
            "no-range.yaml",
            "rate(tenant_operator_reconciles_total) > 0",
        ),
    ] {
        let mut bad = good.clone();
        bad["groups"][0]["rules"][0]["expr"] = json!(expr);
        std::fs::write(dir.join(name), serde_saphyr::to_string(&bad)?)?;
        let out = run(&promtool, &["check", "rules", name], &dir)?;
        ensure!(
            !out.status.success(),
            "promtool check rules accepted {expr:?}: {}",
            text(&out)
        );
    }
    Ok(())
}

/// A tenant's own rules evaluated by `promtool test rules` on series made up here: the budget
/// alerts follow the operator's metrics of this tenant's namespace only, the fast burn-rate
/// alert fires for a service answering a third of its requests with 5xx and not for a healthy
/// one. Annotations are left out of the copy promtool evaluates (templates, tested in core);
/// the expressions, `for:` and labels are the tenant's exact ones.
#[test]
#[ignore = "needs hack/components promtool (a Go build): hack/test runs it"]
fn a_tenants_budget_and_slo_alerts_fire_on_its_own_series_only() -> Result<()> {
    let promtool = promtool()?;
    let dir = scratch("tenant-rules")?;
    let tenant: Tenant = serde_json::from_value(json!({
        "apiVersion": "shop.pilab.hu/v1alpha1", "kind": "Tenant",
        "metadata": {"name": "acme", "namespace": "shop"},
        "spec": {"tenantId": "acme", "tenantType": "production",
            "billing": {"monthlyBudget": 100.0, "budgetAlertThreshold": 0.8},
            "monitoring": {"targetAvailability": 0.99}}
    }))?;
    let rule = build::tenant_objects(&tenant, &BuildContext::default())?
        .into_iter()
        .find(|o| o.kind == "PrometheusRule")
        .context("a PrometheusRule")?;
    let ns = rule.namespace.clone().context("namespace")?;
    let mut spec = rule.manifest["spec"].clone();
    for g in spec["groups"].as_array_mut().context("groups")? {
        for r in g["rules"].as_array_mut().context("rules")? {
            r.as_object_mut().context("rule")?.remove("annotations");
        }
    }
    check_rules(&promtool, &spec, &dir, "tenant-rules.yaml")?;
    let labels = |severity: &str, extra: Value| {
        let mut l = json!({"severity": severity, "tenant": "acme", "environment": "production",
            "namespace": ns});
        for (k, v) in extra.as_object().into_iter().flatten() {
            l[k] = v.clone();
        }
        l
    };
    let used = |n: &str| {
        format!(
            "tenant_operator_tenant_budget_used_ratio{{namespace=\"{n}\",tenant=\"shop/acme\"}}"
        )
    };
    let forecast = |n: &str| {
        format!(
            "tenant_operator_tenant_budget_forecast_ratio{{namespace=\"{n}\",tenant=\"shop/acme\"}}"
        )
    };
    let requests = |service: &str, code: &str| {
        format!("http_requests_total{{namespace=\"{ns}\",service=\"{service}\",code=\"{code}\"}}")
    };
    let tests = json!({
        "rule_files": ["tenant-rules.yaml"],
        "evaluation_interval": "1m",
        "tests": [
            {
                "interval": "1m",
                "input_series": [
                    // 50 % until 10m, 90 % until 20m, then 120 %; another namespace always 500 %
                    {"series": used(&ns), "values": "0.5x10 0.9x10 1.2x10"},
                    {"series": forecast(&ns), "values": "1.5x30"},
                    {"series": used("tenant-other-production"), "values": "5x30"},
                ],
                "alert_rule_test": [
                    {"eval_time": "9m", "alertname": "TenantBudgetOverThreshold", "exp_alerts": []},
                    {"eval_time": "19m", "alertname": "TenantBudgetOverThreshold",
                     "exp_alerts": [{"exp_labels": labels("warning", json!({}))}]},
                    {"eval_time": "19m", "alertname": "TenantBudgetExceeded", "exp_alerts": []},
                    {"eval_time": "25m", "alertname": "TenantBudgetExceeded",
                     "exp_alerts": [{"exp_labels": labels("critical", json!({}))}]},
                    {"eval_time": "25m", "alertname": "TenantBudgetOverThreshold", "exp_alerts": []},
                    // the month to date is over the threshold: the forecast alert stays quiet
                    {"eval_time": "29m", "alertname": "TenantBudgetForecastOverThreshold", "exp_alerts": []},
                ],
            },
            {
                "interval": "1m",
                "input_series": [
                    {"series": used(&ns), "values": "0.3x60"},
                    {"series": forecast(&ns), "values": "0.95x60"},
                ],
                "alert_rule_test": [
                    {"eval_time": "20m", "alertname": "TenantBudgetForecastOverThreshold", "exp_alerts": []},
                    {"eval_time": "45m", "alertname": "TenantBudgetForecastOverThreshold",
                     "exp_alerts": [{"exp_labels": labels("warning", json!({}))}]},
                ],
            },
            {
                "interval": "1m",
                "input_series": [
                    {"series": requests("api", "200"), "values": "0+100x120"},
                    {"series": requests("api", "500"), "values": "0+50x120"},
                    {"series": requests("web", "200"), "values": "0+100x120"},
                    {"series": requests("web", "500"), "values": "0+0x120"},
                ],
                "alert_rule_test": [
                    {"eval_time": "70m", "alertname": "TenantErrorBudgetBurn",
                     "exp_alerts": [{"exp_labels": labels("critical", json!({"service": "api"}))}]},
                ],
            },
        ],
    });
    std::fs::write(
        dir.join("tenant-rules.test.yaml"),
        serde_saphyr::to_string(&tests)?,
    )?;
    let out = run(
        &promtool,
        &["test", "rules", "tenant-rules.test.yaml"],
        &dir,
    )?;
    ensure!(out.status.success(), "promtool test rules: {}", text(&out));
    // turned around (the healthy service expected to alert), it must fail
    let mut wrong = tests.clone();
    wrong["tests"][2]["alert_rule_test"][0]["exp_alerts"] = json!([
        {"exp_labels": labels("critical", json!({"service": "api"}))},
        {"exp_labels": labels("critical", json!({"service": "web"}))},
    ]);
    std::fs::write(
        dir.join("wrong.test.yaml"),
        serde_saphyr::to_string(&wrong)?,
    )?;
    let out = run(&promtool, &["test", "rules", "wrong.test.yaml"], &dir)?;
    ensure!(
        !out.status.success(),
        "promtool passed a wrong expectation: {}",
        text(&out)
    );
    Ok(())
}

fn resource(kind: &str, plural: &str) -> ApiResource {
    ApiResource {
        group: "monitoring.coreos.com".into(),
        version: "v1".into(),
        api_version: "monitoring.coreos.com/v1".into(),
        kind: kind.into(),
        plural: plural.into(),
    }
}

#[tokio::test]
#[ignore = "needs the local control plane and hack/components: hack/test runs it"]
async fn the_monitoring_objects_are_accepted_by_the_api_server() -> Result<()> {
    let plane = ControlPlane::get().await?;
    let admin = plane.admin_client().await?;
    let crds = testenv::component("prometheus-crds")?;
    for crd in ["prometheusrules", "servicemonitors"] {
        let text = std::fs::read_to_string(crds.join(format!("monitoring.coreos.com_{crd}.yaml")))?;
        apply_yaml(&admin, &text, None).await?;
    }
    apply_yaml(
        &admin,
        &std::fs::read_to_string(repo_path("deploy/operator/namespace.yaml"))?,
        None,
    )
    .await?;

    // As the docs say to install it; retried until the new CRDs are served.
    let dir = repo_path(MONITORING);
    let applied = poll_until(
        "kubectl apply -k deploy/operator/monitoring",
        TIMEOUT,
        || {
            let mut kubectl = plane.kubectl();
            kubectl.args(["apply", "--server-side", "-k", &dir]);
            async move {
                let out = kubectl.output().map_err(|e| e.to_string())?;
                if out.status.success() {
                    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
                } else {
                    Err(text(&out))
                }
            }
        },
    )
    .await?;
    for what in [
        "servicemonitor.monitoring.coreos.com/tenant-operator",
        "prometheusrule.monitoring.coreos.com/tenant-operator",
        "configmap/tenant-operator-dashboard",
    ] {
        ensure!(applied.contains(what), "{what} not applied: {applied}");
    }

    // What the server stored is what the files say (nothing pruned as unknown fields).
    let ns = "tenant-system";
    let rules: Api<DynamicObject> = Api::namespaced_with(
        admin.clone(),
        ns,
        &resource("PrometheusRule", "prometheusrules"),
    );
    let stored = rules.get("tenant-operator").await?;
    let rule = operator_rule()?;
    ensure!(
        stored.data["spec"] == rule["spec"],
        "stored spec differs: {}",
        stored.data["spec"]
    );
    let monitors: Api<DynamicObject> = Api::namespaced_with(
        admin.clone(),
        ns,
        &resource("ServiceMonitor", "servicemonitors"),
    );
    let monitor = monitors.get("tenant-operator").await?;
    ensure!(
        monitor.data["spec"]["endpoints"][0]["port"] == "metrics"
            && monitor.data["spec"]["jobLabel"] == "app.kubernetes.io/name",
        "{}",
        monitor.data["spec"]
    );
    // The ServiceMonitor selects the operator's metrics Service, by its labels and port name.
    let service = &yaml_docs(&repo_path("deploy/operator/service.yaml"))?[0];
    for (k, v) in monitor.data["spec"]["selector"]["matchLabels"]
        .as_object()
        .context("matchLabels")?
    {
        ensure!(
            service["metadata"]["labels"][k] == *v,
            "the Service has no label {k}={v}"
        );
    }
    ensure!(service["spec"]["ports"][0]["name"] == "metrics");
    ensure!(service["metadata"]["namespace"] == ns);
    let cms: Api<k8s_openapi::api::core::v1::ConfigMap> = Api::namespaced(admin.clone(), ns);
    let cm = cms.get("tenant-operator-dashboard").await?;
    ensure!(
        cm.metadata
            .labels
            .as_ref()
            .and_then(|l| l.get("grafana_dashboard"))
            .map(String::as_str)
            == Some("1"),
        "{:?}",
        cm.metadata.labels
    );
    let dashboard: Value = serde_json::from_str(
        cm.data
            .as_ref()
            .and_then(|d| d.get("tenant-operator.json"))
            .context("tenant-operator.json")?,
    )?;
    ensure!(
        dashboard["uid"] == "tenant-operator",
        "{}",
        dashboard["uid"]
    );

    // The schema is enforced: a `for:` that is not a Prometheus duration is refused.
    let mut bad = rule.clone();
    bad["metadata"]["name"] = json!("tenant-operator-bad-duration");
    bad["spec"]["groups"][0]["rules"][0]["for"] = json!("five minutes");
    let refused = rules
        .patch(
            "tenant-operator-bad-duration",
            &PatchParams::apply(common::TEST_MANAGER),
            &Patch::Apply(&bad),
        )
        .await;
    match refused {
        Err(kube::Error::Api(e)) if e.code == 422 => Ok(()),
        other => bail!("a rule with for: \"five minutes\" should be refused with 422: {other:?}"),
    }
}
