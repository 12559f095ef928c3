//! Isolation presets and the effective settings of a tenant.
//!
//! `isolationLevel` picks a preset; every explicit field of `isolation` and `networkPolicy`
//! overrides the preset's value. `Effective` is the one place where defaults are decided:
//! builders and validation read it and never re-derive a default themselves.

use crate::naming;
use std::collections::BTreeMap;
use tenant_api::{
    AuditLevel, IsolationLevel, IsolationSpec, NetworkPolicySpec, PodSecurityLevel,
    PodsInNamespaces, Tenant, TenantSpec, TenantType,
};

/// The isolation level used when `spec.isolation.isolationLevel` is unset.
pub const DEFAULT_LEVEL: IsolationLevel = IsolationLevel::Standard;
/// The image repository prefix used when `spec.imageRepository` is unset.
pub const DEFAULT_IMAGE_REPOSITORY: &str = "ghcr.io/pilab-hu/pishop";
/// The node label key for dedicated nodes.
pub const DEFAULT_DEDICATED_NODE_LABEL: &str = "shop.pilab.hu/tenant-id";
/// Where the ingress controller runs unless `networkPolicy.ingressControllerNamespaces` says otherwise.
pub const DEFAULT_INGRESS_CONTROLLER_NAMESPACE: &str = "ingress-nginx";
/// Service port used when `serviceSettings.<svc>.port` is unset.
pub const DEFAULT_SERVICE_PORT: i32 = 8080;

/// Isolation settings with every preset value filled in.
#[derive(Clone, Debug, PartialEq)]
pub struct Isolation {
    pub level: IsolationLevel,
    /// Pod Security Admission `enforce` level.
    pub pod_security: PodSecurityLevel,
    /// Pod Security Admission `warn` and `audit` level (never weaker than `enforce`).
    pub pod_security_warn: PodSecurityLevel,
    pub network_isolation: bool,
    pub dns_isolation: bool,
    pub storage_isolation: bool,
    pub pv_access_control: bool,
    pub allowed_storage_classes: Vec<String>,
    pub cpu_pinning: bool,
    pub dedicated_nodes: bool,
    pub dedicated_node_label: String,
    pub app_armor: bool,
    pub selinux: bool,
    pub secrets_encryption: bool,
    pub encryption_at_rest: bool,
    pub api_audit: bool,
    pub audit_level: AuditLevel,
    pub allowed_registries: Vec<String>,
    pub blocked_registries: Vec<String>,
    pub image_verification: bool,
    pub require_image_pull_policy_always: bool,
    pub allow_node_ports: bool,
    pub allow_load_balancers: bool,
    pub allow_host_namespaces: bool,
    pub allow_host_path: bool,
    /// PriorityClasses the tenant may name (no preset allows any; the `system-` ones never).
    pub allowed_priority_classes: Vec<String>,
}

impl Isolation {
    /// The preset of a level, before any override.
    pub fn preset(level: IsolationLevel) -> Isolation {
        use IsolationLevel::*;
        let (strict, permissive) = (level == Strict, level == Permissive);
        Isolation {
            level,
            pod_security: match level {
                Strict => PodSecurityLevel::Restricted,
                Standard => PodSecurityLevel::Baseline,
                Permissive => PodSecurityLevel::Privileged,
            },
            pod_security_warn: match level {
                Strict | Standard => PodSecurityLevel::Restricted,
                Permissive => PodSecurityLevel::Baseline,
            },
            network_isolation: !permissive,
            // every preset: wherever network isolation is on, DNS goes to the cluster DNS only
            dns_isolation: true,
            storage_isolation: strict,
            pv_access_control: !permissive,
            allowed_storage_classes: Vec::new(),
            cpu_pinning: false,
            dedicated_nodes: false,
            dedicated_node_label: DEFAULT_DEDICATED_NODE_LABEL.to_string(),
            app_armor: strict,
            selinux: strict,
            secrets_encryption: strict,
            encryption_at_rest: strict,
            api_audit: !permissive,
            audit_level: match level {
                Strict => AuditLevel::RequestResponse,
                Standard => AuditLevel::Metadata,
                Permissive => AuditLevel::None,
            },
            allowed_registries: Vec::new(),
            blocked_registries: Vec::new(),
            image_verification: strict,
            require_image_pull_policy_always: strict,
            allow_node_ports: permissive,
            allow_load_balancers: !strict,
            allow_host_namespaces: permissive,
            allow_host_path: permissive,
            allowed_priority_classes: Vec::new(),
        }
    }

