//! The platform's shared data servers and the tenants' identities on them.
//!
//! The platform registers a server with a flag naming a Secret of the operator's namespace
//! (`--redis-server NAME`). The Secret holds `url`, the admin URL the operator connects with
//! (credentials inside, e.g. `redis://admin:PASSWORD@redis.data:6379`), and optionally
//! `tenantURL`, the address the tenants' pods use (default: `url` without its credentials).
//! The Secret is read when first needed and again after a failure, so rotating the admin
//! password needs no restart.
//!
//! Per reconcile: [`DataServers::prepare`] decides the tenant's credentials before the build
//! (from its own connection Secret, the operator's object, or new random ones), the build puts
//! them into the Secret, and [`DataServers::provision`] makes the server agree after the apply.

pub mod redis;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use k8s_openapi::api::core::v1::Secret;
use kube::{Api, Client};
use serde_json::Value;
use tenant_api::{DataDeletionPolicy, Tenant};
use tenant_core::build::config::SECRET as CONNECTION_SECRET;
use tenant_core::build::data::{
    self as tdata, Credentials, ROTATION_ANNOTATION, SharedServer, SharedServers, Wiring,
};
use tenant_core::status::StoreState;

use self::redis::StoreError;

/// How often the registered servers are looked at.
pub const WATCH_INTERVAL: Duration = Duration::from_secs(5);

/// The store names in conditions.
pub const REDIS: &str = "Redis";

/// A registered server, loaded on first use.
struct Registered {
    /// The platform Secret's name in the operator namespace.
    secret: String,
    loaded: tokio::sync::Mutex<Option<Loaded>>,
}

#[derive(Clone)]
struct Loaded {
    tenant_url: String,
    admin: Arc<redis::Admin>,
}

/// What the reconcile needs before the build.
pub struct Prepared {
    pub servers: SharedServers,
    pub wiring: Wiring,
    /// Stores that could not even be prepared (the platform Secret missing or invalid).
    pub problems: Vec<StoreState>,
}

/// The platform's shared data servers.
pub struct DataServers {
    client: Client,
    namespace: String,
    redis: Option<Registered>,
    /// Passwords made but perhaps not yet seen in the cache: tenant uid -> (rotation, password).
    made: Mutex<HashMap<String, (String, String)>>,
    /// Consecutive provisioning failures per tenant uid, for the retry backoff.
    failures: Mutex<HashMap<String, u32>>,
}

impl DataServers {
    pub fn new(client: Client, namespace: String, redis_secret: Option<String>) -> DataServers {
        DataServers {
            client,
            namespace,
            redis: redis_secret.map(|secret| Registered {
                secret,
                loaded: tokio::sync::Mutex::new(None),
            }),
            made: Mutex::new(HashMap::new()),
            failures: Mutex::new(HashMap::new()),
        }
    }

    /// Whether the platform registered a shared Redis.
    pub fn redis_registered(&self) -> bool {
        self.redis.is_some()
    }

    /// The registered servers as a placeholder (no URL), for deciding who wants an identity
    /// before anything is loaded.
    pub fn registered(&self) -> SharedServers {
        SharedServers {
            redis: self
                .redis
                .as_ref()
                .map(|_| SharedServer { url: String::new() }),
        }
    }

    async fn load(&self, r: &Registered) -> Result<Loaded, String> {
        let mut guard = r.loaded.lock().await;
        if let Some(l) = guard.as_ref() {
            return Ok(l.clone());
        }
        let api: Api<Secret> = Api::namespaced(self.client.clone(), &self.namespace);
        let where_ = format!("the platform's Secret {}/{}", self.namespace, r.secret);
        let secret = api
            .get_opt(&r.secret)
            .await
            .map_err(|e| format!("reading {where_}: {e}"))?
            .ok_or_else(|| format!("{where_} does not exist"))?;
        let data = secret.data.unwrap_or_default();
        let key = |k: &str| {
            data.get(k)
                .map(|b| String::from_utf8_lossy(&b.0).trim().to_string())
                .filter(|s| !s.is_empty())
        };
        let url = key("url").ok_or_else(|| format!("{where_} has no key url"))?;
        if !(url.starts_with("redis://") || url.starts_with("rediss://")) {
            return Err(format!(
                "{where_}: url must start with redis:// or rediss://"
            ));
        }
        let tenant_url = key("tenantURL").unwrap_or_else(|| strip_credentials(&url));
        let loaded = Loaded {
            tenant_url: strip_credentials(&tenant_url),
            admin: Arc::new(redis::Admin::new(url)),
        };
        *guard = Some(loaded.clone());
        Ok(loaded)
    }

