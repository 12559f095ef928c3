//! Names and labels derived from a Tenant: deterministic, so a reconcile always finds its objects.

use std::collections::BTreeMap;
use tenant_api::{Tenant, TenantSpec, labels};

/// The default namespace pattern.
pub const DEFAULT_PATTERN: &str = "tenant-{tenantId}-{environment}";

/// The tenant's effective environment: `spec.environment`, else the tenantType.
pub fn environment(spec: &TenantSpec) -> String {
    spec.environment
        .clone()
        .unwrap_or_else(|| spec.tenant_type.as_str().to_string())
}

/// The namespace name before any validity check (validation reports when it is not a DNS label
/// or longer than 63 characters).
pub fn namespace_name(spec: &TenantSpec) -> String {
    let cfg = spec.namespace_config.clone().unwrap_or_default();
    if let Some(name) = cfg.name {
        return name;
    }
    let pattern = cfg.pattern.as_deref().unwrap_or(DEFAULT_PATTERN);
    let mut name = pattern
        .replace("{tenantId}", &spec.tenant_id)
        .replace("{environment}", &environment(spec))
        .replace("{tenantType}", spec.tenant_type.as_str());
    if let Some(prefix) = cfg.prefix.filter(|p| !p.is_empty()) {
        name = format!("{prefix}-{name}");
    }
    if let Some(suffix) = cfg.suffix.filter(|s| !s.is_empty()) {
        name = format!("{name}-{suffix}");
    }
    name
}

/// Labels every object of the tenant carries: the user's extra labels first, then the
/// operator's own keys, which always win.
pub fn common_labels(spec: &TenantSpec) -> BTreeMap<String, String> {
    let mut l = spec
        .tenant_config
        .as_ref()
        .and_then(|c| c.labels.clone())
        .unwrap_or_default();
    l.insert(labels::MANAGED_BY.into(), labels::MANAGER.into());
    l.insert(labels::PART_OF.into(), "tenant".into());
    l.insert(labels::TENANT_ID.into(), spec.tenant_id.clone());
    l.insert(labels::ENVIRONMENT.into(), environment(spec));
    l
}

/// The labels that select every object the operator manages for one tenant environment.
pub fn selector_labels(spec: &TenantSpec) -> BTreeMap<String, String> {
    BTreeMap::from([
        (labels::MANAGED_BY.to_string(), labels::MANAGER.to_string()),
        (labels::TENANT_ID.to_string(), spec.tenant_id.clone()),
        (labels::ENVIRONMENT.to_string(), environment(spec)),
    ])
}

/// Annotations every object of the tenant carries: the user's extra annotations plus the owner
/// (`Tenant/<namespace>/<name>`) and, when the Tenant has one (a live object, not a file), its uid.
pub fn common_annotations(tenant: &Tenant) -> BTreeMap<String, String> {
    let mut a = tenant
        .spec
        .tenant_config
        .as_ref()
        .and_then(|c| c.annotations.clone())
        .unwrap_or_default();
    a.insert(
        labels::OWNER.into(),
        crate::Owner::of_tenant(tenant).annotation(),
    );
    if let Some(uid) = &tenant.metadata.uid {
        a.insert(labels::OWNER_UID.into(), uid.clone());
    }
    a
}

/// Fixed object names inside a tenant namespace.
pub mod names {
    pub const QUOTA: &str = "tenant-quota";
    pub const LIMIT_RANGE: &str = "tenant-limits";
    pub const POLICY_PARAMS: &str = "tenant-policy";
    pub const ROLE_ADMIN: &str = "tenant-admin";
    pub const ROLE_DEVELOPER: &str = "tenant-developer";
    pub const ROLE_VIEWER: &str = "tenant-viewer";
    pub const ALERT_RULES: &str = "tenant-alerts";
    /// The ServiceMonitor of the tenant's services.
    pub const SERVICE_MONITOR: &str = "tenant-services";
    /// The AlertmanagerConfig routing the tenant's alerts to its receivers.
    pub const ALERT_ROUTING: &str = "tenant-alerts";
    /// The standard dashboard's ConfigMap; custom ones are `tenant-dashboard-<name>`.
    pub const DASHBOARD: &str = "tenant-dashboard";
}

#[cfg(test)]
mod tests {
    use super::*;
    use tenant_api::{NamespaceConfig, TenantType};

    fn spec(id: &str) -> TenantSpec {
        TenantSpec::new(id, TenantType::Staging)
    }

    #[test]
    fn default_pattern_uses_tenant_type_as_environment() {
        assert_eq!(namespace_name(&spec("acme")), "tenant-acme-staging");
    }

    #[test]
    fn prefix_suffix_and_placeholders() {
        let mut s = spec("acme");
        s.environment = Some("eu1".into());
        s.namespace_config = Some(NamespaceConfig {
            pattern: Some("{tenantId}-{tenantType}-{environment}".into()),
            prefix: Some("shop".into()),
            suffix: Some("pilab-hu".into()),
            name: None,
        });
        assert_eq!(namespace_name(&s), "shop-acme-staging-eu1-pilab-hu");
    }

    #[test]
    fn explicit_name_wins() {
        let mut s = spec("acme");
        s.namespace_config = Some(NamespaceConfig {
            name: Some("acme-corp".into()),
            prefix: Some("ignored".into()),
            ..Default::default()
        });
        assert_eq!(namespace_name(&s), "acme-corp");
    }

    #[test]
    fn operator_labels_win_over_user_labels() {
        let mut s = spec("acme");
        s.tenant_config = Some(tenant_api::TenantConfig {
            labels: Some(BTreeMap::from([
                (labels::TENANT_ID.to_string(), "other".to_string()),
                ("team".to_string(), "platform".to_string()),
            ])),
            ..Default::default()
        });
        let l = common_labels(&s);
        assert_eq!(l[labels::TENANT_ID], "acme");
        assert_eq!(l["team"], "platform");
    }
}
