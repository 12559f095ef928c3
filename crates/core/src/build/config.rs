//! The configuration the tenant's services read (`envFrom`): a ConfigMap `tenant-config` with the
//! tenant's identity, feature flags, log settings and where its data lives, and a Secret
//! `tenant-connections` with the data stores' URLs and credentials given inline in the spec.
//!
//! - `tenant-config`: `TENANT_ID`, `TENANT_TYPE`, `TENANT_ENVIRONMENT`, `TENANT_NAMESPACE`,
//!   `TENANT_DOMAIN` (with customDomain), `TENANT_FEATURES` (the features, comma-separated) and
//!   `FEATURE_<NAME>=true` per feature (`api-access` -> `FEATURE_API_ACCESS`), `LOG_LEVEL`
//!   (default `info`), `LOG_FORMAT` (default `json`), `MONGO_DATABASE`, `NATS_SUBJECT_PREFIX`,
//!   `REDIS_KEY_PREFIX` (from `dataIsolation`, else derived from tenantId and environment).
//! - `tenant-connections` (only when the spec names a data store): `MONGO_URI`,
//!   `MONGO_USERNAME`, `MONGO_PASSWORD`, `NATS_URL`, `REDIS_URL`, `REDIS_PASSWORD`, each when set.
//!   URLs can carry credentials, so they are kept here, not in the ConfigMap.
//! - `mongoPasswordSecretRef` / `redisPasswordSecretRef` name a Secret in the tenant's namespace:
//!   the services read it directly (`env[].valueFrom.secretKeyRef`, which a pod can only resolve
//!   in its own namespace). The operator never reads it, so it can never be made to copy
//!   another namespace's secret.
//!
//! `hash` (FNV-1a, 64 bit, over both objects' data) goes into the services' pod template, so a
//! configuration change rolls them.

use std::collections::BTreeMap;

use k8s_openapi::ByteString;
use k8s_openapi::api::core::v1::{ConfigMap, Secret};
use tenant_api::{LogFormat, LogLevel, SecretKeyRef, Tenant};

use super::namespace::object_meta;
use super::{BuildError, data};
use crate::presets::Effective;

/// The ConfigMap's name.
pub const CONFIG_MAP: &str = "tenant-config";
/// The connection Secret's name.
pub const SECRET: &str = "tenant-connections";

/// The tenant's configuration objects and their hash.
#[derive(Clone, Debug)]
pub struct Config {
    pub config_map: ConfigMap,
    pub secret: Option<Secret>,
    pub hash: String,
}

/// The data-isolation names: `(mongoDatabase, natsSubjectPrefix, redisKeyPrefix)`.
pub fn data_names(tenant: &Tenant, eff: &Effective) -> (String, String, String) {
    let di = tenant.spec.data_isolation.clone().unwrap_or_default();
    let (id, env) = (&eff.tenant_id, &eff.environment);
    (
        di.mongo_database
            .unwrap_or_else(|| format!("tenant_{id}_{env}").replace('-', "_")),
        di.nats_subject_prefix
            .unwrap_or_else(|| format!("tenant.{id}.{env}")),
        di.redis_key_prefix
            .unwrap_or_else(|| format!("tenant:{id}:{env}:")),
    )
}

/// `FEATURE_<NAME>` for a feature flag.
pub fn feature_variable(feature: &str) -> String {
    format!(
        "FEATURE_{}",
        feature
            .chars()
            .map(|c| if c.is_ascii_alphanumeric() {
                c.to_ascii_uppercase()
            } else {
                '_'
            })
            .collect::<String>()
    )
}

/// Whether the tenant has a configuration to publish: it runs services, or sets a field the
/// configuration carries (feature flags, log settings, a data store, data isolation), which its
/// own workloads may read.
pub fn wanted(tenant: &Tenant) -> bool {
    let s = &tenant.spec;
    let m = s.monitoring.as_ref();
    s.services.as_ref().is_some_and(|v| !v.is_empty())
        || s.tenant_config
            .as_ref()
            .and_then(|c| c.features.as_ref())
            .is_some_and(|f| !f.is_empty())
        || m.is_some_and(|m| m.log_level.is_some() || m.log_format.is_some())
        || s.mongo_uri.is_some()
        || s.mongo_username.is_some()
        || s.mongo_password.is_some()
        || s.mongo_password_secret_ref.is_some()
        || s.nats_url.is_some()
        || s.redis_url.is_some()
        || s.redis_password.is_some()
        || s.redis_password_secret_ref.is_some()
        || s.data_isolation.is_some()
        || data::dedicated(tenant)
}

