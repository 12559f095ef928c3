//! Builders: pure functions from a Tenant to the Kubernetes objects the operator applies.
//!
//! `tenant_objects` returns one tenant's objects in apply order; `shared_objects` returns the
//! cluster-wide objects every tenant relies on (the admission policies and the tenant
//! ClusterRoles, the finalizer policy), which the operator applies at start-up and restores when they drift. Every object carries
//! the tenant's common labels, so the operator can list what it manages and delete what the
//! spec no longer wants.

pub mod backup;
pub mod config;
pub mod data;
pub mod dedicated;
pub mod domains;
pub mod finalizer;
pub mod ingress;
pub mod limits;
pub mod monitoring;
pub mod namespace;
pub mod network;
pub mod policy;
pub mod pull_secrets;
pub mod quota;
pub mod rbac;
pub mod services;

use crate::object::{Object, ObjectError};
use crate::presets::{ComputeDefaults, Effective};
use tenant_api::Tenant;

/// What the builders know besides the Tenant itself.
#[derive(Clone, Debug)]
pub struct BuildContext<'a> {
    /// Every other Tenant the caller knows of (for cross-tenant access grants). The operator
    /// passes its cache; `kubectl tenant render` passes the other files it was given.
    pub other_tenants: &'a [Tenant],
    /// The user name the operator acts as; the admission policies exempt it.
    pub operator_user: &'a str,
    /// The platform's default PriorityClass (the cluster's `globalDefault` one, which the API
    /// server writes into every pod that names no class); every tenant may use it. Empty: none.
    pub default_priority_class: &'a str,
    /// The operator's namespace, where the domain map the ingress-hosts policy reads lives.
    pub operator_namespace: &'a str,
    /// The compute quota of strict and standard tenants whose spec bounds no cpu or memory.
    pub compute_defaults: &'a ComputeDefaults,
    /// The IngressClass of the tenants' Ingresses; empty: the cluster's default class.
    pub ingress_class: &'a str,
    /// The platform's registry credentials, copied into the namespaces whose services pull from
    /// their registries.
    pub pull_secrets: &'a [pull_secrets::PullSecretSource],
    /// The cert-manager issuer (`ClusterIssuer/<name>` or `Issuer/<name>`) that obtains the
    /// certificate of a custom domain whose Tenant names no TLS Secret; empty: none.
    pub cert_issuer: &'a str,
    /// The platform's release channels: channel -> image tag.
    pub releases: &'a std::collections::BTreeMap<String, String>,
    /// The release to run instead of the spec's (the maintenance window holds it back).
    pub held_release: Option<&'a services::Release>,
    /// The time the hibernation timetable is read at.
    pub now: jiff::Timestamp,
    /// The identities the operator provisioned for the tenant on the platform's shared data
    /// servers, for its connection Secret (render has none).
    pub data: &'a data::Wiring,
    /// The platform's images and StorageClass of dedicated data stores.
    pub dedicated: &'a dedicated::DedicatedConfig,
    /// The platform's Velero namespace and backup settings.
    pub backup: &'a backup::BackupPlatform,
    /// The tenant is frozen by its budget and the platform hibernates frozen tenants
    /// (`--budget-freeze-hibernates`): its services and dedicated stores run as if inactive.
    pub budget_hibernated: bool,
}

/// No provisioned identities.
pub static NO_WIRING: std::sync::LazyLock<data::Wiring> =
    std::sync::LazyLock::new(data::Wiring::default);

/// No release channels.
pub static NO_RELEASES: std::collections::BTreeMap<String, String> =
    std::collections::BTreeMap::new();

/// The built-in compute defaults, for callers that set none.
pub static BUILTIN_COMPUTE_DEFAULTS: std::sync::LazyLock<ComputeDefaults> =
    std::sync::LazyLock::new(ComputeDefaults::builtin);

