//! The platform's shared NATS: one account per tenant, pushed to the server's JWT resolver (see
//! `tenant_core::build::data` for what the tenant's user may do).
//!
//! The server runs in operator mode (decentralized JWT authentication) with the `full`
//! resolver, the platform's usual multi-tenant set-up. The platform gives the operator an
//! operator *signing key* and the credentials of a user of the system account. With them the
//! operator
//! - derives each tenant's account key from the tenant's uid (HMAC-SHA256 under a key of the
//!   platform's Secret), so nothing per tenant needs storing and no other party can hold that
//!   account;
//! - signs the account's JWT with the signing key and pushes it (`$SYS.REQ.CLAIMS.UPDATE`);
//! - signs the tenant's user JWT with the account key; the user's seed is random and lives only
//!   in the tenant's connection Secret.
//!
//! Rotation makes a new user; the account revokes every user issued before it (`revocations`
//! `"*"`: the new user's issue time minus one second), so the state to reach follows from the
//! Secret alone. Deletion revokes all of the account's users and allows it no connections; the
//! account itself stays (with its JetStream data, when the platform enables JetStream for it).
//!
//! A reconcile with nothing to change sends one read (`$SYS.REQ.ACCOUNT.<id>.CLAIMS.LOOKUP`).

use std::time::Duration;

use nkeys::{KeyPair, KeyPairType};
use serde_json::{Value, json};
use tenant_core::build::data as tdata;
use tokio::sync::Mutex;

use super::redis::StoreError;

/// How long one request may take before the server counts as unreachable.
const TIMEOUT: Duration = Duration::from_secs(5);

/// How long an account lookup may take before the account counts as unknown to the server
/// (when the server still answers; see [`Admin::lookup`]).
const LOOKUP_TIMEOUT: Duration = Duration::from_secs(2);

/// JWTs as NATS reads them: `base64url(header).base64url(claims).base64url(ed25519 signature)`.
pub mod jwt {
    use data_encoding::{BASE32_NOPAD, BASE64URL_NOPAD};
    use nkeys::KeyPair;
    use serde_json::{Value, json};

