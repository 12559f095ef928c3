//! The tenant's monitoring objects on the local control plane with every prometheus-operator CRD
//! (from its Go module) installed, so the API server validates each object against the real
//! schemas: a Tenant with services, SLO targets, a budget, alert receivers, a billing e-mail,
//! dashboards and log settings gets its PrometheusRule (quota, SLO and budget groups),
//! ServiceMonitor, AlertmanagerConfig and dashboard ConfigMaps, all confined to its namespace;
//! `MonitoringReady=True`; the namespace carries the logging label and retention annotations;
//! the tenant's own admin cannot edit or delete them; turning features off removes exactly
//! those objects; a restarted operator writes nothing.
//!
//! A test binary of its own: installing CRDs changes the whole control plane.
#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)]

mod common;

use std::time::Duration;

use anyhow::{Context, Result, ensure};
use common::*;
use k8s_openapi::api::core::v1::{ConfigMap, Namespace};
use kube::api::{Api, ApiResource, DeleteParams, DynamicObject, Patch, PatchParams, PostParams};
use serde_json::json;
use tenant_api::{Phase, Tenant, condition as c, labels};
use testenv::poll_until;

fn resource(version: &str, kind: &str, plural: &str) -> ApiResource {
    ApiResource {
        group: "monitoring.coreos.com".into(),
        version: version.into(),
        api_version: format!("monitoring.coreos.com/{version}"),
        kind: kind.into(),
        plural: plural.into(),
    }
}

async fn install_prometheus_crds(h: &Harness) -> Result<()> {
    let dir = testenv::component("prometheus-crds")?;
    for name in ["prometheusrules", "servicemonitors", "alertmanagerconfigs"] {
        let text = std::fs::read_to_string(dir.join(format!("monitoring.coreos.com_{name}.yaml")))?;
        apply_yaml(&h.admin, &text, None).await?;
    }
    for name in ["prometheusrules", "servicemonitors", "alertmanagerconfigs"] {
        wait_established(&h.admin, &format!("{name}.monitoring.coreos.com")).await?;
    }
    Ok(())
}

