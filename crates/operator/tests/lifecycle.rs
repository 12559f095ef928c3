//! The operator against the local control plane: lifecycle, drift, pruning, conflicts, bad
//! input, zero-write resync. Run with a plane up: `TENANT_CP_DIR=... cargo test -p tenant-operator --test lifecycle`.
#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)]

mod common;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, ensure};
use common::*;
use k8s_openapi::api::core::v1::{LimitRange, Namespace, ResourceQuota};
use k8s_openapi::api::networking::v1::NetworkPolicy;
use k8s_openapi::api::rbac::v1::{ClusterRole, Role, RoleBinding};
use kube::api::{Api, DeleteParams, Patch, PatchParams, PostParams};
use kube::{Client, ResourceExt};
use serde_json::{Value, json};
use tenant_api::{Phase, Tenant, TenantPolicy, labels};
use testenv::{poll_until, unique_name};

async fn assert_guardrails(client: &Client, t: &Tenant) -> Result<String> {
    let ns_name = status_namespace(t)?;
    let ns = Api::<Namespace>::all(client.clone()).get(&ns_name).await?;
    let l = ns.labels();
    let a = ns.annotations();
    ensure!(
        l.get(labels::MANAGED_BY).map(String::as_str) == Some(labels::MANAGER),
        "{ns_name}: managed-by label: {l:?}"
    );
    ensure!(
        l.get(labels::TENANT_ID) == Some(&t.spec.tenant_id),
        "{ns_name}: tenant-id label"
    );
    ensure!(
        l.contains_key(labels::PSA_ENFORCE),
        "{ns_name}: no Pod Security enforce label: {l:?}"
    );
    ensure!(
        a.get(labels::OWNER)
            == Some(&format!(
                "Tenant/{}/{}",
                t.namespace().unwrap_or_default(),
                t.name_any()
            )),
        "{ns_name}: owner annotation {a:?}"
    );
    ensure!(
        a.get(labels::OWNER_UID) == t.metadata.uid.as_ref(),
        "{ns_name}: owner-uid annotation {a:?}"
    );
    let rq: Api<ResourceQuota> = Api::namespaced(client.clone(), &ns_name);
    let rqs = rq.list(&Default::default()).await?;
    ensure!(!rqs.items.is_empty(), "{ns_name}: no ResourceQuota");
    ensure!(
        rqs.items
            .iter()
            .all(|q| q.status.as_ref().and_then(|s| s.hard.as_ref()).is_some()),
        "{ns_name}: quota without status.hard"
    );
    let lr: Api<LimitRange> = Api::namespaced(client.clone(), &ns_name);
    ensure!(
        !lr.list(&Default::default()).await?.items.is_empty(),
        "{ns_name}: no LimitRange"
    );
    // The tenant roles are the shared ClusterRoles (or the tenant's own Roles where it overrides
    // them); every binding must point at one that exists.
    let cluster_roles: Api<ClusterRole> = Api::all(client.clone());
    for r in ["tenant-admin", "tenant-developer", "tenant-viewer"] {
        let cr = cluster_roles
            .get_opt(r)
            .await?
            .with_context(|| format!("no ClusterRole {r}"))?;
        ensure!(
            cr.labels().get(labels::MANAGED_BY).map(String::as_str) == Some(labels::MANAGER),
            "ClusterRole {r} is not the operator's"
        );
    }
    let roles: Api<Role> = Api::namespaced(client.clone(), &ns_name);
    let bindings: Api<RoleBinding> = Api::namespaced(client.clone(), &ns_name);
    for b in bindings.list(&Default::default()).await? {
        let target = &b.role_ref;
        let exists = match target.kind.as_str() {
            "ClusterRole" => cluster_roles.get_opt(&target.name).await?.is_some(),
            _ => roles.get_opt(&target.name).await?.is_some(),
        };
        ensure!(
            exists,
            "{ns_name}: RoleBinding {} references a missing {} {}",
            b.name_any(),
            target.kind,
            target.name
        );
    }
    if t.spec.owner.is_some() {
        ensure!(
            bindings.get_opt("tenant-admins").await?.is_some(),
            "{ns_name}: the owner is not bound as tenant admin"
        );
    }
    let tp: Api<TenantPolicy> = Api::namespaced(client.clone(), &ns_name);
    ensure!(
        !tp.list(&Default::default()).await?.items.is_empty(),
        "{ns_name}: no TenantPolicy"
    );
    Ok(ns_name)
}

