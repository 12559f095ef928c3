//! The platform's shared Redis: one ACL user per tenant (see `tenant_core::build::data`).
//!
//! The operator's own registry of the users it created is a hash on the server,
//! [`REGISTRY`]: user -> `<tenant uid> <rules fingerprint>`. A user the registry does not name
//! is someone else's and is never changed or deleted, with one exception: a user whose key
//! pattern and password are exactly the tenant's (only the operator and the tenant know that
//! password) is taken back, so a registry lost with a server restart does not lock tenants out.
//!
//! A reconcile with nothing to change sends only reads (`ACL GETUSER`, `HGET`).

use std::time::Duration;

use redis::aio::MultiplexedConnection;
use redis::{AsyncCommands, Value};
use tenant_core::build::data::{self as tdata, REDIS_COMMAND_RULES};
use tokio::sync::Mutex;

/// The hash of the users the operator created.
pub const REGISTRY: &str = "tenant-operator:users";

/// How long one command may take before the server counts as unreachable.
const TIMEOUT: Duration = Duration::from_secs(5);

/// Why a store could not be provisioned.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The server could not be reached or answered with an error: retried with backoff.
    #[error("{0}")]
    Unavailable(String),
    /// Another tenant or someone else holds the name: nothing was changed.
    #[error("{0}")]
    Conflict(String),
}

fn unavailable(what: &str, e: impl std::fmt::Display) -> StoreError {
    StoreError::Unavailable(format!("{what}: {e}"))
}

/// A connection to the shared Redis as the platform's admin user.
pub struct Admin {
    /// The admin URL (credentials inside), from the platform's Secret.
    url: String,
    conn: Mutex<Option<MultiplexedConnection>>,
}

impl Admin {
    pub fn new(url: String) -> Admin {
        Admin {
            url,
            conn: Mutex::new(None),
        }
    }

    async fn connection(&self) -> Result<MultiplexedConnection, StoreError> {
        let mut guard = self.conn.lock().await;
        if let Some(c) = guard.as_ref() {
            return Ok(c.clone());
        }
        let client = redis::Client::open(self.url.as_str())
            .map_err(|e| unavailable("the admin URL", redact(&e.to_string())))?;
        let cfg = redis::AsyncConnectionConfig::new()
            .set_connection_timeout(Some(TIMEOUT))
            .set_response_timeout(Some(TIMEOUT));
        let conn = client
            .get_multiplexed_async_connection_with_config(&cfg)
            .await
            .map_err(|e| unavailable("connecting", redact(&e.to_string())))?;
        *guard = Some(conn.clone());
        Ok(conn)
    }

    /// Forgets the connection after an I/O error, so the next call connects again.
    async fn reset(&self) {
        *self.conn.lock().await = None;
    }

    async fn run<T: redis::FromRedisValue>(
        &self,
        what: &str,
        cmd: &redis::Cmd,
    ) -> Result<T, StoreError> {
        let mut conn = self.connection().await?;
        match cmd.query_async::<T>(&mut conn).await {
            Ok(v) => Ok(v),
            Err(e) => {
                if e.is_io_error() || e.is_timeout() || e.is_connection_dropped() {
                    self.reset().await;
                }
                Err(unavailable(what, redact(&e.to_string())))
            }
        }
    }

