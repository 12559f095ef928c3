//! The registry of managed kinds: every kind of object the operator writes, where the cluster
//! gets it from, and which concern (status condition) it belongs to.
//!
//! Everything that needs a list of kinds derives it from [`KINDS`]: the operator's watches and
//! caches, the condition an object counts towards, what prune and cleanup may look at, the
//! tests' kind lists, and the offline check of `deploy/operator/rbac.yaml`. Adding a concern is a
//! builder file plus one row here (and its RBAC line).

use tenant_api::condition as c;

/// A concern: a family of objects reported by one status condition.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Concern {
    Namespace,
    Quota,
    Network,
    Rbac,
    Policy,
    Services,
    Monitoring,
    /// The tenant's identities on the platform's shared data servers (no cluster objects of
    /// its own: the connection Secret belongs to Services).
    Data,
    /// The tenant's Velero Schedule (in Velero's namespace) and what its Backups report.
    Backup,
}

impl Concern {
    pub const ALL: [Concern; 9] = [
        Concern::Namespace,
        Concern::Quota,
        Concern::Network,
        Concern::Rbac,
        Concern::Policy,
        Concern::Services,
        Concern::Monitoring,
        Concern::Data,
        Concern::Backup,
    ];

    /// The status condition type of the concern.
    pub const fn condition(self) -> &'static str {
        match self {
            Concern::Namespace => c::NAMESPACE_READY,
            Concern::Quota => c::QUOTA_READY,
            Concern::Network => c::NETWORK_ISOLATED,
            Concern::Rbac => c::RBAC_READY,
            Concern::Policy => c::POLICY_READY,
            Concern::Services => c::SERVICES_READY,
            Concern::Monitoring => c::MONITORING_READY,
            Concern::Data => c::DATA_READY,
            Concern::Backup => c::BACKUP_READY,
        }
    }

    /// Whether the concern is part of the guardrails: while its condition is False the tenant
    /// is not Ready. Integrations (monitoring) report their condition without holding Ready.
    /// The data stores hold Ready too: services without their data do not run.
    pub fn gates_ready(self) -> bool {
        matches!(
            self,
            Concern::Namespace | Concern::Quota | Concern::Policy | Concern::Data
        )
    }

    /// Whether the concern's condition is always reported (the guardrails), or only when the
    /// tenant has objects of the concern (its services, integrations such as monitoring).
    pub fn always_reported(self) -> bool {
        !matches!(
            self,
            Concern::Services | Concern::Monitoring | Concern::Data | Concern::Backup
        )
    }

    /// Words for an object count in a condition message (`"3 monitoring objects applied"`).
    pub fn noun(self) -> &'static str {
        match self {
            Concern::Namespace => "namespace objects",
            Concern::Quota => "quota objects",
            Concern::Network => "network objects",
            Concern::Rbac => "RBAC objects",
            Concern::Policy => "policy objects",
            Concern::Services => "service objects",
            Concern::Monitoring => "monitoring objects",
            Concern::Data => "data store identities",
            Concern::Backup => "backup schedules",
        }
    }
}

/// Where the cluster gets a kind from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Source {
    /// The Kubernetes API in every supported version: always served.
    BuiltIn,
    /// The operator's own CRDs, installed with it: always served.
    Ours,
    /// A Kubernetes API newer than the oldest supported version (found by discovery at start-up).
    Newer,
    /// Another project's CRD (`<plural>.<group>`): served only while that CRD is installed, which
    /// the operator watches, so installing it later is picked up without a restart.
    Crd,
}

/// Where a namespaced kind's per-owner objects live.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Home {
    /// In the tenant's own namespace (everything but the integrations below).
    Tenant,
    /// In Velero's namespace (`--velero-namespace`), which tenants cannot write to: the operator
    /// creates one object per tenant there, named after the tenant's namespace, and deletes it
    /// with the Tenant.
    Velero,
}

/// What the operator does with a kind's objects.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    /// Objects of one owner (a Tenant): built per owner, pruned, cleaned up with it.
    PerOwner,
    /// Cluster-wide objects every tenant relies on (admission policies, tenant ClusterRoles):
    /// applied at start-up and restored when they drift; never pruned or cleaned up.
    Shared,
}