#[tokio::test]
#[ignore = "needs the local control plane: hack/test runs it"]
async fn every_example_reaches_running_with_its_guardrails() -> Result<()> {
    let h = Harness::new("op-examples").await?;
    let op = h.start_operator().await?;
    op.wait_ready().await?;
    let mut tenants = Vec::new();
    for file in [
        "customer-shop-1.yaml",
        "acme-corp.yaml",
        "cost-optimized.yaml",
        "multi-tenant-cluster.yaml",
        "single-tenant.yaml",
        "strict-isolation.yaml",
    ] {
        for t in h.example(file)? {
            tenants.push((file, t));
        }
    }
    let start = Instant::now();
    for (_, t) in &tenants {
        h.create(t).await?;
    }
    let mut report = Vec::new();
    for (file, t) in &tenants {
        let running = h
            .wait_phase(&t.name_any(), Phase::Running)
            .await
            .with_context(|| format!("example {file}"))?;
        report.push(format!(
            "{file}:{} Running after {:?}",
            t.spec.tenant_id,
            start.elapsed()
        ));
        let ns = assert_guardrails(&h.admin, &running)
            .await
            .with_context(|| format!("example {file}"))?;
        // Network isolation wherever the preset asks for it (permissive has none).
        let np: Api<NetworkPolicy> = Api::namespaced(h.admin.clone(), &ns);
        let n = np.list(&Default::default()).await?.items.len();
        let isolated =
            condition(&running, "NetworkIsolated").map(|c| c.status.as_str()) == Some("True");
        ensure!(
            isolated == (n > 0),
            "{file}: NetworkIsolated={isolated} but {n} NetworkPolicies"
        );
    }
    eprintln!("{}", report.join("\n"));
    eprintln!(
        "writes for {} tenants: {}",
        tenants.len(),
        op.metrics.writes_total()
    );
    h.teardown().await?;
    op.stop().await
}

#[tokio::test]
#[ignore = "needs the local control plane: hack/test runs it"]
async fn spec_edits_change_objects_and_unwanted_objects_are_pruned() -> Result<()> {
    let h = Harness::new("op-edit").await?;
    let op = h.start_operator().await?;
    let mut t = h.tenant("edit");
    t.spec.owner = Some("alice".into());
    t.spec.quota = Some(tenant_api::QuotaSpec {
        cpu_quota: Some("2".into()),
        ..Default::default()
    });
    h.create(&t).await?;
    let t = h.wait_phase(&t.name_any(), Phase::Running).await?;
    let ns = status_namespace(&t)?;
    let rb: Api<RoleBinding> = Api::namespaced(h.admin.clone(), &ns);
    ensure!(
        rb.get_opt("tenant-admins").await?.is_some(),
        "owner alice must be bound as tenant admin"
    );

    // Edit: more CPU, stricter isolation, no owner.
    let patch = json!({"spec": {"quota": {"cpuQuota": "3"}, "owner": null, "isolation": {"isolationLevel": "strict"}}});
    h.tenants()
        .patch(
            &t.name_any(),
            &PatchParams::default(),
            &Patch::Merge(&patch),
        )
        .await?;
    let t2 = h.wait_phase(&t.name_any(), Phase::Running).await?;
    ensure!(
        t2.metadata.generation > t.metadata.generation,
        "spec edit must bump generation"
    );
    let rq: Api<ResourceQuota> = Api::namespaced(h.admin.clone(), &ns);
    let q = rq
        .list(&Default::default())
        .await?
        .items
        .into_iter()
        .next()
        .context("quota")?;
    let cpu = q
        .spec
        .and_then(|s| s.hard)
        .and_then(|h| h.get("requests.cpu").cloned())
        .map(|q| q.0);
    ensure!(
        cpu.as_deref() == Some("3"),
        "requests.cpu should be 3, got {cpu:?}"
    );
    let nso = h.namespace(&ns).await?.context("namespace")?;
    ensure!(
        nso.labels().get(labels::PSA_ENFORCE).map(String::as_str) == Some("restricted"),
        "strict isolation enforces restricted: {:?}",
        nso.labels()
    );
    poll_until("tenant-admins binding pruned", TIMEOUT, || {
        let rb = rb.clone();
        async move {
            match rb
                .get_opt("tenant-admins")
                .await
                .map_err(|e| e.to_string())?
            {
                None => Ok(()),
                Some(_) => Err("still there".into()),
            }
        }
    })
    .await?;
    // Events say what happened: created, updated, deleted (events.k8s.io, on the Tenant).
    let events: Api<k8s_openapi::api::events::v1::Event> = Api::namespaced(h.admin.clone(), &h.ns);
    let name = t.name_any();
    poll_until("Created, Updated and Deleted events", TIMEOUT, || {
        let (events, name) = (events.clone(), name.clone());
        async move {
            let evs = events
                .list(&Default::default())
                .await
                .map_err(|e| e.to_string())?;
            let reasons: Vec<String> = evs
                .items
                .iter()
                .filter(|e| {
                    e.regarding.as_ref().and_then(|r| r.name.as_deref()) == Some(name.as_str())
                })
                .filter_map(|e| e.reason.clone())
                .collect();
            if ["Created", "Updated", "Deleted"]
                .iter()
                .all(|r| reasons.iter().any(|x| x == r))
            {
                Ok(())
            } else {
                Err(format!("{reasons:?}"))
            }
        }
    })
    .await?;
    h.teardown().await?;
    op.stop().await
}

