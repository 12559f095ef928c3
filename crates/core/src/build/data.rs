//! The tenant's identities on the platform's shared data servers: who gets one, under which
//! name, limited to what, and how its credentials reach the services (the connection Secret).
//!
//! The operator provisions a store for a Tenant when the platform registered a shared server of
//! that kind and the Tenant neither brings its own (`redisURL`, `redisPassword...`) nor asks for
//! dedicated stores. The identity's password is random and lives only in the tenant's
//! connection Secret `tenant-connections`: the operator reads it back from there (its own
//! object) on the next reconcile, so a server that lost its users (a restart without
//! persistence) gets them back with the same password.
//!
//! Isolation on Redis is an ACL user per tenant: keys and pub/sub channels under the tenant's
//! prefix only, and none of the commands that reach past a prefix or into the server (see
//! [`REDIS_COMMAND_RULES`]).
//!
//! Isolation on NATS is an account per tenant (the server's own isolation: no subject of one
//! account reaches another), and in it one user whose publish and subscribe permissions are
//! the tenant's subject prefix and the account's reply inboxes (see [`nats_permissions`]). The
//! user authenticates with a signed JWT and its nkey seed, which the connection Secret carries.

use std::collections::BTreeMap;

use tenant_api::{DataStoreMode, Tenant};

use super::config::data_names;
use crate::naming;
use crate::presets::Effective;

/// The annotation of the connection Secret recording the `dataStores.credentialsRotation` its
/// provisioned passwords were made for.
pub const ROTATION_ANNOTATION: &str = "shop.pilab.hu/credentials-rotation";

/// A key prefix the operator keeps for itself on a shared Redis (its registry of the users it
/// created). No tenant prefix may overlap it.
pub const REDIS_RESERVED_PREFIX: &str = "tenant-operator:";

/// The command rules of every tenant's Redis user, after `reset`: everything except the
/// dangerous and administrative commands (FLUSHALL, FLUSHDB, CONFIG, DEBUG, KEYS, INFO, CLIENT
/// LIST, MONITOR, SHUTDOWN, ACL, ...), scripting and functions (server-wide), and the commands
/// that see or move keys regardless of the key pattern (SCAN and RANDOMKEY list other tenants'
/// keys, DBSIZE counts them, SELECT, MOVE and SWAPDB leave database 0, PUBSUB lists every
/// channel).
pub const REDIS_COMMAND_RULES: &[&str] = &[
    "+@all",
    "-@dangerous",
    "-@admin",
    "-@scripting",
    "-scan",
    "-randomkey",
    "-dbsize",
    "-select",
    "-move",
    "-swapdb",
    "-pubsub",
];

/// A registered shared server as the tenants' pods reach it (no credentials).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SharedServer {
    /// `redis://host:port` (or `rediss://`), without user or password.
    pub url: String,
}

/// The platform's shared servers the operator provisions identities on.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SharedServers {
    pub redis: Option<SharedServer>,
    pub nats: Option<SharedServer>,
    pub mongo: Option<SharedServer>,
}

/// The credentials provisioned for one tenant: the server's URL and the tenant's identity.
#[derive(Clone, PartialEq, Eq)]
pub struct Credentials {
    pub url: String,
    pub username: String,
    pub password: String,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credentials")
            .field("url", &self.url)
            .field("username", &self.username)
            .field("password", &"<redacted>")
            .finish()
    }
}

/// A NATS user provisioned for one tenant: the server's URL, the user's JWT (signed by the
/// tenant's account) and its nkey seed (the secret half).
#[derive(Clone, PartialEq, Eq)]
pub struct NatsCredentials {
    pub url: String,
    pub user_jwt: String,
    pub user_seed: String,
}

impl std::fmt::Debug for NatsCredentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NatsCredentials")
            .field("url", &self.url)
            .field("user_jwt", &"<redacted>")
            .field("user_seed", &"<redacted>")
            .finish()
    }
}

/// What the connection Secret carries of provisioned identities.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Wiring {
    pub redis: Option<Credentials>,
    pub nats: Option<NatsCredentials>,
    /// The user on the shared MongoDB-protocol server (`url`: `mongodb://host:port`), and its
    /// database.
    pub mongo: Option<(Credentials, String)>,
    /// The passwords of the tenant's dedicated stores: store key (`mongodb`, `nats`, `redis`)
    /// -> password.
    pub dedicated: BTreeMap<String, String>,
    /// The `dataStores.credentialsRotation` the passwords were made for.
    pub rotation: String,
}

