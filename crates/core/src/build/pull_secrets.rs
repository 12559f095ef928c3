//! Registry credentials: the platform's `kubernetes.io/dockerconfigjson` Secrets (named by the
//! operator's `--pull-secret`, in its own namespace) copied into each tenant namespace whose
//! services pull from one of their registries, and referenced from the services' pods.
//!
//! A copy is named `pull-<source>`, carries the tenant's labels (so it is pruned when the tenant
//! no longer pulls from that registry, and removed with the Tenant) and the source's
//! `.dockerconfigjson` as is; the operator re-applies it when the source changes, so a rotated
//! credential reaches every tenant. Who can read a copy: whoever may read Secrets in the tenant
//! namespace (tenant admins and developers; not viewers) — so the platform should hand out
//! pull-only credentials.

use k8s_openapi::ByteString;
use k8s_openapi::api::core::v1::Secret;
use serde_json::Value;
use tenant_api::Tenant;

use super::namespace::object_meta;
use super::services::ServicePlan;
use crate::presets::Effective;

/// The type of a registry credential Secret.
pub const TYPE: &str = "kubernetes.io/dockerconfigjson";
/// The key of its data.
pub const KEY: &str = ".dockerconfigjson";

/// One of the platform's registry credentials.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PullSecretSource {
    /// The source Secret's name (in the operator's namespace).
    pub name: String,
    /// The registry hosts it holds credentials for (normalised, see [`registry_host`]).
    pub registries: Vec<String>,
    /// The `.dockerconfigjson` bytes.
    pub data: Vec<u8>,
}

impl PullSecretSource {
    /// A source from its `.dockerconfigjson`: the hosts are the keys of `auths`.
    pub fn parse(name: &str, data: &[u8]) -> Result<PullSecretSource, String> {
        let v: Value = serde_json::from_slice(data)
            .map_err(|e| format!("{KEY} of Secret {name} is not JSON: {e}"))?;
        let auths = v
            .get("auths")
            .and_then(Value::as_object)
            .ok_or_else(|| format!("{KEY} of Secret {name} has no \"auths\" map"))?;
        let mut registries: Vec<String> = auths.keys().map(|k| registry_host(k)).collect();
        registries.sort();
        registries.dedup();
        Ok(PullSecretSource {
            name: name.to_string(),
            registries,
            data: data.to_vec(),
        })
    }

    /// A source that names its registries without data (for `kubectl tenant render`, which
    /// never sees the platform's credentials: the copy is rendered with its data redacted).
    pub fn declared(name: &str, registries: &[String]) -> PullSecretSource {
        PullSecretSource {
            name: name.to_string(),
            registries: registries.iter().map(|r| registry_host(r)).collect(),
            data: Vec::new(),
        }
    }
}

/// A registry as the host an auths key or an image names: scheme and path dropped, lower-case,
/// Docker Hub's aliases as `docker.io`.
pub fn registry_host(key: &str) -> String {
    let k = key
        .trim()
        .trim_start_matches("https://")
        .trim_start_matches("http://");
    let host = k.split('/').next().unwrap_or_default().to_ascii_lowercase();
    match host.as_str() {
        "index.docker.io" | "registry-1.docker.io" | "registry.hub.docker.com" => {
            "docker.io".into()
        }
        _ => host,
    }
}

/// The registry an image is pulled from (`nginx` and `acme/app` from Docker Hub).
pub fn image_registry(image: &str) -> String {
    match image.split_once('/') {
        Some((first, _)) if first.contains(['.', ':']) || first == "localhost" => {
            registry_host(first)
        }
        _ => "docker.io".into(),
    }
}

/// The name of the copy of source `name` in a tenant namespace.
pub fn copy_name(source: &str) -> String {
    let mut n = format!("pull-{source}");
    n.truncate(253);
    n.trim_end_matches(['-', '.']).to_string()
}

/// The sources some service of the tenant pulls from, in the order the platform named them.
pub fn needed<'a>(
    plans: &[ServicePlan],
    sources: &'a [PullSecretSource],
) -> Vec<&'a PullSecretSource> {
    let registries: Vec<String> = plans.iter().map(|p| image_registry(&p.image)).collect();
    sources
        .iter()
        .filter(|s| s.registries.iter().any(|r| registries.contains(r)))
        .collect()
}

/// The copy of `source` in the tenant's namespace.
pub fn copy(tenant: &Tenant, eff: &Effective, source: &PullSecretSource) -> Secret {
    Secret {
        metadata: object_meta(tenant, eff, &copy_name(&source.name)),
        type_: Some(TYPE.into()),
        data: Some(
            [(KEY.to_string(), ByteString(source.data.clone()))]
                .into_iter()
                .collect(),
        ),
        ..Secret::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn images_and_auth_keys_name_the_same_hosts() {
        assert_eq!(image_registry("ghcr.io/pilab-hu/pishop/api:v1"), "ghcr.io");
        assert_eq!(image_registry("nginx:1.27"), "docker.io");
        assert_eq!(image_registry("acme/app"), "docker.io");
        assert_eq!(image_registry("localhost:5000/app"), "localhost:5000");
        assert_eq!(registry_host("https://index.docker.io/v1/"), "docker.io");
        assert_eq!(registry_host("GHCR.io"), "ghcr.io");
        let s = PullSecretSource::parse(
            "ghcr",
            br#"{"auths": {"ghcr.io": {"auth": "eDp5"}, "https://index.docker.io/v1/": {}}}"#,
        )
        .unwrap();
        assert_eq!(s.registries, ["docker.io", "ghcr.io"]);
        assert!(PullSecretSource::parse("bad", b"{}").is_err());
        assert!(PullSecretSource::parse("bad", b"not json").is_err());
    }
}