/// `rbac.roles.admin` overrides the shared tenant-admin ClusterRole for one tenant: its binding
/// must move to the tenant's own Role (roleRef is immutable: the binding is created anew), and
/// back when the override goes.
#[tokio::test]
#[ignore = "needs the local control plane: hack/test runs it"]
async fn overriding_a_builtin_role_rebinds_to_the_tenants_own_role_and_back() -> Result<()> {
    let h = Harness::new("op-override").await?;
    let op = h.start_operator().await?;
    let mut t = h.tenant("override");
    t.spec.owner = Some("alice".into());
    h.create(&t).await?;
    let t = h.wait_phase(&t.name_any(), Phase::Running).await?;
    let ns = status_namespace(&t)?;
    let rb: Api<RoleBinding> = Api::namespaced(h.admin.clone(), &ns);
    let roles: Api<Role> = Api::namespaced(h.admin.clone(), &ns);
    let admins = rb.get("tenant-admins").await?;
    ensure!(
        admins.role_ref.kind == "ClusterRole",
        "{:?}",
        admins.role_ref
    );

    let set_override = |rules: Value| {
        let api = h.tenants();
        let name = t.name_any();
        async move {
            api.patch(
                &name,
                &PatchParams::default(),
                &Patch::Merge(&json!({"spec": {"rbac": {"roles": rules}}})),
            )
            .await
        }
    };
    set_override(json!({"admin": {"verbs": ["get", "list", "watch"], "resources": ["pods"]}}))
        .await?;
    let t2 = h.wait_phase(&t.name_any(), Phase::Running).await?;
    ensure!(t2.metadata.generation > t.metadata.generation);
    let admins2 = rb.get("tenant-admins").await?;
    ensure!(
        admins2.role_ref.kind == "Role" && admins2.uid() != admins.uid(),
        "the binding is created anew for the tenant's Role: {:?}",
        admins2.role_ref
    );
    let own = roles.get("tenant-admin").await?;
    ensure!(
        own.rules.iter().flatten().all(|r| r
            .verbs
            .iter()
            .all(|v| ["get", "list", "watch"].contains(&v.as_str()))),
        "{:?}",
        own.rules
    );
    // alice now holds only what the override grants.
    let alice: Api<k8s_openapi::api::core::v1::ConfigMap> =
        Api::namespaced(h.cp.client_as("alice").await?, &ns);
    poll_until("alice loses configmap access", TIMEOUT, || {
        let alice = alice.clone();
        async move {
            match alice.list(&Default::default()).await {
                Err(kube::Error::Api(s)) if s.code == 403 => Ok(()),
                other => Err(format!("{:?}", other.map(|l| l.items.len()))),
            }
        }
    })
    .await?;

    // Dropping the override binds the shared ClusterRole again and prunes the Role.
    set_override(Value::Null).await?;
    h.wait_phase(&t.name_any(), Phase::Running).await?;
    poll_until(
        "binding back on the ClusterRole, Role pruned",
        TIMEOUT,
        || {
            let (rb, roles) = (rb.clone(), roles.clone());
            async move {
                let b = rb.get("tenant-admins").await.map_err(|e| e.to_string())?;
                let role = roles
                    .get_opt("tenant-admin")
                    .await
                    .map_err(|e| e.to_string())?;
                if b.role_ref.kind == "ClusterRole" && role.is_none() {
                    Ok(())
                } else {
                    Err(format!("{:?}, role left: {}", b.role_ref, role.is_some()))
                }
            }
        },
    )
    .await?;
    h.teardown().await?;
    op.stop().await
}

