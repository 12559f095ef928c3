//! PRStacks on the local control plane, with the PRStack controller on (`--prstacks`): a
//! preview runs through its Tenant with dedicated stores (kwok runs the pods, claims bind to the
//! platform's volumes), parks at 0 replicas, and deleting it removes only what the operator
//! created. A preview an earlier operator made (its namespace and data in place before this
//! operator starts) is adopted without recreating the namespace, and `kubectl tenant migrate
//! --apply` (the real binary) hands it over to a Tenant with its data. A Tenant and a preview
//! run side by side, each fenced from the other.

mod common;

use std::collections::BTreeMap;
use std::process::Command;

use anyhow::{Result, ensure};
use k8s_openapi::api::apps::v1::{Deployment, StatefulSet};
use k8s_openapi::api::core::v1::{ConfigMap, Namespace, PersistentVolumeClaim, Secret};
use k8s_openapi::api::networking::v1::NetworkPolicy;
use kube::ResourceExt;
use kube::api::{Api, ListParams, Patch, PatchParams, PostParams};
use serde_json::json;
use tenant_api::{PRStack, labels};
use testenv::poll_until;

use common::*;

/// A pull request number no other test run on this control plane uses.
fn pr_number() -> i64 {
    let n = testenv::unique_name("pr");
    let h = n
        .bytes()
        .fold(7u64, |h, b| h.wrapping_mul(31).wrapping_add(u64::from(b)));
    i64::try_from(h % 90_000_000).unwrap_or(1) + 1_000_000
}

fn preview_ns(pr: i64) -> String {
    format!("pr-{pr}-shop-pilab-hu")
}

/// The platform's storage for one preview's dedicated stores: three volumes.
async fn storage(h: &Harness) -> Result<String> {
    static_storage(h, &["2Gi"; 3]).await
}

async fn start(h: &Harness, class: &str) -> Result<RunningOperator> {
    let class = class.to_string();
    h.start_operator_with(|c| {
        c.prstacks = true;
        c.prstack_host_pattern = "pr-{number}.preview.example.test".into();
        c.dedicated.storage_class = class;
    })
    .await
}

/// A PRStack in the test's namespace.
async fn create_prstack(h: &Harness, name: &str, pr: i64, active: bool) -> Result<()> {
    apply_value(
        &h.admin,
        &json!({
            "apiVersion": "shop.pilab.hu/v1alpha1", "kind": "PRStack",
            "metadata": {"name": name, "namespace": h.ns},
            "spec": {
                "prNumber": pr, "branch": "feature/x", "imageTag": format!("pr-{pr}-abc1234"),
                "active": active, "services": ["api-gateway"],
                "resourceLimits": {"cpuLimit": "4", "memoryLimit": "8Gi", "storageLimit": "10Gi"},
            },
        }),
    )
    .await?;
    Ok(())
}

/// A preview namespace as an earlier operator left it, before this one runs: labelled as that
/// operator's, with a marker ConfigMap and a claim holding data. Its uid, and the APIs of both.
async fn earlier_preview(
    h: &Harness,
    ns: &str,
) -> Result<(String, Api<ConfigMap>, Api<PersistentVolumeClaim>)> {
    let made = Api::<Namespace>::all(h.admin.clone())
        .create(
            &PostParams::default(),
            &from_json(json!({"metadata": {"name": ns,
                "labels": {"app.kubernetes.io/managed-by": "pishop-operator"}}})),
        )
        .await?;
    let maps: Api<ConfigMap> = Api::namespaced(h.admin.clone(), ns);
    maps.create(
        &PostParams::default(),
        &from_json(json!({"metadata": {"name": "marker"}, "data": {"orders": "42"}})),
    )
    .await?;
    let claims: Api<PersistentVolumeClaim> = Api::namespaced(h.admin.clone(), ns);
    claims
        .create(
            &PostParams::default(),
            &from_json(json!({"metadata": {"name": "old-data"}, "spec": {
                "accessModes": ["ReadWriteOnce"], "storageClassName": "none",
                "resources": {"requests": {"storage": "1Gi"}}}})),
        )
        .await?;
    Ok((made.uid().unwrap_or_default(), maps, claims))
}

fn prstacks(h: &Harness) -> Api<PRStack> {
    Api::namespaced(h.admin.clone(), &h.ns)
}