/// One managed kind.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ManagedKind {
    /// API group; empty for the core group.
    pub group: &'static str,
    pub version: &'static str,
    pub kind: &'static str,
    /// The resource name (lower-case plural).
    pub plural: &'static str,
    pub namespaced: bool,
    /// Where its objects live: the tenant's namespace, or a platform namespace (Velero's).
    pub home: Home,
    pub concern: Concern,
    pub role: Role,
    pub source: Source,
}

impl ManagedKind {
    /// `group/version`, or `version` for the core group.
    pub fn api_version(&self) -> String {
        if self.group.is_empty() {
            self.version.to_string()
        } else {
            format!("{}/{}", self.group, self.version)
        }
    }

    /// Whether this row describes objects of `api_version` and `kind`.
    pub fn is(&self, api_version: &str, kind: &str) -> bool {
        self.kind == kind
            && match api_version.split_once('/') {
                Some((g, v)) => g == self.group && v == self.version,
                None => self.group.is_empty() && api_version == self.version,
            }
    }

    /// The name of the CRD serving the kind, for kinds from another project's CRD.
    pub fn crd_name(&self) -> Option<String> {
        (self.source == Source::Crd).then(|| format!("{}.{}", self.plural, self.group))
    }

    /// Whether the cluster may not serve the kind (the operator must discover it first).
    pub fn optional(&self) -> bool {
        matches!(self.source, Source::Newer | Source::Crd)
    }

    /// The verbs the operator uses on the kind (what `deploy/operator/rbac.yaml` must grant).
    /// Shared objects are never deleted; `get` and `patch` on them may be limited to their names.
    pub fn verbs(&self) -> &'static [&'static str] {
        match self.role {
            Role::PerOwner => &["get", "list", "watch", "create", "patch", "delete"],
            Role::Shared => &["get", "list", "watch", "create", "patch"],
        }
    }
}

impl ManagedKind {
    /// A namespaced, per-owner, built-in kind; the methods below change that.
    const fn new(
        group: &'static str,
        version: &'static str,
        kind: &'static str,
        plural: &'static str,
        concern: Concern,
    ) -> ManagedKind {
        ManagedKind {
            group,
            version,
            kind,
            plural,
            namespaced: true,
            home: Home::Tenant,
            concern,
            role: Role::PerOwner,
            source: Source::BuiltIn,
        }
    }
    const fn cluster_scoped(mut self) -> ManagedKind {
        self.namespaced = false;
        self
    }
    const fn shared(mut self) -> ManagedKind {
        self.role = Role::Shared;
        self
    }
    const fn at_home(mut self, home: Home) -> ManagedKind {
        self.home = home;
        self
    }
    const fn served_by(mut self, source: Source) -> ManagedKind {
        self.source = source;
        self
    }
}

use Concern as C;
use ManagedKind as K;

const RBAC: &str = "rbac.authorization.k8s.io";
const ADMISSION: &str = "admissionregistration.k8s.io";

/// Every kind the operator writes. Per-owner kinds first, in the order a tenant's objects are
/// applied (the builders decide that order; here it only helps the reader).
#[rustfmt::skip]
pub const KINDS: &[ManagedKind] = &[
    K::new("", "v1", "Namespace", "namespaces", C::Namespace).cluster_scoped(),
    K::new(tenant_api::GROUP, tenant_api::VERSION, "TenantPolicy", "tenantpolicies", C::Policy).served_by(Source::Ours),
    K::new("", "v1", "ResourceQuota", "resourcequotas", C::Quota),
    K::new("", "v1", "LimitRange", "limitranges", C::Quota),
    K::new("networking.k8s.io", "v1", "NetworkPolicy", "networkpolicies", C::Network),
    K::new("", "v1", "ServiceAccount", "serviceaccounts", C::Rbac),
    K::new(RBAC, "v1", "Role", "roles", C::Rbac),
    K::new(RBAC, "v1", "RoleBinding", "rolebindings", C::Rbac),
    K::new("", "v1", "ConfigMap", "configmaps", C::Services),
    K::new("", "v1", "Secret", "secrets", C::Services),
    K::new("apps", "v1", "Deployment", "deployments", C::Services),
    K::new("", "v1", "Service", "services", C::Services),
    K::new("policy", "v1", "PodDisruptionBudget", "poddisruptionbudgets", C::Services),
    K::new("autoscaling", "v2", "HorizontalPodAutoscaler", "horizontalpodautoscalers", C::Services),
    K::new("networking.k8s.io", "v1", "Ingress", "ingresses", C::Services),
    K::new("apps", "v1", "StatefulSet", "statefulsets", C::Data),
    K::new("cert-manager.io", "v1", "Certificate", "certificates", C::Services).served_by(Source::Crd),
    K::new("monitoring.coreos.com", "v1", "PrometheusRule", "prometheusrules", C::Monitoring).served_by(Source::Crd),
    K::new("monitoring.coreos.com", "v1", "ServiceMonitor", "servicemonitors", C::Monitoring).served_by(Source::Crd),
    K::new("monitoring.coreos.com", "v1alpha1", "AlertmanagerConfig", "alertmanagerconfigs", C::Monitoring).served_by(Source::Crd),
    K::new("velero.io", "v1", "Schedule", "schedules", C::Backup).served_by(Source::Crd).at_home(Home::Velero),
    // shared, cluster-wide
    K::new(ADMISSION, "v1", "ValidatingAdmissionPolicy", "validatingadmissionpolicies", C::Policy).cluster_scoped().shared(),
    K::new(ADMISSION, "v1", "ValidatingAdmissionPolicyBinding", "validatingadmissionpolicybindings", C::Policy).cluster_scoped().shared(),
    K::new(RBAC, "v1", "ClusterRole", "clusterroles", C::Rbac).cluster_scoped().shared(),
    K::new(ADMISSION, "v1", "MutatingAdmissionPolicy", "mutatingadmissionpolicies", C::Policy).cluster_scoped().shared().served_by(Source::Newer),
    K::new(ADMISSION, "v1", "MutatingAdmissionPolicyBinding", "mutatingadmissionpolicybindings", C::Policy).cluster_scoped().shared().served_by(Source::Newer),
];