/// The passwords the services read from a Secret of the tenant's namespace: variable -> ref.
pub fn secret_refs(tenant: &Tenant) -> Vec<(&'static str, &SecretKeyRef)> {
    let s = &tenant.spec;
    let mut out = Vec::new();
    if let Some(r) = &s.mongo_password_secret_ref {
        out.push(("MONGO_PASSWORD", r));
    }
    if let Some(r) = &s.redis_password_secret_ref {
        out.push(("REDIS_PASSWORD", r));
    }
    out
}

fn config_data(tenant: &Tenant, eff: &Effective) -> BTreeMap<String, String> {
    let s = &tenant.spec;
    let mut d = BTreeMap::new();
    let mut put = |k: &str, v: String| {
        d.insert(k.to_string(), v);
    };
    put("TENANT_ID", eff.tenant_id.clone());
    put("TENANT_TYPE", s.tenant_type.as_str().to_string());
    put("TENANT_ENVIRONMENT", eff.environment.clone());
    put("TENANT_NAMESPACE", eff.namespace.clone());
    if let Some(domain) = &s.custom_domain {
        put("TENANT_DOMAIN", domain.clone());
    }
    let features = s
        .tenant_config
        .as_ref()
        .and_then(|c| c.features.clone())
        .unwrap_or_default();
    put("TENANT_FEATURES", features.join(","));
    for f in &features {
        put(&feature_variable(f), "true".into());
    }
    let m = s.monitoring.clone().unwrap_or_default();
    put(
        "LOG_LEVEL",
        match m.log_level.unwrap_or(LogLevel::Info) {
            LogLevel::Debug => "debug",
            LogLevel::Info => "info",
            LogLevel::Warn => "warn",
            LogLevel::Error => "error",
        }
        .into(),
    );
    put(
        "LOG_FORMAT",
        match m.log_format.unwrap_or(LogFormat::Json) {
            LogFormat::Json => "json",
            LogFormat::Text => "text",
        }
        .into(),
    );
    let (db, subjects, keys) = data_names(tenant, eff);
    put("MONGO_DATABASE", db);
    put("NATS_SUBJECT_PREFIX", subjects);
    put("REDIS_KEY_PREFIX", keys);
    d
}

fn secret_data(
    tenant: &Tenant,
    eff: &Effective,
    wiring: &data::Wiring,
) -> BTreeMap<String, String> {
    let s = &tenant.spec;
    let mut d: BTreeMap<String, String> = [
        ("MONGO_URI", &s.mongo_uri),
        ("MONGO_USERNAME", &s.mongo_username),
        ("MONGO_PASSWORD", &s.mongo_password),
        ("NATS_URL", &s.nats_url),
        ("REDIS_URL", &s.redis_url),
        ("REDIS_PASSWORD", &s.redis_password),
    ]
    .into_iter()
    .filter_map(|(k, v)| v.as_ref().map(|v| (k.to_string(), v.clone())))
    .collect();
    // provisioned identities (only for stores the spec does not configure itself)
    d.extend(data::secret_entries(wiring));
    // the dedicated stores in the namespace (only those the spec does not configure itself)
    d.extend(super::dedicated::secret_entries(
        tenant,
        eff,
        &wiring.dedicated,
    ));
    d
}

