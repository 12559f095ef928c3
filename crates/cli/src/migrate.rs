//! `kubectl tenant migrate`: the Tenant for each PRStack (`tenant_core::migrate` maps one), as
//! YAML with what could not be mapped in comments, or as a JSON List.

use anyhow::{Context, Result};
use kube::api::{Api, ApiResource, DynamicObject, ListParams};
use serde_json::{Value, json};
use tenant_core::migrate::Migration;

/// How the Tenants are written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Output {
    /// YAML documents, each after comments naming its PRStack and what was not mapped.
    Yaml,
    /// A JSON `List` of the Tenants (what was not mapped goes to standard error).
    Json,
}

/// The Tenants of `migrations`, ready for `kubectl apply -f`.
pub fn document(migrations: &[Migration], output: Output) -> Result<String> {
    match output {
        Output::Json => {
            let items: Vec<Value> = migrations
                .iter()
                .map(|m| serde_json::to_value(&m.tenant))
                .collect::<Result<_, _>>()?;
            Ok(format!(
                "{}\n",
                serde_json::to_string_pretty(
                    &json!({"apiVersion": "v1", "kind": "List", "items": items})
                )?
            ))
        }
        Output::Yaml => {
            let mut out = String::new();
            for m in migrations {
                out.push_str("---\n");
                out.push_str(&format!("# from {}\n", m.source));
                if m.unmapped.is_empty() {
                    out.push_str("# everything mapped\n");
                }
                for u in &m.unmapped {
                    out.push_str(&format!("# not mapped: {}: {}\n", u.field, u.reason));
                }
                out.push_str(
                    &serde_saphyr::to_string(&m.tenant).context("cannot serialize to YAML")?,
                );
            }
            Ok(out)
        }
    }
}

/// The PRStack kind, read as plain objects (fields an older or newer schema has are kept, so
/// the mapping can list them).
pub fn prstack_resource() -> ApiResource {
    ApiResource {
        group: tenant_api::GROUP.into(),
        version: tenant_api::VERSION.into(),
        api_version: format!("{}/{}", tenant_api::GROUP, tenant_api::VERSION),
        kind: "PRStack".into(),
        plural: "prstacks".into(),
    }
}

/// The PRStacks of `namespace`, or of every namespace, as documents.
pub async fn live_prstacks(client: &kube::Client, namespace: Option<&str>) -> Result<Vec<Value>> {
    let ar = prstack_resource();
    let api: Api<DynamicObject> = match namespace {
        Some(ns) => Api::namespaced_with(client.clone(), ns, &ar),
        None => Api::all_with(client.clone(), &ar),
    };
    let list = api
        .list(&ListParams::default())
        .await
        .context("listing PRStacks (is the PRStack CRD installed?)")?;
    list.items
        .into_iter()
        .map(|mut o| {
            o.types = Some(kube::api::TypeMeta {
                api_version: ar.api_version.clone(),
                kind: ar.kind.clone(),
            });
            o.metadata.managed_fields = None;
            Ok(serde_json::to_value(o)?)
        })
        .collect()
}

/// The field manager of `kubectl tenant migrate --apply`.
pub const APPLY_FIELD_MANAGER: &str = "kubectl-tenant-migrate";