/// The row of `api_version`/`kind`, if the operator manages that kind.
pub fn find(api_version: &str, kind: &str) -> Option<&'static ManagedKind> {
    KINDS.iter().find(|k| k.is(api_version, kind))
}

/// The row of `kind` (kind names are unique among the managed kinds).
pub fn by_kind(kind: &str) -> Option<&'static ManagedKind> {
    KINDS.iter().find(|k| k.kind == kind)
}

/// The rows of one role.
pub fn with_role(role: Role) -> impl Iterator<Item = &'static ManagedKind> {
    KINDS.iter().filter(move |k| k.role == role)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::build::{self, BuildContext};
    use std::collections::HashSet;

    #[test]
    fn every_row_is_unique_and_well_formed() {
        let mut seen = HashSet::new();
        for k in KINDS {
            assert!(seen.insert(k.kind), "{} listed twice", k.kind);
            assert!(!k.plural.is_empty() && k.plural == k.plural.to_lowercase());
            assert_eq!(find(&k.api_version(), k.kind), Some(k));
        }
        assert!(find("v2", "Namespace").is_none());
        assert!(find("apps/v1", "Namespace").is_none());
    }

    #[test]
    fn only_other_projects_crds_have_a_crd_name() {
        let prom = find("monitoring.coreos.com/v1", "PrometheusRule");
        assert_eq!(
            prom.and_then(ManagedKind::crd_name).as_deref(),
            Some("prometheusrules.monitoring.coreos.com")
        );
        assert!(
            find("v1", "Namespace")
                .and_then(ManagedKind::crd_name)
                .is_none()
        );
    }

    /// Every object a builder renders, for any example Tenant and for the shared objects, is of a
    /// registered kind with the right role: an unregistered kind would be applied but never
    /// watched, pruned or cleaned up.
    #[test]
    fn every_built_object_is_of_a_registered_kind() {
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../../examples");
        let mut checked = 0;
        for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
            let text = std::fs::read_to_string(entry.path()).unwrap_or_default();
            let tenants: Vec<tenant_api::Tenant> =
                serde_saphyr::from_multiple(&text).unwrap_or_default();
            for t in &tenants {
                let objects = build::tenant_objects(t, &BuildContext::default());
                for o in objects.into_iter().flatten() {
                    let row = find(&o.api_version, &o.kind);
                    assert_eq!(
                        row.map(|r| r.role),
                        Some(Role::PerOwner),
                        "{} {}",
                        o.api_version,
                        o.kind
                    );
                    checked += 1;
                }
            }
        }
        assert!(checked > 20, "only {checked} objects checked");
        for o in build::shared_objects(&BuildContext::default())
            .into_iter()
            .flatten()
        {
            let row = find(&o.api_version, &o.kind);
            assert_eq!(row.map(|r| r.role), Some(Role::Shared), "{}", o.kind);
        }
    }
}
