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

pub mod mongo;
pub mod nats;
pub mod redis;

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use k8s_openapi::api::core::v1::Secret;
use kube::{Api, Client};
use serde_json::Value;
use tenant_api::Tenant;
use tenant_core::build::data::{
    self as tdata, Credentials, NatsCredentials, ROTATION_ANNOTATION, SharedServer, SharedServers,
    Wiring,
};
use tenant_core::build::dedicated;
use tenant_core::naming;
use tenant_core::status::StoreState;

use self::redis::StoreError;

/// How often the registered servers are looked at.
pub const WATCH_INTERVAL: Duration = Duration::from_secs(5);

/// The store names in conditions.
pub const REDIS: &str = "Redis";
pub const NATS: &str = "NATS";
pub const MONGO: &str = "MongoDB";

/// The platform Secrets naming the shared servers (`None`: not registered).
#[derive(Clone, Debug, Default)]
pub struct Registrations {
    pub redis: Option<String>,
    pub nats: Option<String>,
    pub mongo: Option<String>,
}

/// A registered server, loaded on first use.
struct Registered<L> {
    /// The platform Secret's name in the operator namespace.
    secret: String,
    loaded: tokio::sync::Mutex<Option<L>>,
}

impl<L> Registered<L> {
    fn new(secret: String) -> Registered<L> {
        Registered {
            secret,
            loaded: tokio::sync::Mutex::new(None),
        }
    }
}

#[derive(Clone)]
struct RedisServer {
    tenant_url: String,
    admin: Arc<redis::Admin>,
}

#[derive(Clone)]
struct MongoServer {
    /// `mongodb://host:port` as the tenants reach it.
    tenant_url: String,
    admin: Arc<mongo::Admin>,
}

#[derive(Clone)]
struct NatsServer {
    tenant_url: String,
    admin: Arc<nats::Admin>,
}

/// What the reconcile needs before the build.
pub struct Prepared {
    pub servers: SharedServers,
    pub wiring: Wiring,
    /// Stores that could not even be prepared (the platform Secret missing or invalid).
    pub problems: Vec<StoreState>,
}

/// A secret made for a tenant but perhaps not yet seen in the cache.
#[derive(Clone)]
struct Made {
    rotation: String,
    /// Redis: the password; NATS: the user seed.
    secret: String,
    /// NATS: the user JWT.
    jwt: String,
}

/// The platform's shared data servers.
pub struct DataServers {
    client: Client,
    namespace: String,
    redis: Option<Registered<RedisServer>>,
    nats: Option<Registered<NatsServer>>,
    mongo: Option<Registered<MongoServer>>,
    /// Secrets made but perhaps not yet seen in the cache: (store, tenant uid) -> made.
    made: Mutex<HashMap<(&'static str, String), Made>>,
    /// Consecutive provisioning failures per tenant uid, for the retry backoff.
    failures: Mutex<HashMap<String, u32>>,
}

/// The state of a store after provisioning: ready with what it holds, a conflict, or the
/// server `url` unreachable.
fn outcome(store: &str, url: &str, done: Result<String, StoreError>) -> StoreState {
    match done {
        Ok(message) => StoreState {
            store: store.into(),
            ready: true,
            conflict: false,
            message,
        },
        Err(StoreError::Conflict(message)) => StoreState {
            store: store.into(),
            ready: false,
            conflict: true,
            message,
        },
        Err(StoreError::Unavailable(message)) => {
            problem(store, format!("{url} unreachable: {message}"))
        }
    }
}

fn problem(store: &str, message: String) -> StoreState {
    StoreState {
        store: store.into(),
        ready: false,
        conflict: false,
        message,
    }
}

impl DataServers {
    pub fn new(client: Client, namespace: String, registered: Registrations) -> DataServers {
        DataServers {
            client,
            namespace,
            redis: registered.redis.map(Registered::new),
            nats: registered.nats.map(Registered::new),
            mongo: registered.mongo.map(Registered::new),
            made: Mutex::new(HashMap::new()),
            failures: Mutex::new(HashMap::new()),
        }
    }

    /// Which kinds of server the platform registered, without their addresses (for deciding
    /// who wants an identity before anything is loaded).
    pub fn registered(&self) -> SharedServers {
        let placeholder = || SharedServer { url: String::new() };
        SharedServers {
            redis: self.redis.as_ref().map(|_| placeholder()),
            nats: self.nats.as_ref().map(|_| placeholder()),
            mongo: self.mongo.as_ref().map(|_| placeholder()),
        }
    }

