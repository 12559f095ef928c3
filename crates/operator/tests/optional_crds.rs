//! A concern whose kind comes from another project's CRD (monitoring: prometheus-operator's
//! PrometheusRule, with the real CRD from its Go module): without the CRD the Tenant is Ready and
//! reports `MonitoringReady=False, CRDNotInstalled`; the CRD installed while the operator runs is
//! picked up without a restart, its objects are drift-watched like built-in ones, and removing
//! the CRD again is reported the same way.
//!
//! A test binary of its own: installing a CRD changes the whole control plane.
#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)]

mod common;

use anyhow::{Context, Result, ensure};
use common::{Harness, TIMEOUT, apply_yaml, condition, conditions, status_namespace};
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{Api, ApiResource, DeleteParams, DynamicObject};
use tenant_api::{Phase, QuotaSpec, condition as c};
use testenv::poll_until;

const CRD: &str = "prometheusrules.monitoring.coreos.com";
const RULE: &str = "tenant-alerts";

fn rules_resource() -> ApiResource {
    ApiResource {
        group: "monitoring.coreos.com".into(),
        version: "v1".into(),
        api_version: "monitoring.coreos.com/v1".into(),
        kind: "PrometheusRule".into(),
        plural: "prometheusrules".into(),
    }
}

#[tokio::test]
#[ignore = "needs the local control plane and hack/components: hack/test runs it"]
async fn a_crd_installed_later_is_picked_up_and_its_absence_reported() -> Result<()> {
    let h = Harness::new("op-crd").await?;
    let crds: Api<CustomResourceDefinition> = Api::all(h.admin.clone());
    ensure!(
        crds.get_opt(CRD).await?.is_none(),
        "this test needs a plane without {CRD}"
    );
    let op = h.start_operator().await?;
    op.wait_ready().await?;

    let mut t = h.tenant("crd");
    t.spec.quota = Some(QuotaSpec {
        cpu_quota: Some("2".into()),
        pod_quota: Some(10),
        ..Default::default()
    });
    let name = h.create(&t).await?.metadata.name.context("name")?;

    // Without the CRD: Running and Ready, the integration reported as not installed.
    let running = h.wait_phase(&name, Phase::Running).await?;
    let mon = condition(&running, c::MONITORING_READY).context("MonitoringReady")?;
    ensure!(
        mon.status == "False" && mon.reason == "CRDNotInstalled",
        "{}",
        conditions(&running)
    );
    ensure!(
        condition(&running, c::READY).is_some_and(|r| r.status == "True"),
        "{}",
        conditions(&running)
    );
    let ns = status_namespace(&running)?;

    // The CRD installed while the operator runs: the rule appears, MonitoringReady turns True.
    let dir = testenv::component("prometheus-crds")?;
    let text = std::fs::read_to_string(dir.join("monitoring.coreos.com_prometheusrules.yaml"))?;
    apply_yaml(&h.admin, &text, None).await?;
    let rules: Api<DynamicObject> = Api::namespaced_with(h.admin.clone(), &ns, &rules_resource());
    let tenants = h.tenants();
    poll_until(
        "the PrometheusRule applied and MonitoringReady=True",
        TIMEOUT,
        || {
            let (rules, tenants, name) = (rules.clone(), tenants.clone(), name.clone());
            async move {
                let rule = rules.get_opt(RULE).await.map_err(|e| e.to_string())?;
                let t = tenants.get(&name).await.map_err(|e| e.to_string())?;
                let ok = condition(&t, c::MONITORING_READY).is_some_and(|m| m.status == "True");
                match (rule, ok) {
                    (Some(_), true) => Ok(()),
                    (rule, _) => Err(format!(
                        "rule present: {}; {}",
                        rule.is_some(),
                        conditions(&t)
                    )),
                }
            }
        },
    )
    .await?;
    let rule = rules.get(RULE).await?;
    let expr = serde_json::to_string(&rule.data["spec"])?;
    ensure!(
        expr.contains(&format!("namespace=\\\"{ns}\\\"")),
        "the rule selects the tenant's namespace: {expr}"
    );

    // Drift-watched like a built-in kind: deleted, it comes back.
    let uid = rule.metadata.uid.clone();
    rules.delete(RULE, &DeleteParams::default()).await?;
    poll_until("the deleted PrometheusRule restored", TIMEOUT, || {
        let (rules, uid) = (rules.clone(), uid.clone());
        async move {
            match rules.get_opt(RULE).await.map_err(|e| e.to_string())? {
                Some(r) if r.metadata.uid != uid => Ok(()),
                _ => Err("not restored yet".to_string()),
            }
        }
    })
    .await?;

    // The CRD removed again: reported, the rest stays Ready.
    crds.delete(CRD, &DeleteParams::default()).await?;
    poll_until(
        "MonitoringReady=False CRDNotInstalled again",
        TIMEOUT,
        || {
            let (tenants, name) = (tenants.clone(), name.clone());
            async move {
                let t = tenants.get(&name).await.map_err(|e| e.to_string())?;
                let mon = condition(&t, c::MONITORING_READY);
                let ready = condition(&t, c::READY).is_some_and(|r| r.status == "True");
                if mon.is_some_and(|m| m.reason == "CRDNotInstalled") && ready {
                    Ok(())
                } else {
                    Err(conditions(&t))
                }
            }
        },
    )
    .await?;

    h.teardown().await?;
    op.stop().await
}
