//! The tenants' identities on real shared servers. NATS: see `data/nats.rs`. Redis: on a real shared Redis (redis-server from Debian's packages, by
//! `hack/components redis`, started by this test on a loopback port): each tenant's ACL user
//! reaches its own prefix only; the password lives in the tenant's connection Secret only;
//! rotation, revocation on delete (the data stays), a prefix another tenant holds, and a server
//! that goes away and comes back without its users.
#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)]

mod common;
#[path = "data/dedicated.rs"]
mod dedicated;
#[path = "data/mongo.rs"]
mod mongo_server;
#[path = "data/nats.rs"]
mod nats_server;

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use anyhow::{Context, Result, bail, ensure};
use common::*;
use k8s_openapi::api::core::v1::Secret;
use kube::ResourceExt;
use kube::api::{Api, Patch, PatchParams};
use serde_json::json;
use tenant_api::{DataIsolation, Phase, Tenant};
use testenv::poll_until;

const ADMIN_PASSWORD: &str = "admin-test-password";

/// Starts `cmd` (a server) with its output appended to `log`, and waits until it listens on
/// the loopback `port`.
fn spawn_listening(cmd: &mut Command, log: &Path, port: u16) -> Result<Child> {
    let what = cmd.get_program().to_string_lossy().into_owned();
    let file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(log)?;
    let mut child = cmd
        .stdout(Stdio::from(file.try_clone()?))
        .stderr(Stdio::from(file))
        .spawn()
        .with_context(|| format!("starting {what}"))?;
    let addr = format!("127.0.0.1:{port}");
    for _ in 0..100 {
        if std::net::TcpStream::connect(&addr).is_ok() {
            return Ok(child);
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let _ = child.kill();
    let _ = child.wait();
    bail!("{what} did not listen on {addr}")
}

/// Asks for new credentials: `dataStores.credentialsRotation: token`.
async fn rotate(h: &Harness, tenant: &str, token: &str) -> Result<()> {
    h.tenants()
        .patch(
            tenant,
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"dataStores": {"credentialsRotation": token}}})),
        )
        .await?;
    Ok(())
}

/// Stops a server started by [`spawn_listening`].
fn stop(child: &mut Option<Child>) {
    if let Some(mut c) = child.take() {
        let _ = c.kill();
        let _ = c.wait();
    }
}

/// A redis-server on a loopback port, without persistence, killed when dropped.
struct RedisServer {
    bin: PathBuf,
    port: u16,
    log: PathBuf,
    child: Option<Child>,
}

impl RedisServer {
    fn start(dir: &Path, log: PathBuf) -> Result<RedisServer> {
        let port = TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
        let mut s = RedisServer {
            bin: dir.join("bin/redis-server"),
            port,
            log,
            child: None,
        };
        s.up()?;
        Ok(s)
    }

    fn up(&mut self) -> Result<()> {
        let mut cmd = Command::new(&self.bin);
        cmd.args(["--bind", "127.0.0.1", "--port", &self.port.to_string()])
            .args(["--save", "", "--appendonly", "no"])
            .args(["--user", "default", "off"])
            .args([
                "--user",
                "admin",
                "on",
                &format!(">{ADMIN_PASSWORD}"),
                "~*",
                "&*",
                "+@all",
            ]);
        self.child = Some(spawn_listening(&mut cmd, &self.log, self.port)?);
        Ok(())
    }

    fn down(&mut self) {
        stop(&mut self.child);
    }

    fn admin_url(&self) -> String {
        format!("redis://admin:{ADMIN_PASSWORD}@127.0.0.1:{}", self.port)
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.down();
    }
}

async fn connect(url: &str) -> Result<redis::aio::MultiplexedConnection, String> {
    let client = redis::Client::open(url).map_err(|e| e.to_string())?;
    client
        .get_multiplexed_async_connection()
        .await
        .map_err(|e| e.to_string())
}

async fn query(
    c: &mut redis::aio::MultiplexedConnection,
    args: &[&str],
) -> Result<redis::Value, String> {
    let mut cmd = redis::cmd(args[0]);
    for a in &args[1..] {
        cmd.arg(*a);
    }
    cmd.query_async(c).await.map_err(|e| e.to_string())
}

/// A login the server refused (a revoked user or an old password).
fn refused_login(e: &str) -> bool {
    let e = e.to_lowercase();
    e.contains("wrongpass")
        || e.contains("invalid username-password")
        || e.contains("authentication failed")
}