    /// The platform Secret's values (trimmed, empty ones left out).
    async fn platform_secret(&self, name: &str) -> Result<BTreeMap<String, String>, String> {
        let api: Api<Secret> = Api::namespaced(self.client.clone(), &self.namespace);
        let where_ = format!("the platform's Secret {}/{name}", self.namespace);
        let secret = api
            .get_opt(name)
            .await
            .map_err(|e| format!("reading {where_}: {e}"))?
            .ok_or_else(|| format!("{where_} does not exist"))?;
        Ok(secret
            .data
            .unwrap_or_default()
            .into_iter()
            .map(|(k, b)| (k, String::from_utf8_lossy(&b.0).trim().to_string()))
            .filter(|(_, v)| !v.is_empty())
            .collect())
    }

    async fn load<L: Clone>(
        &self,
        r: &Registered<L>,
        parse: impl FnOnce(&BTreeMap<String, String>) -> Result<L, String>,
    ) -> Result<L, String> {
        let mut guard = r.loaded.lock().await;
        if let Some(l) = guard.as_ref() {
            return Ok(l.clone());
        }
        let keys = self.platform_secret(&r.secret).await?;
        let loaded = parse(&keys)
            .map_err(|e| format!("the platform's Secret {}/{}: {e}", self.namespace, r.secret))?;
        *guard = Some(loaded.clone());
        Ok(loaded)
    }

    async fn load_redis(&self, r: &Registered<RedisServer>) -> Result<RedisServer, String> {
        self.load(r, |keys| {
            let url = keys.get("url").ok_or("it has no key url")?;
            if !(url.starts_with("redis://") || url.starts_with("rediss://")) {
                return Err("url must start with redis:// or rediss://".into());
            }
            let tenant_url = keys
                .get("tenantURL")
                .cloned()
                .unwrap_or_else(|| strip_credentials(url));
            Ok(RedisServer {
                tenant_url: strip_credentials(&tenant_url),
                admin: Arc::new(redis::Admin::new(url.clone())),
            })
        })
        .await
    }

    async fn load_nats(&self, r: &Registered<NatsServer>) -> Result<NatsServer, String> {
        self.load(r, |keys| {
            let get = |k: &str| keys.get(k).ok_or(format!("it has no key {k}"));
            let url = get("url")?;
            if !["nats://", "tls://", "ws://", "wss://"]
                .iter()
                .any(|s| url.starts_with(s))
            {
                return Err("url must start with nats://, tls://, ws:// or wss://".into());
            }
            let admin = nats::Admin::new(
                url.clone(),
                get("systemUserCreds")?.clone(),
                get("operatorSigningKey")?,
                keys.get("accountKeySecret").map(String::as_str),
            )?;
            let tenant_url = keys
                .get("tenantURL")
                .cloned()
                .unwrap_or_else(|| strip_credentials(url));
            Ok(NatsServer {
                tenant_url: strip_credentials(&tenant_url),
                admin: Arc::new(admin),
            })
        })
        .await
    }

    async fn load_mongo(&self, r: &Registered<MongoServer>) -> Result<MongoServer, String> {
        self.load(r, |keys| {
            let get = |k: &str| keys.get(k).ok_or(format!("it has no key {k}"));
            let url = get("url")?;
            if !url.starts_with("mongodb://") {
                return Err("url must start with mongodb://".into());
            }
            let pg = get("postgresURL").map_err(|_| {
                "it has no key postgresURL: only FerretDB on PostgreSQL is supported as a shared MongoDB (docs/data.md)".to_string()
            })?;
            if !(pg.starts_with("postgres://") || pg.starts_with("postgresql://")) {
                return Err("postgresURL must start with postgres:// or postgresql://".into());
            }
            let tenant_url = keys
                .get("tenantURL")
                .cloned()
                .unwrap_or_else(|| strip_credentials(url));
            // the tenants' URL is host and port only: their database and options are added
            let tenant_url = strip_credentials(&tenant_url);
            let tenant_url = match tenant_url.split_once("://") {
                Some((scheme, rest)) => {
                    let host = rest.split(['/', '?']).next().unwrap_or(rest);
                    format!("{scheme}://{host}")
                }
                None => tenant_url,
            };
            Ok(MongoServer {
                tenant_url,
                admin: Arc::new(mongo::Admin::new(url.clone(), pg.clone())),
            })
        })
        .await
    }

    /// Forgets a loaded server after a failure: the next use reads the platform Secret again.
    async fn unload<L>(r: &Registered<L>) {
        *r.loaded.lock().await = None;
    }

