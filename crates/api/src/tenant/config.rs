//! `spec.tenantConfig`: customer information, billing tier, feature flags, extra metadata.

use kube::KubeSchema;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Customer information, billing tier, feature flags and extra metadata.
#[serde_with::skip_serializing_none]
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct TenantConfig {
    /// Customer name.
    #[schemars(length(max = 256))]
    pub customer_name: Option<String>,
    /// Customer contact e-mail.
    #[x_kube(validation = Rule::new("self.matches('^[^@\\\\s]+@[^@\\\\s]+$')").message("must be an e-mail address"))]
    #[schemars(length(max = 256))]
    pub customer_email: Option<String>,
    /// Billing tier (e.g. basic, standard, premium, enterprise); labels the namespace and
    /// selects the tier's rates when `billing` gives none.
    #[x_kube(validation = Rule::new("self.matches('^[a-z0-9]([-a-z0-9]*[a-z0-9])?$')").message("must be a DNS label such as premium"))]
    #[schemars(length(max = 63))]
    pub billing_tier: Option<String>,
    /// Feature flags, exposed to the services as `TENANT_FEATURES` and `FEATURE_<NAME>=true`.
    #[x_kube(validation = Rule::new("self.all(f, f.matches('^[a-z0-9]([-a-z0-9]*[a-z0-9])?$'))").message("each feature must be a DNS label such as api-access"))]
    #[schemars(length(max = 64), inner(length(max = 63)))]
    pub features: Option<Vec<String>>,
    /// Extra labels for every object of the tenant (cannot override the operator's own keys).
    pub labels: Option<BTreeMap<String, String>>,
    /// Extra annotations for every object of the tenant.
    pub annotations: Option<BTreeMap<String, String>>,
}