/// The `calls` of `ACL SETUSER` the server counted (INFO commandstats).
async fn setuser_calls(admin: &mut redis::aio::MultiplexedConnection) -> Result<u64> {
    let info: String = redis::cmd("INFO")
        .arg("commandstats")
        .query_async(admin)
        .await?;
    Ok(info
        .lines()
        .find_map(|l| l.strip_prefix("cmdstat_acl|setuser:calls="))
        .and_then(|rest| rest.split(',').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or(0))
}

async fn connection_secret(h: &Harness, ns: &str) -> Result<(String, String, String)> {
    let s: Secret = Api::namespaced(h.admin.clone(), ns)
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
        get("REDIS_URL")?,
        get("REDIS_USERNAME")?,
        get("REDIS_PASSWORD")?,
    ))
}

async fn wait_data(h: &Harness, name: &str, status: &str, reason: &str) -> Result<Tenant> {
    let api = h.tenants();
    Ok(poll_until(
        &format!("Tenant {name} DataReady={status} {reason}"),
        TIMEOUT,
        || {
            let api = api.clone();
            let name = name.to_string();
            async move {
                let t = api.get(&name).await.map_err(|e| e.to_string())?;
                match condition(&t, "DataReady") {
                    Some(c) if c.status == status && c.reason == reason => Ok(t),
                    _ => Err(conditions(&t)),
                }
            }
        },
    )
    .await?)
}

