//! Dedicated data stores on the local control plane (kwok nodes): a Tenant in
//! `dataStores.mode: Dedicated` gets MongoDB, NATS and Redis as StatefulSets with headless
//! Services and claims in its namespace; the claims bind to the platform's volumes (a
//! StorageClass without a provisioner and PersistentVolumes made beforehand, as a platform with
//! static provisioning has them); the stores become ready, count against the quota, and the
//! connection Secret points at them. Rotation gives new passwords and restarts the stores.

use std::collections::BTreeMap;

use k8s_openapi::api::apps::v1::StatefulSet;
use k8s_openapi::api::core::v1::{PersistentVolumeClaim, ResourceQuota};
use kube::ResourceExt;
use kube::api::ListParams;
use tenant_api::{DataStoreMode, DataStores};
use testenv::poll_until;

use super::*;

#[tokio::test]
#[ignore = "needs the local control plane: hack/test runs it"]
async fn dedicated_stores_run_in_the_namespace_with_bound_volumes() -> Result<()> {
    let h = Harness::new("dedicated").await?;
    // The platform's storage: a class without a provisioner, and a volume per claim.
    let class = static_storage(&h, &["2Gi", "1Gi", "1Gi", "2Gi", "1Gi", "1Gi"]).await?;
    let op = h
        .start_operator_with(|c| c.dedicated.storage_class = class.clone())
        .await?;

    let (t, ns) = running_tenant(&h, "dd", |t| {
        t.spec.services = Some(vec!["api".into()]);
        t.spec.resource_limits = Some(tenant_api::ResourceLimits {
            storage_limit: Some("10Gi".into()),
            ..Default::default()
        });
        t.spec.data_stores = Some(DataStores {
            mode: Some(DataStoreMode::Dedicated),
            ..DataStores::default()
        });
    })
    .await?;
    let t = wait_data(&h, &t.name_any(), "True", "Provisioned").await?;
    let msg = condition(&t, "DataReady").unwrap().message.clone();
    for store in ["mongodb", "nats", "redis"] {
        ensure!(
            msg.contains(&format!("data-{store} in the namespace, 1/1 ready")),
            "DataReady names each store: {msg}"
        );
    }

    // The StatefulSets are ready, their claims bound to the platform's volumes.
    let sets: Api<StatefulSet> = Api::namespaced(h.admin.clone(), &ns);
    for s in sets.list(&ListParams::default()).await? {
        let st = s.status.clone().unwrap_or_default();
        ensure!(
            st.ready_replicas == Some(1),
            "{} ready: {st:?}",
            s.name_any()
        );
    }
    let claims: Api<PersistentVolumeClaim> = Api::namespaced(h.admin.clone(), &ns);
    let claims = claims.list(&ListParams::default()).await?.items;
    ensure!(claims.len() == 3, "a claim per store: {}", claims.len());
    for c in &claims {
        let phase = c.status.as_ref().and_then(|s| s.phase.clone());
        ensure!(
            phase.as_deref() == Some("Bound"),
            "claim {} {phase:?}",
            c.name_any()
        );
        ensure!(
            c.spec
                .as_ref()
                .and_then(|s| s.storage_class_name.as_deref())
                == Some(class.as_str()),
            "claim {} in the platform's class",
            c.name_any()
        );
    }

    // The stores count against the quota: their pods and claims are in its use.
    let quota = poll_until("the quota counts the stores", TIMEOUT, || {
        let api: Api<ResourceQuota> = Api::namespaced(h.admin.clone(), &ns);
        async move {
            let q = api
                .list(&ListParams::default())
                .await
                .map_err(|e| e.to_string())?
                .items
                .into_iter()
                .next()
                .ok_or("no quota")?;
            let used = q.status.clone().and_then(|s| s.used).unwrap_or_default();
            match used.get("pods").map(|q| q.0.as_str()) {
                Some("4") => Ok(q),
                other => Err(format!("pods used {other:?}")),
            }
        }
    })
    .await?;
    let used = quota.status.and_then(|s| s.used).unwrap_or_default();
    ensure!(
        used.get("requests.storage").map(|q| q.0.as_str()) == Some("4Gi"),
        "the claims count: {used:?}"
    );

    // The connection Secret points at the stores, with the passwords the stores read.
    let secret = |h: &Harness, ns: &str| {
        let api: Api<k8s_openapi::api::core::v1::Secret> = Api::namespaced(h.admin.clone(), ns);
        async move {
            let s = api.get("tenant-connections").await?;
            let d = s.data.unwrap_or_default();
            Ok::<_, anyhow::Error>(
                d.into_iter()
                    .map(|(k, v)| (k, String::from_utf8_lossy(&v.0).into_owned()))
                    .collect::<BTreeMap<_, _>>(),
            )
        }
    };
    let d = secret(&h, &ns).await?;
    ensure!(
        d["REDIS_URL"] == format!("redis://:{}@data-redis.{ns}.svc:6379", d["REDIS_PASSWORD"]),
        "REDIS_URL"
    );
    ensure!(
        d["MONGO_URI"].starts_with(&format!(
            "mongodb://tenant:{}@data-mongodb.{ns}.svc:27017/",
            d["MONGO_PASSWORD"]
        )),
        "MONGO_URI"
    );
    ensure!(
        d["NATS_URL"]
            == format!(
                "nats://tenant:{}@data-nats.{ns}.svc:4222",
                d["NATS_PASSWORD"]
            ),
        "NATS_URL"
    );
    let passwords = [
        &d["MONGO_PASSWORD"],
        &d["NATS_PASSWORD"],
        &d["REDIS_PASSWORD"],
    ];
    ensure!(
        passwords.iter().all(|p| p.len() == 32) && passwords[0] != passwords[1],
        "random passwords, one per store"
    );
    let status = serde_json::to_string(&h.get(&t.name_any()).await?.status)?;
    ensure!(
        passwords.iter().all(|p| !status.contains(p.as_str())),
        "no password in the status"
    );

    // A restarted operator finds the stores as they should be and writes nothing.
    op.stop().await?;
    let op = h
        .start_operator_with(|c| c.dedicated.storage_class = class.clone())
        .await?;
    op.wait_ready().await?;
    let m = op.metrics.clone();
    poll_until("the new instance reconciled the tenant", TIMEOUT, || {
        let done = m.reconciles_total();
        async move {
            if done >= 1 {
                Ok(())
            } else {
                Err("no reconcile yet".to_string())
            }
        }
    })
    .await?;
    tokio::time::sleep(Duration::from_secs(2)).await;
    ensure!(
        op.metrics.writes_total() == 0,
        "a resync of a dedicated tenant writes nothing: {}",
        op.metrics.encode()
    );

    // Rotation: new passwords, and the stores restart onto them.
    let before = sets.get("data-redis").await?;
    rotate(&h, &t.name_any(), "r1").await?;
    poll_until("new store passwords", TIMEOUT, || {
        let (h, ns, old) = (&h, ns.clone(), d["REDIS_PASSWORD"].clone());
        async move {
            let d = secret(h, &ns).await.map_err(|e| e.to_string())?;
            if d["REDIS_PASSWORD"] != old && d["REDIS_URL"].contains(&d["REDIS_PASSWORD"]) {
                Ok(())
            } else {
                Err("still the old password".to_string())
            }
        }
    })
    .await?;
    let d2 = secret(&h, &ns).await?;
    ensure!(
        d2["MONGO_PASSWORD"] == d["MONGO_PASSWORD"] && d2["NATS_PASSWORD"] != d["NATS_PASSWORD"],
        "MongoDB keeps its password, NATS and Redis rotate"
    );
    let after = poll_until("the store's template rolled", TIMEOUT, || {
        let sets = sets.clone();
        let old = before.metadata.generation;
        async move {
            let s = sets.get("data-redis").await.map_err(|e| e.to_string())?;
            if s.metadata.generation > old {
                Ok(s)
            } else {
                Err("same generation".to_string())
            }
        }
    })
    .await?;
    let annotations = after
        .spec
        .and_then(|s| s.template.metadata)
        .and_then(|m| m.annotations)
        .unwrap_or_default();
    ensure!(
        annotations
            .get("shop.pilab.hu/credentials-rotation")
            .map(String::as_str)
            == Some("r1"),
        "the rotation restarts the store: {annotations:?}"
    );
    wait_data(&h, &t.name_any(), "True", "Provisioned").await?;

    // Deleting the tenant keeps its stores' volumes (Retain is the default): the operator sets
    // them to Retain before the namespace and its claims go.
    let bound: Vec<String> = claims
        .iter()
        .filter_map(|c| c.spec.as_ref().and_then(|s| s.volume_name.clone()))
        .collect();
    ensure!(bound.len() == 3, "three bound volumes: {bound:?}");
    h.delete_and_wait(&t.name_any()).await?;
    let volumes: Api<k8s_openapi::api::core::v1::PersistentVolume> = Api::all(h.admin.clone());
    for v in &bound {
        let pv = poll_until(&format!("volume {v} released and kept"), TIMEOUT, || {
            let volumes = volumes.clone();
            let v = v.clone();
            async move {
                let pv = volumes.get(&v).await.map_err(|e| e.to_string())?;
                let phase = pv.status.as_ref().and_then(|s| s.phase.clone());
                if phase.as_deref() == Some("Released") {
                    Ok(pv)
                } else {
                    Err(format!("phase {phase:?}"))
                }
            }
        })
        .await?;
        ensure!(
            pv.spec
                .as_ref()
                .and_then(|s| s.persistent_volume_reclaim_policy.as_deref())
                == Some("Retain"),
            "volume {v} kept: {:?}",
            pv.spec
        );
        let note = pv
            .metadata
            .annotations
            .unwrap_or_default()
            .get("shop.pilab.hu/retained-for")
            .cloned()
            .unwrap_or_default();
        ensure!(
            note.contains(&t.name_any()),
            "volume {v} names its tenant: {note:?}"
        );
    }

    h.teardown().await?;
    op.stop().await?;
    Ok(())
}
