//! The tenants' users on a real shared MongoDB-protocol server: FerretDB v1.24 on PostgreSQL 15
//! (built and unpacked by `hack/mongo-components`, run by `hack/mongo-server` on loopback
//! ports): each tenant's user reads and writes its own database and is refused on another's;
//! the password lives in the tenant's connection Secret only; no write on an operator restart;
//! a database another tenant holds is refused; rotation; the server going away and coming
//! back; revocation on delete with the data kept.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use anyhow::{Context, Result, bail, ensure};
use kube::ResourceExt;
use mongodb::bson::{Document, doc};
use serde_json::json;
use tenant_api::DataIsolation;
use testenv::poll_until;

use super::*;

/// A FerretDB + PostgreSQL pair in a directory of its own, destroyed when dropped.
struct MongoServer {
    script: PathBuf,
    dir: PathBuf,
    env: BTreeMap<String, String>,
}

impl MongoServer {
    fn run(&self, cmd: &str) -> Result<()> {
        let out = Command::new(&self.script)
            .arg(cmd)
            .arg(&self.dir)
            .output()
            .with_context(|| format!("hack/mongo-server {cmd}"))?;
        ensure!(
            out.status.success(),
            "hack/mongo-server {cmd} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        Ok(())
    }

    fn start(dir: PathBuf) -> Result<MongoServer> {
        let script = PathBuf::from(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../hack/mongo-server"
        ));
        let mut s = MongoServer {
            script,
            dir,
            env: BTreeMap::new(),
        };
        s.run("start")?;
        let text = std::fs::read_to_string(s.dir.join("env"))?;
        s.env = text
            .lines()
            .filter_map(|l| l.split_once('='))
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Ok(s)
    }

    fn get(&self, key: &str) -> String {
        self.env.get(key).cloned().unwrap_or_default()
    }
}

impl Drop for MongoServer {
    fn drop(&mut self) {
        let _ = self.run("destroy");
    }
}

/// Inserts a document into `collection` of `db` as the user of `uri`, and reads it back.
async fn write_and_read(uri: &str, db: &str, collection: &str) -> Result<(), String> {
    let c = client(uri).await?;
    let coll = c.database(db).collection::<Document>(collection);
    coll.insert_one(doc! {"item": "cart", "n": 1})
        .await
        .map_err(|e| e.to_string())?;
    coll.find_one(doc! {"item": "cart"})
        .await
        .map_err(|e| e.to_string())?
        .ok_or_else(|| "the document is not there".to_string())?;
    Ok(())
}

async fn client(uri: &str) -> Result<mongodb::Client, String> {
    let mut opts = mongodb::options::ClientOptions::parse(uri)
        .await
        .map_err(|e| e.to_string())?;
    opts.server_selection_timeout = Some(Duration::from_secs(5));
    mongodb::Client::with_options(opts).map_err(|e| e.to_string())
}

/// Whether the user of `uri` is let in at all. A write: FerretDB answers some reads (of a
/// collection it knows is not there) from its catalog, without asking PostgreSQL.
async fn login(uri: &str, db: &str) -> Result<(), String> {
    let c = client(uri).await?;
    c.database(db)
        .collection::<Document>("probe")
        .insert_one(doc! {"probe": 1})
        .await
        .map(|_| ())
        .map_err(|e| e.to_string())
}

fn refused_login(e: &str) -> bool {
    e.contains("28P01") || e.contains("password authentication failed") || e.contains("28000")
}

async fn mongo_secret(h: &Harness, ns: &str) -> Result<(String, String, String)> {
    let s: k8s_openapi::api::core::v1::Secret = Api::namespaced(h.admin.clone(), ns)
        .get("tenant-connections")
        .await
        .context("the connection Secret")?;
    let data = s.data.unwrap_or_default();
    let get = |k: &str| {
        data.get(k)
            .map(|b| String::from_utf8_lossy(&b.0).into_owned())
            .with_context(|| format!("{k} in tenant-connections"))
    };
    Ok((
        get("MONGO_URI")?,
        get("MONGO_USERNAME")?,
        get("MONGO_PASSWORD")?,
    ))
}