#[tokio::test]
#[ignore = "needs the local control plane: hack/test runs it"]
async fn deleted_or_edited_managed_objects_are_restored() -> Result<()> {
    let h = Harness::new("op-drift").await?;
    let op = h.start_operator().await?;
    let t = h.tenant("drift");
    h.create(&t).await?;
    let t = h.wait_phase(&t.name_any(), Phase::Running).await?;
    let ns = status_namespace(&t)?;

    // Delete the quota and a network policy: they come back (new uid).
    let rq: Api<ResourceQuota> = Api::namespaced(h.admin.clone(), &ns);
    let q = rq
        .list(&Default::default())
        .await?
        .items
        .into_iter()
        .next()
        .context("quota")?;
    let (qname, quid) = (q.name_any(), q.uid());
    rq.delete(&qname, &DeleteParams::default()).await?;
    let np: Api<NetworkPolicy> = Api::namespaced(h.admin.clone(), &ns);
    let p = np
        .list(&Default::default())
        .await?
        .items
        .into_iter()
        .next()
        .context("network policy")?;
    let (pname, puid) = (p.name_any(), p.uid());
    np.delete(&pname, &DeleteParams::default()).await?;
    let start = Instant::now();
    poll_until("quota and network policy restored", TIMEOUT, || {
        let (rq, np, qname, pname, quid, puid) = (
            rq.clone(),
            np.clone(),
            qname.clone(),
            pname.clone(),
            quid.clone(),
            puid.clone(),
        );
        async move {
            let q = rq.get_opt(&qname).await.map_err(|e| e.to_string())?;
            let p = np.get_opt(&pname).await.map_err(|e| e.to_string())?;
            match (q, p) {
                (Some(q), Some(p)) if q.uid() != quid && p.uid() != puid => Ok(()),
                (q, p) => Err(format!(
                    "quota {:?}, policy {:?}",
                    q.map(|q| q.uid()),
                    p.map(|p| p.uid())
                )),
            }
        }
    })
    .await?;
    eprintln!("restored in {:?}", start.elapsed());

    // Strip a namespace label (as the admin): it is put back. (The shared objects' drift is
    // tested in shared_objects.rs, alone: every operator of this binary would restore them.)
    let nsapi: Api<Namespace> = Api::all(h.admin.clone());
    nsapi
        .patch(
            &ns,
            &PatchParams::default(),
            &Patch::Merge(&json!({"metadata": {"labels": {labels::PSA_ENFORCE: "privileged"}}})),
        )
        .await?;
    poll_until("namespace label restored", TIMEOUT, || {
        let (nsapi, ns) = (nsapi.clone(), ns.clone());
        async move {
            let n = nsapi.get(&ns).await.map_err(|e| e.to_string())?;
            match n.labels().get(labels::PSA_ENFORCE).cloned() {
                Some(l) if l != "privileged" => Ok(()),
                psa => Err(format!("enforce label {psa:?}")),
            }
        }
    })
    .await?;
    h.teardown().await?;
    op.stop().await
}

#[tokio::test]
#[ignore = "needs the local control plane: hack/test runs it"]
async fn deleting_a_tenant_removes_what_it_created_and_nothing_else() -> Result<()> {
    let h = Harness::new("op-delete").await?;
    let op = h.start_operator().await?;
    // A bystander namespace that even carries the managed-by label (but no owner annotation).
    let bystander = unique_name("bystander");
    let nsapi: Api<Namespace> = Api::all(h.admin.clone());
    let b: Namespace = serde_json::from_value(
        json!({"metadata": {"name": bystander, "labels": {labels::MANAGED_BY: labels::MANAGER}}}),
    )?;
    nsapi.create(&PostParams::default(), &b).await?;

    let t = h.tenant("delete");
    h.create(&t).await?;
    let t = h.wait_phase(&t.name_any(), Phase::Running).await?;
    let ns = status_namespace(&t)?;
    h.delete_and_wait(&t.name_any()).await?;
    h.wait_namespace_gone(&ns).await?;
    let by = nsapi.get_opt(&bystander).await?;
    ensure!(
        by.is_some_and(|n| n.metadata.deletion_timestamp.is_none()),
        "the bystander namespace must survive"
    );
    nsapi.delete(&bystander, &DeleteParams::default()).await?;
    h.teardown().await?;
    op.stop().await
}

/// The API server gives a new Tenant its finalizer (the operator's MutatingAdmissionPolicy) and
/// its first phase (the CRD's status default), so the operator writes neither: one finalizer
/// patch and one status write less per tenant than before.
#[tokio::test]
#[ignore = "needs the local control plane: hack/test runs it"]
async fn a_new_tenant_gets_its_finalizer_and_first_phase_from_the_api_server() -> Result<()> {
    let h = Harness::new("op-born").await?;
    // An operator puts the shared objects in place (the finalizer policy once the API server
    // has published the Tenant schema) and stops: nothing reconciles the Tenant meanwhile.
    let op = h.start_operator().await?;
    op.wait_ready().await?;
    let t = h.tenant("born");
    // The API server picks a new policy up asynchronously; a dry-run create shows when it has.
    let dry = PostParams {
        dry_run: true,
        ..Default::default()
    };
    poll_until("the finalizer policy in effect", TIMEOUT, || {
        let (api, t, dry) = (h.tenants(), t.clone(), dry.clone());
        async move {
            let created = api.create(&dry, &t).await.map_err(|e| e.to_string())?;
            if created.finalizers().iter().any(|f| f == labels::FINALIZER) {
                Ok(())
            } else {
                Err(format!("finalizers {:?}", created.finalizers()))
            }
        }
    })
    .await?;
    op.stop().await?;
    h.create(&t).await?;
    let born = h.get(&t.name_any()).await?;
    ensure!(
        born.finalizers() == [labels::FINALIZER.to_string()],
        "finalizers at creation: {:?}",
        born.finalizers()
    );
    let phase = born.status.as_ref().and_then(|s| s.phase);
    ensure!(
        phase == Some(Phase::Initialization),
        "phase before any reconcile: {phase:?}"
    );

    let since = jiff::Timestamp::now();
    let op = h.start_operator().await?;
    let running = h.wait_phase(&t.name_any(), Phase::Running).await?;
    tokio::time::sleep(Duration::from_secs(1)).await;
    let (mut finalizer_patches, mut status_writes) = (0, 0);
    for e in h.cp.audit_events()? {
        let at: Option<jiff::Timestamp> = e["requestReceivedTimestamp"]
            .as_str()
            .and_then(|s| s.parse().ok());
        let obj = &e["objectRef"];
        if e["user"]["username"] != testenv::OPERATOR_USER
            || at.is_none_or(|at| at < since)
            || obj["resource"] != "tenants"
            || obj["name"] != t.name_any().as_str()
            || !matches!(e["verb"].as_str(), Some("patch" | "update"))
        {
            continue;
        }
        match obj["subresource"].as_str() {
            Some("status") => status_writes += 1,
            _ => finalizer_patches += 1,
        }
    }
    eprintln!(
        "born with its finalizer: {finalizer_patches} finalizer writes, {status_writes} status writes to Running"
    );
    ensure!(
        finalizer_patches == 0,
        "the operator wrote the Tenant itself {finalizer_patches} times"
    );
    // Provisioning, then Running: no separate Initialization write.
    ensure!(
        (1..=2).contains(&status_writes),
        "{status_writes} status writes"
    );
    // The finalizer from the policy does its job: deleting cleans up and then lets go.
    let ns = status_namespace(&running)?;
    h.delete_and_wait(&t.name_any()).await?;
    h.wait_namespace_gone(&ns).await?;
    h.teardown().await?;
    op.stop().await
}

