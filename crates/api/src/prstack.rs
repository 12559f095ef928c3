//! `PRStack`: the existing PR preview environment, kept so that PRStacks and Tenants
//! coexist and `kubectl tenant migrate` can turn one into the other.

/// Appended to the PRStack's description in its CRD, and said by `kubectl tenant validate`: the
/// PRStack controller is opt-in, so whether a PRStack is acted on is the platform's setting.
pub const OPT_IN: &str = "Reconciled only by a tenant operator started with --prstacks (off by default, so another operator that reconciles PRStacks keeps them): the preview then runs through a Tenant of the same name that the operator makes and owns; without it, nothing acts on a PRStack.";

use crate::common::{BackupConfig, ResourceLimits};
use crate::status::Phase;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};
use kube::{CustomResource, KubeSchema};
use serde::{Deserialize, Serialize};

/// A pull request preview environment in namespace `pr-{prNumber}-shop-pilab-hu`, with isolated
/// MongoDB, NATS and Redis settings, the PR's image tag, and active (1 replica) / inactive
/// (0 replicas) scaling.
#[serde_with::skip_serializing_none]
#[derive(CustomResource, KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[kube(
    group = "shop.pilab.hu",
    version = "v1alpha1",
    kind = "PRStack",
    plural = "prstacks",
    singular = "prstack",
    shortname = "prs",
    namespaced,
    status = "PRStackStatus",
    derive = "PartialEq",
    cel,
    doc = "A pull request preview environment of the PiShop services.",
    printcolumn(name = "PR", type_ = "integer", json_path = ".spec.prNumber"),
    printcolumn(name = "Image", type_ = "string", json_path = ".spec.imageTag"),
    printcolumn(name = "Active", type_ = "boolean", json_path = ".spec.active"),
    printcolumn(name = "Namespace", type_ = "string", json_path = ".status.namespace"),
    printcolumn(name = "Phase", type_ = "string", json_path = ".status.phase"),
    printcolumn(
        name = "Age",
        type_ = "date",
        json_path = ".metadata.creationTimestamp"
    )
)]
#[serde(rename_all = "camelCase")]
#[x_kube(validation = Rule::new("self.prNumber == oldSelf.prNumber").message("prNumber is immutable: it names the namespace").field_path(".prNumber"))]
pub struct PRStackSpec {
    /// The pull request number; the namespace is `pr-{prNumber}-shop-pilab-hu`. Immutable.
    #[x_kube(validation = Rule::new("self > 0 && self < 100000000").message("must be a positive pull request number below 100000000"))]
    pub pr_number: i64,
    /// The PR's branch, for display.
    #[schemars(length(max = 255))]
    pub branch: Option<String>,
    /// Image tag of the PR build (e.g. `pr-123-abc1234`).
    #[x_kube(validation = Rule::new("self.matches('^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$')").message("must be a valid image tag"))]
    #[schemars(length(max = 128))]
    pub image_tag: Option<String>,
    /// Whether the stack runs (1 replica per service) or is parked (0 replicas). Default true.
    #[serde(default = "crate::tenant::default_true")]
    pub active: bool,
    /// Changing this timestamp rolls every service out again.
    pub deployed_at: Option<Time>,
    /// Services to run.
    #[x_kube(validation = Rule::new("self.all(s, s.matches('^[a-z0-9]([-a-z0-9]*[a-z0-9])?$') && size(s) <= 50)").message("each service must be a DNS label of at most 50 characters"))]
    #[schemars(length(max = 32), inner(length(max = 50)))]
    pub services: Option<Vec<String>>,
    /// MongoDB connection string.
    #[serde(rename = "mongoURI")]
    #[schemars(length(max = 2048))]
    pub mongo_uri: Option<String>,
    /// NATS URL.
    #[serde(rename = "natsURL")]
    #[schemars(length(max = 2048))]
    pub nats_url: Option<String>,
    /// Redis URL.
    #[serde(rename = "redisURL")]
    #[schemars(length(max = 2048))]
    pub redis_url: Option<String>,
    /// Resource ceilings for the preview namespace.
    pub resource_limits: Option<ResourceLimits>,
    /// Backup settings.
    pub backup_config: Option<BackupConfig>,
}

/// Observed state of a PRStack.
#[serde_with::skip_serializing_none]
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct PRStackStatus {
    /// Lifecycle phase.
    pub phase: Option<Phase>,
    /// The generation the status describes.
    pub observed_generation: Option<i64>,
    /// The preview namespace.
    pub namespace: Option<String>,
    /// Conditions, one per type.
    #[schemars(extend("x-kubernetes-list-type" = "map", "x-kubernetes-list-map-keys" = ["type"]))]
    pub conditions: Option<Vec<Condition>>,
}

impl PRStackSpec {
    /// The namespace a PRStack lives in, as the existing operator names it.
    pub fn namespace_name(&self) -> String {
        format!("pr-{}-shop-pilab-hu", self.pr_number)
    }
}
