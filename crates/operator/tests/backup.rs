//! Backups with a real Velero: the server built from its Go module by `hack/components velero`
//! (with Velero's CRDs), run outside the cluster against the admin kubeconfig, storing backups
//! through our file-system ObjectStore plugin (tenant-operator.dev/filesystem) in a directory of
//! the test. A tenant with backups on gets a Schedule of its namespace only; Velero takes the
//! backup; `BackupReady` and `status.lastBackupTime` follow; a tenant user cannot create Velero
//! objects; a tenant admin's TenantRestore brings back a deleted ConfigMap, Secret and
//! Deployment, and is refused for a backup that is not the tenant's or with restores off;
//! `kubectl tenant backups` lists the backups; a staging tenant of the same tenantId is refreshed
//! from its backups by `restoreSchedule` (Secrets stay behind), and a restore from a tenant that
//! does not allow it is refused; a restart writes nothing; deleting the Tenant takes a last backup first, then removes its
//! Schedule and namespace.
#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)]

mod common;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use anyhow::{Context, Result, bail, ensure};
use common::*;
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{ConfigMap, Secret};
use kube::api::{Api, ApiResource, DynamicObject, PostParams};
use serde_json::{Value, json};
use tenant_api::condition as c;
use tenant_api::{TenantRestore, TenantRestoreStatus};
use testenv::poll_until;

const VELERO_NS: &str = "velero";

/// The Velero server process, stopped when dropped.
struct Velero(Child);