#[tokio::test]
#[ignore = "needs the local control plane: hack/test runs it"]
async fn an_existing_foreign_namespace_is_a_conflict_and_left_untouched() -> Result<()> {
    let h = Harness::new("op-conflict").await?;
    let op = h.start_operator().await?;
    let t = h.tenant("taken");
    let ns = tenant_core::naming::namespace_name(&t.spec);
    let nsapi: Api<Namespace> = Api::all(h.admin.clone());
    let pre: Namespace = serde_json::from_value(
        json!({"metadata": {"name": ns, "labels": {"team": "someone-else"}}}),
    )?;
    let pre = nsapi.create(&PostParams::default(), &pre).await?;
    h.create(&t).await?;
    let failed = h.wait_phase(&t.name_any(), Phase::Failed).await?;
    let ready = condition(&failed, "Ready").context("Ready condition")?;
    ensure!(
        ready.status == "False" && ready.reason == "NamespaceConflict",
        "{}",
        conditions(&failed)
    );
    ensure!(
        ready.message.contains(&ns),
        "the message names the namespace: {}",
        ready.message
    );
    let rv = pre.resource_version();
    stays_for("the foreign namespace", Duration::from_secs(3), || {
        let (nsapi, ns, rv) = (nsapi.clone(), ns.clone(), rv.clone());
        async move {
            let n = nsapi.get(&ns).await.map_err(|e| e.to_string())?;
            if n.resource_version() == rv
                && !n.labels().contains_key(labels::MANAGED_BY)
                && n.annotations().get(labels::OWNER).is_none()
            {
                Ok(())
            } else {
                Err(format!(
                    "rv {:?} labels {:?}",
                    n.resource_version(),
                    n.labels()
                ))
            }
        }
    })
    .await?;
    // Deleting the conflicting Tenant must not delete the foreign namespace.
    h.delete_and_wait(&t.name_any()).await?;
    let n = nsapi.get(&ns).await?;
    ensure!(
        n.metadata.deletion_timestamp.is_none(),
        "foreign namespace must not be deleted"
    );
    nsapi.delete(&ns, &DeleteParams::default()).await?;
    h.teardown().await?;
    op.stop().await
}

