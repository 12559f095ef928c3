//! The audit policy `kubectl tenant audit-policy` generates, on a real kube-apiserver started
//! with it (a control plane of this test's own: the shared one keeps the Metadata-for-all
//! policy the write counts rely on). Two Tenants: one with apiAudit and auditLevel
//! RequestResponse, one with apiAudit off. The admin creates and reads a ConfigMap and a Secret
//! in each namespace (and a service-account token in the audited one); the audit log must show
//! the audited tenant's ConfigMap bodies, its Secret and token at Metadata without bodies, the
//! unaudited tenant at the catch-all (Metadata), and no secret value or token anywhere.
#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)]

use std::collections::BTreeMap;
use std::time::Duration;

use anyhow::{Context, Result, ensure};
use k8s_openapi::ByteString;
use k8s_openapi::api::authentication::v1::{TokenRequest, TokenRequestSpec};
use k8s_openapi::api::core::v1::{ConfigMap, Namespace, Secret, ServiceAccount};
use kube::Client;
use kube::api::{Api, ObjectMeta, PostParams};
use serde_json::{Value, json};
use tenant_api::{AuditLevel, Tenant};
use testenv::{ControlPlane, poll_until, unique_name};

const TIMEOUT: Duration = Duration::from_secs(30);

fn tenant(id: &str, isolation: Value) -> Tenant {
    serde_json::from_value(json!({
        "apiVersion": "shop.pilab.hu/v1alpha1", "kind": "Tenant",
        "metadata": {"name": id, "namespace": "tenants"},
        "spec": {"tenantId": id, "tenantType": "production", "isolation": isolation},
    }))
    .unwrap()
}

/// What the test writes, to look for in the log.
struct Markers {
    /// The audited tenant's ConfigMap value: must be in the log (its bodies are logged).
    audited_config: String,
    /// The unaudited tenant's ConfigMap value: must not be (Metadata has no bodies).
    quiet_config: String,
    /// Both Secrets' value, as written (`stringData`) and as stored (`data`, base64).
    secret: String,
    secret_base64: String,
}

#[tokio::test]
#[ignore = "needs the local control plane: hack/test runs it"]
async fn the_generated_policy_audits_each_tenant_at_its_level_and_never_logs_secrets() -> Result<()>
{
    let tenants = [
        tenant(
            "audited",
            json!({"apiAudit": true, "auditLevel": "RequestResponse"}),
        ),
        tenant("quiet", json!({"apiAudit": false})),
    ];
    let (audited, quiet) = ("tenant-audited-production", "tenant-quiet-production");
    let policy = kubectl_tenant::audit_policy::document(
        &tenants,
        AuditLevel::Metadata,
        kubectl_tenant::audit_policy::Output::Yaml,
    )?;
    let file = std::env::temp_dir().join(format!("{}.yaml", unique_name("audit-policy")));
    std::fs::write(&file, &policy).with_context(|| format!("writing {}", file.display()))?;

    let started = std::time::Instant::now();
    let cp = ControlPlane::start_with_audit_policy(&file).await?;
    eprintln!(
        "control plane with the generated policy up in {:.1} s ({})",
        started.elapsed().as_secs_f64(),
        cp.state_dir().display()
    );
    let result = exercise(&cp, audited, quiet).await;
    let stopped = cp.stop().await;
    let _ = std::fs::remove_file(&file);
    result?;
    stopped?;
    Ok(())
}