/// Hands the live preview `doc` (a PRStack read from the cluster) over to the Tenant of
/// `migration`, with its data: nothing is recreated.
///
/// 1. The PRStack is annotated `shop.pilab.hu/handed-over-to`, so the operator's PRStack
///    controller stops touching it.
/// 2. The Tenant: if the PRStack controller runs the preview through a Tenant of that name, that
///    Tenant is released from the PRStack (its ownerReference taken off, so deleting the PRStack
///    no longer deletes it) and given the migrated spec; if no Tenant exists (a preview an
///    earlier operator made), the migrated Tenant is created and adopts the namespace as it is.
///    A Tenant of that name that is not the preview's is an error, and nothing is changed.
/// 3. Once the Tenant reports `Running` (or `Suspended`, for an inactive preview) in the same
///    namespace, the PRStack is deleted, orphaning whatever it still owned.
pub async fn hand_over(
    client: &kube::Client,
    doc: &Value,
    migration: &Migration,
    timeout: std::time::Duration,
) -> Result<String> {
    use kube::api::{DeleteParams, Patch, PatchParams};
    use tenant_api::{Tenant, labels};

    let ns = doc["metadata"]["namespace"]
        .as_str()
        .unwrap_or("default")
        .to_string();
    let stack_name = doc["metadata"]["name"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let uid = doc["metadata"]["uid"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let t = &migration.tenant;
    let name = t.metadata.name.clone().unwrap_or_default();
    let wanted_ns = tenant_core::naming::namespace_name(&t.spec);
    let stacks: Api<DynamicObject> = Api::namespaced_with(client.clone(), &ns, &prstack_resource());
    let tenants: Api<Tenant> = Api::namespaced(client.clone(), &ns);
    let shown = format!("PRStack {ns}/{stack_name}");

    // Refuse before changing anything: a Tenant of that name that is not the preview's.
    let existing = tenants.get_opt(&name).await.context("reading the Tenant")?;
    if let Some(e) = &existing
        && !tenant_core::migrate::previews(e, &uid)
    {
        anyhow::bail!(
            "{shown}: Tenant {ns}/{name} exists and is not this PRStack's preview; nothing was changed"
        );
    }
    let to = format!("Tenant/{ns}/{name}");
    stacks
        .patch(
            &stack_name,
            &PatchParams::default(),
            &Patch::Merge(json!({"metadata": {"annotations": {labels::HANDED_OVER_TO: to}}})),
        )
        .await
        .with_context(|| format!("{shown}: marking it handed over"))?;
    if existing.is_some() {
        // Released from the PRStack: no ownerReference, no preview label or hash.
        tenants
            .patch(
                &name,
                &PatchParams::default(),
                &Patch::Merge(json!({"metadata": {
                    "ownerReferences": null,
                    "labels": {labels::PRSTACK: null},
                    "annotations": {tenant_core::migrate::PREVIEW_HASH: null},
                }})),
            )
            .await
            .with_context(|| format!("{shown}: releasing Tenant {ns}/{name} from the PRStack"))?;
    }
    let mut manifest = serde_json::to_value(t)?;
    manifest["metadata"]["annotations"][labels::ADOPT_NAMESPACE] = json!("true");
    manifest["metadata"]["namespace"] = json!(ns);
    tenants
        .patch(
            &name,
            &PatchParams::apply(APPLY_FIELD_MANAGER).force(),
            &Patch::Apply(&manifest),
        )
        .await
        .with_context(|| format!("{shown}: applying Tenant {ns}/{name}"))?;

    // The Tenant has the namespace and runs: only then does the PRStack go.
    let deadline = std::time::Instant::now() + timeout;
    let phase = loop {
        let live = tenants.get_opt(&name).await.context("reading the Tenant")?;
        let status = live
            .as_ref()
            .and_then(|l| l.status.clone())
            .unwrap_or_default();
        let current =
            live.as_ref().and_then(|l| l.metadata.generation) <= status.observed_generation;
        let phase = status
            .phase
            .map(|p| p.as_str().to_string())
            .unwrap_or_default();
        if current
            && status.namespace.as_deref() == Some(wanted_ns.as_str())
            && (phase == "Running" || phase == "Suspended")
        {
            break phase;
        }
        if std::time::Instant::now() >= deadline {
            let why = status
                .conditions
                .iter()
                .flatten()
                .find(|c| c.type_ == "Ready")
                .map(|c| format!("{}: {}", c.reason, c.message))
                .unwrap_or_else(|| "no Ready condition yet".into());
            anyhow::bail!(
                "{shown}: Tenant {ns}/{name} is not Running in namespace {wanted_ns} after {}s (phase {phase:?}; {why}); the PRStack was kept, marked {}; remove that annotation to give the preview back to the PRStack controller",
                timeout.as_secs(),
                labels::HANDED_OVER_TO
            );
        }
        tokio::time::sleep(std::time::Duration::from_secs(2)).await;
    };
    stacks
        .delete(&stack_name, &DeleteParams::orphan())
        .await
        .with_context(|| format!("{shown}: deleting it"))?;
    Ok(format!(
        "{shown} handed over to Tenant {ns}/{name} ({phase} in namespace {wanted_ns}); the PRStack was deleted, nothing else"
    ))
}