/// The claim race: a namespace created by someone else after the operator found it absent, and
/// before its apply. The operator's apply then lands on a foreign namespace; `apply_absent` must
/// see that from managedFields and withdraw every field it set, leaving the namespace as it was.
#[tokio::test]
#[ignore = "needs the local control plane: hack/test runs it"]
async fn a_namespace_created_during_the_claim_is_given_back() -> Result<()> {
    use tenant_operator::io::{self, Created};
    let h = Harness::new("op-race").await?;
    let client = h.cp.client_as(testenv::OPERATOR_USER).await?;
    let nsapi: Api<Namespace> = Api::all(h.admin.clone());
    let ar = kube::api::ApiResource::erase::<Namespace>(&());
    let namespace_object = |t: &Tenant| -> Result<tenant_core::Object> {
        let bctx = tenant_core::build::BuildContext {
            other_tenants: &[],
            operator_user: testenv::OPERATOR_USER,
            ..Default::default()
        };
        let mut t = t.clone();
        t.metadata.uid = Some("uid-race".into());
        let mut objs = tenant_core::build::tenant_objects(&t, &bctx)?;
        let ns = objs.remove(
            objs.iter()
                .position(|o| o.kind == "Namespace")
                .context("a Namespace object")?,
        );
        Ok(ns)
    };

    // Truly absent: the apply creates it and it is ours.
    let free = h.tenant("race-free");
    let obj = namespace_object(&free)?;
    let created = io::apply_absent(&client, &ar, &obj).await?;
    ensure!(matches!(created, Created::Ours(_)), "{created:?}");
    let n = nsapi.get(&obj.name).await?;
    ensure!(
        n.labels().get(labels::MANAGED_BY).map(String::as_str) == Some(labels::MANAGER),
        "{:?}",
        n.labels()
    );
    nsapi.delete(&obj.name, &DeleteParams::default()).await?;

    // Created by someone else first (as if between the check and the apply).
    let taken = h.tenant("race-taken");
    let obj = namespace_object(&taken)?;
    let pre: Namespace = serde_json::from_value(json!({"metadata": {
        "name": obj.name,
        "labels": {"team": "someone-else"},
        "annotations": {"note": "theirs"},
    }}))?;
    let pre = nsapi.create(&PostParams::default(), &pre).await?;
    let created = io::apply_absent(&client, &ar, &obj).await?;
    let Created::Foreign { managers } = created else {
        anyhow::bail!("a namespace created by another client must be foreign: {created:?}");
    };
    ensure!(!managers.is_empty(), "the other manager is named");
    let n = nsapi.get(&obj.name).await?;
    ensure!(
        n.labels() == pre.labels(),
        "labels given back: {:?} (were {:?})",
        n.labels(),
        pre.labels()
    );
    ensure!(
        n.annotations() == pre.annotations(),
        "annotations given back: {:?} (were {:?})",
        n.annotations(),
        pre.annotations()
    );
    ensure!(
        n.metadata
            .managed_fields
            .iter()
            .flatten()
            .all(|m| m.manager.as_deref() != Some(labels::FIELD_MANAGER)),
        "the operator owns no field of it any more"
    );
    nsapi.delete(&obj.name, &DeleteParams::default()).await?;
    h.teardown().await
}

#[tokio::test]
#[ignore = "needs the local control plane: hack/test runs it"]
async fn two_tenants_with_the_same_namespace_do_not_fight() -> Result<()> {
    let h = Harness::new("op-twins").await?;
    let op = h.start_operator().await?;
    let a = h.tenant("twin");
    let mut b = a.clone();
    b.metadata.name = Some(format!("{}-b", a.name_any()));
    // Created back to back: the per-namespace claim lock decides who wins.
    let (ra, rb) = tokio::join!(h.create(&a), h.create(&b));
    ra?;
    rb?;
    let ns = tenant_core::naming::namespace_name(&a.spec);
    let api = h.tenants();
    let (winner, loser) = poll_until("one Running, one Failed", TIMEOUT, || {
        let api = api.clone();
        let (na, nb) = (a.name_any(), b.name_any());
        async move {
            let ta = api.get(&na).await.map_err(|e| e.to_string())?;
            let tb = api.get(&nb).await.map_err(|e| e.to_string())?;
            let pa = ta.status.as_ref().and_then(|s| s.phase);
            let pb = tb.status.as_ref().and_then(|s| s.phase);
            match (pa, pb) {
                (Some(Phase::Running), Some(Phase::Failed)) => Ok((ta, tb)),
                (Some(Phase::Failed), Some(Phase::Running)) => Ok((tb, ta)),
                _ => Err(format!("{pa:?} / {pb:?}")),
            }
        }
    })
    .await?;
    ensure!(
        condition(&loser, "Ready").map(|c| c.reason.as_str()) == Some("NamespaceConflict"),
        "{}",
        conditions(&loser)
    );
    let nsapi: Api<Namespace> = Api::all(h.admin.clone());
    let n = nsapi.get(&ns).await?;
    let owner = format!("Tenant/{}/{}", h.ns, winner.name_any());
    ensure!(
        n.annotations().get(labels::OWNER) == Some(&owner),
        "namespace owned by the winner"
    );
    let rvs = resource_versions(&h.admin, &ns).await?;
    stays_for(
        "the contested namespace's objects",
        Duration::from_secs(5),
        || {
            let (client, ns, rvs) = (h.admin.clone(), ns.clone(), rvs.clone());
            async move {
                let now = resource_versions(&client, &ns)
                    .await
                    .map_err(|e| e.to_string())?;
                if now == rvs {
                    Ok(())
                } else {
                    Err(format!("{rvs:?} -> {now:?}"))
                }
            }
        },
    )
    .await?;
    // The loser's deletion leaves the winner's namespace alone.
    h.delete_and_wait(&loser.name_any()).await?;
    ensure!(
        nsapi.get(&ns).await?.metadata.deletion_timestamp.is_none(),
        "winner's namespace must survive the loser's deletion"
    );
    h.wait_phase(&winner.name_any(), Phase::Running).await?;
    h.teardown().await?;
    op.stop().await
}