impl Wiring {
    pub fn is_empty(&self) -> bool {
        self.redis.is_none()
            && self.nats.is_none()
            && self.mongo.is_none()
            && self.dedicated.is_empty()
    }
}

/// Whether the tenant asks for its stores inside its namespace.
pub fn dedicated(tenant: &Tenant) -> bool {
    tenant
        .spec
        .data_stores
        .as_ref()
        .and_then(|d| d.mode)
        .is_some_and(|m| m == DataStoreMode::Dedicated)
}

/// Whether the tenant's data goes with it (`dataStores.onTenantDeletion: Delete`).
pub fn deletes_data(tenant: &Tenant) -> bool {
    tenant
        .spec
        .data_stores
        .as_ref()
        .and_then(|d| d.on_tenant_deletion)
        == Some(tenant_api::DataDeletionPolicy::Delete)
}

/// Whether the operator gives the tenant an identity on the shared Redis `servers` registers.
pub fn wants_shared_redis(tenant: &Tenant, servers: &SharedServers) -> bool {
    let s = &tenant.spec;
    servers.redis.is_some()
        && !dedicated(tenant)
        && s.redis_url.is_none()
        && s.redis_password.is_none()
        && s.redis_password_secret_ref.is_none()
}

/// Whether the operator gives the tenant an account on the shared NATS `servers` registers.
pub fn wants_shared_nats(tenant: &Tenant, servers: &SharedServers) -> bool {
    servers.nats.is_some() && !dedicated(tenant) && tenant.spec.nats_url.is_none()
}

/// Whether the operator gives the tenant a user on the shared MongoDB `servers` registers.
pub fn wants_shared_mongo(tenant: &Tenant, servers: &SharedServers) -> bool {
    let s = &tenant.spec;
    servers.mongo.is_some()
        && !dedicated(tenant)
        && s.mongo_uri.is_none()
        && s.mongo_username.is_none()
        && s.mongo_password.is_none()
        && s.mongo_password_secret_ref.is_none()
}

/// The tenant's MongoDB user: its namespace's name.
pub fn mongo_user(tenant: &Tenant) -> String {
    naming::namespace_name(&tenant.spec)
}

/// The tenant's MongoDB database.
pub fn mongo_database(tenant: &Tenant) -> String {
    data_names(tenant, &Effective::of(tenant)).0
}

/// The MongoDB URI of a provisioned user: `mongodb://USER:PASSWORD@host/DATABASE` with SASL
/// PLAIN (FerretDB hands the credentials to PostgreSQL).
pub fn mongo_uri(c: &Credentials, database: &str) -> String {
    let base = url_with_credentials(c);
    let base = base.trim_end_matches('/');
    format!("{base}/{database}?authMechanism=PLAIN&authSource=%24external")
}

/// The tenant's NATS subject prefix.
pub fn nats_prefix(tenant: &Tenant) -> String {
    data_names(tenant, &Effective::of(tenant)).1
}

/// The subjects the tenant's NATS user may publish and subscribe to: everything under its
/// prefix, and the reply inboxes `_INBOX.>` (its account's own: accounts share no subjects).
pub fn nats_permissions(prefix: &str) -> Vec<String> {
    vec![format!("{prefix}.>"), "_INBOX.>".to_string()]
}

/// A NATS credentials file (the format every NATS client reads: the user JWT, then its seed).
pub fn nats_creds_file(c: &NatsCredentials) -> String {
    format!(
        "-----BEGIN NATS USER JWT-----\n{}\n------END NATS USER JWT------\n\n\
         -----BEGIN USER NKEY SEED-----\n{}\n------END USER NKEY SEED------\n",
        c.user_jwt, c.user_seed
    )
}

/// The rotation token of the spec (empty: never rotated).
pub fn rotation(tenant: &Tenant) -> String {
    tenant
        .spec
        .data_stores
        .as_ref()
        .and_then(|d| d.credentials_rotation.clone())
        .unwrap_or_default()
}

/// The tenant's Redis user: its namespace's name (unique in the cluster).
pub fn redis_user(tenant: &Tenant) -> String {
    naming::namespace_name(&tenant.spec)
}

