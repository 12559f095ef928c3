//! The platform's shared MongoDB-protocol server: FerretDB on PostgreSQL, one PostgreSQL role
//! per tenant owning the schema that is its MongoDB database (see docs/data.md).
//!
//! FerretDB (v1) maps a MongoDB database to a PostgreSQL schema and hands each client's
//! credentials (SASL PLAIN) to PostgreSQL, which decides what the client may reach. So the
//! tenant's identity is a PostgreSQL role: it owns its schema (its database) and nothing else,
//! and PostgreSQL refuses it every other schema. The operator
//! - creates the role (login, no other attribute) and records it in its registry
//!   [`REGISTRY`] (`role -> tenant uid, database, password fingerprint`), so a role it did not
//!   create is never changed or dropped;
//! - creates the schema owned by the role, and initialises it as a FerretDB database over the
//!   MongoDB wire protocol as the platform's admin (so FerretDB's catalog knows it and the
//!   tenant needs no right to create schemas), then hands the metadata table to the role;
//! - rotates by changing the role's password and ending the role's sessions (FerretDB keeps
//!   a pool per user and password: without that the old password would keep working);
//! - revokes by ending the sessions and dropping the role; its schema (the data) is handed to
//!   the platform's admin role, unless `onTenantDeletion: Delete` drops the database too.
//!
//! A reconcile with nothing to change sends only reads (a MongoDB ping, one registry and
//! catalog query).

use std::time::Duration;

use mongodb::bson::{Document, doc};
use tokio::sync::Mutex;

use super::redis::StoreError;

/// The operator's registry: `tenant_operator.users`.
pub const REGISTRY: &str = "tenant_operator.users";

/// How long one request may take before the server counts as unreachable.
const TIMEOUT: Duration = Duration::from_secs(5);

/// FerretDB's per-database metadata table.
const METADATA: &str = "_ferretdb_database_metadata";

/// Schema names no tenant database may take.
const RESERVED: &[&str] = &["tenant_operator", "public", "information_schema"];

fn unavailable(what: &str, e: impl std::fmt::Display) -> StoreError {
    StoreError::Unavailable(format!("{what}: {}", redact(&e.to_string())))
}

/// Hides a password in a `scheme://user:password@host` URL inside an error message.
fn redact(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(i) = rest.find("://") {
        let (head, tail) = rest.split_at(i + 3);
        out.push_str(head);
        let end = tail
            .find(|c: char| c.is_whitespace() || c == '"' || c == '\'')
            .unwrap_or(tail.len());
        let (authority, after) = tail.split_at(end);
        match (authority.find(':'), authority.find('@')) {
            (Some(c), Some(a)) if c < a => {
                out.push_str(&authority[..c]);
                out.push_str(":<redacted>");
                out.push_str(&authority[a..]);
            }
            _ => out.push_str(authority),
        }
        rest = after;
    }
    out.push_str(rest);
    out
}

