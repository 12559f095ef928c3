//! Label and annotation keys, and the fixed names the operator uses.

/// `app.kubernetes.io/managed-by` value on everything the operator creates.
pub const MANAGER: &str = "tenant-operator";
/// The server-side-apply field manager of every write the operator makes.
pub const FIELD_MANAGER: &str = "tenant-operator";

pub const MANAGED_BY: &str = "app.kubernetes.io/managed-by";
pub const PART_OF: &str = "app.kubernetes.io/part-of";
pub const APP_COMPONENT: &str = "app.kubernetes.io/component";

/// The tenant's `spec.tenantId`.
pub const TENANT_ID: &str = "shop.pilab.hu/tenant-id";
/// The tenant's `spec.tenantType`.
pub const TENANT_TYPE: &str = "shop.pilab.hu/tenant-type";
/// The tenant's effective environment.
pub const ENVIRONMENT: &str = "shop.pilab.hu/environment";
/// The effective isolation level.
pub const ISOLATION_LEVEL: &str = "shop.pilab.hu/isolation-level";
/// The billing tier from `spec.tenantConfig.billingTier`.
pub const BILLING_TIER: &str = "shop.pilab.hu/billing-tier";
/// The cost center from `spec.billing.costCenter` (a label so cost tools can group by it).
pub const COST_CENTER: &str = "shop.pilab.hu/cost-center";
/// The requested API audit level (the cluster audit policy keys on this label).
pub const AUDIT_LEVEL: &str = "shop.pilab.hu/audit-level";
/// On a tenant namespace while the tenant is over its budget with `billing.budgetEnforcement`:
/// the `tenant-budget` admission policy then refuses new pods. Set and removed by the cost
/// accounting only.
pub const BUDGET_FROZEN: &str = "shop.pilab.hu/budget-frozen";
/// `enabled` or `disabled` from `monitoring.loggingEnabled` (unset: no label): the key a log
/// collector selects the tenant namespaces to collect on.
pub const LOGGING: &str = "shop.pilab.hu/logging";
/// Namespace annotation: `monitoring.logRetention`, for a log backend with per-tenant retention.
pub const LOG_RETENTION: &str = "shop.pilab.hu/log-retention";
/// Namespace annotation: `monitoring.metricsRetention`, for a metrics backend with per-tenant
/// retention.
pub const METRICS_RETENTION: &str = "shop.pilab.hu/metrics-retention";
/// Marks a namespace as a tenant namespace; admission policies select on it.
pub const TENANT_NAMESPACE: &str = "shop.pilab.hu/tenant-namespace";

/// Annotation naming the owning custom resource as `<Kind>/<namespace>/<name>` (labels cannot
/// hold '/'); `tenant_core::Owner` reads and writes it.
pub const OWNER: &str = "shop.pilab.hu/owner";
/// Annotation with the owning resource's UID, to tell a recreated Tenant of the same name apart.
pub const OWNER_UID: &str = "shop.pilab.hu/owner-uid";
/// Tenant annotation (`"true"`): the namespace the Tenant names may be adopted when it already
/// exists without any owner (made by hand, or by an earlier operator), instead of being a
/// conflict. Set by the PRStack controller on the Tenant it runs a preview with, and by
/// `kubectl tenant migrate --apply`.
pub const ADOPT_NAMESPACE: &str = "shop.pilab.hu/adopt-namespace";
/// Namespace annotation (`"true"`): the operator adopted this namespace rather than creating it,
/// so deleting its Tenant removes what the operator put in it and leaves the namespace and the
/// rest of its contents in place. Guarded like the owner annotations.
pub const ADOPTED: &str = "shop.pilab.hu/adopted";
/// Namespace annotation: when the operator adopted it (RFC 3339). What in it is older was not
/// created by the operator and is kept when the Tenant goes.
pub const ADOPTED_AT: &str = "shop.pilab.hu/adopted-at";
/// Tenant label naming the PRStack (by name, in the Tenant's namespace) that runs its preview
/// through this Tenant; the Tenant also has the PRStack as its controller ownerReference.
pub const PRSTACK: &str = "shop.pilab.hu/prstack";
/// PRStack annotation `Tenant/<namespace>/<name>`: the preview was handed over to that Tenant
/// (`kubectl tenant migrate --apply`); the PRStack controller no longer touches it.
pub const HANDED_OVER_TO: &str = "shop.pilab.hu/handed-over-to";
pub const DISPLAY_NAME: &str = "shop.pilab.hu/display-name";
pub const DESCRIPTION: &str = "shop.pilab.hu/description";
pub const OWNER_EMAIL: &str = "shop.pilab.hu/owner-email";
pub const CUSTOMER_NAME: &str = "shop.pilab.hu/customer-name";
pub const CUSTOMER_EMAIL: &str = "shop.pilab.hu/customer-email";
pub const BILLING_CONTACT: &str = "shop.pilab.hu/billing-contact";

/// The finalizer that holds a Tenant until everything it created outside its own namespace is gone.
pub const FINALIZER: &str = "shop.pilab.hu/cleanup";

/// Pod Security Admission namespace labels.
pub const PSA_ENFORCE: &str = "pod-security.kubernetes.io/enforce";
pub const PSA_ENFORCE_VERSION: &str = "pod-security.kubernetes.io/enforce-version";
pub const PSA_AUDIT: &str = "pod-security.kubernetes.io/audit";
pub const PSA_WARN: &str = "pod-security.kubernetes.io/warn";

/// The namespace name label every namespace carries (set by the apiserver).
pub const NAMESPACE_NAME: &str = "kubernetes.io/metadata.name";