    fn made(&self) -> std::sync::MutexGuard<'_, HashMap<(&'static str, String), Made>> {
        self.made
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The tenant's credentials for the build: kept from its connection Secret (`cached`, the
    /// live object from the operator's cache) while the rotation token is unchanged, else new.
    pub async fn prepare(&self, tenant: &Tenant, cached: Option<Value>) -> Prepared {
        let rotation = tdata::rotation(tenant);
        let mut out = Prepared {
            servers: SharedServers::default(),
            wiring: Wiring {
                rotation: rotation.clone(),
                ..Wiring::default()
            },
            problems: Vec::new(),
        };
        let registered = self.registered();
        let live: Option<Secret> = cached.and_then(|v| serde_json::from_value(v).ok());
        let current = live.as_ref().is_some_and(|s| {
            s.metadata
                .annotations
                .as_ref()
                .and_then(|a| a.get(ROTATION_ANNOTATION))
                .map_or(rotation.is_empty(), |r| *r == rotation)
        });
        let all: BTreeMap<String, String> = live
            .and_then(|s| s.data)
            .unwrap_or_default()
            .into_iter()
            .map(|(k, b)| (k, String::from_utf8_lossy(&b.0).into_owned()))
            .filter(|(_, v)| !v.is_empty())
            .collect();
        // the live Secret's values, when they were made for this rotation token
        let stored = if current {
            all.clone()
        } else {
            BTreeMap::new()
        };
        let uid = tenant.metadata.uid.clone().unwrap_or_default();

        // the passwords of the stores the tenant runs in its namespace
        for st in dedicated::stores(tenant) {
            let tag = match st {
                dedicated::Store::MongoDB => "dedicated-mongodb",
                dedicated::Store::Nats => "dedicated-nats",
                dedicated::Store::Redis => "dedicated-redis",
            };
            // The dedicated MongoDB keeps its password across rotations: its image sets the
            // root password only on an empty volume, so a new one would lock the services out.
            let (kept, made_for) = match st {
                dedicated::Store::MongoDB => (all.get(st.password_key()).cloned(), ""),
                _ => (stored.get(st.password_key()).cloned(), rotation.as_str()),
            };
            match self.keep_or_make(tag, &uid, made_for, kept, || {
                Ok((random_password(), String::new()))
            }) {
                Ok(m) => {
                    out.wiring.dedicated.insert(st.key().to_string(), m.secret);
                }
                Err(e) => out.problems.push(problem(st.key(), e)),
            }
        }

        if let Some(r) = &self.redis
            && tdata::wants_shared_redis(tenant, &registered)
        {
            match self.load_redis(r).await {
                Err(message) => out.problems.push(problem(REDIS, message)),
                Ok(l) => {
                    out.servers.redis = Some(SharedServer {
                        url: l.tenant_url.clone(),
                    });
                    let user = tdata::redis_user(tenant);
                    let from_secret = (stored.get("REDIS_USERNAME") == Some(&user))
                        .then(|| stored.get("REDIS_PASSWORD").cloned())
                        .flatten();
                    let password = self.keep_or_make(REDIS, &uid, &rotation, from_secret, || {
                        Ok((random_password(), String::new()))
                    });
                    match password {
                        Ok(m) => {
                            out.wiring.redis = Some(Credentials {
                                url: l.tenant_url,
                                username: user,
                                password: m.secret,
                            })
                        }
                        Err(e) => out.problems.push(problem(REDIS, e)),
                    }
                }
            }
        }

        if let Some(r) = &self.mongo
            && tdata::wants_shared_mongo(tenant, &registered)
        {
            match self.load_mongo(r).await {
                Err(message) => out.problems.push(problem(MONGO, message)),
                Ok(l) => {
                    out.servers.mongo = Some(SharedServer {
                        url: l.tenant_url.clone(),
                    });
                    let user = tdata::mongo_user(tenant);
                    let from_secret = (stored.get("MONGO_USERNAME") == Some(&user))
                        .then(|| stored.get("MONGO_PASSWORD").cloned())
                        .flatten();
                    match self.keep_or_make(MONGO, &uid, &rotation, from_secret, || {
                        Ok((random_password(), String::new()))
                    }) {
                        Ok(m) => {
                            out.wiring.mongo = Some((
                                Credentials {
                                    url: l.tenant_url,
                                    username: user,
                                    password: m.secret,
                                },
                                tdata::mongo_database(tenant),
                            ))
                        }
                        Err(e) => out.problems.push(problem(MONGO, e)),
                    }
                }
            }
        }

        if let Some(r) = &self.nats
            && tdata::wants_shared_nats(tenant, &registered)
        {
            match self.load_nats(r).await {
                Err(message) => out.problems.push(problem(NATS, message)),
                Ok(l) => {
                    out.servers.nats = Some(SharedServer {
                        url: l.tenant_url.clone(),
                    });
                    match self.nats_user(tenant, &uid, &rotation, &stored, &l.admin) {
                        Ok(m) => {
                            out.wiring.nats = Some(NatsCredentials {
                                url: l.tenant_url,
                                user_jwt: m.jwt,
                                user_seed: m.secret,
                            })
                        }
                        Err(e) => out.problems.push(problem(NATS, e)),
                    }
                }
            }
        }
        out
    }

    /// The secret in the tenant's Secret (`from_secret`) when there is one, else the one made
    /// earlier for this rotation, else a new one from `make` (`(secret, jwt)`).
    fn keep_or_make(
        &self,
        store: &'static str,
        uid: &str,
        rotation: &str,
        from_secret: Option<String>,
        make: impl FnOnce() -> Result<(String, String), String>,
    ) -> Result<Made, String> {
        let mut made = self.made();
        let key = (store, uid.to_string());
        if let Some(secret) = from_secret {
            let m = Made {
                rotation: rotation.to_string(),
                secret,
                jwt: String::new(),
            };
            made.insert(key, m.clone());
            return Ok(m);
        }
        if let Some(m) = made.get(&key)
            && m.rotation == rotation
        {
            return Ok(m.clone());
        }
        let (secret, jwt) = make()?;
        let m = Made {
            rotation: rotation.to_string(),
            secret,
            jwt,
        };
        made.insert(key, m.clone());
        Ok(m)
    }

    /// The tenant's NATS user: its seed kept (from the Secret, or made earlier for this
    /// rotation) or new; its JWT kept while it says what the tenant's user should, else signed
    /// again for the same key.
    fn nats_user(
        &self,
        tenant: &Tenant,
        uid: &str,
        rotation: &str,
        stored: &BTreeMap<String, String>,
        admin: &nats::Admin,
    ) -> Result<Made, String> {
        let name = naming::namespace_name(&tenant.spec);
        let prefix = tdata::nats_prefix(tenant);
        let account = admin.account_key(uid)?.public_key();
        let seed_in_secret = stored.get("NATS_USER_NKEY").cloned();
        let mut m = self.keep_or_make(NATS, uid, rotation, seed_in_secret.clone(), || {
            admin.new_user(uid, &name, &prefix)
        })?;
        let user = nkeys::KeyPair::from_seed(&m.secret)
            .map_err(|_| "the user seed in the connection Secret is not an nkey seed".to_string())?
            .public_key();
        let want = nats::user_claims(&name, &user, &prefix);
        let candidates = [stored.get("NATS_USER_JWT").cloned(), Some(m.jwt.clone())];
        let kept = candidates
            .into_iter()
            .flatten()
            .find(|j| nats::user_jwt_matches(j, &account, &want));
        m.jwt = match kept {
            Some(j) => j,
            None => admin.sign_user(uid, &name, &prefix, &user)?,
        };
        self.made().insert((NATS, uid.to_string()), m.clone());
        Ok(m)
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
            let state = match self.load_redis(r).await {
                Err(message) => problem(REDIS, message),
                Ok(l) => {
                    let done = l
                        .admin
                        .ensure(&uid, &creds.username, &prefix, &creds.password)
                        .await
                        .map(|_| {
                            format!(
                                "user {} on {}, keys and channels {prefix}*",
                                creds.username, l.tenant_url
                            )
                        });
                    if matches!(done, Err(StoreError::Unavailable(_))) {
                        Self::unload(r).await;
                    }
                    outcome(REDIS, &l.tenant_url, done)
                }
            };
            states.push(state);
        }
        if let (Some(r), Some((creds, database))) = (&self.mongo, &prepared.wiring.mongo) {
            let state = match self.load_mongo(r).await {
                Err(message) => problem(MONGO, message),
                Ok(l) => {
                    let done = l
                        .admin
                        .ensure(&uid, &creds.username, database, &creds.password)
                        .await
                        .map(|_| {
                            format!(
                                "user {} on {}, database {database}",
                                creds.username, l.tenant_url
                            )
                        });
                    if matches!(done, Err(StoreError::Unavailable(_))) {
                        l.admin.reset().await;
                        Self::unload(r).await;
                    }
                    outcome(MONGO, &l.tenant_url, done)
                }
            };
            states.push(state);
        }
        if let (Some(r), Some(creds)) = (&self.nats, &prepared.wiring.nats) {
            let name = naming::namespace_name(&tenant.spec);
            let prefix = tdata::nats_prefix(tenant);
            let state =
                match self.load_nats(r).await {
                    Err(message) => problem(NATS, message),
                    Ok(l) => {
                        let done = l.admin.ensure(&uid, &name, &creds.user_jwt).await.map(
                            |(account, _)| {
                                format!(
                                    "account {name} ({account}) on {}, subjects {prefix}.>",
                                    l.tenant_url
                                )
                            },
                        );
                        if done.is_err() {
                            Self::unload(r).await;
                        }
                        outcome(NATS, &l.tenant_url, done)
                    }
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
        let registered = self.registered();
        if let Some(r) = &self.redis
            && tdata::wants_shared_redis(tenant, &registered)
        {
            let l = self
                .load_redis(r)
                .await
                .map_err(|m| format!("{REDIS}: {m}"))?;
            let delete = tdata::deletes_data(tenant);
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
                    Self::unload(r).await;
                    return Err(format!("{REDIS}: {e}"));
                }
            }
        }
        if let Some(r) = &self.mongo
            && tdata::wants_shared_mongo(tenant, &registered)
        {
            let l = self
                .load_mongo(r)
                .await
                .map_err(|m| format!("{MONGO}: {m}"))?;
            let delete = tdata::deletes_data(tenant);
            let user = tdata::mongo_user(tenant);
            let database = tdata::mongo_database(tenant);
            match l.admin.revoke(&uid, &user, &database, delete).await {
                Ok(true) => done.push(format!(
                    "MongoDB user {user} dropped{}",
                    if delete {
                        " with its database"
                    } else {
                        "; its database is kept"
                    }
                )),
                Ok(false) => {}
                Err(e) => {
                    l.admin.reset().await;
                    Self::unload(r).await;
                    return Err(format!("{MONGO}: {e}"));
                }
            }
        }
        if let Some(r) = &self.nats
            && tdata::wants_shared_nats(tenant, &registered)
        {
            let l = self
                .load_nats(r)
                .await
                .map_err(|m| format!("{NATS}: {m}"))?;
            let name = naming::namespace_name(&tenant.spec);
            match l.admin.revoke(&uid, &name).await {
                Ok(true) => done.push(format!(
                    "NATS account {name}: every user revoked, no connections allowed"
                )),
                Ok(false) => {}
                Err(e) => {
                    Self::unload(r).await;
                    return Err(format!("{NATS}: {e}"));
                }
            }
        }
        self.forget(&uid);
        Ok(done)
    }

