//! The tenant's Namespace: identity labels, Pod Security Admission levels and the annotations
//! that describe the tenant to people and tools.
//!
//! Also home of [`object_meta`], the metadata every object *inside* the namespace carries.

use crate::build::{BuildContext, BuildError};
use crate::naming;
use crate::object::Object;
use crate::presets::Effective;
use k8s_openapi::api::core::v1::Namespace;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use std::collections::BTreeMap;
use tenant_api::{Tenant, labels};

/// Pod Security Admission version labels. We pin every mode to `latest` explicitly so that a
/// user label from `tenantConfig.labels` cannot pin a mode to an old, weaker policy version.
const PSA_WARN_VERSION: &str = "pod-security.kubernetes.io/warn-version";
const PSA_AUDIT_VERSION: &str = "pod-security.kubernetes.io/audit-version";
/// The Pod Security Standards version every mode follows.
pub const PSA_VERSION: &str = "latest";
/// The Sigstore policy-controller opts a namespace in with this label.
pub const SIGSTORE_INCLUDE: &str = "policy.sigstore.dev/include";
/// Records that the tenant requires the cluster to encrypt Secrets at rest (a cluster setting;
/// the operator can only record and report the requirement).
pub const SECRETS_ENCRYPTION_REQUIRED: &str = "shop.pilab.hu/secrets-encryption-required";
/// Records that the tenant requires encrypted volumes (a storage class setting).
pub const ENCRYPTION_AT_REST_REQUIRED: &str = "shop.pilab.hu/encryption-at-rest-required";

/// Metadata of an object in the tenant namespace: `name`, the namespace, the tenant's common
/// labels and common annotations.
pub fn object_meta(tenant: &Tenant, eff: &Effective, name: &str) -> ObjectMeta {
    ObjectMeta {
        name: Some(name.to_string()),
        namespace: Some(eff.namespace.clone()),
        labels: Some(naming::common_labels(&tenant.spec)),
        annotations: Some(naming::common_annotations(tenant)),
        ..Default::default()
    }
}

/// The namespace's labels: the common labels, the tenant's type, isolation level, billing tier,
/// cost center and audit level, and the Pod Security Admission levels. Operator keys are inserted
/// last, so a user label from `tenantConfig.labels` never overrides them.
pub fn namespace_labels(tenant: &Tenant, eff: &Effective) -> BTreeMap<String, String> {
    let spec = &tenant.spec;
    let iso = &eff.isolation;
    let mut l = naming::common_labels(spec);
    let mut put = |k: &str, v: &str| {
        l.insert(k.to_string(), v.to_string());
    };
    put(labels::TENANT_TYPE, eff.tenant_type.as_str());
    put(labels::TENANT_NAMESPACE, "true");
    put(labels::ISOLATION_LEVEL, iso.level.as_str());
    if let Some(tier) = spec
        .tenant_config
        .as_ref()
        .and_then(|c| c.billing_tier.as_deref())
    {
        put(labels::BILLING_TIER, tier);
    }
    if let Some(cc) = spec.billing.as_ref().and_then(|b| b.cost_center.as_deref()) {
        put(labels::COST_CENTER, cc);
    }
    if iso.api_audit {
        put(labels::AUDIT_LEVEL, iso.audit_level.as_str());
    }
    match spec.monitoring.as_ref().and_then(|m| m.logging_enabled) {
        Some(true) => put(labels::LOGGING, "enabled"),
        Some(false) => put(labels::LOGGING, "disabled"),
        None => {}
    }
    put(labels::PSA_ENFORCE, iso.pod_security.as_str());
    put(labels::PSA_ENFORCE_VERSION, PSA_VERSION);
    put(labels::PSA_WARN, iso.pod_security_warn.as_str());
    put(PSA_WARN_VERSION, PSA_VERSION);
    put(labels::PSA_AUDIT, iso.pod_security_warn.as_str());
    put(PSA_AUDIT_VERSION, PSA_VERSION);
    if iso.image_verification {
        put(SIGSTORE_INCLUDE, "true");
    }
    l
}

/// The namespace's annotations: the common annotations plus display name, description, owner,
/// customer, billing contact and the encryption requirements.
pub fn namespace_annotations(tenant: &Tenant, eff: &Effective) -> BTreeMap<String, String> {
    let spec = &tenant.spec;
    let mut a = naming::common_annotations(tenant);
    let mut put = |k: &str, v: Option<&str>| {
        if let Some(v) = v {
            a.insert(k.to_string(), v.to_string());
        }
    };
    put(labels::DISPLAY_NAME, spec.display_name.as_deref());
    put(labels::DESCRIPTION, spec.description.as_deref());
    put(labels::OWNER_EMAIL, spec.owner.as_deref());
    let cfg = spec.tenant_config.as_ref();
    put(
        labels::CUSTOMER_NAME,
        cfg.and_then(|c| c.customer_name.as_deref()),
    );
    put(
        labels::CUSTOMER_EMAIL,
        cfg.and_then(|c| c.customer_email.as_deref()),
    );
    put(
        labels::BILLING_CONTACT,
        spec.billing
            .as_ref()
            .and_then(|b| b.billing_contact.as_deref()),
    );
    let monitoring = spec.monitoring.as_ref();
    put(
        labels::LOG_RETENTION,
        monitoring.and_then(|m| m.log_retention.as_deref()),
    );
    put(
        labels::METRICS_RETENTION,
        monitoring.and_then(|m| m.metrics_retention.as_deref()),
    );
    let iso = &eff.isolation;
    put(
        SECRETS_ENCRYPTION_REQUIRED,
        iso.secrets_encryption.then_some("true"),
    );
    put(
        ENCRYPTION_AT_REST_REQUIRED,
        iso.encryption_at_rest.then_some("true"),
    );
    a
}

