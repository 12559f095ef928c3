//! `spec.placement`: which clusters reconcile the Tenant.

use kube::KubeSchema;
use serde::{Deserialize, Serialize};

/// Where the Tenant runs, for one set of Tenants carried to many clusters (one GitOps
/// repository, every cluster): the operator of a cluster reconciles the Tenant only when the
/// cluster's region (its `--region`) is one of `regions` or the cluster's name (its
/// `--cluster-name`) is one of `clusters`. Elsewhere the Tenant is left alone (phase
/// `NotPlaced`, the Ready condition saying why). Without `placement` the Tenant runs on every
/// cluster.
#[serde_with::skip_serializing_none]
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, KubeSchema)]
#[serde(rename_all = "camelCase")]
#[x_kube(validation = Rule::new("(has(self.regions) && size(self.regions) > 0) || (has(self.clusters) && size(self.clusters) > 0)").message("must name at least one region or cluster; leave placement out to run the Tenant on every cluster"))]
pub struct Placement {
    /// Regions whose clusters run the Tenant (DNS labels, e.g. `eu-west`).
    #[x_kube(validation = Rule::new("self.all(r, r.matches('^[a-z0-9]([-a-z0-9]*[a-z0-9])?$'))").message("each region must be a DNS label"))]
    #[x_kube(validation = Rule::new("self.all(r, self.exists_one(s, s == r))").message("regions must be unique"))]
    #[schemars(length(max = 32), inner(length(min = 1, max = 63)))]
    pub regions: Option<Vec<String>>,
    /// Clusters that run the Tenant, by the name their operator is started with (DNS labels).
    #[x_kube(validation = Rule::new("self.all(c, c.matches('^[a-z0-9]([-a-z0-9]*[a-z0-9])?$'))").message("each cluster must be a DNS label"))]
    #[x_kube(validation = Rule::new("self.all(c, self.exists_one(s, s == c))").message("clusters must be unique"))]
    #[schemars(length(max = 32), inner(length(min = 1, max = 63)))]
    pub clusters: Option<Vec<String>>,
}