    /// Makes `user` the tenant's: keys and channels under `prefix`, the password `password`.
    /// Returns whether it wrote.
    pub async fn ensure(
        &self,
        uid: &str,
        user: &str,
        prefix: &str,
        password: &str,
    ) -> Result<bool, StoreError> {
        let live = self.get_user(user).await?;
        let owner: Option<String> = self
            .run(
                "reading the registry",
                redis::cmd("HGET").arg(REGISTRY).arg(user),
            )
            .await?;
        let want_hash = sha256_hex(password);
        let fingerprint = fingerprint(prefix);
        let record = format!("{uid} {fingerprint}");
        match (&live, owner.as_deref()) {
            (_, Some(o)) if o.split(' ').next() != Some(uid) => {
                return Err(StoreError::Conflict(format!(
                    "the Redis user {user:?} belongs to another tenant (uid {})",
                    o.split(' ').next().unwrap_or("")
                )));
            }
            (Some(u), None)
                if !(u.keys == format!("~{prefix}*") && u.passwords == [want_hash.clone()]) =>
            {
                return Err(StoreError::Conflict(format!(
                    "a Redis user {user:?} exists that the operator did not create; it is left alone"
                )));
            }
            _ => {}
        }
        if let Some(u) = &live
            && owner.as_deref() == Some(record.as_str())
            && u.enabled
            && u.passwords == [want_hash]
            && u.keys == format!("~{prefix}*")
            && u.channels == format!("&{prefix}*")
        {
            return Ok(false);
        }
        let mut setuser = redis::cmd("ACL");
        setuser.arg("SETUSER").arg(user);
        for rule in tdata::redis_acl_rules(prefix, password) {
            setuser.arg(rule);
        }
        let _: () = self.run("ACL SETUSER", &setuser).await?;
        let _: () = self
            .run(
                "writing the registry",
                redis::cmd("HSET").arg(REGISTRY).arg(user).arg(&record),
            )
            .await?;
        self.save_acl().await;
        Ok(true)
    }

    /// Deletes the tenant's user (only if the registry says the operator created it for
    /// `uid`) and, with `delete_data`, its keys. Returns whether the user was deleted.
    pub async fn revoke(
        &self,
        uid: &str,
        user: &str,
        prefix: &str,
        delete_data: bool,
    ) -> Result<bool, StoreError> {
        let owner: Option<String> = self
            .run(
                "reading the registry",
                redis::cmd("HGET").arg(REGISTRY).arg(user),
            )
            .await?;
        if owner.as_deref().and_then(|o| o.split(' ').next()) != Some(uid) {
            return Ok(false);
        }
        let _: i64 = self
            .run("ACL DELUSER", redis::cmd("ACL").arg("DELUSER").arg(user))
            .await?;
        if delete_data {
            self.delete_keys(prefix).await?;
        }
        let _: i64 = self
            .run(
                "writing the registry",
                redis::cmd("HDEL").arg(REGISTRY).arg(user),
            )
            .await?;
        self.save_acl().await;
        Ok(true)
    }

    /// Deletes every key under `prefix` (SCAN and UNLINK, a batch at a time).
    async fn delete_keys(&self, prefix: &str) -> Result<(), StoreError> {
        let pattern = format!("{prefix}*");
        let mut cursor: u64 = 0;
        loop {
            let (next, keys): (u64, Vec<String>) = self
                .run(
                    "SCAN",
                    redis::cmd("SCAN")
                        .arg(cursor)
                        .arg("MATCH")
                        .arg(&pattern)
                        .arg("COUNT")
                        .arg(1000),
                )
                .await?;
            if !keys.is_empty() {
                let mut conn = self.connection().await?;
                let _: i64 = conn
                    .unlink(&keys)
                    .await
                    .map_err(|e| unavailable("UNLINK", redact(&e.to_string())))?;
            }
            if next == 0 {
                return Ok(());
            }
            cursor = next;
        }
    }

    /// Persists the ACL when the server keeps an ACL file (`ACL SAVE`); a server without one
    /// loses its users on restart, and the next reconcile of each tenant puts them back.
    async fn save_acl(&self) {
        let _ = self
            .run::<()>("ACL SAVE", redis::cmd("ACL").arg("SAVE"))
            .await;
    }

    async fn get_user(&self, user: &str) -> Result<Option<AclUser>, StoreError> {
        let v: Value = self
            .run("ACL GETUSER", redis::cmd("ACL").arg("GETUSER").arg(user))
            .await?;
        Ok(AclUser::parse(&v))
    }