/// The typed Namespace.
pub fn namespace(tenant: &Tenant, eff: &Effective) -> Namespace {
    Namespace {
        metadata: ObjectMeta {
            name: Some(eff.namespace.clone()),
            labels: Some(namespace_labels(tenant, eff)),
            annotations: Some(namespace_annotations(tenant, eff)),
            ..Default::default()
        },
        ..Default::default()
    }
}

/// The tenant's Namespace (always exactly one object).
pub fn build(tenant: &Tenant, eff: &Effective, _ctx: &BuildContext) -> Result<Object, BuildError> {
    Ok(Object::from_resource(&namespace(tenant, eff))?)
}

#[cfg(test)]
#[allow(clippy::panic, clippy::unwrap_used, clippy::expect_used)] // tests fail by panicking
mod tests {
    use super::*;
    use tenant_api::{
        BillingSpec, IsolationLevel, IsolationSpec, PodSecurityLevel, TenantConfig, TenantSpec,
        TenantType,
    };

    fn tenant(spec: TenantSpec) -> Tenant {
        let mut t = Tenant::new("acme", spec);
        t.metadata.namespace = Some("tenants".into());
        t
    }

    fn with_level(level: IsolationLevel) -> Tenant {
        let mut spec = TenantSpec::new("acme", TenantType::Production);
        spec.isolation = Some(IsolationSpec {
            isolation_level: Some(level),
            ..Default::default()
        });
        tenant(spec)
    }

    fn render(t: &Tenant) -> serde_json::Value {
        let eff = Effective::of(t);
        match build(t, &eff, &BuildContext::default()) {
            Ok(o) => o.manifest,
            Err(e) => panic!("{e}"),
        }
    }