    /// The preset of the spec's level with the spec's explicit fields applied.
    pub fn resolve(spec: Option<&IsolationSpec>) -> Isolation {
        let empty = IsolationSpec::default();
        let s = spec.unwrap_or(&empty);
        let mut i = Isolation::preset(s.isolation_level.unwrap_or(DEFAULT_LEVEL));
        let set = |slot: &mut bool, v: Option<bool>| {
            if let Some(v) = v {
                *slot = v;
            }
        };
        if let Some(p) = s.pod_security_policy {
            i.pod_security = p;
            // warn/audit never report less than what is enforced
            i.pod_security_warn = i.pod_security_warn.max(p);
        }
        set(&mut i.network_isolation, s.network_isolation);
        set(&mut i.dns_isolation, s.dns_isolation);
        set(&mut i.storage_isolation, s.storage_isolation);
        set(&mut i.pv_access_control, s.pv_access_control);
        if let Some(v) = &s.allowed_storage_classes {
            i.allowed_storage_classes = v.clone();
        }
        set(&mut i.cpu_pinning, s.cpu_pinning);
        set(&mut i.dedicated_nodes, s.dedicated_nodes);
        if let Some(v) = &s.dedicated_node_label {
            i.dedicated_node_label = v.clone();
        }
        set(&mut i.app_armor, s.app_armor);
        set(&mut i.selinux, s.selinux);
        set(&mut i.secrets_encryption, s.secrets_encryption);
        set(&mut i.encryption_at_rest, s.encryption_at_rest);
        set(&mut i.api_audit, s.api_audit);
        if let Some(v) = s.audit_level {
            i.audit_level = v;
        }
        if let Some(v) = &s.allowed_registries {
            i.allowed_registries = v.clone();
        }
        if let Some(v) = &s.blocked_registries {
            i.blocked_registries = v.clone();
        }
        set(&mut i.image_verification, s.image_verification);
        set(
            &mut i.require_image_pull_policy_always,
            s.require_image_pull_policy_always,
        );
        set(&mut i.allow_node_ports, s.allow_node_ports);
        set(&mut i.allow_load_balancers, s.allow_load_balancers);
        set(&mut i.allow_host_namespaces, s.allow_host_namespaces);
        set(&mut i.allow_host_path, s.allow_host_path);
        if let Some(v) = &s.allowed_priority_classes {
            i.allowed_priority_classes = v.clone();
        }
        i
    }
}

/// The quota keys a default may set: compute, and the pod count (a tenant of tiny pods could
/// otherwise fill every node's pod capacity within its cpu quota).
pub const COMPUTE_KEYS: [&str; 5] = [
    "requests.cpu",
    "limits.cpu",
    "requests.memory",
    "limits.memory",
    "pods",
];

/// The compute quota a strict or standard tenant gets for a resource (cpu, memory) its spec
/// bounds nowhere: without it one tenant could take the whole cluster. Per tenant type, set by
/// the platform (`--default-compute-quota`), else the built-in values. Permissive tenants get no
/// default (that preset trusts the tenant, as it does with host namespaces); validation warns.
#[derive(Clone, Debug, PartialEq)]
pub struct ComputeDefaults {
    production: BTreeMap<String, String>,
    staging: BTreeMap<String, String>,
    development: BTreeMap<String, String>,
}

impl Default for ComputeDefaults {
    fn default() -> Self {
        ComputeDefaults::builtin()
    }
}