    /// Forgets a loaded server after a failure: the next use reads the platform Secret again.
    async fn unload(&self, r: &Registered) {
        *r.loaded.lock().await = None;
    }

    /// The tenant's credentials for the build: kept from its connection Secret (`cached`, the
    /// live object from the operator's cache) while the rotation token is unchanged, else new.
    pub async fn prepare(&self, tenant: &Tenant, cached: Option<Value>) -> Prepared {
        let mut out = Prepared {
            servers: SharedServers::default(),
            wiring: Wiring {
                redis: None,
                rotation: tdata::rotation(tenant),
            },
            problems: Vec::new(),
        };
        let Some(r) = &self.redis else {
            return out;
        };
        if !tdata::wants_shared_redis(tenant, &self.registered()) {
            return out;
        }
        let loaded = match self.load(r).await {
            Ok(l) => l,
            Err(message) => {
                out.problems.push(StoreState {
                    store: REDIS.into(),
                    ready: false,
                    conflict: false,
                    message,
                });
                return out;
            }
        };
        out.servers.redis = Some(SharedServer {
            url: loaded.tenant_url.clone(),
        });
        let uid = tenant.metadata.uid.clone().unwrap_or_default();
        let user = tdata::redis_user(tenant);
        let rotation = out.wiring.rotation.clone();
        let live: Option<Secret> = cached.and_then(|v| serde_json::from_value(v).ok());
        let from_secret = live.and_then(|s| {
            let current = s
                .metadata
                .annotations
                .as_ref()
                .and_then(|a| a.get(ROTATION_ANNOTATION))
                .cloned()
                .unwrap_or_default();
            let data = s.data.unwrap_or_default();
            let get = |k: &str| {
                data.get(k)
                    .map(|b| String::from_utf8_lossy(&b.0).into_owned())
            };
            (current == rotation && get("REDIS_USERNAME").as_deref() == Some(user.as_str()))
                .then(|| get("REDIS_PASSWORD"))
                .flatten()
                .filter(|p| !p.is_empty())
        });
        let password = {
            let mut made = self
                .made
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            match from_secret {
                Some(p) => {
                    made.insert(uid.clone(), (rotation.clone(), p.clone()));
                    p
                }
                None => match made.get(&uid) {
                    Some((r, p)) if *r == rotation => p.clone(),
                    _ => {
                        let p = random_password();
                        made.insert(uid.clone(), (rotation.clone(), p.clone()));
                        p
                    }
                },
            }
        };
        out.wiring.redis = Some(Credentials {
            url: loaded.tenant_url,
            username: user,
            password,
        });
        out
    }

    /// Makes each server agree with the tenant's credentials; the state of each store, and
    /// when to try again after a failure.
    pub async fn provision(
        &self,
        tenant: &Tenant,
        prepared: &Prepared,
    ) -> (Vec<StoreState>, Option<Duration>) {
        let mut states = prepared.problems.clone();
        let uid = tenant.metadata.uid.clone().unwrap_or_default();
        if let (Some(r), Some(creds)) = (&self.redis, &prepared.wiring.redis) {
            let prefix = tdata::redis_prefix(tenant);
            let state = match self.load(r).await {
                Err(message) => StoreState {
                    store: REDIS.into(),
                    ready: false,
                    conflict: false,
                    message,
                },
                Ok(l) => match l
                    .admin
                    .ensure(&uid, &creds.username, &prefix, &creds.password)
                    .await
                {
                    Ok(_) => StoreState {
                        store: REDIS.into(),
                        ready: true,
                        conflict: false,
                        message: format!(
                            "user {} on {}, keys and channels {prefix}*",
                            creds.username, l.tenant_url
                        ),
                    },
                    Err(StoreError::Conflict(message)) => StoreState {
                        store: REDIS.into(),
                        ready: false,
                        conflict: true,
                        message,
                    },
                    Err(StoreError::Unavailable(message)) => {
                        self.unload(r).await;
                        StoreState {
                            store: REDIS.into(),
                            ready: false,
                            conflict: false,
                            message: format!("{} unreachable: {message}", l.tenant_url),
                        }
                    }
                },
            };
            states.push(state);
        }
        let failed = states.iter().any(|s| !s.ready && !s.conflict);
        let retry = self.backoff(&uid, failed);
        (states, retry)
    }