    /// `PING`, to tell whether the server is back.
    pub async fn ping(&self) -> Result<(), StoreError> {
        let _: String = self.run("PING", &redis::cmd("PING")).await?;
        Ok(())
    }
}

/// What `ACL GETUSER` says of a user (Redis 7: flags, passwords, commands, keys, channels).
#[derive(Debug, Default)]
struct AclUser {
    enabled: bool,
    passwords: Vec<String>,
    keys: String,
    channels: String,
}

impl AclUser {
    fn parse(v: &Value) -> Option<AclUser> {
        let items: Vec<(String, &Value)> = match v {
            Value::Nil => return None,
            Value::Array(a) => a
                .chunks(2)
                .filter_map(|p| match p {
                    [k, v] => text(k).map(|k| (k, v)),
                    _ => None,
                })
                .collect(),
            Value::Map(m) => m
                .iter()
                .filter_map(|(k, v)| text(k).map(|k| (k, v)))
                .collect(),
            _ => return None,
        };
        let mut u = AclUser::default();
        for (k, v) in items {
            match k.as_str() {
                "flags" => u.enabled = list(v).iter().any(|f| f == "on"),
                "passwords" => u.passwords = list(v),
                "keys" => u.keys = text(v).unwrap_or_else(|| list(v).join(" ")),
                "channels" => u.channels = text(v).unwrap_or_else(|| list(v).join(" ")),
                _ => {}
            }
        }
        Some(u)
    }
}

fn text(v: &Value) -> Option<String> {
    match v {
        Value::BulkString(b) => Some(String::from_utf8_lossy(b).into_owned()),
        Value::SimpleString(s) => Some(s.clone()),
        _ => None,
    }
}

fn list(v: &Value) -> Vec<String> {
    match v {
        Value::Array(a) | Value::Set(a) => a.iter().filter_map(text).collect(),
        _ => Vec::new(),
    }
}

fn sha256_hex(s: &str) -> String {
    ring::digest::digest(&ring::digest::SHA256, s.as_bytes())
        .as_ref()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// What the registry records of a user's rules besides the password: a change of the command
/// rules (a new operator version) makes every user be written again.
fn fingerprint(prefix: &str) -> String {
    let rules = format!("{prefix}\n{}", REDIS_COMMAND_RULES.join(" "));
    sha256_hex(&rules)[..16].to_string()
}

/// An error text without the URL's credentials (redis errors may quote the URL).
fn redact(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for word in s.split(' ') {
        if !out.is_empty() {
            out.push(' ');
        }
        match (word.find("://"), word.rfind('@')) {
            (Some(i), Some(j)) if j > i => {
                out.push_str(&word[..i + 3]);
                out.push_str("<credentials>");
                out.push_str(&word[j..]);
            }
            _ => out.push_str(word),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn getuser_replies_are_read_in_both_protocols() {
        let b = |s: &str| Value::BulkString(s.as_bytes().to_vec());
        let v = Value::Array(vec![
            b("flags"),
            Value::Array(vec![b("on"), b("sanitize-payload")]),
            b("passwords"),
            Value::Array(vec![b("abc")]),
            b("commands"),
            b("+@all"),
            b("keys"),
            b("~t:a:*"),
            b("channels"),
            b("&t:a:*"),
        ]);
        let u = AclUser::parse(&v).expect("a user");
        assert!(u.enabled);
        assert_eq!(u.passwords, ["abc"]);
        assert_eq!(u.keys, "~t:a:*");
        assert_eq!(u.channels, "&t:a:*");
        assert!(AclUser::parse(&Value::Nil).is_none());
    }

    #[test]
    fn errors_lose_the_urls_credentials() {
        assert_eq!(
            redact("cannot reach redis://admin:s3cret@redis:6379 now"),
            "cannot reach redis://<credentials>@redis:6379 now"
        );
        assert_eq!(sha256_hex("pw").len(), 64);
    }
}