/// FNV-1a, 64 bit: stable across releases and platforms (the hash is compared with what an
/// earlier operator version wrote).
fn fnv1a(parts: &[&BTreeMap<String, String>]) -> String {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for map in parts {
        for (k, v) in *map {
            for b in k.bytes().chain([0]).chain(v.bytes()).chain([0]) {
                h ^= u64::from(b);
                h = h.wrapping_mul(0x0000_0100_0000_01b3);
            }
        }
        h ^= 0xff;
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    format!("{h:016x}")
}

/// The tenant's ConfigMap, connection Secret (when it has data) and their hash.
pub fn build(
    tenant: &Tenant,
    eff: &Effective,
    wiring: &data::Wiring,
) -> Result<Config, BuildError> {
    let data = config_data(tenant, eff);
    let secret = secret_data(tenant, eff, wiring);
    let hash = fnv1a(&[&data, &secret]);
    let config_map = ConfigMap {
        metadata: object_meta(tenant, eff, CONFIG_MAP),
        data: Some(data),
        ..ConfigMap::default()
    };
    let mut metadata = object_meta(tenant, eff, SECRET);
    if !wiring.is_empty() {
        metadata
            .annotations
            .get_or_insert_default()
            .insert(data::ROTATION_ANNOTATION.into(), wiring.rotation.clone());
    }
    let secret = (!secret.is_empty()).then(|| Secret {
        metadata,
        type_: Some("Opaque".into()),
        // `data`, not `stringData`: the API server stores stringData as data, so a stringData
        // manifest would never match the live object and be written on every reconcile
        data: Some(
            secret
                .into_iter()
                .map(|(k, v)| (k, ByteString(v.into_bytes())))
                .collect(),
        ),
        ..Secret::default()
    });
    Ok(Config {
        config_map,
        secret,
        hash,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use tenant_api::{TenantConfig, TenantSpec, TenantType};

    fn tenant() -> Tenant {
        let mut spec = TenantSpec::new("customer-shop-1", TenantType::Production);
        spec.tenant_config = Some(TenantConfig {
            features: Some(vec!["advanced-analytics".into(), "api-access".into()]),
            ..TenantConfig::default()
        });
        Tenant::new("customer-shop-1", spec)
    }

    #[test]
    fn features_become_variables_and_the_list() {
        let t = tenant();
        let c = build(&t, &Effective::of(&t), &data::Wiring::default()).unwrap();
        let d = c.config_map.data.unwrap();
        assert_eq!(d["TENANT_FEATURES"], "advanced-analytics,api-access");
        assert_eq!(d["FEATURE_ADVANCED_ANALYTICS"], "true");
        assert_eq!(d["FEATURE_API_ACCESS"], "true");
        assert_eq!(d["MONGO_DATABASE"], "tenant_customer_shop_1_production");
        assert_eq!(
            d["NATS_SUBJECT_PREFIX"],
            "tenant.customer-shop-1.production"
        );
        assert_eq!(d["REDIS_KEY_PREFIX"], "tenant:customer-shop-1:production:");
        assert_eq!(d["LOG_LEVEL"], "info");
        assert!(c.secret.is_none(), "no data store named: no Secret");
    }

    #[test]
    fn credentials_go_to_the_secret_and_change_the_hash() {
        let mut t = tenant();
        let before = build(&t, &Effective::of(&t), &data::Wiring::default())
            .unwrap()
            .hash;
        t.spec.mongo_uri = Some("mongodb://db:27017".into());
        t.spec.mongo_password = Some("s3cret".into());
        let c = build(&t, &Effective::of(&t), &data::Wiring::default()).unwrap();
        assert_ne!(c.hash, before);
        let cm = serde_json::to_string(&c.config_map).unwrap();
        assert!(!cm.contains("s3cret") && !cm.contains("mongodb://"));
        let data = c.secret.unwrap().data.unwrap();
        assert_eq!(data["MONGO_PASSWORD"].0, b"s3cret");
        assert_eq!(data["MONGO_URI"].0, b"mongodb://db:27017");
    }

    #[test]
    fn a_provisioned_identity_goes_to_the_secret_with_its_rotation() {
        let t = tenant();
        let wiring = data::Wiring {
            redis: Some(data::Credentials {
                url: "redis://redis.data:6379".into(),
                username: "tenant-x".into(),
                password: "pw".into(),
            }),
            nats: Some(data::NatsCredentials {
                url: "nats://nats.data:4222".into(),
                user_jwt: "jwt".into(),
                user_seed: "SUSEED".into(),
            }),
            mongo: Some((
                data::Credentials {
                    url: "mongodb://ferretdb.data:27017".into(),
                    username: "tenant-x".into(),
                    password: "m/pw".into(),
                },
                "tenant_x".into(),
            )),
            dedicated: Default::default(),
            rotation: "r1".into(),
        };
        let c = build(&t, &Effective::of(&t), &wiring).unwrap();
        let secret = c.secret.unwrap();
        let data = secret.data.unwrap();
        assert_eq!(data["REDIS_URL"].0, b"redis://tenant-x:pw@redis.data:6379");
        assert_eq!(data["REDIS_USERNAME"].0, b"tenant-x");
        assert_eq!(data["REDIS_PASSWORD"].0, b"pw");
        assert_eq!(data["NATS_URL"].0, b"nats://nats.data:4222");
        assert_eq!(
            data["MONGO_URI"].0,
            b"mongodb://tenant-x:m%2Fpw@ferretdb.data:27017/tenant_x?authMechanism=PLAIN&authSource=%24external"
        );
        assert_eq!(data["NATS_USER_NKEY"].0, b"SUSEED");
        assert!(String::from_utf8_lossy(&data["NATS_CREDS"].0).contains("SUSEED"));
        let annotations = secret.metadata.annotations.unwrap();
        assert_eq!(annotations[data::ROTATION_ANNOTATION], "r1");
        let cm = serde_json::to_string(&c.config_map).unwrap();
        assert!(!cm.contains("pw@"), "no credentials in the ConfigMap");
    }
}