    /// Signs `claims` with `signer`: sets `iss` to the signer's public key, `iat` to now unless
    /// given, and `jti` to a hash of the rest.
    pub fn encode(mut claims: Value, signer: &KeyPair) -> Result<String, String> {
        let Some(obj) = claims.as_object_mut() else {
            return Err("claims must be an object".into());
        };
        obj.insert("iss".into(), json!(signer.public_key()));
        if !obj.contains_key("iat") {
            obj.insert("iat".into(), json!(jiff::Timestamp::now().as_second()));
        }
        obj.remove("jti");
        let body = serde_json::to_vec(&claims).map_err(|e| e.to_string())?;
        let hash = ring::digest::digest(&ring::digest::SHA512_256, &body);
        if let Some(obj) = claims.as_object_mut() {
            obj.insert("jti".into(), json!(BASE32_NOPAD.encode(hash.as_ref())));
        }
        let header = BASE64URL_NOPAD.encode(br#"{"typ":"JWT","alg":"ed25519-nkey"}"#);
        let payload =
            BASE64URL_NOPAD.encode(&serde_json::to_vec(&claims).map_err(|e| e.to_string())?);
        let signing_input = format!("{header}.{payload}");
        let sig = signer
            .sign(signing_input.as_bytes())
            .map_err(|e| format!("signing: {e}"))?;
        Ok(format!("{signing_input}.{}", BASE64URL_NOPAD.encode(&sig)))
    }

    /// The claims of a JWT whose signature is its issuer's (`None` for anything else).
    pub fn verified_claims(token: &str) -> Option<Value> {
        let mut parts = token.trim().split('.');
        let (header, payload, sig) = (parts.next()?, parts.next()?, parts.next()?);
        if parts.next().is_some() {
            return None;
        }
        let claims: Value =
            serde_json::from_slice(&BASE64URL_NOPAD.decode(payload.as_bytes()).ok()?).ok()?;
        let issuer = KeyPair::from_public_key(claims.get("iss")?.as_str()?).ok()?;
        let sig = BASE64URL_NOPAD.decode(sig.as_bytes()).ok()?;
        issuer
            .verify(format!("{header}.{payload}").as_bytes(), &sig)
            .ok()?;
        Some(claims)
    }
}

/// The claims of a tenant's account JWT (before signing). `revoked_before`: users issued at or
/// before this second are revoked. `closed`: no connections at all (a deleted tenant).
pub fn account_claims(name: &str, account: &str, revoked_before: i64, closed: bool) -> Value {
    json!({
        "sub": account,
        "name": name,
        "nats": {
            "limits": {
                "subs": -1, "data": -1, "payload": -1,
                "imports": -1, "exports": -1, "wildcards": true,
                "conn": if closed { 0 } else { -1 },
                // no leaf nodes: a leaf node is a server of the tenant's joined to the platform's
                "leaf": 0,
            },
            "revocations": { "*": revoked_before },
            "tags": ["tenant-operator"],
            "type": "account",
            "version": 2,
        },
    })
}

/// The claims of a tenant's user JWT (before signing by its account).
pub fn user_claims(name: &str, user: &str, prefix: &str) -> Value {
    let allowed = tdata::nats_permissions(prefix);
    json!({
        "sub": user,
        "name": name,
        "nats": {
            "pub": { "allow": allowed },
            "sub": { "allow": allowed },
            "subs": -1, "data": -1, "payload": -1,
            "type": "user",
            "version": 2,
        },
    })
}

/// Whether `token` is a user JWT of `account` for the key `user` with exactly `want`'s claims.
pub fn user_jwt_matches(token: &str, account: &str, want: &Value) -> bool {
    let Some(have) = jwt::verified_claims(token) else {
        return false;
    };
    have.get("iss").and_then(Value::as_str) == Some(account)
        && have.get("sub") == want.get("sub")
        && have.get("name") == want.get("name")
        && have.get("nats") == want.get("nats")
}

/// The issue time of a JWT (seconds).
pub fn issued_at(token: &str) -> Option<i64> {
    jwt::verified_claims(token)?.get("iat")?.as_i64()
}

/// A connection to the shared NATS as a user of the system account, and the platform's keys.
pub struct Admin {
    url: String,
    /// The system account user's credentials file.
    creds: String,
    /// The operator signing key: it signs the tenants' account JWTs.
    signer: KeyPair,
    /// The key the tenants' account keys are derived with.
    derive: ring::hmac::Key,
    conn: Mutex<Option<async_nats::Client>>,
}

impl Admin {
    /// `signing_seed`: an operator seed (`SO...`); `derive_secret`: the account derivation key
    /// (default: the signing seed).
    pub fn new(
        url: String,
        creds: String,
        signing_seed: &str,
        derive_secret: Option<&str>,
    ) -> Result<Admin, String> {
        let signer = KeyPair::from_seed(signing_seed.trim())
            .map_err(|_| "operatorSigningKey is not an nkey seed".to_string())?;
        if !signer.public_key().starts_with('O') {
            return Err("operatorSigningKey must be an operator seed (SO...)".into());
        }
        if !creds.contains("BEGIN NATS USER JWT") {
            return Err("systemUserCreds is not a NATS credentials file".into());
        }
        let secret = derive_secret.unwrap_or(signing_seed).trim().as_bytes();
        Ok(Admin {
            url,
            // the clients' parser wants a line break after the last delimiter
            creds: format!("{}\n", creds.trim_end()),
            signer,
            derive: ring::hmac::Key::new(ring::hmac::HMAC_SHA256, secret),
            conn: Mutex::new(None),
        })
    }

    /// The tenant's account key: derived from its uid, the same on every reconcile and restart.
    pub fn account_key(&self, uid: &str) -> Result<KeyPair, String> {
        let tag = ring::hmac::sign(
            &self.derive,
            format!("tenant-operator/nats-account/{uid}").as_bytes(),
        );
        let mut raw = [0u8; 32];
        raw.copy_from_slice(&tag.as_ref()[..32]);
        KeyPair::new_from_raw(KeyPairType::Account, raw).map_err(|e| e.to_string())
    }