    fn label<'a>(m: &'a serde_json::Value, key: &str) -> Option<&'a str> {
        m["metadata"]["labels"][key].as_str()
    }

    fn annotation<'a>(m: &'a serde_json::Value, key: &str) -> Option<&'a str> {
        m["metadata"]["annotations"][key].as_str()
    }

    #[test]
    fn strict_preset_enforces_restricted_pod_security() {
        let m = render(&with_level(IsolationLevel::Strict));
        assert_eq!(m["kind"], "Namespace");
        assert_eq!(m["metadata"]["name"], "tenant-acme-production");
        assert!(m["metadata"].get("namespace").is_none());
        assert_eq!(label(&m, labels::PSA_ENFORCE), Some("restricted"));
        assert_eq!(label(&m, labels::PSA_ENFORCE_VERSION), Some("latest"));
        assert_eq!(label(&m, labels::PSA_WARN), Some("restricted"));
        assert_eq!(label(&m, labels::PSA_AUDIT), Some("restricted"));
        assert_eq!(label(&m, labels::ISOLATION_LEVEL), Some("strict"));
        assert_eq!(label(&m, labels::AUDIT_LEVEL), Some("RequestResponse"));
        assert_eq!(label(&m, SIGSTORE_INCLUDE), Some("true"));
        assert_eq!(annotation(&m, SECRETS_ENCRYPTION_REQUIRED), Some("true"));
        assert_eq!(annotation(&m, ENCRYPTION_AT_REST_REQUIRED), Some("true"));
    }

    #[test]
    fn standard_preset_enforces_baseline_and_warns_restricted() {
        let m = render(&with_level(IsolationLevel::Standard));
        assert_eq!(label(&m, labels::PSA_ENFORCE), Some("baseline"));
        assert_eq!(label(&m, labels::PSA_WARN), Some("restricted"));
        assert_eq!(label(&m, labels::PSA_AUDIT), Some("restricted"));
        assert_eq!(label(&m, labels::AUDIT_LEVEL), Some("Metadata"));
        assert_eq!(label(&m, SIGSTORE_INCLUDE), None);
        assert_eq!(annotation(&m, SECRETS_ENCRYPTION_REQUIRED), None);
    }

    #[test]
    fn permissive_preset_is_privileged_without_audit_label() {
        let m = render(&with_level(IsolationLevel::Permissive));
        assert_eq!(label(&m, labels::PSA_ENFORCE), Some("privileged"));
        assert_eq!(label(&m, labels::PSA_WARN), Some("baseline"));
        assert_eq!(
            label(&m, labels::AUDIT_LEVEL),
            None,
            "apiAudit is off in permissive"
        );
    }

    #[test]
    fn explicit_pod_security_policy_overrides_the_preset() {
        let mut spec = TenantSpec::new("acme", TenantType::Production);
        spec.isolation = Some(IsolationSpec {
            isolation_level: Some(IsolationLevel::Permissive),
            pod_security_policy: Some(PodSecurityLevel::Restricted),
            ..Default::default()
        });
        let m = render(&tenant(spec));
        assert_eq!(label(&m, labels::PSA_ENFORCE), Some("restricted"));
        assert_eq!(label(&m, labels::PSA_WARN), Some("restricted"));
    }

    #[test]
    fn identity_labels_and_descriptive_annotations() {
        let mut spec = TenantSpec::new("acme", TenantType::Staging);
        spec.display_name = Some("ACME Corporation".into());
        spec.description = Some("Main tenant".into());
        spec.owner = Some("owner@acme.com".into());
        spec.tenant_config = Some(TenantConfig {
            customer_name: Some("ACME Inc.".into()),
            customer_email: Some("admin@acme.com".into()),
            billing_tier: Some("premium".into()),
            labels: Some(BTreeMap::from([
                ("team".to_string(), "platform".to_string()),
                (labels::PSA_ENFORCE.to_string(), "privileged".to_string()),
                (PSA_WARN_VERSION.to_string(), "v1.20".to_string()),
            ])),
            annotations: Some(BTreeMap::from([("note".to_string(), "x".to_string())])),
            ..Default::default()
        });
        spec.billing = Some(BillingSpec {
            billing_contact: Some("billing@acme.com".into()),
            cost_center: Some("ENG-001".into()),
            ..Default::default()
        });
        let m = render(&tenant(spec));
        assert_eq!(label(&m, labels::TENANT_ID), Some("acme"));
        assert_eq!(label(&m, labels::TENANT_TYPE), Some("staging"));
        assert_eq!(label(&m, labels::ENVIRONMENT), Some("staging"));
        assert_eq!(label(&m, labels::TENANT_NAMESPACE), Some("true"));
        assert_eq!(label(&m, labels::MANAGED_BY), Some(labels::MANAGER));
        assert_eq!(label(&m, labels::BILLING_TIER), Some("premium"));
        assert_eq!(label(&m, labels::COST_CENTER), Some("ENG-001"));
        assert_eq!(label(&m, "team"), Some("platform"));
        // user labels never weaken Pod Security
        assert_eq!(label(&m, labels::PSA_ENFORCE), Some("baseline"));
        assert_eq!(label(&m, PSA_WARN_VERSION), Some("latest"));
        assert_eq!(
            annotation(&m, labels::DISPLAY_NAME),
            Some("ACME Corporation")
        );
        assert_eq!(annotation(&m, labels::DESCRIPTION), Some("Main tenant"));
        assert_eq!(annotation(&m, labels::OWNER_EMAIL), Some("owner@acme.com"));
        assert_eq!(annotation(&m, labels::CUSTOMER_NAME), Some("ACME Inc."));
        assert_eq!(
            annotation(&m, labels::CUSTOMER_EMAIL),
            Some("admin@acme.com")
        );
        assert_eq!(
            annotation(&m, labels::BILLING_CONTACT),
            Some("billing@acme.com")
        );
        assert_eq!(annotation(&m, labels::OWNER), Some("Tenant/tenants/acme"));
        assert_eq!(annotation(&m, "note"), Some("x"));
        assert_eq!(annotation(&m, labels::OWNER_UID), None, "no uid offline");
    }

    #[test]
    fn a_live_tenant_stamps_its_uid_on_every_object() {
        let mut t = with_level(IsolationLevel::Strict);
        t.metadata.uid = Some("uid-1".into());
        let objects = crate::build::tenant_objects(&t, &crate::build::BuildContext::default());
        let objects = objects.unwrap_or_default();
        assert!(!objects.is_empty());
        for o in &objects {
            assert_eq!(
                o.manifest["metadata"]["annotations"][labels::OWNER_UID],
                "uid-1",
                "{} {}",
                o.kind,
                o.name
            );
        }
    }

    #[test]
    fn object_meta_places_objects_in_the_tenant_namespace() {
        let t = with_level(IsolationLevel::Standard);
        let eff = Effective::of(&t);
        let meta = object_meta(&t, &eff, "x");
        assert_eq!(meta.namespace.as_deref(), Some("tenant-acme-production"));
        assert_eq!(meta.labels, Some(naming::common_labels(&t.spec)));
        assert_eq!(meta.annotations, Some(naming::common_annotations(&t)));
    }

    #[test]
    fn deterministic() {
        let t = with_level(IsolationLevel::Strict);
        let a = serde_json::to_string(&render(&t)).unwrap_or_default();
        let b = serde_json::to_string(&render(&t)).unwrap_or_default();
        assert!(!a.is_empty());
        assert_eq!(a, b);
    }
}