    /// Whether each registered server answers now (`(store, up)`).
    async fn look(&self) -> Vec<(&'static str, bool)> {
        let mut out = Vec::new();
        if let Some(r) = &self.redis {
            let up = match self.load_redis(r).await {
                Ok(l) => l.admin.ping().await.is_ok(),
                Err(_) => false,
            };
            if !up {
                Self::unload(r).await;
            }
            out.push((REDIS, up));
        }
        if let Some(r) = &self.mongo {
            let up = match self.load_mongo(r).await {
                Ok(l) => {
                    let ok = l.admin.ping().await.is_ok();
                    if !ok {
                        l.admin.reset().await;
                    }
                    ok
                }
                Err(_) => false,
            };
            if !up {
                Self::unload(r).await;
            }
            out.push((MONGO, up));
        }
        if let Some(r) = &self.nats {
            let up = match self.load_nats(r).await {
                Ok(l) => l.admin.ping().await.is_ok(),
                Err(_) => false,
            };
            if !up {
                Self::unload(r).await;
            }
            out.push((NATS, up));
        }
        out
    }

    /// Looks at each registered server every [`WATCH_INTERVAL`] and calls `on_change` when
    /// one goes down or comes back, so every Tenant's DataReady follows without waiting for
    /// the resync, and a server that lost its users gets them back.
    pub async fn watch(self: Arc<Self>, on_change: impl Fn() + Send + 'static) {
        if self.redis.is_none() && self.nats.is_none() && self.mongo.is_none() {
            return;
        }
        let mut before: HashMap<&'static str, bool> = HashMap::new();
        loop {
            let mut changed = false;
            for (store, up) in self.look().await {
                if before.insert(store, up).is_some_and(|u| u != up) {
                    tracing::info!(store, up, "shared data server changed state");
                    changed = true;
                }
            }
            if changed {
                on_change();
            }
            tokio::time::sleep(WATCH_INTERVAL).await;
        }
    }

    /// Forgets what is kept per tenant.
    pub fn forget(&self, uid: &str) {
        self.made().retain(|(_, u), _| u != uid);
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