/// Waits until the PRStack reports `phase` for its current generation.
async fn wait_prstack(h: &Harness, name: &str, phase: &str) -> Result<PRStack> {
    let api = prstacks(h);
    let name = name.to_string();
    let phase = phase.to_string();
    Ok(
        poll_until(&format!("PRStack {name} {phase}"), TIMEOUT * 2, || {
            let api = api.clone();
            let name = name.clone();
            let phase = phase.clone();
            async move {
                let p = api.get(&name).await.map_err(|e| e.to_string())?;
                let st = p.status.clone().unwrap_or_default();
                let now = st.phase.map(|p| p.as_str().to_string()).unwrap_or_default();
                if now == phase && st.observed_generation == p.metadata.generation {
                    Ok(p)
                } else {
                    Err(format!("phase {now:?}, status {st:?}"))
                }
            }
        })
        .await?,
    )
}

async fn replicas(h: &Harness, ns: &str, name: &str) -> Result<Option<i32>> {
    let d: Api<Deployment> = Api::namespaced(h.admin.clone(), ns);
    Ok(d.get(name).await?.spec.and_then(|s| s.replicas))
}

#[tokio::test]
#[ignore = "needs the local control plane: hack/test runs it"]
async fn a_prstack_runs_with_its_stores_parks_and_cleans_up_only_what_it_created() -> Result<()> {
    let h = Harness::new("prs").await?;
    let class = storage(&h).await?;
    let pr = pr_number();
    let ns = preview_ns(pr);
    // Something in the PRStack's namespace that is not the preview's: it stays.
    let keep: Api<ConfigMap> = Api::namespaced(h.admin.clone(), &h.ns);
    keep.create(
        &PostParams::default(),
        &from_json(json!({"metadata": {"name": "not-the-previews"}, "data": {"k": "v"}})),
    )
    .await?;
    let op = start(&h, &class).await?;
    create_prstack(&h, "preview", pr, true).await?;
    let p = wait_prstack(&h, "preview", "Running").await?;
    let st = p.status.clone().unwrap_or_default();
    ensure!(st.namespace.as_deref() == Some(ns.as_str()), "{st:?}");
    let ready = st.conditions.iter().flatten().find(|c| c.type_ == "Ready");
    ensure!(ready.is_some_and(|c| c.status == "True"), "{st:?}");

    // Its Tenant: owned by the PRStack, a development tenant with dedicated stores and the host.
    let t = h.get("preview").await?;
    ensure!(
        tenant_core::migrate::previews(&t, p.metadata.uid.as_deref().unwrap_or_default()),
        "the preview Tenant is controlled by the PRStack: {:?}",
        t.metadata.owner_references
    );
    ensure!(t.spec.tenant_type == tenant_api::TenantType::Development);
    ensure!(
        t.spec.custom_domain.as_deref() == Some(format!("pr-{pr}.preview.example.test").as_str())
    );
    // The stores and the service run in the namespace, at the PR's image.
    let sets: Api<StatefulSet> = Api::namespaced(h.admin.clone(), &ns);
    let names: Vec<String> = sets
        .list(&ListParams::default())
        .await?
        .iter()
        .map(|s| s.name_any())
        .collect();
    for store in ["data-mongodb", "data-nats", "data-redis"] {
        ensure!(names.iter().any(|n| n == store), "{store} in {names:?}");
    }
    let d: Api<Deployment> = Api::namespaced(h.admin.clone(), &ns);
    let gw = d.get_opt("api-gateway").await?;
    let Some(gw) = gw else {
        anyhow::bail!(
            "no Deployment api-gateway in {ns}; Tenant: {}",
            serde_json::to_string(&h.get("preview").await?)?
        );
    };
    let image = gw
        .spec
        .as_ref()
        .and_then(|s| s.template.spec.as_ref())
        .map(|s| s.containers[0].image.clone().unwrap_or_default())
        .unwrap_or_default();
    ensure!(
        image.ends_with(&format!(":pr-{pr}-abc1234")),
        "image {image}"
    );
    ensure!(replicas(&h, &ns, "api-gateway").await? == Some(1));

    // Nothing to change: a restarted operator writes nothing to the preview, its Tenant or its
    // PRStack.
    op.stop().await?;
    let since = jiff::Timestamp::now();
    let op = start(&h, &class).await?;
    op.wait_ready().await?;
    tokio::time::sleep(std::time::Duration::from_secs(8)).await;
    let writes: Vec<String> = operator_writes_since(h.cp, since, &[ns.clone(), h.ns.clone()])?
        .into_iter()
        .filter(|w| !w.contains(" events "))
        .collect();
    ensure!(writes.is_empty(), "a restart wrote: {writes:?}");

    // Inactive: the services go to 0, the phase is Suspended.
    prstacks(&h)
        .patch(
            "preview",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"active": false}})),
        )
        .await?;
    wait_prstack(&h, "preview", "Suspended").await?;
    ensure!(
        replicas(&h, &ns, "api-gateway").await? == Some(0),
        "parked at 0"
    );

    // Deleted: its Tenant goes, and with it the namespace the operator created; what the
    // operator did not create stays.
    prstacks(&h).delete("preview", &Default::default()).await?;
    h.wait_namespace_gone(&ns).await?;
    poll_until("the preview Tenant gone", TIMEOUT, || {
        let api = h.tenants();
        async move {
            match api.get_opt("preview").await.map_err(|e| e.to_string())? {
                None => Ok(()),
                Some(t) => Err(conditions(&t)),
            }
        }
    })
    .await?;
    ensure!(
        keep.get_opt("not-the-previews").await?.is_some(),
        "a foreign ConfigMap was deleted"
    );
    op.stop().await?;
    h.teardown().await
}