    /// Revokes the tenant's identities (and deletes its data when the spec says so). An error
    /// names the store; the caller retries (the finalizer holds the Tenant meanwhile).
    pub async fn revoke(&self, tenant: &Tenant) -> Result<Vec<String>, String> {
        let mut done = Vec::new();
        let uid = tenant.metadata.uid.clone().unwrap_or_default();
        if let Some(r) = &self.redis
            && tdata::wants_shared_redis(tenant, &self.registered())
        {
            let l = self.load(r).await.map_err(|m| format!("{REDIS}: {m}"))?;
            let delete = tenant
                .spec
                .data_stores
                .as_ref()
                .and_then(|d| d.on_tenant_deletion)
                == Some(DataDeletionPolicy::Delete);
            let user = tdata::redis_user(tenant);
            match l
                .admin
                .revoke(&uid, &user, &tdata::redis_prefix(tenant), delete)
                .await
            {
                Ok(true) => done.push(format!(
                    "Redis user {user} deleted{}",
                    if delete {
                        " with its keys"
                    } else {
                        "; its keys are kept"
                    }
                )),
                Ok(false) => {}
                Err(e) => {
                    self.unload(r).await;
                    return Err(format!("{REDIS}: {e}"));
                }
            }
        }
        self.forget(&uid);
        Ok(done)
    }

    /// Looks at each registered server every [`WATCH_INTERVAL`] and calls `on_change` when
    /// one goes down or comes back, so every Tenant's DataReady follows without waiting for
    /// the resync, and a server that lost its users gets them back.
    pub async fn watch(self: Arc<Self>, on_change: impl Fn() + Send + 'static) {
        let Some(r) = &self.redis else {
            return;
        };
        let mut up: Option<bool> = None;
        loop {
            let now_up = match self.load(r).await {
                Ok(l) => {
                    let ok = l.admin.ping().await.is_ok();
                    if !ok {
                        self.unload(r).await;
                    }
                    ok
                }
                Err(_) => false,
            };
            if up.is_some_and(|u| u != now_up) {
                tracing::info!(
                    store = REDIS,
                    up = now_up,
                    "shared data server changed state"
                );
                on_change();
            }
            up = Some(now_up);
            tokio::time::sleep(WATCH_INTERVAL).await;
        }
    }

    /// Forgets what is kept per tenant.
    pub fn forget(&self, uid: &str) {
        self.made
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .remove(uid);
        self.failures
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .remove(uid);
    }

    /// After a failure, 5 s doubling to 5 minutes; `None` after a success.
    fn backoff(&self, uid: &str, failed: bool) -> Option<Duration> {
        let mut f = self
            .failures
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if !failed {
            f.remove(uid);
            return None;
        }
        let n = f.entry(uid.to_string()).or_insert(0);
        *n = n.saturating_add(1);
        Some(Duration::from_secs(5u64 << (*n - 1).min(6)).min(Duration::from_secs(300)))
    }
}

/// The connection Secret's name (for reading the tenant's cached copy).
pub const SECRET: &str = CONNECTION_SECRET;

/// `scheme://[user[:password]@]host...` without the user and password.
fn strip_credentials(url: &str) -> String {
    match url.split_once("://") {
        Some((scheme, rest)) => {
            let host_part = rest.split('/').next().unwrap_or(rest);
            match host_part.rfind('@') {
                Some(at) => format!("{scheme}://{}", &rest[at + 1..]),
                None => url.to_string(),
            }
        }
        None => url.to_string(),
    }
}

/// 32 characters of [A-Za-z0-9] from the system's CSPRNG (about 190 bits).
fn random_password() -> String {
    use ring::rand::SecureRandom;
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    let rng = ring::rand::SystemRandom::new();
    let mut out = String::with_capacity(32);
    let mut buf = [0u8; 64];
    while out.len() < 32 {
        if rng.fill(&mut buf).is_err() {
            continue;
        }
        // rejection sampling: 248 = 4 * 62, so every character is equally likely
        for b in buf {
            if b < 248 && out.len() < 32 {
                out.push(ALPHABET[usize::from(b % 62)] as char);
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_lose_their_credentials() {
        assert_eq!(
            strip_credentials("redis://admin:pw@redis.data:6379/0"),
            "redis://redis.data:6379/0"
        );
        assert_eq!(
            strip_credentials("redis://redis.data:6379"),
            "redis://redis.data:6379"
        );
    }

    #[test]
    fn passwords_are_long_random_and_url_safe() {
        let (a, b) = (random_password(), random_password());
        assert_eq!(a.len(), 32);
        assert_ne!(a, b);
        assert!(a.chars().all(|c| c.is_ascii_alphanumeric()));
    }
}