    /// A new user of the tenant's account: `(seed, user JWT)`.
    pub fn new_user(
        &self,
        uid: &str,
        name: &str,
        prefix: &str,
    ) -> Result<(String, String), String> {
        let user = KeyPair::new_user();
        let seed = user.seed().map_err(|e| e.to_string())?;
        let jwt = self.sign_user(uid, name, prefix, &user.public_key())?;
        Ok((seed, jwt))
    }

    /// The user JWT of the key `user` in the tenant's account.
    pub fn sign_user(
        &self,
        uid: &str,
        name: &str,
        prefix: &str,
        user: &str,
    ) -> Result<String, String> {
        let account = self.account_key(uid)?;
        jwt::encode(user_claims(name, user, prefix), &account)
    }

    async fn client(&self) -> Result<async_nats::Client, StoreError> {
        let mut guard = self.conn.lock().await;
        if let Some(c) = guard.as_ref() {
            if c.connection_state() == async_nats::connection::State::Connected {
                return Ok(c.clone());
            }
            *guard = None;
        }
        let opts = async_nats::ConnectOptions::with_credentials(&self.creds)
            .map_err(|_| StoreError::Unavailable("systemUserCreds cannot be read".into()))?
            .name("tenant-operator")
            .connection_timeout(TIMEOUT)
            .request_timeout(Some(TIMEOUT));
        let c = opts
            .connect(self.url.as_str())
            .await
            .map_err(|e| StoreError::Unavailable(format!("connecting: {e}")))?;
        *guard = Some(c.clone());
        Ok(c)
    }

    async fn reset(&self) {
        *self.conn.lock().await = None;
    }

    async fn request(&self, subject: String, payload: Vec<u8>) -> Result<Vec<u8>, StoreError> {
        let c = self.client().await?;
        match c.request(subject, payload.into()).await {
            Ok(m) => Ok(m.payload.to_vec()),
            Err(e) => {
                self.reset().await;
                Err(StoreError::Unavailable(format!("request: {e}")))
            }
        }
    }