#[tokio::test]
#[ignore = "needs the local control plane and hack/components: hack/test runs it"]
async fn shared_redis_users_are_fenced_rotated_revoked_and_restored() -> Result<()> {
    let h = Harness::new("data").await?;
    let dir = testenv::component("redis")?;
    let mut server = RedisServer::start(&dir, h.cp.log_path(&format!("redis-{}", h.ns)))?;
    let platform = format!("redis-{}", h.ns);
    apply_value(
        &h.admin,
        &json!({
            "apiVersion": "v1", "kind": "Secret",
            "metadata": {"name": platform, "namespace": "tenant-system"},
            "stringData": {"url": server.admin_url()},
        }),
    )
    .await?;
    let op = h
        .start_operator_with(|c| c.redis_server = platform.clone())
        .await?;

    // Two tenants, each with its own user.
    let (a, ns_a) = running_tenant(&h, "da", |_| {}).await?;
    let (b, ns_b) = running_tenant(&h, "db", |_| {}).await?;
    let a = wait_data(&h, &a.name_any(), "True", "Provisioned").await?;
    wait_data(&h, &b.name_any(), "True", "Provisioned").await?;
    let (url_a, user_a, pw_a) = connection_secret(&h, &ns_a).await?;
    let (url_b, _, pw_b) = connection_secret(&h, &ns_b).await?;
    ensure!(user_a == ns_a, "the user is the namespace: {user_a}");
    ensure!(
        url_a.contains(&format!("127.0.0.1:{}", server.port)) && url_a.contains(&pw_a),
        "REDIS_URL carries the identity"
    );
    ensure!(
        pw_a.len() == 32 && pw_a != pw_b,
        "random passwords, one per tenant"
    );
    let status = serde_json::to_string(&a.status)?;
    ensure!(!status.contains(&pw_a), "no password in the status");
    let prefix_a = format!("tenant:{}:development:", a.spec.tenant_id);
    let prefix_b = format!("tenant:{}:development:", b.spec.tenant_id);

    // A works under its prefix and nowhere else.
    let mut ca = connect(&url_a).await.map_err(anyhow::Error::msg)?;
    let key_a = format!("{prefix_a}cart");
    query(&mut ca, &["SET", &key_a, "1"])
        .await
        .map_err(anyhow::Error::msg)?;
    let mut cb = connect(&url_b).await.map_err(anyhow::Error::msg)?;
    query(&mut cb, &["SET", &format!("{prefix_b}cart"), "2"])
        .await
        .map_err(anyhow::Error::msg)?;
    for (what, args) in [
        ("B's key", vec!["GET", &*format!("{prefix_b}cart")]),
        ("FLUSHALL", vec!["FLUSHALL"]),
        ("FLUSHDB", vec!["FLUSHDB"]),
        ("CONFIG", vec!["CONFIG", "GET", "maxmemory"]),
        ("KEYS", vec!["KEYS", "*"]),
        ("SCAN", vec!["SCAN", "0"]),
        (
            "B's channel",
            vec!["PUBLISH", &*format!("{prefix_b}events"), "x"],
        ),
    ] {
        match query(&mut ca, &args).await {
            Err(e) if e.to_lowercase().contains("noperm") => {}
            other => bail!("A's {what}: expected NOPERM, got {other:?}"),
        }
    }
    query(&mut ca, &["PUBLISH", &format!("{prefix_a}events"), "x"])
        .await
        .map_err(anyhow::Error::msg)?;

    // A restarted operator finds everything in place and writes nothing to the server.
    let mut admin = connect(&server.admin_url())
        .await
        .map_err(anyhow::Error::msg)?;
    let before = setuser_calls(&mut admin).await?;
    op.stop().await?;
    let op = h
        .start_operator_with(|c| c.redis_server = platform.clone())
        .await?;
    op.wait_ready().await?;
    stays_for("ACL SETUSER calls", Duration::from_secs(6), || {
        let url = server.admin_url();
        async move {
            let mut admin = connect(&url).await?;
            let n = setuser_calls(&mut admin).await.map_err(|e| e.to_string())?;
            if n == before {
                Ok(())
            } else {
                Err(format!("{before} -> {n}"))
            }
        }
    })
    .await?;

    // A prefix inside A's is refused to a younger tenant.
    let c_prefix = format!("{prefix_a}c:");
    let mut c = h.tenant("dc");
    c.spec.data_isolation = Some(DataIsolation {
        redis_key_prefix: Some(c_prefix.clone()),
        ..DataIsolation::default()
    });
    h.create(&c).await?;
    let c = wait_data(&h, &c.name_any(), "False", "DataConflict").await?;
    let msg = &condition(&c, "DataReady").unwrap().message;
    ensure!(msg.contains(&a.name_any()), "names the holder: {msg}");
    ensure!(
        condition(&c, "Ready").is_some_and(|r| r.status == "False"),
        "not Ready: {}",
        conditions(&c)
    );

    // Rotation: a new password; the old one stops working.
    rotate(&h, &a.name_any(), "r1").await?;
    let (url_a2, _, pw_a2) = poll_until("a new password for A", TIMEOUT, || {
        let h = &h;
        let ns = ns_a.clone();
        let old = pw_a.clone();
        async move {
            let s = connection_secret(h, &ns).await.map_err(|e| e.to_string())?;
            if s.2 != old {
                Ok(s)
            } else {
                Err("still the old password".into())
            }
        }
    })
    .await?;
    poll_until("the old password refused", TIMEOUT, || {
        let url = url_a.clone();
        async move {
            match connect(&url).await {
                Err(e) if refused_login(&e) => Ok(()),
                other => Err(format!("{:?}", other.map(|_| "connected"))),
            }
        }
    })
    .await?;
    let t = h.get(&a.name_any()).await?;
    ensure!(
        !serde_json::to_string(&t.status)?.contains(&pw_a2),
        "no password in the status"
    );
    let mut ca = poll_until("the new password accepted", TIMEOUT, || {
        let url = url_a2.clone();
        async move { connect(&url).await }
    })
    .await?;
    ensure!(
        query(&mut ca, &["GET", &key_a])
            .await
            .map_err(anyhow::Error::msg)?
            == redis::Value::BulkString(b"1".to_vec()),
        "A's data survives the rotation"
    );

    // The server goes away: DataReady False naming it; back (without its users): True again,
    // and A's password works again.
    server.down();
    wait_data(&h, &a.name_any(), "False", "StoreUnavailable").await?;
    let t = h.get(&a.name_any()).await?;
    ensure!(
        condition(&t, "DataReady").is_some_and(|c| c.message.contains("Redis")),
        "{}",
        conditions(&t)
    );
    server.up()?;
    wait_data(&h, &a.name_any(), "True", "Provisioned").await?;
    h.wait_phase(&a.name_any(), Phase::Running).await?;
    poll_until("A's user restored", TIMEOUT, || {
        let url = url_a2.clone();
        async move { connect(&url).await.map(|_| ()) }
    })
    .await?;
    let mut ca = connect(&url_a2).await.map_err(anyhow::Error::msg)?;
    query(&mut ca, &["SET", &key_a, "1"])
        .await
        .map_err(anyhow::Error::msg)?;

    // Deleting A revokes its user and keeps its data (Retain is the default).
    h.delete_and_wait(&a.name_any()).await?;
    match connect(&url_a2).await {
        Err(e) if refused_login(&e) => {}
        other => bail!(
            "A's password after the delete: {:?}",
            other.map(|_| "connected")
        ),
    }
    let mut admin = connect(&server.admin_url())
        .await
        .map_err(anyhow::Error::msg)?;
    ensure!(
        query(&mut admin, &["GET", &key_a])
            .await
            .map_err(anyhow::Error::msg)?
            == redis::Value::BulkString(b"1".to_vec()),
        "A's data is kept"
    );

    h.teardown().await?;
    op.stop().await?;
    Ok(())
}