/// A short fingerprint of a role's password (the registry keeps it, never the password): a
/// reconcile compares it instead of setting the password again.
fn fingerprint(role: &str, password: &str) -> String {
    let d = ring::digest::digest(
        &ring::digest::SHA256,
        format!("tenant-operator/mongo\0{role}\0{password}").as_bytes(),
    );
    d.as_ref()[..16]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// The connections to the shared server as the platform's admin.
pub struct Admin {
    /// The admin's MongoDB URL (FerretDB, SASL PLAIN), from the platform's Secret.
    mongo_url: String,
    /// The admin's PostgreSQL URL (a superuser of FerretDB's database).
    pg_url: String,
    pg: Mutex<Option<std::sync::Arc<tokio_postgres::Client>>>,
    mongo: Mutex<Option<mongodb::Client>>,
}

impl Admin {
    pub fn new(mongo_url: String, pg_url: String) -> Admin {
        Admin {
            mongo_url,
            pg_url,
            pg: Mutex::new(None),
            mongo: Mutex::new(None),
        }
    }

    async fn pg(&self) -> Result<std::sync::Arc<tokio_postgres::Client>, StoreError> {
        let mut guard = self.pg.lock().await;
        if let Some(c) = guard.as_ref()
            && !c.is_closed()
        {
            return Ok(c.clone());
        }
        let (client, conn) = tokio::time::timeout(
            TIMEOUT,
            tokio_postgres::connect(&self.pg_url, tokio_postgres::NoTls),
        )
        .await
        .map_err(|_| StoreError::Unavailable("connecting to PostgreSQL: no answer".into()))?
        .map_err(|e| unavailable("connecting to PostgreSQL", e))?;
        tokio::spawn(async move {
            if let Err(e) = conn.await {
                tracing::debug!(error = %redact(&e.to_string()), "PostgreSQL connection ended");
            }
        });
        client
            .batch_execute(&format!(
                "CREATE SCHEMA IF NOT EXISTS tenant_operator; \
                 CREATE TABLE IF NOT EXISTS {REGISTRY} (role text PRIMARY KEY, uid text NOT NULL, \
                 database text NOT NULL, fingerprint text NOT NULL)"
            ))
            .await
            .map_err(|e| unavailable("preparing the registry", e))?;
        let client = std::sync::Arc::new(client);
        *guard = Some(client.clone());
        Ok(client)
    }

    async fn mongo(&self) -> Result<mongodb::Client, StoreError> {
        let mut guard = self.mongo.lock().await;
        if let Some(c) = guard.as_ref() {
            return Ok(c.clone());
        }
        let mut opts = mongodb::options::ClientOptions::parse(&self.mongo_url)
            .await
            .map_err(|e| unavailable("the admin MongoDB URL", e))?;
        opts.server_selection_timeout = Some(TIMEOUT);
        opts.connect_timeout = Some(TIMEOUT);
        opts.app_name = Some("tenant-operator".into());
        let c = mongodb::Client::with_options(opts)
            .map_err(|e| unavailable("the admin MongoDB URL", e))?;
        *guard = Some(c.clone());
        Ok(c)
    }

    /// Forgets both connections after an error, so the next call connects again.
    pub async fn reset(&self) {
        *self.pg.lock().await = None;
        *self.mongo.lock().await = None;
    }

    /// A DDL statement with identifiers and literals quoted by PostgreSQL itself
    /// (`format('... %I ... %L', ...)`): DDL takes no bind parameters.
    async fn ddl(&self, what: &str, template: &str, args: &[&str]) -> Result<(), StoreError> {
        let pg = self.pg().await?;
        let placeholders: Vec<String> = (1..=args.len()).map(|i| format!("${i}::text")).collect();
        let query = format!("SELECT format('{template}', {})", placeholders.join(", "));
        let params: Vec<&(dyn tokio_postgres::types::ToSql + Sync)> = args
            .iter()
            .map(|a| a as &(dyn tokio_postgres::types::ToSql + Sync))
            .collect();
        let row = pg
            .query_one(&query, &params)
            .await
            .map_err(|e| unavailable(what, e))?;
        let statement: String = row.get(0);
        pg.batch_execute(&statement)
            .await
            .map_err(|e| unavailable(what, e))
    }

    /// Whether both the MongoDB side (FerretDB) and PostgreSQL answer.
    pub async fn ping(&self) -> Result<(), StoreError> {
        let pg = self.pg().await?;
        pg.simple_query("SELECT 1")
            .await
            .map_err(|e| unavailable("PostgreSQL", e))?;
        self.mongo_ping().await
    }

    /// Whether the MongoDB side answers the admin (the tenants connect there, not to
    /// PostgreSQL).
    async fn mongo_ping(&self) -> Result<(), StoreError> {
        let m = self.mongo().await?;
        m.database("admin")
            .run_command(doc! {"ping": 1})
            .await
            .map_err(|e| unavailable("MongoDB", e))?;
        Ok(())
    }

    /// Ends the role's sessions (FerretDB's pooled connections with an old password).
    async fn end_sessions(&self, role: &str) -> Result<(), StoreError> {
        let pg = self.pg().await?;
        pg.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = $1",
            &[&role],
        )
        .await
        .map_err(|e| unavailable("ending the role's sessions", e))?;
        Ok(())
    }

    /// Makes the server hold the tenant's role with `password`, owning its database. Returns
    /// whether anything was written.
    pub async fn ensure(
        &self,
        uid: &str,
        role: &str,
        database: &str,
        password: &str,
    ) -> Result<bool, StoreError> {
        if RESERVED.contains(&database) || database.starts_with("pg_") {
            return Err(StoreError::Conflict(format!(
                "database {database:?} is reserved on the shared server"
            )));
        }
        self.mongo_ping().await?;
        let pg = self.pg().await?;
        let row = pg
            .query_opt(
                &format!(
                    "SELECT u.uid, u.database, u.fingerprint, \
                     (SELECT rolcanlogin FROM pg_roles WHERE rolname = $1), \
                     (SELECT r.rolname FROM pg_namespace n JOIN pg_roles r ON r.oid = n.nspowner WHERE n.nspname = $2), \
                     (SELECT tableowner FROM pg_tables WHERE schemaname = $2 AND tablename = '{METADATA}'), \
                     EXISTS (SELECT 1 FROM pg_roles WHERE rolname = $1) \
                     FROM (SELECT 1) AS one LEFT JOIN {REGISTRY} u ON u.role = $1"
                ),
                &[&role, &database],
            )
            .await
            .map_err(|e| unavailable("reading the registry", e))?
            .ok_or_else(|| StoreError::Unavailable("the registry query returned nothing".into()))?;
        let registered_uid: Option<String> = row.get(0);
        let registered_fp: Option<String> = row.get(2);
        let can_login: Option<bool> = row.get(3);
        let schema_owner: Option<String> = row.get(4);
        let metadata_owner: Option<String> = row.get(5);
        let role_exists: bool = row.get(6);
        match registered_uid.as_deref() {
            Some(u) if u != uid => {
                return Err(StoreError::Conflict(format!(
                    "the role {role} belongs to another tenant (uid {u})"
                )));
            }
            None if role_exists => {
                return Err(StoreError::Conflict(format!(
                    "a PostgreSQL role {role} exists that the operator did not create"
                )));
            }
            _ => {}
        }
        if let Some(owner) = schema_owner.as_deref()
            && owner != role
        {
            return Err(StoreError::Conflict(format!(
                "database {database} belongs to the role {owner}, not to this tenant"
            )));
        }
        let want_fp = fingerprint(role, password);
        let mut changed = false;
        if registered_uid.is_none() {
            self.ddl(
                "creating the tenant's role",
                "CREATE ROLE %I LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOINHERIT NOREPLICATION PASSWORD %L",
                &[role, password],
            )
            .await?;
            let db: String = pg
                .query_one("SELECT current_database()", &[])
                .await
                .map_err(|e| unavailable("reading the database name", e))?
                .get(0);
            self.ddl(
                "granting CONNECT",
                "GRANT CONNECT ON DATABASE %I TO %I",
                &[&db, role],
            )
            .await?;
            pg.execute(
                &format!(
                    "INSERT INTO {REGISTRY} (role, uid, database, fingerprint) VALUES ($1, $2, $3, $4)"
                ),
                &[&role, &uid, &database, &want_fp],
            )
            .await
            .map_err(|e| unavailable("recording the role", e))?;
            changed = true;
        } else if registered_fp.as_deref() != Some(want_fp.as_str()) || can_login != Some(true) {
            self.ddl(
                "setting the role's password",
                "ALTER ROLE %I LOGIN PASSWORD %L",
                &[role, password],
            )
            .await?;
            self.end_sessions(role).await?;
            pg.execute(
                &format!("UPDATE {REGISTRY} SET fingerprint = $2, database = $3 WHERE role = $1"),
                &[&role, &want_fp, &database],
            )
            .await
            .map_err(|e| unavailable("recording the password", e))?;
            changed = true;
        }
        if schema_owner.is_none() {
            self.ddl(
                "creating the tenant's database",
                "CREATE SCHEMA %I AUTHORIZATION %I",
                &[database, role],
            )
            .await?;
            changed = true;
        }
        if metadata_owner.is_none() {
            // FerretDB makes a database (its metadata table) on first use; as the admin here,
            // so FerretDB's catalog knows it and the tenant needs no right to create schemas.
            let m = self.mongo().await?;
            let db = m.database(database);
            db.create_collection("tenant_operator_init")
                .await
                .map_err(|e| unavailable("initialising the database", e))?;
            db.collection::<Document>("tenant_operator_init")
                .drop()
                .await
                .map_err(|e| unavailable("initialising the database", e))?;
            changed = true;
        }
        if metadata_owner.as_deref() != Some(role) {
            self.ddl(
                "handing the database to the tenant",
                &format!("ALTER TABLE %I.{METADATA} OWNER TO %I"),
                &[database, role],
            )
            .await?;
            changed = true;
        }
        Ok(changed)
    }

    /// Revokes the tenant's role: its sessions end and it is dropped; its database is handed
    /// to the admin (kept) or dropped (`delete`). `Ok(false)`: the registry names no role of
    /// this tenant (nothing to revoke).
    pub async fn revoke(
        &self,
        uid: &str,
        role: &str,
        database: &str,
        delete: bool,
    ) -> Result<bool, StoreError> {
        let pg = self.pg().await?;
        let mine = pg
            .query_opt(
                &format!("SELECT database FROM {REGISTRY} WHERE role = $1 AND uid = $2"),
                &[&role, &uid],
            )
            .await
            .map_err(|e| unavailable("reading the registry", e))?;
        if mine.is_none() {
            return Ok(false);
        }
        self.ddl("disabling the role", "ALTER ROLE %I NOLOGIN", &[role])
            .await?;
        self.end_sessions(role).await?;
        if delete {
            let m = self.mongo().await?;
            m.database(database)
                .drop()
                .await
                .map_err(|e| unavailable("dropping the database", e))?;
        }
        self.ddl(
            "handing the role's objects to the admin",
            "REASSIGN OWNED BY %I TO CURRENT_USER",
            &[role],
        )
        .await?;
        self.ddl("dropping the role's grants", "DROP OWNED BY %I", &[role])
            .await?;
        self.ddl("dropping the role", "DROP ROLE %I", &[role])
            .await?;
        pg.execute(&format!("DELETE FROM {REGISTRY} WHERE role = $1"), &[&role])
            .await
            .map_err(|e| unavailable("forgetting the role", e))?;
        Ok(true)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_in_errors_lose_their_passwords() {
        assert_eq!(
            redact("connecting postgres://admin:s3cret@pg:5432/ferretdb failed"),
            "connecting postgres://admin:<redacted>@pg:5432/ferretdb failed"
        );
        assert_eq!(redact("no url here"), "no url here");
    }

    #[test]
    fn fingerprints_depend_on_role_and_password() {
        let a = fingerprint("r", "p");
        assert_eq!(a.len(), 32);
        assert_eq!(a, fingerprint("r", "p"));
        assert_ne!(a, fingerprint("r", "q"));
        assert_ne!(a, fingerprint("s", "p"));
    }
}
