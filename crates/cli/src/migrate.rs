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
