//! `spec.namespaceConfig`: how the tenant namespace is named.

use kube::KubeSchema;
use serde::{Deserialize, Serialize};

/// Namespace naming. The name is `pattern` with `{tenantId}`, `{environment}` and `{tenantType}`
/// substituted, then `prefix-` prepended and `-suffix` appended; `name` overrides all of that.
/// The result must be a DNS label of at most 63 characters.
#[serde_with::skip_serializing_none]
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct NamespaceConfig {
    /// Pattern defines the namespace naming pattern. Default: "tenant-{tenantId}-{environment}".
    #[x_kube(validation = Rule::new("self.matches('^([-a-z0-9]|\\\\{(tenantId|environment|tenantType)\\\\})+$')").message("may contain only lower-case letters, digits, '-' and the placeholders {tenantId}, {environment}, {tenantType}"))]
    #[schemars(length(min = 1, max = 128))]
    pub pattern: Option<String>,
    /// Prefix for the namespace (e.g., "shop", "pishop").
    #[x_kube(validation = Rule::new("self.matches('^[a-z0-9]([-a-z0-9]*[a-z0-9])?$')").message("must be a DNS label"))]
    #[schemars(length(max = 30))]
    pub prefix: Option<String>,
    /// Suffix for the namespace (e.g., "pilab-hu").
    #[x_kube(validation = Rule::new("self.matches('^[a-z0-9]([-a-z0-9]*[a-z0-9])?$')").message("must be a DNS label"))]
    #[schemars(length(max = 30))]
    pub suffix: Option<String>,
    /// Exact namespace name; overrides pattern, prefix and suffix.
    #[x_kube(validation = Rule::new("self.matches('^[a-z0-9]([-a-z0-9]*[a-z0-9])?$')").message("must be a DNS label"))]
    #[schemars(length(max = 63))]
    pub name: Option<String>,
}