/// The tenant's Redis key (and channel) prefix.
pub fn redis_prefix(tenant: &Tenant) -> String {
    data_names(tenant, &Effective::of(tenant)).2
}

/// The whole `ACL SETUSER <user>` rule list for a tenant: reset, on, the password, its keys and
/// channels, then [`REDIS_COMMAND_RULES`].
pub fn redis_acl_rules(prefix: &str, password: &str) -> Vec<String> {
    let mut rules = vec![
        "reset".to_string(),
        "on".to_string(),
        format!(">{password}"),
        format!("~{prefix}*"),
        format!("&{prefix}*"),
    ];
    rules.extend(REDIS_COMMAND_RULES.iter().map(|r| r.to_string()));
    rules
}

/// The connection URL with the identity in it (user and password percent-encoded).
pub fn url_with_credentials(c: &Credentials) -> String {
    let (scheme, rest) = c.url.split_once("://").unwrap_or(("redis", &c.url));
    format!(
        "{scheme}://{}:{}@{rest}",
        percent_encode(&c.username),
        percent_encode(&c.password)
    )
}

pub fn percent_encode(s: &str) -> String {
    s.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

/// The connection Secret's entries for the provisioned identities.
pub fn secret_entries(w: &Wiring) -> BTreeMap<String, String> {
    let mut d = BTreeMap::new();
    if let Some(r) = &w.redis {
        d.insert("REDIS_URL".into(), url_with_credentials(r));
        d.insert("REDIS_USERNAME".into(), r.username.clone());
        d.insert("REDIS_PASSWORD".into(), r.password.clone());
    }
    if let Some((m, database)) = &w.mongo {
        d.insert("MONGO_URI".into(), mongo_uri(m, database));
        d.insert("MONGO_USERNAME".into(), m.username.clone());
        d.insert("MONGO_PASSWORD".into(), m.password.clone());
    }
    if let Some(n) = &w.nats {
        d.insert("NATS_URL".into(), n.url.clone());
        d.insert("NATS_CREDS".into(), nats_creds_file(n));
        d.insert("NATS_USER_JWT".into(), n.user_jwt.clone());
        d.insert("NATS_USER_NKEY".into(), n.user_seed.clone());
    }
    d
}

/// Whether two Redis prefixes overlap: a key of one can match the other's pattern.
pub fn redis_prefixes_overlap(a: &str, b: &str) -> bool {
    a.starts_with(b) || b.starts_with(a)
}

/// The first data location `tenant` would share with another tenant of `others` on a shared
/// server, as `(what, holder)`: the older Tenant (then the smaller name) keeps it. Also a
/// prefix that overlaps the operator's own.
pub fn conflict<'a>(
    tenant: &Tenant,
    others: impl IntoIterator<Item = &'a Tenant>,
    servers: &SharedServers,
) -> Option<(String, String)> {
    if !wants_shared_redis(tenant, servers) {
        return None;
    }
    let mine = redis_prefix(tenant);
    if redis_prefixes_overlap(&mine, REDIS_RESERVED_PREFIX) {
        return Some((
            format!("Redis key prefix {mine:?}"),
            "the operator (it keeps the prefix tenant-operator: for itself)".into(),
        ));
    }
    let key = |t: &Tenant| {
        (
            t.metadata.creation_timestamp.clone().map(|t| t.0),
            t.metadata.namespace.clone(),
            t.metadata.name.clone(),
        )
    };
    others
        .into_iter()
        .filter(|o| o.metadata.uid != tenant.metadata.uid || o.metadata.uid.is_none())
        .filter(|o| o.metadata.deletion_timestamp.is_none())
        .filter(|o| {
            o.metadata.namespace != tenant.metadata.namespace
                || o.metadata.name != tenant.metadata.name
        })
        .filter(|o| wants_shared_redis(o, servers))
        .filter(|o| redis_prefixes_overlap(&mine, &redis_prefix(o)))
        .filter(|o| key(o) < key(tenant))
        .min_by_key(|o| key(o))
        .map(|o| {
            (
                format!("Redis key prefix {mine:?} (overlaps {:?})", redis_prefix(o)),
                format!(
                    "Tenant {}/{}",
                    o.metadata.namespace.as_deref().unwrap_or(""),
                    o.metadata.name.as_deref().unwrap_or("")
                ),
            )
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
    use tenant_api::{DataIsolation, TenantSpec, TenantType};

    fn tenant(name: &str, prefix: Option<&str>, created: i64) -> Tenant {
        let mut spec = TenantSpec::new(name, TenantType::Production);
        spec.data_isolation = prefix.map(|p| DataIsolation {
            redis_key_prefix: Some(p.into()),
            ..DataIsolation::default()
        });
        let mut t = Tenant::new(name, spec);
        t.metadata.namespace = Some("default".into());
        t.metadata.uid = Some(format!("uid-{name}"));
        t.metadata.creation_timestamp = Some(Time(
            jiff::Timestamp::from_second(created).unwrap_or(jiff::Timestamp::UNIX_EPOCH),
        ));
        t
    }

    fn shared() -> SharedServers {
        SharedServers {
            redis: Some(SharedServer {
                url: "redis://redis.data:6379".into(),
            }),
            nats: Some(SharedServer {
                url: "nats://nats.data:4222".into(),
            }),
            mongo: Some(SharedServer {
                url: "mongodb://ferretdb.data:27017".into(),
            }),
        }
    }

    #[test]
    fn nats_users_get_their_prefix_and_inboxes_and_a_creds_file() {
        let mut t = tenant("a", None, 1);
        assert!(wants_shared_nats(&t, &shared()));
        assert_eq!(
            nats_permissions(&nats_prefix(&t)),
            ["tenant.a.production.>", "_INBOX.>"]
        );
        let c = NatsCredentials {
            url: "nats://nats.data:4222".into(),
            user_jwt: "eyJ.x.y".into(),
            user_seed: "SUSEED".into(),
        };
        let creds = nats_creds_file(&c);
        assert!(creds.contains("-----BEGIN NATS USER JWT-----\neyJ.x.y\n"));
        assert!(creds.contains("-----BEGIN USER NKEY SEED-----\nSUSEED\n"));
        assert!(!format!("{c:?}").contains("SUSEED"));
        t.spec.nats_url = Some("nats://own:4222".into());
        assert!(!wants_shared_nats(&t, &shared()));
    }

    #[test]
    fn only_tenants_without_their_own_redis_get_an_identity() {
        let mut t = tenant("a", None, 1);
        assert!(!wants_shared_redis(&t, &SharedServers::default()));
        assert!(wants_shared_redis(&t, &shared()));
        t.spec.redis_url = Some("redis://own:6379".into());
        assert!(!wants_shared_redis(&t, &shared()));
    }

    #[test]
    fn the_acl_limits_keys_and_channels_to_the_prefix() {
        let rules = redis_acl_rules("tenant:a:production:", "pw");
        assert_eq!(rules[..3], ["reset", "on", ">pw"]);
        assert!(rules.contains(&"~tenant:a:production:*".to_string()));
        assert!(rules.contains(&"&tenant:a:production:*".to_string()));
        for denied in ["-@dangerous", "-scan", "-pubsub", "-@scripting"] {
            assert!(rules.contains(&denied.to_string()), "{denied}");
        }
    }

    #[test]
    fn credentials_are_percent_encoded_into_the_url_and_not_debug_printed() {
        let c = Credentials {
            url: "redis://redis.data:6379".into(),
            username: "tenant-a".into(),
            password: "p@ss/w:rd".into(),
        };
        assert_eq!(
            url_with_credentials(&c),
            "redis://tenant-a:p%40ss%2Fw%3Ard@redis.data:6379"
        );
        assert!(!format!("{c:?}").contains("p@ss"));
    }

    #[test]
    fn overlapping_prefixes_conflict_and_the_older_tenant_keeps_its_own() {
        let old = tenant("a", Some("shop:"), 1);
        let young = tenant("b", Some("shop:b:"), 2);
        let other = tenant("c", Some("other:"), 0);
        let all = vec![old.clone(), young.clone(), other];
        let (what, holder) = conflict(&young, &all, &shared()).expect("a conflict");
        assert!(what.contains("shop:b:"), "{what}");
        assert_eq!(holder, "Tenant default/a");
        assert_eq!(conflict(&old, &all, &shared()), None);
        assert_eq!(conflict(&young, &all, &SharedServers::default()), None);
        let reserved = tenant("r", Some("tenant-operator:x:"), 3);
        assert!(conflict(&reserved, [], &shared()).is_some());
    }
}