#[tokio::test]
#[ignore = "needs the local control plane: hack/test runs it"]
async fn an_invalid_spec_the_crd_accepts_gets_ready_false_naming_the_field() -> Result<()> {
    let h = Harness::new("op-invalid").await?;
    let op = h.start_operator().await?;
    let mut t = h.tenant("invalid");
    // Requests above limits: valid per field (the CRD accepts it), contradictory together.
    t.spec.quota = Some(tenant_api::QuotaSpec {
        cpu_quota: Some("4".into()),
        cpu_limit: Some("2".into()),
        ..Default::default()
    });
    h.create(&t).await?;
    let failed = h.wait_phase(&t.name_any(), Phase::Failed).await?;
    let ready = condition(&failed, "Ready").context("Ready")?;
    ensure!(
        ready.reason == "InvalidSpec" && ready.message.contains("spec.quota.cpuQuota"),
        "{}",
        conditions(&failed)
    );
    let ns = tenant_core::naming::namespace_name(&t.spec);
    ensure!(
        h.namespace(&ns).await?.is_none(),
        "nothing may be applied for an invalid spec"
    );
    // No hot loop: the status stays put (no rewrites) while nothing changes.
    let rv = failed.resource_version();
    stays_for("the invalid Tenant", Duration::from_secs(3), || {
        let (api, name, rv) = (h.tenants(), t.name_any(), rv.clone());
        async move {
            let now = api
                .get(&name)
                .await
                .map_err(|e| e.to_string())?
                .resource_version();
            if now == rv {
                Ok(())
            } else {
                Err(format!("{rv:?} -> {now:?}"))
            }
        }
    })
    .await?;
    // Fixing the spec recovers.
    let fix = json!({"spec": {"quota": {"cpuQuota": "1"}}});
    h.tenants()
        .patch(&t.name_any(), &PatchParams::default(), &Patch::Merge(&fix))
        .await?;
    h.wait_phase(&t.name_any(), Phase::Running).await?;
    h.teardown().await?;
    op.stop().await
}

/// resourceVersions of the Tenants (in `namespaces[0]`) and of every managed object in the
/// tenant namespaces (`namespaces[1..]`).
async fn snapshot(client: &Client, namespaces: &[String]) -> Result<BTreeMap<String, String>> {
    let mut all = BTreeMap::new();
    let tenants: Api<Tenant> = Api::namespaced(client.clone(), &namespaces[0]);
    for t in tenants.list(&Default::default()).await? {
        all.insert(
            format!("Tenant/{}", t.name_any()),
            t.resource_version().unwrap_or_default(),
        );
    }
    for ns in &namespaces[1..] {
        all.extend(resource_versions(client, ns).await?);
    }
    Ok(all)
}

#[tokio::test]
#[ignore = "needs the local control plane: hack/test runs it"]
async fn a_resync_with_nothing_to_change_writes_nothing() -> Result<()> {
    let h = Harness::new("op-noop").await?;
    let op = h.start_operator().await?;
    let mut names = Vec::new();
    for file in [
        "customer-shop-1.yaml",
        "strict-isolation.yaml",
        "multi-tenant-cluster.yaml",
    ] {
        for t in h.example(file)? {
            h.create(&t).await?;
            names.push(t.name_any());
        }
    }
    let mut namespaces = vec![h.ns.clone()];
    for n in &names {
        let t = h.wait_phase(n, Phase::Running).await?;
        namespaces.push(status_namespace(&t)?);
    }
    // Let the asynchronous tail settle (quota status, the default ServiceAccount, the last
    // status writes): resourceVersions unchanged over longer than the interval at which progress
    // is written to a status, so no progress write is still held back when the instance stops.
    let settle = tenant_operator::reconcile::ProgressWrites::INTERVAL + Duration::from_secs(2);
    poll_until("managed objects settled", TIMEOUT, || {
        let (client, namespaces) = (h.admin.clone(), namespaces.clone());
        async move {
            let a = snapshot(&client, &namespaces)
                .await
                .map_err(|e| e.to_string())?;
            tokio::time::sleep(settle).await;
            let b = snapshot(&client, &namespaces)
                .await
                .map_err(|e| e.to_string())?;
            if a == b {
                Ok(())
            } else {
                Err("still changing".into())
            }
        }
    })
    .await?;
    // Stop the first instance, then take the reference snapshot: from here on only the new
    // instance (and the cluster's own controllers) could change anything.
    op.stop().await?;
    let before = snapshot(&h.admin, &namespaces).await?;
    let statuses_before: Vec<String> = h
        .tenants()
        .list(&Default::default())
        .await?
        .items
        .iter()
        .map(|t| serde_json::to_string(&t.status).unwrap_or_default())
        .collect();

    let since = jiff::Timestamp::now();
    let op2 = h.start_operator().await?;
    op2.wait_ready().await?;
    let m = op2.metrics.clone();
    let n = names.len() as u64;
    poll_until(
        "every Tenant reconciled by the new instance",
        TIMEOUT,
        || {
            let done = m.reconciles_total();
            async move {
                if done >= n {
                    Ok(())
                } else {
                    Err(format!("{done}/{n} reconciles"))
                }
            }
        },
    )
    .await?;
    // A little longer, so any write a reconcile triggered would have shown up.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let writes = op2.metrics.writes_total();
    let audited = operator_writes_since(h.cp, since, &namespaces)?;
    let after = snapshot(&h.admin, &namespaces).await?;
    eprintln!(
        "resync of {n} tenants: {} reconciles, {writes} writes (metric), {} writes (audit log)",
        op2.metrics.reconciles_total(),
        audited.len()
    );
    let statuses_after: Vec<String> = h
        .tenants()
        .list(&Default::default())
        .await?
        .items
        .iter()
        .map(|t| serde_json::to_string(&t.status).unwrap_or_default())
        .collect();
    for (b, a) in statuses_before.iter().zip(&statuses_after) {
        if a != b {
            eprintln!("status changed:\n  before {b}\n  after  {a}");
        }
    }
    ensure!(
        writes == 0,
        "the operator counted {writes} writes on a no-op resync:\n{}",
        op2.metrics.encode()
    );
    ensure!(
        audited.is_empty(),
        "the audit log shows operator writes on a no-op resync: {audited:#?}"
    );
    let changed: Vec<_> = after
        .iter()
        .filter(|(k, v)| before.get(*k) != Some(v))
        .collect();
    ensure!(
        changed.is_empty(),
        "resourceVersions changed on a no-op resync: {changed:?}"
    );
    h.teardown().await?;
    op2.stop().await
}