    /// Whether the server answers.
    pub async fn ping(&self) -> Result<(), StoreError> {
        let c = self.client().await?;
        match tokio::time::timeout(TIMEOUT, c.flush()).await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(e)) => {
                self.reset().await;
                Err(StoreError::Unavailable(e.to_string()))
            }
            Err(_) => {
                self.reset().await;
                Err(StoreError::Unavailable("no answer".into()))
            }
        }
    }

    /// The account's JWT as the server's resolver holds it (`None`: unknown to the server).
    /// A resolver that does not hold the account may not answer at all (nats-server 2.9 only
    /// logs the missing file): no answer from a server that still answers a ping means unknown.
    async fn lookup(&self, account: &str) -> Result<Option<String>, StoreError> {
        let c = self.client().await?;
        let subject = format!("$SYS.REQ.ACCOUNT.{account}.CLAIMS.LOOKUP");
        match tokio::time::timeout(LOOKUP_TIMEOUT, c.request(subject, Vec::new().into())).await {
            Ok(Ok(m)) => {
                let s = String::from_utf8_lossy(&m.payload).trim().to_string();
                Ok((!s.is_empty()).then_some(s))
            }
            Ok(Err(e)) if e.kind() != async_nats::RequestErrorKind::TimedOut => {
                self.reset().await;
                Err(StoreError::Unavailable(format!("request: {e}")))
            }
            _ => {
                self.ping().await?;
                Ok(None)
            }
        }
    }

    async fn push(&self, claims: Value) -> Result<(), StoreError> {
        let token = jwt::encode(claims, &self.signer).map_err(StoreError::Unavailable)?;
        let body = self
            .request("$SYS.REQ.CLAIMS.UPDATE".into(), token.into_bytes())
            .await?;
        let answer: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
        if let Some(err) = answer.get("error") {
            let description = err
                .get("description")
                .and_then(Value::as_str)
                .unwrap_or("refused");
            return Err(StoreError::Unavailable(format!(
                "the server refused the account: {description}"
            )));
        }
        Ok(())
    }

    /// Whether the server holds `want` (name, issuer and the `nats` claims) for the account.
    fn holds(&self, current: Option<&str>, want: &Value) -> bool {
        current.and_then(jwt::verified_claims).is_some_and(|have| {
            have.get("iss").and_then(Value::as_str) == Some(self.signer.public_key().as_str())
                && have.get("name") == want.get("name")
                && have.get("nats") == want.get("nats")
        })
    }

    /// Makes the server hold the tenant's account, revoking every user issued before `user_jwt`.
    /// Returns the account's public key and whether anything was pushed.
    pub async fn ensure(
        &self,
        uid: &str,
        name: &str,
        user_jwt: &str,
    ) -> Result<(String, bool), StoreError> {
        let account = self.account_key(uid).map_err(StoreError::Unavailable)?;
        let account = account.public_key();
        let iat = issued_at(user_jwt)
            .ok_or_else(|| StoreError::Unavailable("the user JWT cannot be read".into()))?;
        let want = account_claims(name, &account, iat - 1, false);
        let current = self.lookup(&account).await?;
        if self.holds(current.as_deref(), &want) {
            return Ok((account, false));
        }
        self.push(want).await?;
        Ok((account, true))
    }

    /// Revokes every user of the tenant's account and allows it no connections. `Ok(false)`:
    /// the server never held the account (nothing to revoke).
    pub async fn revoke(&self, uid: &str, name: &str) -> Result<bool, StoreError> {
        let account = self
            .account_key(uid)
            .map_err(StoreError::Unavailable)?
            .public_key();
        let Some(current) = self.lookup(&account).await? else {
            return Ok(false);
        };
        let closed = jwt::verified_claims(&current)
            .is_some_and(|c| c.pointer("/nats/limits/conn").and_then(Value::as_i64) == Some(0));
        if closed {
            return Ok(false);
        }
        let now = jiff::Timestamp::now().as_second();
        self.push(account_claims(name, &account, now, true)).await?;
        Ok(true)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jwts_are_signed_by_their_issuer_and_read_back() {
        let account = KeyPair::new_account();
        let user = KeyPair::new_user();
        let token = jwt::encode(user_claims("t", &user.public_key(), "tenant.a"), &account)
            .expect("encodes");
        let claims = jwt::verified_claims(&token).expect("verifies");
        assert_eq!(claims["iss"], json!(account.public_key()));
        assert_eq!(claims["nats"]["pub"]["allow"][0], json!("tenant.a.>"));
        assert!(claims["jti"].as_str().is_some_and(|j| j.len() == 52));
        assert!(user_jwt_matches(
            &token,
            &account.public_key(),
            &user_claims("t", &user.public_key(), "tenant.a")
        ));
        assert!(!user_jwt_matches(
            &token,
            &account.public_key(),
            &user_claims("t", &user.public_key(), "tenant.b")
        ));
        // a changed payload no longer verifies
        let mut parts: Vec<&str> = token.split('.').collect();
        let forged = data_encoding::BASE64URL_NOPAD.encode(br#"{"iss":"x"}"#);
        parts[1] = &forged;
        assert!(jwt::verified_claims(&parts.join(".")).is_none());
    }

    #[test]
    fn account_keys_are_derived_from_the_uid() {
        let op = KeyPair::new_operator();
        let seed = op.seed().expect("seed");
        let creds = "-----BEGIN NATS USER JWT-----\nx\n------END NATS USER JWT------\n";
        let a = Admin::new("nats://x".into(), creds.into(), &seed, None).expect("admin");
        let b = Admin::new("nats://x".into(), creds.into(), &seed, Some("other")).expect("admin");
        let k1 = a.account_key("uid-1").expect("key").public_key();
        assert_eq!(k1, a.account_key("uid-1").expect("key").public_key());
        assert!(k1.starts_with('A'));
        assert_ne!(k1, a.account_key("uid-2").expect("key").public_key());
        assert_ne!(k1, b.account_key("uid-1").expect("key").public_key());
        let user = KeyPair::new_account().seed().expect("seed");
        assert!(Admin::new("nats://x".into(), creds.into(), &user, None).is_err());
    }
}