#[tokio::test]
#[ignore = "needs the local control plane: hack/test runs it"]
async fn an_earlier_operators_preview_is_adopted_with_its_data_and_migrated_to_a_tenant()
-> Result<()> {
    let h = Harness::new("prsadopt").await?;
    let class = storage(&h).await?;
    let pr = pr_number();
    let ns = preview_ns(pr);
    // As an earlier operator left it: the namespace, a claim holding data, a marker.
    let nsapi: Api<Namespace> = Api::all(h.admin.clone());
    let (uid, maps, claims) = earlier_preview(&h, &ns).await?;
    create_prstack(&h, "preview", pr, true).await?;

    // The operator starts with the PRStack already there.
    let op = start(&h, &class).await?;
    wait_prstack(&h, "preview", "Running").await?;
    let live = nsapi.get(&ns).await?;
    ensure!(
        live.uid().as_deref() == Some(uid.as_str()),
        "the namespace was recreated"
    );
    ensure!(
        live.annotations().get(labels::ADOPTED).map(String::as_str) == Some("true"),
        "marked adopted: {:?}",
        live.annotations()
    );
    ensure!(
        maps.get_opt("marker").await?.is_some(),
        "the marker is gone"
    );
    ensure!(
        claims.get_opt("old-data").await?.is_some(),
        "the claim is gone"
    );
    // Guardrails apply to it now: alice, who has nothing here, is refused.
    let alice = h.cp.client_as("alice").await?;
    refused(
        "alice reads the preview's secrets",
        Api::<Secret>::namespaced(alice, &ns)
            .list(&ListParams::default())
            .await,
    )?;

    // `kubectl tenant migrate --apply`, the real binary, hands it over to a Tenant.
    let out = kubectl_tenant_as_admin(
        &h,
        &[
            "migrate",
            "--apply",
            "-n",
            &h.ns,
            "preview",
            "--timeout",
            "120",
        ],
    )
    .await?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    ensure!(
        out.status.success(),
        "migrate --apply failed: {stdout}\n{stderr}"
    );
    ensure!(stdout.contains("handed over to Tenant"), "{stdout}");
    poll_until("the PRStack gone", TIMEOUT, || {
        let api = prstacks(&h);
        async move {
            match api.get_opt("preview").await.map_err(|e| e.to_string())? {
                None => Ok(()),
                Some(p) => Err(format!("still there: {:?}", p.metadata.finalizers)),
            }
        }
    })
    .await?;
    // The Tenant stays (no garbage collection through a removed owner), Running, in the same
    // namespace, with the data.
    stays_for(
        "the Tenant after the hand-over",
        std::time::Duration::from_secs(6),
        || {
            let api = h.tenants();
            async move {
                let t = api
                    .get_opt("preview")
                    .await
                    .map_err(|e| e.to_string())?
                    .ok_or("the Tenant is gone")?;
                if t.metadata.deletion_timestamp.is_some()
                    || t.metadata
                        .owner_references
                        .as_ref()
                        .is_some_and(|r| !r.is_empty())
                {
                    return Err(format!(
                        "deleted or still owned: {:?}",
                        t.metadata.owner_references
                    ));
                }
                Ok(())
            }
        },
    )
    .await?;
    let t = h.wait_phase("preview", tenant_api::Phase::Running).await?;
    ensure!(status_namespace(&t)? == ns);
    ensure!(
        t.labels().get(labels::PRSTACK).is_none(),
        "{:?}",
        t.labels()
    );
    ensure!(
        nsapi.get(&ns).await?.uid().as_deref() == Some(uid.as_str()),
        "the namespace was recreated"
    );
    ensure!(
        maps.get_opt("marker").await?.is_some() && claims.get_opt("old-data").await?.is_some(),
        "the data is gone"
    );

    // Deleting the Tenant: the adopted namespace stays, with what the operator did not create;
    // what it created goes, and its marks come off.
    h.delete_and_wait("preview").await?;
    let live = nsapi.get(&ns).await?;
    ensure!(
        live.uid().as_deref() == Some(uid.as_str()) && live.metadata.deletion_timestamp.is_none(),
        "the adopted namespace was deleted"
    );
    ensure!(
        !live.annotations().contains_key(labels::OWNER),
        "{:?}",
        live.annotations()
    );
    ensure!(
        !live.labels().contains_key(labels::TENANT_NAMESPACE),
        "{:?}",
        live.labels()
    );
    ensure!(
        maps.get_opt("marker").await?.is_some() && claims.get_opt("old-data").await?.is_some(),
        "the data is gone"
    );
    poll_until("what the operator created in it goes", TIMEOUT, || {
        let d: Api<Deployment> = Api::namespaced(h.admin.clone(), &ns);
        async move {
            match d.get_opt("api-gateway").await.map_err(|e| e.to_string())? {
                None => Ok(()),
                Some(_) => Err("the operator's Deployment is still there".to_string()),
            }
        }
    })
    .await?;
    op.stop().await?;
    let _ = nsapi.delete(&ns, &Default::default()).await;
    h.teardown().await
}