/// What a write to the tenant's role or the registry would change: the role's stored password
/// verifier (a new salt on every ALTER ROLE PASSWORD) and the registry row's version.
async fn role_state(pg_url: &str, role: &str) -> Result<String> {
    let (c, conn) = tokio_postgres::connect(pg_url, tokio_postgres::NoTls).await?;
    tokio::spawn(conn);
    let row = c
        .query_one(
            "SELECT coalesce((SELECT rolpassword FROM pg_authid WHERE rolname = $1), '') || ' ' || \
             coalesce((SELECT xmin::text FROM tenant_operator.users WHERE role = $1), '')",
            &[&role],
        )
        .await?;
    Ok(row.get(0))
}

#[tokio::test]
#[ignore = "needs the local control plane and hack/mongo-components: hack/test runs it"]
async fn shared_mongodb_users_are_fenced_rotated_revoked_and_restored() -> Result<()> {
    let h = Harness::new("mongo").await?;
    let dir = std::env::temp_dir().join(format!("tenant-mongo-{}", h.ns));
    let server = MongoServer::start(dir)?;
    let platform = format!("mongo-{}", h.ns);
    apply_value(
        &h.admin,
        &json!({
            "apiVersion": "v1", "kind": "Secret",
            "metadata": {"name": platform, "namespace": "tenant-system"},
            "stringData": {
                "url": server.get("MONGO_URL"),
                "postgresURL": server.get("POSTGRES_URL"),
            },
        }),
    )
    .await?;
    let op = h
        .start_operator_with(|c| c.mongodb_server = platform.clone())
        .await?;

    // Two tenants, each with a user owning its database.
    let (a, ns_a) = running_tenant(&h, "ma", |_| {}).await?;
    let (b, ns_b) = running_tenant(&h, "mb", |_| {}).await?;
    let a = wait_data(&h, &a.name_any(), "True", "Provisioned").await?;
    wait_data(&h, &b.name_any(), "True", "Provisioned").await?;
    let (uri_a, user_a, pw_a) = mongo_secret(&h, &ns_a).await?;
    let (uri_b, _, pw_b) = mongo_secret(&h, &ns_b).await?;
    let db_a = format!("tenant_{}_development", a.spec.tenant_id.replace('-', "_"));
    let db_b = format!("tenant_{}_development", b.spec.tenant_id.replace('-', "_"));
    ensure!(user_a == ns_a, "the user is the namespace: {user_a}");
    ensure!(
        uri_a.contains(&pw_a) && uri_a.contains(&format!("/{db_a}?")),
        "MONGO_URI carries the identity and the database"
    );
    ensure!(pw_a.len() == 32 && pw_a != pw_b, "random passwords");
    ensure!(
        !serde_json::to_string(&a.status)?.contains(&pw_a),
        "no password in the status"
    );

    // A reads and writes its database; B's is refused to it, for reads and for writes.
    write_and_read(&uri_a, &db_a, "orders")
        .await
        .map_err(anyhow::Error::msg)?;
    write_and_read(&uri_b, &db_b, "orders")
        .await
        .map_err(anyhow::Error::msg)?;
    let ca = client(&uri_a).await.map_err(anyhow::Error::msg)?;
    let theirs = ca.database(&db_b).collection::<Document>("orders");
    match theirs.find_one(doc! {}).await {
        Err(e) if e.to_string().contains("permission denied") => {}
        other => bail!("A reading B's database: {other:?}"),
    }
    match theirs.insert_one(doc! {"from": "a"}).await {
        Err(e) if e.to_string().contains("permission denied") => {}
        other => bail!("A writing B's database: {other:?}"),
    }
    match ca.database(&db_b).drop().await {
        Err(e) if e.to_string().contains("owner") || e.to_string().contains("permission") => {}
        other => bail!("A dropping B's database: {other:?}"),
    }
    let wrong = uri_a.replace(&pw_a, "not-the-password");
    match login(&wrong, &db_a).await {
        Err(e) if refused_login(&e) => {}
        other => bail!("a wrong password: {other:?}"),
    }

    // A restarted operator finds everything in place and writes nothing to the server.
    let pg_url = server.get("POSTGRES_URL");
    let before = role_state(&pg_url, &user_a).await?;
    op.stop().await?;
    let op = h
        .start_operator_with(|c| c.mongodb_server = platform.clone())
        .await?;
    op.wait_ready().await?;
    stays_for("A's role and registry row", Duration::from_secs(6), || {
        let (pg_url, user, before) = (pg_url.clone(), user_a.clone(), before.clone());
        async move {
            let now = role_state(&pg_url, &user)
                .await
                .map_err(|e| e.to_string())?;
            if now == before {
                Ok(())
            } else {
                Err("changed".to_string())
            }
        }
    })
    .await?;

    // A database another tenant holds is refused to a younger tenant.
    let mut c = h.tenant("mc");
    c.spec.data_isolation = Some(DataIsolation {
        mongo_database: Some(db_a.clone()),
        ..DataIsolation::default()
    });
    h.create(&c).await?;
    let c = wait_data(&h, &c.name_any(), "False", "DataConflict").await?;
    let msg = &condition(&c, "DataReady").unwrap().message;
    ensure!(msg.contains(&db_a), "names the database: {msg}");

    // Rotation: a new password; the old one is refused (its pooled sessions are ended).
    rotate(&h, &a.name_any(), "r1").await?;
    let (uri_a2, _, _) = poll_until("a new password for A", TIMEOUT, || {
        let h = &h;
        let ns = ns_a.clone();
        let old = pw_a.clone();
        async move {
            let s = mongo_secret(h, &ns).await.map_err(|e| e.to_string())?;
            if s.2 != old {
                Ok(s)
            } else {
                Err("still the old password".into())
            }
        }
    })
    .await?;
    poll_until("the old password refused", TIMEOUT, || {
        let (uri, db) = (uri_a.clone(), db_a.clone());
        async move {
            match login(&uri, &db).await {
                Err(e) if refused_login(&e) => Ok(()),
                other => Err(format!("{other:?}")),
            }
        }
    })
    .await?;
    poll_until("the new password accepted", TIMEOUT, || {
        let (uri, db) = (uri_a2.clone(), db_a.clone());
        async move { write_and_read(&uri, &db, "orders").await }
    })
    .await?;

    // The server goes away: DataReady False naming it; back: True again.
    server.run("stop-ferretdb")?;
    wait_data(&h, &a.name_any(), "False", "StoreUnavailable").await?;
    let t = h.get(&a.name_any()).await?;
    ensure!(
        condition(&t, "DataReady").is_some_and(|c| c.message.contains("MongoDB")),
        "{}",
        conditions(&t)
    );
    server.run("start")?;
    wait_data(&h, &a.name_any(), "True", "Provisioned").await?;
    poll_until("A works again", TIMEOUT, || {
        let (uri, db) = (uri_a2.clone(), db_a.clone());
        async move { write_and_read(&uri, &db, "orders").await }
    })
    .await?;

    // Deleting A drops its user; its database stays (Retain is the default).
    h.delete_and_wait(&a.name_any()).await?;
    match login(&uri_a2, &db_a).await {
        Err(e) if refused_login(&e) => {}
        other => bail!("A's password after the delete: {other:?}"),
    }
    let admin = client(&server.get("MONGO_URL"))
        .await
        .map_err(anyhow::Error::msg)?;
    let kept = admin
        .database(&db_a)
        .collection::<Document>("orders")
        .count_documents(doc! {})
        .await?;
    ensure!(kept >= 1, "A's data is kept: {kept} documents");

    h.teardown().await?;
    op.stop().await?;
    drop(server);
    Ok(())
}