/// The status has several writers: another field manager's fields and conditions (here what the
/// cost writer will own: `status.cost` and `BudgetOK`) survive the reconcile's status writes, and
/// the reconcile's own conditions keep being updated around them.
#[tokio::test]
#[ignore = "needs the local control plane: hack/test runs it"]
async fn another_writers_status_fields_survive_the_reconciles_status_writes() -> Result<()> {
    let h = Harness::new("op-writers").await?;
    let op = h.start_operator().await?;
    let t = h.tenant("writers");
    let name = t.name_any();
    h.create(&t).await?;
    h.wait_phase(&name, Phase::Running).await?;

    // The other writer: its own field manager, only its own fields.
    let other = json!({
        "apiVersion": "shop.pilab.hu/v1alpha1",
        "kind": "Tenant",
        "status": {
            "cost": {"currency": "EUR", "hourly": "0.42"},
            "conditions": [{
                "type": "BudgetOK", "status": "False", "reason": "OverBudget",
                "message": "projected 120 % of the budget",
                "lastTransitionTime": "2026-12-01T00:00:00Z",
            }],
        },
    });
    h.tenants()
        .patch_status(
            &name,
            &PatchParams::apply("tenant-operator-cost"),
            &Patch::Apply(&other),
        )
        .await?;

    // A spec change: a new generation, so the reconcile writes its status again.
    let patch = json!({"spec": {"quota": {"podQuota": 7}}});
    let edited = h
        .tenants()
        .patch(&name, &PatchParams::default(), &Patch::Merge(&patch))
        .await?;
    let generation = edited.metadata.generation;
    let t = poll_until(
        "the reconcile's status for the new generation",
        TIMEOUT,
        || {
            let (api, name) = (h.tenants(), name.clone());
            async move {
                let t = api.get(&name).await.map_err(|e| e.to_string())?;
                let st = t.status.clone().unwrap_or_default();
                let quota_seen = st
                    .quota
                    .as_ref()
                    .and_then(|q| q.hard.as_ref())
                    .and_then(|h| h.get("pods"))
                    .is_some_and(|p| p == "7");
                if st.observed_generation == generation
                    && st.phase == Some(Phase::Running)
                    && quota_seen
                {
                    Ok(t)
                } else {
                    Err(conditions(&t))
                }
            }
        },
    )
    .await?;
    let st = t.status.clone().unwrap_or_default();
    ensure!(
        st.cost.as_ref().and_then(|c| c.hourly.as_deref()) == Some("0.42"),
        "the other writer's status.cost survived: {:?}",
        st.cost
    );
    let budget = condition(&t, "BudgetOK").context("BudgetOK kept")?;
    ensure!(budget.reason == "OverBudget", "{}", conditions(&t));
    let ready = condition(&t, "Ready").context("Ready")?;
    ensure!(
        ready.status == "True" && ready.observed_generation == generation,
        "{}",
        conditions(&t)
    );
    // Each writer owns only its own fields.
    let managers: BTreeMap<String, String> = t
        .metadata
        .managed_fields
        .iter()
        .flatten()
        .filter(|m| m.subresource.as_deref() == Some("status"))
        .map(|m| {
            (
                m.manager.clone().unwrap_or_default(),
                serde_json::to_string(&m.fields_v1).unwrap_or_default(),
            )
        })
        .collect();
    let ours = managers
        .get(labels::FIELD_MANAGER)
        .context("the reconcile's fields")?;
    ensure!(
        !ours.contains("f:cost") && !ours.contains("BudgetOK"),
        "the reconcile owns nothing of the other writer's: {ours}"
    );
    h.teardown().await?;
    op.stop().await
}