/// Without the PRStack controller (an earlier operator made the preview and was scaled down):
/// `migrate --apply` creates the Tenant, which adopts the namespace with its data.
#[tokio::test]
#[ignore = "needs the local control plane: hack/test runs it"]
async fn without_the_prstack_controller_migrate_apply_adopts_the_preview_into_a_new_tenant()
-> Result<()> {
    let h = Harness::new("prsmig").await?;
    let class = storage(&h).await?;
    let pr = pr_number();
    let ns = preview_ns(pr);
    let nsapi: Api<Namespace> = Api::all(h.admin.clone());
    let (uid, maps, claims) = earlier_preview(&h, &ns).await?;
    create_prstack(&h, "preview", pr, false).await?;
    let class2 = class.clone();
    let op = h
        .start_operator_with(|c| c.dedicated.storage_class = class2)
        .await?;
    op.wait_ready().await?;
    // The controller is off: nothing acts on the PRStack.
    tokio::time::sleep(std::time::Duration::from_secs(2)).await;
    ensure!(
        h.tenants().get_opt("preview").await?.is_none(),
        "a Tenant appeared without --prstacks"
    );
    ensure!(
        prstacks(&h).get("preview").await?.status.is_none(),
        "a status was written without --prstacks"
    );

    let out = kubectl_tenant_as_admin(
        &h,
        &[
            "migrate",
            "--apply",
            "-n",
            &h.ns,
            "--type",
            "staging",
            "preview",
            "--timeout",
            "40",
        ],
    )
    .await?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    ensure!(
        out.status.success(),
        "migrate --apply failed: {stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // An inactive preview becomes a Suspended staging Tenant in the same namespace.
    ensure!(stdout.contains("Suspended in namespace"), "{stdout}");
    let t = h
        .wait_phase("preview", tenant_api::Phase::Suspended)
        .await?;
    ensure!(t.spec.tenant_type == tenant_api::TenantType::Staging);
    ensure!(status_namespace(&t)? == ns);
    ensure!(
        nsapi.get(&ns).await?.uid().as_deref() == Some(uid.as_str()),
        "the namespace was recreated"
    );
    ensure!(
        maps.get_opt("marker").await?.is_some() && claims.get_opt("old-data").await?.is_some(),
        "the data is gone"
    );
    poll_until("the PRStack gone", TIMEOUT, || {
        let api = prstacks(&h);
        async move {
            match api.get_opt("preview").await.map_err(|e| e.to_string())? {
                None => Ok(()),
                Some(_) => Err("still there".to_string()),
            }
        }
    })
    .await?;
    // A second run finds nothing to hand over.
    let again =
        kubectl_tenant_as_admin(&h, &["migrate", "--apply", "-n", &h.ns, "preview"]).await?;
    ensure!(again.status.code() == Some(1), "{again:?}");
    h.delete_and_wait("preview").await?;
    ensure!(
        maps.get_opt("marker").await?.is_some() && claims.get_opt("old-data").await?.is_some(),
        "the data went with the Tenant"
    );
    op.stop().await?;
    let _ = nsapi.delete(&ns, &Default::default()).await;
    h.teardown().await
}

#[tokio::test]
#[ignore = "needs the local control plane: hack/test runs it"]
async fn a_tenant_and_a_preview_run_side_by_side_each_fenced_from_the_other() -> Result<()> {
    let h = Harness::new("prsside").await?;
    let class = storage(&h).await?;
    let pr = pr_number();
    let pns = preview_ns(pr);
    let op = start(&h, &class).await?;
    create_prstack(&h, "preview", pr, true).await?;
    let (_t, tns) = running_tenant(&h, "side", |t| {
        t.spec.owner = Some("alice".into());
        t.spec.services = Some(vec!["api-gateway".into()]);
    })
    .await?;
    wait_prstack(&h, "preview", "Running").await?;

    // alice owns the Tenant: she reads her own namespace and is refused the preview's.
    let alice = h.cp.client_as("alice").await?;
    wait_allowed(&alice, "list", "", "configmaps", Some(&tns)).await?;
    Api::<ConfigMap>::namespaced(alice.clone(), &tns)
        .list(&ListParams::default())
        .await?;
    refused(
        "alice reads the preview's secrets",
        Api::<Secret>::namespaced(alice.clone(), &pns)
            .list(&ListParams::default())
            .await,
    )?;
    refused(
        "alice deletes the preview's Deployment",
        Api::<Deployment>::namespaced(alice, &pns)
            .delete("api-gateway", &Default::default())
            .await,
    )?;
    // Neither namespace's network policies admit the other: no peer names it or selects every
    // namespace.
    for (ns, other) in [(&tns, &pns), (&pns, &tns)] {
        let pols: Api<NetworkPolicy> = Api::namespaced(h.admin.clone(), ns);
        let pols = pols.list(&ListParams::default()).await?.items;
        ensure!(!pols.is_empty(), "{ns} has network policies");
        for p in &pols {
            let text = serde_json::to_string(&p.spec)?;
            ensure!(
                !text.contains(other.as_str()),
                "{} in {ns} names {other}: {text}",
                p.name_any()
            );
        }
    }
    // The preview's stores are its own: its connection Secret points into its namespace only.
    let secrets: Api<Secret> = Api::namespaced(h.admin.clone(), &pns);
    let all: BTreeMap<String, String> = secrets
        .list(&ListParams::default())
        .await?
        .items
        .iter()
        .flat_map(|s| s.data.clone().unwrap_or_default())
        .map(|(k, v)| (k, String::from_utf8_lossy(&v.0).to_string()))
        .collect();
    ensure!(
        all.values().any(|v| v.contains(&format!(".{pns}.svc"))),
        "a connection string into {pns}"
    );
    ensure!(
        !all.values().any(|v| v.contains(tns.as_str())),
        "the preview's secrets name the tenant's namespace"
    );
    prstacks(&h).delete("preview", &Default::default()).await?;
    h.wait_namespace_gone(&pns).await?;
    h.teardown().await?;
    op.stop().await
}

/// Runs `kubectl-tenant args` with the admin kubeconfig, on a blocking thread: the operator
/// under test runs on this test's runtime and must go on meanwhile.
async fn kubectl_tenant_as_admin(h: &Harness, args: &[&str]) -> Result<std::process::Output> {
    let kubeconfig = h.cp.kubeconfig_path("admin");
    let args: Vec<String> = args.iter().map(|a| a.to_string()).collect();
    tokio::task::spawn_blocking(move || {
        Ok(Command::new(kubectl_tenant()?)
            .env("KUBECONFIG", kubeconfig)
            .args(args)
            .output()?)
    })
    .await?
}