#[tokio::test]
#[ignore = "needs the local control plane and hack/components: hack/test runs it"]
async fn a_tenants_monitoring_objects_are_applied_confined_and_kept() -> Result<()> {
    let h = Harness::new("mon").await?;
    install_prometheus_crds(&h).await?;
    // The budget makes the tenant accounted: accrue at once, so its first status.cost is
    // written before the restart below.
    let configure = |c: &mut tenant_operator::Config| {
        c.cost_interval = Duration::from_secs(1);
        c.cost_write_interval = Duration::from_secs(600);
    };
    let op = h.start_operator_with(configure).await?;
    op.wait_ready().await?;

    let mut t = h.tenant("mon");
    t.spec.owner = Some("alice".into());
    t.spec.services = Some(vec!["api".into()]);
    t.spec.quota = Some(from_json(json!({"cpuQuota": "4", "podQuota": 20})));
    t.spec.billing = Some(from_json(json!({
        "monthlyBudget": 500.0, "budgetAlertThreshold": 0.9,
        "billingEmail": "billing@mon.example"
    })));
    t.spec.monitoring = Some(from_json(json!({
        "metricsRetention": "30d", "loggingEnabled": true, "logRetention": "7d",
        "alertReceivers": ["oncall@mon.example"],
        "targetAvailability": 0.995, "targetLatency": "200ms",
        "dashboardsEnabled": true,
        "customDashboards": [{"name": "orders", "json": "{\"title\": \"Orders\", \"panels\": []}"}]
    })));
    let name = h.create(&t).await?.metadata.name.context("name")?;
    let running = h.wait_phase(&name, Phase::Running).await?;
    let ns = status_namespace(&running)?;
    let tenants = h.tenants();
    poll_until("MonitoringReady=True and BudgetOK", TIMEOUT, || {
        let (tenants, name) = (tenants.clone(), name.clone());
        async move {
            let t = tenants.get(&name).await.map_err(|e| e.to_string())?;
            match (
                condition(&t, c::MONITORING_READY),
                condition(&t, c::BUDGET_OK),
            ) {
                (Some(m), Some(_)) if m.status == "True" => Ok(()),
                _ => Err(conditions(&t)),
            }
        }
    })
    .await?;

    // The PrometheusRule: three groups, every selector on the tenant namespace.
    let rules: Api<DynamicObject> = Api::namespaced_with(
        h.admin.clone(),
        &ns,
        &resource("v1", "PrometheusRule", "prometheusrules"),
    );
    let rule = rules.get("tenant-alerts").await?;
    let groups: Vec<String> = rule.data["spec"]["groups"]
        .as_array()
        .context("groups")?
        .iter()
        .map(|g| g["name"].as_str().unwrap_or("").to_string())
        .collect();
    ensure!(
        groups == ["tenant-quota", "tenant-slo", "tenant-budget"],
        "{groups:?}"
    );
    for g in rule.data["spec"]["groups"].as_array().unwrap() {
        for r in g["rules"].as_array().unwrap() {
            let e = r["expr"].as_str().unwrap();
            ensure!(
                e.contains(&format!("namespace=\"{ns}\"")) && !e.contains("namespace=~"),
                "{e}"
            );
            ensure!(r["labels"]["tenant"] == t.spec.tenant_id.as_str(), "{r}");
            ensure!(r["labels"]["notify"] == "tenant", "{r}");
        }
    }

    // ServiceMonitor and AlertmanagerConfig, accepted by the real schemas.
    let monitors: Api<DynamicObject> = Api::namespaced_with(
        h.admin.clone(),
        &ns,
        &resource("v1", "ServiceMonitor", "servicemonitors"),
    );
    let sm = monitors.get("tenant-services").await?;
    ensure!(
        sm.data["spec"]["namespaceSelector"]["matchNames"] == json!([ns]),
        "{:?}",
        sm.data
    );
    let routing: Api<DynamicObject> = Api::namespaced_with(
        h.admin.clone(),
        &ns,
        &resource("v1alpha1", "AlertmanagerConfig", "alertmanagerconfigs"),
    );
    let amc = routing.get("tenant-alerts").await?;
    let receivers = &amc.data["spec"]["receivers"];
    ensure!(
        receivers[0]["emailConfigs"][0]["to"] == "oncall@mon.example"
            && receivers[1]["emailConfigs"][0]["to"] == "billing@mon.example",
        "{receivers}"
    );

    // Dashboards for Grafana's sidecar.
    let cms: Api<ConfigMap> = Api::namespaced(h.admin.clone(), &ns);
    for (cm, key) in [
        (
            "tenant-dashboard",
            format!("{}.json", "tenant-".to_string() + &t.spec.tenant_id),
        ),
        ("tenant-dashboard-orders", "orders.json".to_string()),
    ] {
        let got = cms.get(cm).await.with_context(|| cm.to_string())?;
        ensure!(
            got.metadata
                .labels
                .as_ref()
                .and_then(|l| l.get("grafana_dashboard"))
                .map(String::as_str)
                == Some("1"),
            "{cm}: {:?}",
            got.metadata.labels
        );
        let text = got
            .data
            .as_ref()
            .and_then(|d| d.get(&key))
            .with_context(|| format!("{cm} has {key}"))?;
        let _: serde_json::Value = serde_json::from_str(text)?;
    }

    // Log settings on the namespace.
    let namespace = Api::<Namespace>::all(h.admin.clone()).get(&ns).await?;
    let nl = namespace.metadata.labels.clone().unwrap_or_default();
    let na = namespace.metadata.annotations.clone().unwrap_or_default();
    ensure!(
        nl.get(labels::LOGGING).map(String::as_str) == Some("enabled"),
        "{nl:?}"
    );
    ensure!(
        na.get(labels::LOG_RETENTION).map(String::as_str) == Some("7d"),
        "{na:?}"
    );
    ensure!(
        na.get(labels::METRICS_RETENTION).map(String::as_str) == Some("30d"),
        "{na:?}"
    );

    // The tenant's admin can neither change nor delete them.
    let alice = h.cp.client_as("alice").await?;
    let alice_rules: Api<DynamicObject> = Api::namespaced_with(
        alice.clone(),
        &ns,
        &resource("v1", "PrometheusRule", "prometheusrules"),
    );
    refused(
        "alice deletes the tenant's PrometheusRule",
        alice_rules
            .delete("tenant-alerts", &DeleteParams::default())
            .await,
    )?;
    let alice_cms: Api<ConfigMap> = Api::namespaced(alice.clone(), &ns);
    refused(
        "alice edits the dashboard",
        alice_cms
            .patch(
                "tenant-dashboard",
                &PatchParams::default(),
                &Patch::Merge(json!({"data": {"x": "y"}})),
            )
            .await,
    )?;

    // A restart writes nothing.
    op.stop().await?;
    let since = jiff::Timestamp::now();
    let op = h.start_operator_with(configure).await?;
    op.wait_ready().await?;
    tokio::time::sleep(Duration::from_secs(4)).await;
    let writes = operator_writes_since(h.cp, since, &[h.ns.clone(), ns.clone()])?;
    ensure!(writes.is_empty(), "writes after a restart: {writes:#?}");

    // Features off: exactly their objects go.
    let mut off: Tenant = h.get(&name).await?;
    let m = off.spec.monitoring.as_mut().unwrap();
    m.metrics_enabled = Some(false);
    m.dashboards_enabled = Some(false);
    m.alert_receivers = None;
    off.spec.billing.as_mut().unwrap().billing_email = None;
    h.tenants()
        .replace(&name, &PostParams::default(), &off)
        .await?;
    poll_until(
        "the monitor, routing and dashboards pruned",
        TIMEOUT,
        || {
            let (monitors, routing, cms) = (monitors.clone(), routing.clone(), cms.clone());
            async move {
                let sm = monitors
                    .get_opt("tenant-services")
                    .await
                    .map_err(|e| e.to_string())?;
                let amc = routing
                    .get_opt("tenant-alerts")
                    .await
                    .map_err(|e| e.to_string())?;
                let d1 = cms
                    .get_opt("tenant-dashboard")
                    .await
                    .map_err(|e| e.to_string())?;
                let d2 = cms
                    .get_opt("tenant-dashboard-orders")
                    .await
                    .map_err(|e| e.to_string())?;
                if sm.is_none() && amc.is_none() && d1.is_none() && d2.is_none() {
                    Ok(())
                } else {
                    Err(format!(
                        "left: monitor {} routing {} dashboards {} {}",
                        sm.is_some(),
                        amc.is_some(),
                        d1.is_some(),
                        d2.is_some()
                    ))
                }
            }
        },
    )
    .await?;
    ensure!(
        rules.get_opt("tenant-alerts").await?.is_some(),
        "the rule stays"
    );

    h.teardown().await?;
    op.stop().await
}