impl ComputeDefaults {
    /// The built-in defaults (see docs/field-origins.md): requests a node's worth for
    /// production, half that for staging, a quarter for development; limits twice the requests;
    /// pods in the same proportion.
    pub fn builtin() -> ComputeDefaults {
        let m = |rc: &str, lc: &str, rm: &str, lm: &str, p: &str| -> BTreeMap<String, String> {
            COMPUTE_KEYS
                .iter()
                .zip([rc, lc, rm, lm, p])
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect()
        };
        ComputeDefaults {
            production: m("8", "16", "16Gi", "32Gi", "200"),
            staging: m("4", "8", "8Gi", "16Gi", "100"),
            development: m("2", "4", "4Gi", "8Gi", "50"),
        }
    }

    /// No defaults for any tenant type.
    pub fn none() -> ComputeDefaults {
        ComputeDefaults {
            production: BTreeMap::new(),
            staging: BTreeMap::new(),
            development: BTreeMap::new(),
        }
    }

    /// The default quota keys of a tenant type (empty: none).
    pub fn of(&self, t: TenantType) -> &BTreeMap<String, String> {
        match t {
            TenantType::Production => &self.production,
            TenantType::Staging => &self.staging,
            TenantType::Development => &self.development,
        }
    }

    fn of_mut(&mut self, t: TenantType) -> &mut BTreeMap<String, String> {
        match t {
            TenantType::Production => &mut self.production,
            TenantType::Staging => &mut self.staging,
            TenantType::Development => &mut self.development,
        }
    }

    /// Applies one setting: `TYPE:KEY=QUANTITY[,KEY=QUANTITY...]` replaces the defaults of a
    /// tenant type, `TYPE:none` removes them. KEY is one of [`COMPUTE_KEYS`].
    pub fn set(&mut self, setting: &str) -> Result<(), String> {
        self.apply(ComputeSetting::parse(setting)?);
        Ok(())
    }

    /// Applies a checked setting.
    pub fn apply(&mut self, setting: ComputeSetting) {
        *self.of_mut(setting.tenant_type) = setting.keys;
    }

    /// The built-in defaults with `settings` applied in order (the operator's and the CLI's
    /// `--default-compute-quota`).
    pub fn with(settings: &[ComputeSetting]) -> ComputeDefaults {
        let mut d = ComputeDefaults::builtin();
        for s in settings {
            d.apply(s.clone());
        }
        d
    }

    /// `key=value, ...` of a tenant type, for messages; `none` when it has none.
    pub fn describe(&self, t: TenantType) -> String {
        let m = self.of(t);
        if m.is_empty() {
            return "none".into();
        }
        m.iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join(", ")
    }
}

/// One checked `--default-compute-quota` setting: the defaults of one tenant type (empty: none).
#[derive(Clone, Debug, PartialEq)]
pub struct ComputeSetting {
    pub tenant_type: TenantType,
    pub keys: BTreeMap<String, String>,
}

impl ComputeSetting {
    /// `TYPE:KEY=QUANTITY[,KEY=QUANTITY...]` or `TYPE:none`; the error names what is wrong.
    pub fn parse(setting: &str) -> Result<ComputeSetting, String> {
        let setting = setting.trim();
        let (ty, rest) = setting
            .split_once(':')
            .ok_or_else(|| format!("{setting:?}: expected TYPE:KEY=QUANTITY,... or TYPE:none"))?;
        let tenant_type = match ty.trim() {
            "production" => TenantType::Production,
            "staging" => TenantType::Staging,
            "development" => TenantType::Development,
            other => {
                return Err(format!(
                    "{other:?} is not a tenant type (production, staging, development)"
                ));
            }
        };
        let mut keys = BTreeMap::new();
        if rest.trim() != "none" {
            for pair in rest.split(',').map(str::trim).filter(|p| !p.is_empty()) {
                let (k, v) = pair
                    .split_once('=')
                    .ok_or_else(|| format!("{pair:?}: expected KEY=QUANTITY"))?;
                let (k, v) = (k.trim(), v.trim());
                if !COMPUTE_KEYS.contains(&k) {
                    return Err(format!(
                        "{k:?} is not a compute quota key ({})",
                        COMPUTE_KEYS.join(", ")
                    ));
                }
                if k == "pods" && !v.parse::<u32>().is_ok_and(|n| n > 0) {
                    return Err(format!("pods={v}: must be a positive whole number"));
                }
                match crate::quantity::Quantity::parse(v) {
                    Ok(q) if q > crate::quantity::Quantity::ZERO => {}
                    Ok(_) => return Err(format!("{k}={v}: must be positive")),
                    Err(e) => return Err(format!("{k}={v}: {e}")),
                }
                keys.insert(k.to_string(), v.to_string());
            }
            if keys.is_empty() {
                return Err(format!(
                    "{setting:?}: no KEY=QUANTITY given (use TYPE:none)"
                ));
            }
        }
        Ok(ComputeSetting { tenant_type, keys })
    }
}