/// No compute defaults: lets unit tests look at one builder's own rules.
#[cfg(test)]
pub(crate) static NO_COMPUTE_DEFAULTS: std::sync::LazyLock<ComputeDefaults> =
    std::sync::LazyLock::new(ComputeDefaults::none);

#[cfg(test)]
pub(crate) fn context_without_compute_defaults() -> BuildContext<'static> {
    BuildContext {
        compute_defaults: &NO_COMPUTE_DEFAULTS,
        ..BuildContext::default()
    }
}

/// The operator's namespace in `deploy/`.
pub const DEFAULT_OPERATOR_NAMESPACE: &str = "tenant-system";

/// The operator's identity in `deploy/` (its ServiceAccount).
pub const DEFAULT_OPERATOR_USER: &str = "system:serviceaccount:tenant-system:tenant-operator";

impl Default for BuildContext<'_> {
    fn default() -> Self {
        BuildContext {
            other_tenants: &[],
            operator_user: DEFAULT_OPERATOR_USER,
            default_priority_class: "",
            operator_namespace: DEFAULT_OPERATOR_NAMESPACE,
            compute_defaults: &BUILTIN_COMPUTE_DEFAULTS,
            ingress_class: "",
            pull_secrets: &[],
            cert_issuer: "",
            releases: &NO_RELEASES,
            held_release: None,
            now: jiff::Timestamp::now(),
            data: &NO_WIRING,
            dedicated: &dedicated::DEFAULT_CONFIG,
            backup: &backup::DEFAULT_PLATFORM,
            budget_hibernated: false,
        }
    }
}

/// Building failed. Builders only fail on a bug (an object that does not serialize) or on input
/// that validation should have rejected; the error names the field.
#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    #[error(transparent)]
    Object(#[from] ObjectError),
    #[error("{field}: {message}")]
    Invalid { field: String, message: String },
}

impl BuildError {
    /// A short, bounded category for metrics and Event reasons.
    pub fn category(&self) -> &'static str {
        match self {
            BuildError::Object(_) => "serialize",
            BuildError::Invalid { .. } => "invalid-spec",
        }
    }
}

/// Every object of one tenant, in apply order: the namespace, then its guardrails (admission
/// parameters, quota, limits, network policies), and only then the access grants (service
/// accounts, roles, bindings), so no tenant user ever holds access to an unguarded namespace;
/// then the tenant's services (configuration, Deployments, Services, disruption budgets,
/// autoscalers, the Ingress), which the guardrails already constrain when their pods are
/// created; then the integrations (the alert rule, the backup Schedule in Velero's namespace),
/// whose kinds a cluster may not serve.
pub fn tenant_objects(tenant: &Tenant, ctx: &BuildContext) -> Result<Vec<Object>, BuildError> {
    let eff = Effective::of(tenant);
    let mut out = vec![namespace::build(tenant, &eff, ctx)?];
    out.push(policy::tenant_policy(tenant, &eff, ctx)?);
    out.extend(quota::build(tenant, &eff, ctx)?);
    out.extend(limits::build(tenant, &eff, ctx)?);
    out.extend(network::build(tenant, &eff, ctx)?);
    out.extend(rbac::build(tenant, &eff, ctx)?);
    out.extend(services::build(tenant, &eff, ctx)?);
    out.extend(dedicated::build(tenant, &eff, ctx)?);
    out.extend(monitoring::build(tenant, &eff, ctx)?);
    out.extend(backup::build(tenant, &eff, ctx)?);
    Ok(out)
}

/// The cluster-scoped objects shared by all tenants: the admission policies and their
/// bindings, the ClusterRoles of the built-in tenant roles, then the mutating policy that gives
/// new Tenants their finalizer (optional: see [`finalizer`]).
pub fn shared_objects(ctx: &BuildContext) -> Result<Vec<Object>, BuildError> {
    let mut out = policy::shared_policies(ctx)?;
    for role in rbac::cluster_roles() {
        out.push(Object::from_resource(&role)?);
    }
    out.extend(finalizer::objects());
    Ok(out)
}