impl Drop for Velero {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The directory the file-system plugin keeps the backups in, removed when dropped.
struct Store(PathBuf);

impl Store {
    fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for Store {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn velero_api(client: &kube::Client, plural: &str, kind: &str) -> Api<DynamicObject> {
    let ar = ApiResource {
        group: "velero.io".into(),
        version: "v1".into(),
        api_version: "velero.io/v1".into(),
        kind: kind.into(),
        plural: plural.into(),
    };
    Api::namespaced_with(client.clone(), VELERO_NS, &ar)
}

fn free_port() -> Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

/// Velero's CRDs, its namespace, a stand-in for its Deployment (Velero looks its own
/// Deployment up when it restores; it runs outside the cluster here), a default
/// BackupStorageLocation on the file-system plugin, and the server itself.
async fn start_velero(h: &Harness, store: &Path) -> Result<Velero> {
    let dir = testenv::component("velero")?;
    for entry in std::fs::read_dir(dir.join("crds"))? {
        let path = entry?.path();
        if path.extension().is_some_and(|e| e == "yaml") {
            apply_yaml(&h.admin, &std::fs::read_to_string(&path)?, None).await?;
        }
    }
    apply_value(
        &h.admin,
        &json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": VELERO_NS}}),
    )
    .await?;
    apply_value(
        &h.admin,
        &json!({
            "apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": "velero", "namespace": VELERO_NS},
            "spec": {"replicas": 0, "selector": {"matchLabels": {"app": "velero"}},
                "template": {"metadata": {"labels": {"app": "velero"}},
                    "spec": {"containers": [{"name": "velero", "image": "velero/velero:v1.17.0"}]}}},
        }),
    )
    .await?;
    apply_value(
        &h.admin,
        &json!({
            "apiVersion": "velero.io/v1", "kind": "BackupStorageLocation",
            "metadata": {"name": "default", "namespace": VELERO_NS},
            "spec": {"provider": "tenant-operator.dev/filesystem", "default": true,
                "objectStorage": {"bucket": "backups"},
                "config": {"root": store.display().to_string()}},
        }),
    )
    .await?;
    let log = std::fs::File::create(h.cp.log_path(&format!("velero-{}", h.ns)))?;
    let child = Command::new(dir.join("velero"))
        .arg("server")
        .arg("--kubeconfig")
        .arg(h.cp.kubeconfig_path("admin"))
        .args(["--namespace", VELERO_NS])
        .arg("--plugin-dir")
        .arg(dir.join("plugins"))
        .arg(format!("--metrics-address=127.0.0.1:{}", free_port()?))
        .arg(format!("--profiler-address=127.0.0.1:{}", free_port()?))
        .current_dir(store)
        .stdout(Stdio::from(log.try_clone()?))
        .stderr(Stdio::from(log))
        .spawn()
        .context("starting velero server")?;
    let velero = Velero(child);
    let bsl = velero_api(&h.admin, "backupstoragelocations", "BackupStorageLocation");
    poll_until("the BackupStorageLocation Available", TIMEOUT, || {
        let bsl = bsl.clone();
        async move {
            let l = bsl.get("default").await.map_err(|e| e.to_string())?;
            match l.data.pointer("/status/phase").and_then(Value::as_str) {
                Some("Available") => Ok(()),
                other => Err(format!("phase {other:?}")),
            }
        }
    })
    .await?;
    Ok(velero)
}

/// The status of a TenantRestore once the operator is done with it.
async fn restore_finished(api: &Api<TenantRestore>, name: &str) -> Result<TenantRestoreStatus> {
    Ok(
        poll_until(&format!("TenantRestore {name} finished"), TIMEOUT, || {
            let api = api.clone();
            let name = name.to_string();
            async move {
                let r = api.get(&name).await.map_err(|e| e.to_string())?;
                match r.status {
                    Some(s) if s.finished() => Ok(s),
                    other => Err(format!("{other:?}")),
                }
            }
        })
        .await?,
    )
}

/// The entries of a backup's tarball in the store.
fn tarball(store: &Path, backup: &str) -> Result<Vec<String>> {
    let path: PathBuf = store
        .join("backups/backups")
        .join(backup)
        .join(format!("{backup}.tar.gz"));
    let out = Command::new("tar").arg("-tzf").arg(&path).output()?;
    ensure!(out.status.success(), "tar -tzf {}", path.display());
    Ok(String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(str::to_string)
        .collect())
}

#[tokio::test]
#[ignore = "needs the local control plane and hack/components velero: hack/test runs it"]
async fn velero_backs_up_the_tenant_namespace_and_a_last_backup_precedes_deletion() -> Result<()> {
    let h = Harness::new("backup").await?;
    let store = Store(std::env::temp_dir().join(testenv::unique_name("velero-store")));
    std::fs::create_dir_all(store.path())?;
    let _velero = start_velero(&h, store.path()).await?;
    let op = h
        .start_operator_with(|c| c.final_backup_timeout = Duration::from_secs(120))
        .await?;

    // A tenant with backups on (secrets included), and one asking for encryption on a location
    // the platform has not declared encrypting.
    let (t, ns) = running_tenant(&h, "bk", |t| {
        t.spec.owner = Some("alice".into());
        t.spec.backup_config = Some(from_json(json!({
            "enabled": true, "schedule": "* * * * *", "retention": "7d",
            "allowCrossTenantRestore": true,
        })));
    })
    .await?;
    let (enc, enc_ns) = running_tenant(&h, "bkenc", |t| {
        t.spec.backup_config = Some(from_json(json!({
            "enabled": true, "schedule": "0 3 * * *", "encryptionEnabled": true,
            "restoreEnabled": false,
        })));
    })
    .await?;

    // The tenant's own objects.
    let cms: Api<ConfigMap> = Api::namespaced(h.admin.clone(), &ns);
    cms.create(
        &PostParams::default(),
        &from_json(json!({"metadata": {"name": "app-settings"}, "data": {"theme": "dark"}})),
    )
    .await?;
    let secrets: Api<Secret> = Api::namespaced(h.admin.clone(), &ns);
    secrets
        .create(
            &PostParams::default(),
            &from_json(json!({"metadata": {"name": "app-token"}, "stringData": {"token": "t0k"}})),
        )
        .await?;
    // A volume claim: no volume data moves here (no kubelet, no CSI driver), but the claim
    // itself is one of the namespace's objects and is backed up as such.
    Api::<k8s_openapi::api::core::v1::PersistentVolumeClaim>::namespaced(h.admin.clone(), &ns)
        .create(
            &PostParams::default(),
            &from_json(json!({
                "metadata": {"name": "data"},
                "spec": {"accessModes": ["ReadWriteOnce"],
                    "resources": {"requests": {"storage": "100Mi"}}},
            })),
        )
        .await?;
    let deployments: Api<Deployment> = Api::namespaced(h.admin.clone(), &ns);
    deployments
        .create(
            &PostParams::default(),
            &from_json(json!({
                "metadata": {"name": "web"},
                "spec": {"replicas": 1, "selector": {"matchLabels": {"app": "web"}},
                    "template": {"metadata": {"labels": {"app": "web"}},
                        "spec": restricted_pod_spec(json!({"requests": {"cpu": "10m", "memory": "16Mi"},
                            "limits": {"cpu": "100m", "memory": "64Mi"}}))}},
            })),
        )
        .await?;

    // The Schedule: the tenant's namespace only, no cluster resources.
    let schedules = velero_api(&h.admin, "schedules", "Schedule");
    let schedule = poll_until("the tenant's Schedule", TIMEOUT, || {
        let schedules = schedules.clone();
        let ns = ns.clone();
        async move {
            schedules
                .get_opt(&ns)
                .await
                .map_err(|e| e.to_string())?
                .ok_or_else(|| "not yet".to_string())
        }
    })
    .await?;
    let tpl = &schedule.data["spec"]["template"];
    ensure!(tpl["includedNamespaces"] == json!([ns]), "{tpl}");
    ensure!(tpl["includeClusterResources"] == json!(false), "{tpl}");
    ensure!(tpl["ttl"] == json!("168h0m0s"), "{tpl}");

    // Velero runs a Schedule first at its next time after its creation: within two minutes
    // here. BackupReady and lastBackupTime follow.
    let done = poll_until(
        "BackupReady=True after the first backup",
        Duration::from_secs(200),
        || {
            let h = &h;
            let name = t.metadata.name.clone().unwrap();
            async move {
                let t = h.get(&name).await.map_err(|e| e.to_string())?;
                match condition(&t, c::BACKUP_READY) {
                    Some(cd) if cd.status == "True" && cd.reason == "BackupCompleted" => Ok(t),
                    other => Err(format!("{other:?}")),
                }
            }
        },
    )
    .await?;
    ensure!(
        done.status
            .as_ref()
            .and_then(|s| s.last_backup_time.as_ref())
            .is_some(),
        "lastBackupTime: {:?}",
        done.status
    );
    ensure!(
        done.status.as_ref().and_then(|s| s.phase) == Some(tenant_api::Phase::Running),
        "backups do not hold Ready"
    );
    let backups = velero_api(&h.admin, "backups", "Backup");
    let of_schedule = backups
        .list(&kube::api::ListParams::default().labels(&format!("velero.io/schedule-name={ns}")))
        .await?;
    let first = of_schedule
        .items
        .iter()
        .find(|b| b.data.pointer("/status/phase") == Some(&json!("Completed")))
        .context("a completed backup of the schedule")?;
    let first_name = first.metadata.name.clone().unwrap();
    ensure!(
        first
            .metadata
            .annotations
            .as_ref()
            .and_then(|a| a.get(tenant_api::labels::OWNER_UID))
            == t.metadata.uid.as_ref(),
        "Velero copied the owner uid onto the Backup"
    );
    let entries = tarball(store.path(), &first_name)?;
    // (created after the Schedule, the app's objects may or may not be in the first backup;
    // only the tenant's namespace is, whatever else the cluster holds)
    ensure!(
        entries
            .iter()
            .filter(|e| e.contains("/namespaces/"))
            .all(|e| e.contains(&format!("/namespaces/{ns}/"))
                || e.ends_with(&format!("/namespaces/{ns}.json"))),
        "only the tenant's namespace: {entries:#?}"
    );
    ensure!(
        entries
            .iter()
            .any(|e| e.contains(&format!("/namespaces/{ns}/"))),
        "the tenant's objects: {entries:#?}"
    );

    // Encryption asked for, not available: paused Schedule, BackupReady False, no Backup.
    let enc_name = enc.metadata.name.clone().unwrap();
    poll_until("EncryptionUnavailable", TIMEOUT, || {
        let h = &h;
        let name = enc_name.clone();
        async move {
            let t = h.get(&name).await.map_err(|e| e.to_string())?;
            match condition(&t, c::BACKUP_READY) {
                Some(cd) if cd.status == "False" && cd.reason == "EncryptionUnavailable" => Ok(()),
                other => Err(format!("{other:?}")),
            }
        }
    })
    .await?;
    let paused = schedules.get(&enc_ns).await?;
    ensure!(
        paused.data["spec"]["paused"] == json!(true),
        "{:?}",
        paused.data
    );
    let enc_backups = backups
        .list(
            &kube::api::ListParams::default().labels(&format!("velero.io/schedule-name={enc_ns}")),
        )
        .await?;
    ensure!(
        enc_backups.items.is_empty(),
        "a paused schedule takes no backup"
    );

    // A tenant admin cannot create Velero objects, in Velero's namespace or in its own.
    let alice = h.cp.client_as("alice").await?;
    let restore: DynamicObject = from_json(json!({
        "apiVersion": "velero.io/v1", "kind": "Restore",
        "metadata": {"name": "steal"},
        "spec": {"backupName": first_name, "includedNamespaces": ["*"]},
    }));
    let backup: DynamicObject = from_json(json!({
        "apiVersion": "velero.io/v1", "kind": "Backup",
        "metadata": {"name": "grab"},
        "spec": {"includedNamespaces": ["*"]},
    }));
    for (api, obj, what) in [
        (
            velero_api(&alice, "restores", "Restore"),
            &restore,
            "a Restore in velero",
        ),
        (
            velero_api(&alice, "backups", "Backup"),
            &backup,
            "a Backup in velero",
        ),
    ] {
        refused(what, api.create(&PostParams::default(), obj).await)?;
    }
    let own_ar = ApiResource {
        group: "velero.io".into(),
        version: "v1".into(),
        api_version: "velero.io/v1".into(),
        kind: "Backup".into(),
        plural: "backups".into(),
    };
    let own: Api<DynamicObject> = Api::namespaced_with(alice.clone(), &ns, &own_ar);
    refused(
        "a Backup in the tenant's namespace",
        own.create(&PostParams::default(), &backup).await,
    )?;

    // Self-service restore: a backup holding the tenant's ConfigMap, Secret and Deployment...
    let with_objects = poll_until(
        "a backup with the tenant's objects",
        Duration::from_secs(200),
        || {
            let backups = backups.clone();
            let (ns, store) = (ns.clone(), store.path().to_path_buf());
            async move {
                let list = backups
                    .list(
                        &kube::api::ListParams::default()
                            .labels(&format!("velero.io/schedule-name={ns}")),
                    )
                    .await
                    .map_err(|e| e.to_string())?;
                for b in list
                    .items
                    .iter()
                    .filter(|b| b.data.pointer("/status/phase") == Some(&json!("Completed")))
                {
                    let name = b.metadata.name.clone().unwrap_or_default();
                    let entries = tarball(&store, &name).map_err(|e| e.to_string())?;
                    if entries
                        .iter()
                        .any(|e| e.ends_with(&format!("namespaces/{ns}/web.json")))
                    {
                        return Ok(name);
                    }
                }
                Err("not yet".into())
            }
        },
    )
    .await?;
    // `kubectl tenant backups`: the tenant's backups, newest first, with their expiry.
    let listing = kubectl_tenant::backups::list(
        &h.admin,
        &h.ns,
        &t.metadata.name.clone().unwrap(),
        VELERO_NS,
    )
    .await?;
    ensure!(listing.tenant_exists, "{listing:?}");
    let row = listing
        .backups
        .iter()
        .find(|b| b.name == with_objects)
        .with_context(|| format!("{with_objects} listed: {listing:?}"))?;
    ensure!(
        row.phase == "Completed" && row.origin == "scheduled" && row.expires.is_some(),
        "{row:?}"
    );
    ensure!(
        listing.backups.iter().all(|b| b.name.starts_with(&ns)),
        "only this tenant's backups: {listing:?}"
    );
    let started: Vec<&Option<String>> = listing.backups.iter().map(|b| &b.started).collect();
    ensure!(
        started.windows(2).all(|w| w[0] >= w[1]),
        "newest first: {started:?}"
    );
    let table = kubectl_tenant::backups::table(&listing, false);
    ensure!(
        table.starts_with("NAME") && table.contains(&with_objects),
        "{table}"
    );
    let wide = kubectl_tenant::backups::table(&listing, true);
    ensure!(
        wide.lines()
            .next()
            .is_some_and(|h| h.contains("WARNINGS") && h.ends_with("FAILURE"))
            && wide.contains(&with_objects),
        "{wide}"
    );

    // Another environment of the same tenantId, refreshed from this one every minute: the
    // scheduled TenantRestore maps the backup's objects into its namespace; Secrets stay behind.
    let (stg, stg_ns) = running_tenant(&h, "bkstg", |s| {
        s.spec.tenant_id = t.spec.tenant_id.clone();
        s.spec.environment = Some("staging".into());
        s.spec.backup_config = Some(from_json(json!({
            "allowCrossTenantRestore": true, "restoreSchedule": "* * * * *",
            "restoreFromNamespace": ns,
        })));
    })
    .await?;
    let stg_requests: Api<TenantRestore> = Api::namespaced(h.admin.clone(), &stg_ns);
    let scheduled = poll_until(
        "a scheduled TenantRestore in the staging namespace",
        Duration::from_secs(90),
        || {
            let api = stg_requests.clone();
            async move {
                let list = api
                    .list(&Default::default())
                    .await
                    .map_err(|e| e.to_string())?;
                list.items
                    .iter()
                    .find_map(|r| {
                        r.metadata
                            .name
                            .clone()
                            .filter(|n| n.starts_with("scheduled-"))
                    })
                    .ok_or_else(|| "not yet".to_string())
            }
        },
    )
    .await?;
    let refreshed = restore_finished(&stg_requests, &scheduled).await?;
    ensure!(
        refreshed.phase.as_deref() == Some("Completed"),
        "{refreshed:?}"
    );
    ensure!(
        Api::<ConfigMap>::namespaced(h.admin.clone(), &stg_ns)
            .get_opt("app-settings")
            .await?
            .is_some(),
        "the ConfigMap refreshed into staging"
    );
    ensure!(
        Api::<Deployment>::namespaced(h.admin.clone(), &stg_ns)
            .get_opt("web")
            .await?
            .is_some(),
        "the Deployment refreshed into staging"
    );
    ensure!(
        Api::<Secret>::namespaced(h.admin.clone(), &stg_ns)
            .get_opt("app-token")
            .await?
            .is_none(),
        "Secrets never cross tenants"
    );
    let mapped = velero_api(&h.admin, "restores", "Restore")
        .get(refreshed.restore_name.as_deref().unwrap_or_default())
        .await?;
    ensure!(
        mapped.data["spec"]["namespaceMapping"] == json!({ns.clone(): stg_ns.clone()})
            && mapped.data["spec"]["existingResourcePolicy"] == json!("update"),
        "{:?}",
        mapped.data["spec"]
    );
    let stg_now = h.get(&stg.metadata.name.clone().unwrap()).await?;
    ensure!(
        stg_now
            .status
            .as_ref()
            .and_then(|s| s.last_scheduled_restore.as_ref())
            .is_some(),
        "lastScheduledRestore: {:?}",
        stg_now.status
    );
    // From a tenant that does not allow it (and has another tenantId): refused.
    stg_requests
        .create(
            &PostParams::default(),
            &from_json(json!({
                "apiVersion": "shop.pilab.hu/v1alpha1", "kind": "TenantRestore",
                "metadata": {"name": "from-elsewhere"},
                "spec": {"sourceNamespace": enc_ns},
            })),
        )
        .await?;
    let elsewhere = restore_finished(&stg_requests, "from-elsewhere").await?;
    ensure!(
        elsewhere.phase.as_deref() == Some("Refused") && elsewhere.restore_name.is_none(),
        "{elsewhere:?}"
    );
    // The fence holds a leaked operator token to that shape: no mapping into a system
    // namespace, no TenantRestore outside tenant namespaces.
    let token = h.cp.client_as(testenv::OPERATOR_USER).await?;
    let into_system: DynamicObject = from_json(json!({
        "apiVersion": "velero.io/v1", "kind": "Restore",
        "metadata": {"name": "exfiltrate"},
        "spec": {"backupName": with_objects, "includedNamespaces": [ns],
            "includeClusterResources": false, "namespaceMapping": {ns.clone(): "kube-system"}},
    }));
    let denied = velero_api(&token, "restores", "Restore")
        .create(&PostParams::default(), &into_system)
        .await;
    ensure!(
        matches!(&denied, Err(kube::Error::Api(e)) if e.message.contains("tenant-operator-fence")),
        "a mapped Restore into kube-system: {denied:?}"
    );
    let outside = Api::<TenantRestore>::namespaced(token.clone(), &h.ns)
        .create(
            &PostParams::default(),
            &from_json(json!({
                "apiVersion": "shop.pilab.hu/v1alpha1", "kind": "TenantRestore",
                "metadata": {"name": "outside"}, "spec": {},
            })),
        )
        .await;
    ensure!(
        matches!(&outside, Err(kube::Error::Api(e)) if e.message.contains("tenant-operator-fence")),
        "a TenantRestore outside tenant namespaces: {outside:?}"
    );
    // (the staging tenant goes, so its schedule does not restore during the restart below)
    h.delete_and_wait(&stg.metadata.name.clone().unwrap())
        .await?;

    // ...the three deleted by alice, brought back by her TenantRestore.
    Api::<ConfigMap>::namespaced(alice.clone(), &ns)
        .delete("app-settings", &Default::default())
        .await?;
    Api::<Secret>::namespaced(alice.clone(), &ns)
        .delete("app-token", &Default::default())
        .await?;
    Api::<Deployment>::namespaced(alice.clone(), &ns)
        .delete("web", &Default::default())
        .await?;
    poll_until("the objects gone", TIMEOUT, || {
        let deployments = deployments.clone();
        async move {
            match deployments
                .get_opt("web")
                .await
                .map_err(|e| e.to_string())?
            {
                None => Ok(()),
                Some(_) => Err("still there".into()),
            }
        }
    })
    .await?;
    let requests: Api<TenantRestore> = Api::namespaced(alice.clone(), &ns);
    requests
        .create(
            &PostParams::default(),
            &from_json(json!({
                "apiVersion": "shop.pilab.hu/v1alpha1", "kind": "TenantRestore",
                "metadata": {"name": "undo"},
                "spec": {"backupName": with_objects},
            })),
        )
        .await?;
    let done = restore_finished(&requests, "undo").await?;
    ensure!(done.phase.as_deref() == Some("Completed"), "{done:?}");
    ensure!(done.items_restored.unwrap_or(0) >= 3, "{done:?}");
    ensure!(
        cms.get_opt("app-settings").await?.is_some(),
        "ConfigMap restored"
    );
    ensure!(
        secrets.get_opt("app-token").await?.is_some(),
        "Secret restored"
    );
    ensure!(
        deployments.get_opt("web").await?.is_some(),
        "Deployment restored"
    );
    let vr = velero_api(&h.admin, "restores", "Restore")
        .get(done.restore_name.as_deref().unwrap_or_default())
        .await?;
    ensure!(
        vr.data["spec"]["includedNamespaces"] == json!([ns]),
        "{:?}",
        vr.data
    );
    ensure!(vr.data["spec"].get("namespaceMapping").is_none());
    // A backup that is not the tenant's, a tenant with restores off: refused, nothing restored.
    requests
        .create(
            &PostParams::default(),
            &from_json(json!({
                "apiVersion": "shop.pilab.hu/v1alpha1", "kind": "TenantRestore",
                "metadata": {"name": "foreign"},
                "spec": {"backupName": "someone-elses-backup"},
            })),
        )
        .await?;
    let foreign = restore_finished(&requests, "foreign").await?;
    ensure!(foreign.phase.as_deref() == Some("Refused"), "{foreign:?}");
    ensure!(foreign.restore_name.is_none(), "{foreign:?}");
    let enc_requests: Api<TenantRestore> = Api::namespaced(h.admin.clone(), &enc_ns);
    let off: TenantRestore = from_json(json!({
        "apiVersion": "shop.pilab.hu/v1alpha1", "kind": "TenantRestore",
        "metadata": {"name": "off"}, "spec": {},
    }));
    refused(
        "alice asking for a restore in another tenant's namespace",
        Api::<TenantRestore>::namespaced(alice.clone(), &enc_ns)
            .create(&PostParams::default(), &off)
            .await,
    )?;
    enc_requests.create(&PostParams::default(), &off).await?;
    let off = restore_finished(&enc_requests, "off").await?;
    ensure!(
        off.phase.as_deref() == Some("Refused")
            && off
                .message
                .as_deref()
                .is_some_and(|m| m.contains("restoreEnabled")),
        "{off:?}"
    );

    // A nightly schedule again (the Schedule follows the spec), so no backup ends during the
    // restart below; a restart writes nothing.
    let mut nightly = h.get(&t.metadata.name.clone().unwrap()).await?;
    nightly.spec.backup_config = Some(from_json(json!({
        "enabled": true, "schedule": "0 3 * * *", "retention": "7d",
    })));
    h.tenants()
        .replace(
            &nightly.metadata.name.clone().unwrap(),
            &PostParams::default(),
            &nightly,
        )
        .await?;
    poll_until("the Schedule nightly", TIMEOUT, || {
        let schedules = schedules.clone();
        let ns = ns.clone();
        async move {
            let s = schedules.get(&ns).await.map_err(|e| e.to_string())?;
            if s.data["spec"]["schedule"] == json!("0 3 * * *") {
                Ok(())
            } else {
                Err(format!("{}", s.data["spec"]["schedule"]))
            }
        }
    })
    .await?;
    // (a backup Velero started before the change ends first)
    poll_until("no backup running", Duration::from_secs(120), || {
        let backups = backups.clone();
        async move {
            let running = backups
                .list(&Default::default())
                .await
                .map_err(|e| e.to_string())?
                .items
                .iter()
                .filter(|b| {
                    !matches!(
                        b.data.pointer("/status/phase").and_then(Value::as_str),
                        Some("Completed" | "Failed" | "PartiallyFailed" | "FailedValidation")
                    )
                })
                .count();
            if running == 0 {
                Ok(())
            } else {
                Err(format!("{running} running"))
            }
        }
    })
    .await?;
    tokio::time::sleep(Duration::from_secs(6)).await;
    op.stop().await?;
    let since = jiff::Timestamp::now();
    let op = h
        .start_operator_with(|c| c.final_backup_timeout = Duration::from_secs(120))
        .await?;
    op.wait_ready().await?;
    tokio::time::sleep(Duration::from_secs(8)).await;
    let writes =
        operator_writes_since(h.cp, since, &[ns.clone(), enc_ns.clone(), VELERO_NS.into()])?;
    ensure!(writes.is_empty(), "writes after a restart: {writes:#?}");

    // Deleting the Tenant: a last backup first (with the tenant's objects), then the Schedule
    // and the namespace go; the earlier backups stay until their TTL.
    let name = t.metadata.name.clone().unwrap();
    let uid = t.metadata.uid.clone().unwrap();
    h.delete_and_wait(&name).await?;
    h.wait_namespace_gone(&ns).await?;
    let final_name = tenant_core::build::backup::final_backup_name(&t, &uid);
    let last = backups.get(&final_name).await?;
    ensure!(
        last.data.pointer("/status/phase") == Some(&json!("Completed")),
        "{:?}",
        last.data
    );
    let entries = tarball(store.path(), &final_name)?;
    for want in [
        format!("resources/configmaps/namespaces/{ns}/app-settings.json"),
        format!("resources/secrets/namespaces/{ns}/app-token.json"),
        format!("resources/persistentvolumeclaims/namespaces/{ns}/data.json"),
    ] {
        ensure!(
            entries.iter().any(|e| e.ends_with(&want)),
            "{want} in {entries:#?}"
        );
    }
    ensure!(
        schedules.get_opt(&ns).await?.is_none(),
        "the Schedule is deleted"
    );
    ensure!(
        backups.get_opt(&first_name).await?.is_some(),
        "earlier backups stay"
    );
    // What the Tenant left, as `kubectl tenant backups` shows it once the Tenant is gone.
    let left = kubectl_tenant::backups::list(&h.admin, &h.ns, &name, VELERO_NS).await?;
    ensure!(!left.tenant_exists, "{left:?}");
    ensure!(
        left.backups
            .first()
            .map(|b| (b.name.as_str(), b.origin.as_str(), b.phase.as_str()))
            == Some((final_name.as_str(), "final", "Completed")),
        "the final backup is the newest: {left:?}"
    );
    ensure!(
        left.backups.iter().any(|b| b.name == first_name),
        "{left:?}"
    );
    let events = Api::<k8s_openapi::api::events::v1::Event>::namespaced(h.admin.clone(), &h.ns)
        .list(&Default::default())
        .await?;
    let reasons: Vec<String> = events
        .items
        .iter()
        .filter(|e| e.regarding.as_ref().and_then(|r| r.name.as_deref()) == Some(name.as_str()))
        .filter_map(|e| e.reason.clone())
        .collect();
    for want in ["FinalBackup", "FinalBackupCompleted"] {
        if !reasons.iter().any(|r| r == want) {
            bail!("no {want} Event: {reasons:?}");
        }
    }
    // The tenant that asked for encryption gets no unencrypted last backup either.
    let enc_uid = enc.metadata.uid.clone().unwrap();
    h.delete_and_wait(&enc_name).await?;
    let enc_final = tenant_core::build::backup::final_backup_name(&enc, &enc_uid);
    ensure!(
        backups.get_opt(&enc_final).await?.is_none(),
        "no final backup without encryption"
    );
    h.teardown().await?;
    op.stop().await
}