/// Network policy settings with every default filled in.
#[derive(Clone, Debug, PartialEq)]
pub struct Network {
    /// Default-deny plus allow rules; false renders no NetworkPolicy at all.
    pub isolated: bool,
    pub ingress_enabled: bool,
    pub allow_from_same_tenant: bool,
    pub allow_from_namespaces: Vec<String>,
    /// Label sets selecting pods in the tenant's own namespaces.
    pub allow_from_pods: Vec<std::collections::BTreeMap<String, String>>,
    /// Label sets selecting pods in named namespaces.
    pub allow_from_pods_in_namespaces: Vec<PodsInNamespaces>,
    pub ingress_controller_namespaces: Vec<String>,
    pub egress_enabled: bool,
    pub allow_to_same_tenant: bool,
    pub allow_to_namespaces: Vec<String>,
    pub allow_to_dns: bool,
    /// DNS only to kube-system's cluster DNS pods (and `allowed_dns_cidrs`) rather than to any
    /// port-53 destination.
    pub dns_isolation: bool,
    pub allowed_dns_cidrs: Vec<String>,
    pub allow_to_external: bool,
    pub allowed_external_cidrs: Vec<String>,
    pub allowed_ports: Vec<i32>,
    pub blocked_ports: Vec<i32>,
}

impl Network {
    pub fn resolve(spec: &TenantSpec, isolation: &Isolation) -> Network {
        let empty = NetworkPolicySpec::default();
        let n = spec.network_policy.as_ref().unwrap_or(&empty);
        let exposes = spec.custom_domain.is_some();
        Network {
            isolated: isolation.network_isolation,
            ingress_enabled: n.ingress_enabled.unwrap_or(exposes),
            allow_from_same_tenant: n.allow_from_same_tenant.unwrap_or(true),
            allow_from_namespaces: n.allow_from_namespaces.clone().unwrap_or_default(),
            allow_from_pods: n.allow_from_pods.clone().unwrap_or_default(),
            allow_from_pods_in_namespaces: n
                .allow_from_pods_in_namespaces
                .clone()
                .unwrap_or_default(),
            ingress_controller_namespaces: n
                .ingress_controller_namespaces
                .clone()
                .unwrap_or_else(|| vec![DEFAULT_INGRESS_CONTROLLER_NAMESPACE.to_string()]),
            egress_enabled: n.egress_enabled.unwrap_or(true),
            allow_to_same_tenant: n.allow_to_same_tenant.unwrap_or(true),
            allow_to_namespaces: n.allow_to_namespaces.clone().unwrap_or_default(),
            allow_to_dns: n.allow_to_dns.unwrap_or(true),
            dns_isolation: isolation.dns_isolation,
            allowed_dns_cidrs: n.allowed_dns_cidrs.clone().unwrap_or_default(),
            allow_to_external: n
                .allow_to_external
                .unwrap_or(isolation.level != IsolationLevel::Strict),
            allowed_external_cidrs: n
                .allowed_external_cidrs
                .clone()
                .unwrap_or_else(|| vec!["0.0.0.0/0".to_string(), "::/0".to_string()]),
            allowed_ports: n.allowed_ports.clone().unwrap_or_default(),
            blocked_ports: n.blocked_ports.clone().unwrap_or_default(),
        }
    }
}