async fn exercise(cp: &ControlPlane, audited: &str, quiet: &str) -> Result<()> {
    let admin = cp.admin_client().await?;
    let secret = unique_name("s3cret-value");
    let m = Markers {
        audited_config: unique_name("visible-config"),
        quiet_config: unique_name("quiet-config"),
        secret_base64: serde_json::to_value(ByteString(secret.clone().into_bytes()))?
            .as_str()
            .unwrap_or_default()
            .to_string(),
        secret,
    };
    ensure!(!m.secret_base64.is_empty());
    for (ns, config) in [(audited, &m.audited_config), (quiet, &m.quiet_config)] {
        write_and_read(&admin, ns, config, &m.secret).await?;
    }

    // a service-account token in the audited namespace: the response is a credential
    let sas: Api<ServiceAccount> = Api::namespaced(admin.clone(), audited);
    let pp = PostParams::default();
    sas.create(&pp, &named(ServiceAccount::default(), "probe"))
        .await?;
    let token: TokenRequest = sas
        .create_subresource(
            "token",
            "probe",
            &pp,
            &TokenRequest {
                spec: TokenRequestSpec {
                    audiences: vec!["https://kubernetes.default.svc.cluster.local".into()],
                    ..Default::default()
                },
                ..Default::default()
            },
        )
        .await
        .context("TokenRequest")?;
    let token = token.status.map(|s| s.token).unwrap_or_default();
    ensure!(token.len() > 20, "a token was issued");

    // The log is written as requests complete; wait for the last request's event.
    let events = poll_until("the audit event of the TokenRequest", TIMEOUT, || async {
        let events = cp.audit_events().map_err(|e| e.to_string())?;
        if find(
            &events,
            audited,
            "serviceaccounts",
            "probe",
            "create",
            "token",
        )
        .is_some()
        {
            Ok(events)
        } else {
            Err(format!(
                "{} events, none for the TokenRequest yet",
                events.len()
            ))
        }
    })
    .await?;
    let log = std::fs::read_to_string(cp.audit_log_path())?;
    eprintln!("audit log: {} events, {} bytes", events.len(), log.len());

    // the audited tenant: ConfigMaps with bodies
    for verb in ["create", "get"] {
        let e = find(&events, audited, "configmaps", "probe", verb, "")
            .with_context(|| format!("no audit event for the {verb} of {audited}/probe"))?;
        ensure!(
            e["level"] == "RequestResponse",
            "{verb} configmap in {audited}: {e}"
        );
        ensure!(
            e.get("responseObject").is_some(),
            "{verb} configmap in {audited} without responseObject: {e}"
        );
        if verb == "create" {
            ensure!(
                e["requestObject"]["data"]["note"] == m.audited_config.as_str(),
                "create configmap in {audited}: the requestObject lacks the data: {e}"
            );
            ensure!(
                e["responseObject"]["data"]["note"] == m.audited_config.as_str(),
                "create configmap in {audited}: the responseObject lacks the data: {e}"
            );
            // omitManagedFields
            ensure!(
                e["responseObject"]["metadata"]
                    .get("managedFields")
                    .is_none(),
                "managedFields logged: {e}"
            );
        }
    }
    // its Secret and token: Metadata, no bodies
    let mut credential_events = vec![
        find(&events, audited, "secrets", "probe", "create", "").context("secret create")?,
        find(&events, audited, "secrets", "probe", "get", "").context("secret get")?,
        find(
            &events,
            audited,
            "serviceaccounts",
            "probe",
            "create",
            "token",
        )
        .context("token request")?,
    ];
    // the unaudited tenant: everything at the catch-all, Metadata
    for resource in ["configmaps", "secrets"] {
        for verb in ["create", "get"] {
            credential_events.push(
                find(&events, quiet, resource, "probe", verb, "").with_context(|| {
                    format!("no audit event for the {verb} of {quiet}/{resource}/probe")
                })?,
            );
        }
    }
    for e in credential_events {
        ensure!(e["level"] == "Metadata", "not at Metadata: {e}");
        ensure!(
            e.get("requestObject").is_none() && e.get("responseObject").is_none(),
            "a body logged at Metadata: {e}"
        );
    }
    // the bodies of the audited ConfigMap are in the file, so a logged secret would be too
    ensure!(
        log.contains(&m.audited_config),
        "the audited ConfigMap's value is not in the log"
    );
    for (what, s) in [
        ("the secret value", &m.secret),
        ("the secret value in base64", &m.secret_base64),
        ("the service-account token", &token),
        ("the unaudited tenant's ConfigMap value", &m.quiet_config),
    ] {
        ensure!(!log.contains(s.as_str()), "{what} is in the audit log");
    }
    Ok(())
}

fn named<K: kube::Resource>(mut k: K, name: &str) -> K {
    k.meta_mut().name = Some(name.into());
    k
}

/// Creates the namespace, then creates and reads back a ConfigMap and a Secret named `probe`.
async fn write_and_read(admin: &Client, ns: &str, config: &str, secret: &str) -> Result<()> {
    let pp = PostParams::default();
    Api::<Namespace>::all(admin.clone())
        .create(&pp, &named(Namespace::default(), ns))
        .await
        .with_context(|| format!("creating namespace {ns}"))?;
    let cms: Api<ConfigMap> = Api::namespaced(admin.clone(), ns);
    cms.create(
        &pp,
        &ConfigMap {
            metadata: ObjectMeta {
                name: Some("probe".into()),
                ..Default::default()
            },
            data: Some(BTreeMap::from([("note".to_string(), config.to_string())])),
            ..Default::default()
        },
    )
    .await?;
    cms.get("probe").await?;
    let secrets: Api<Secret> = Api::namespaced(admin.clone(), ns);
    secrets
        .create(
            &pp,
            &Secret {
                metadata: ObjectMeta {
                    name: Some("probe".into()),
                    ..Default::default()
                },
                string_data: Some(BTreeMap::from([(
                    "password".to_string(),
                    secret.to_string(),
                )])),
                ..Default::default()
            },
        )
        .await?;
    let read = secrets.get("probe").await?;
    ensure!(
        read.data
            .and_then(|d| d.get("password").cloned())
            .is_some_and(|v| v.0 == secret.as_bytes()),
        "the Secret in {ns} holds the value"
    );
    Ok(())
}

/// The ResponseComplete event of `verb` on `namespace/resource[/subresource]/name`.
fn find<'a>(
    events: &'a [Value],
    namespace: &str,
    resource: &str,
    name: &str,
    verb: &str,
    subresource: &str,
) -> Option<&'a Value> {
    events.iter().find(|e| {
        let r = &e["objectRef"];
        e["stage"] == "ResponseComplete"
            && e["verb"] == verb
            && r["namespace"] == namespace
            && r["resource"] == resource
            && r["name"] == name
            && r["subresource"].as_str().unwrap_or("") == subresource
    })
}