/// Everything a builder needs to know about one tenant, defaults decided.
#[derive(Clone, Debug, PartialEq)]
pub struct Effective {
    pub tenant_id: String,
    pub tenant_type: TenantType,
    pub environment: String,
    pub namespace: String,
    pub isolation: Isolation,
    pub network: Network,
}

impl Effective {
    pub fn of(tenant: &Tenant) -> Effective {
        Effective::of_spec(&tenant.spec)
    }

    pub fn of_spec(spec: &TenantSpec) -> Effective {
        let isolation = Isolation::resolve(spec.isolation.as_ref());
        let network = Network::resolve(spec, &isolation);
        Effective {
            tenant_id: spec.tenant_id.clone(),
            tenant_type: spec.tenant_type,
            environment: naming::environment(spec),
            namespace: naming::namespace_name(spec),
            isolation,
            network,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strict_preset_closes_everything() {
        let i = Isolation::preset(IsolationLevel::Strict);
        assert_eq!(i.pod_security, PodSecurityLevel::Restricted);
        assert!(i.network_isolation && i.dns_isolation && i.require_image_pull_policy_always);
        assert!(!i.allow_node_ports && !i.allow_load_balancers && !i.allow_host_path);
    }

    #[test]
    fn permissive_preset_opens_everything() {
        let i = Isolation::preset(IsolationLevel::Permissive);
        assert_eq!(i.pod_security, PodSecurityLevel::Privileged);
        assert!(!i.network_isolation);
        assert!(i.allow_node_ports && i.allow_host_namespaces && i.allow_host_path);
    }

    #[test]
    fn explicit_fields_override_the_preset() {
        let spec = IsolationSpec {
            isolation_level: Some(IsolationLevel::Strict),
            allow_node_ports: Some(true),
            pod_security_policy: Some(PodSecurityLevel::Baseline),
            ..Default::default()
        };
        let i = Isolation::resolve(Some(&spec));
        assert!(i.allow_node_ports);
        assert_eq!(i.pod_security, PodSecurityLevel::Baseline);
        // warn keeps the preset's stricter level
        assert_eq!(i.pod_security_warn, PodSecurityLevel::Restricted);
        assert!(!i.allow_load_balancers, "untouched fields keep the preset");
    }

    #[test]
    fn every_preset_isolates_dns() {
        // DNS only to the cluster DNS wherever network isolation is on, whatever the level
        for level in IsolationLevel::ALL {
            assert!(Isolation::preset(level).dns_isolation, "{}", level.as_str());
        }
        let open = IsolationSpec {
            dns_isolation: Some(false),
            ..Default::default()
        };
        assert!(!Isolation::resolve(Some(&open)).dns_isolation);
    }

    #[test]
    fn no_preset_allows_a_priority_class_and_the_field_overrides() {
        for level in IsolationLevel::ALL {
            assert!(Isolation::preset(level).allowed_priority_classes.is_empty());
        }
        let spec = IsolationSpec {
            isolation_level: Some(IsolationLevel::Strict),
            allowed_priority_classes: Some(vec!["tenant-high".into()]),
            ..Default::default()
        };
        assert_eq!(
            Isolation::resolve(Some(&spec)).allowed_priority_classes,
            ["tenant-high"]
        );
    }

    #[test]
    fn unset_level_is_standard() {
        assert_eq!(
            Isolation::resolve(None),
            Isolation::preset(IsolationLevel::Standard)
        );
    }

    #[test]
    fn ingress_defaults_to_on_only_when_the_tenant_exposes_a_domain() {
        let mut spec = TenantSpec::new("a", TenantType::Production);
        let i = Isolation::resolve(None);
        assert!(!Network::resolve(&spec, &i).ingress_enabled);
        spec.custom_domain = Some("shop.example.com".into());
        assert!(Network::resolve(&spec, &i).ingress_enabled);
    }
}
