//! The tenants' accounts on a real shared NATS (nats-server from Debian's package, by
//! `hack/components nats`, in operator mode with the full JWT resolver, started by this test on
//! a loopback port): each tenant's user publishes and subscribes under its own prefix only; the
//! seed lives in the tenant's connection Secret only; no push on an operator restart; rotation;
//! a server that goes away and comes back; revocation on delete (the account stays).

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{Context, Result, bail, ensure};
use futures::StreamExt;
use kube::ResourceExt;
use nkeys::KeyPair;
use serde_json::{Value, json};
use tenant_core::build::data::{NatsCredentials, nats_creds_file};
use tenant_operator::data::nats::jwt;
use testenv::poll_until;

use super::*;

/// The platform's keys: an operator with a signing key, and a system account with one user.
struct Keys {
    operator_jwt: String,
    signing_seed: String,
    system_account: String,
    system_account_jwt: String,
    system_creds: String,
}

fn keys() -> Result<Keys> {
    let operator = KeyPair::new_operator();
    let signing = KeyPair::new_operator();
    let sys = KeyPair::new_account();
    let sys_user = KeyPair::new_user();
    let unlimited = json!({"subs": -1, "data": -1, "payload": -1, "imports": -1,
        "exports": -1, "wildcards": true, "conn": -1, "leaf": -1});
    let operator_jwt = jwt::encode(
        json!({"sub": operator.public_key(), "name": "test-operator", "nats": {
            "signing_keys": [signing.public_key()], "system_account": sys.public_key(),
            "type": "operator", "version": 2}}),
        &operator,
    )
    .map_err(anyhow::Error::msg)?;
    let system_account_jwt = jwt::encode(
        json!({"sub": sys.public_key(), "name": "SYS", "nats": {
            "limits": unlimited, "type": "account", "version": 2}}),
        &operator,
    )
    .map_err(anyhow::Error::msg)?;
    let sys_user_jwt = jwt::encode(
        json!({"sub": sys_user.public_key(), "name": "tenant-operator", "nats": {
            "pub": {}, "sub": {}, "subs": -1, "data": -1, "payload": -1,
            "type": "user", "version": 2}}),
        &sys,
    )
    .map_err(anyhow::Error::msg)?;
    Ok(Keys {
        operator_jwt,
        signing_seed: signing.seed()?,
        system_account: sys.public_key(),
        system_account_jwt,
        system_creds: nats_creds_file(&NatsCredentials {
            url: String::new(),
            user_jwt: sys_user_jwt,
            user_seed: sys_user.seed()?,
        }),
    })
}

/// A nats-server on a loopback port whose resolver keeps its accounts in a directory (so they
/// survive a restart), killed when dropped.
struct NatsServer {
    bin: PathBuf,
    config: PathBuf,
    port: u16,
    log: PathBuf,
    child: Option<Child>,
}

impl NatsServer {
    fn start(dir: &Path, keys: &Keys, work: &Path, log: PathBuf) -> Result<NatsServer> {
        let port = TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
        std::fs::create_dir_all(work.join("jwt"))?;
        let config = work.join("nats.conf");
        std::fs::write(
            &config,
            format!(
                "listen: 127.0.0.1:{port}\n\
                 operator: {operator}\n\
                 system_account: {sys}\n\
                 resolver: {{ type: full, dir: \"{dir}\", allow_delete: false, interval: \"2m\", timeout: \"1.9s\" }}\n\
                 resolver_preload: {{ {sys}: {sys_jwt} }}\n",
                operator = keys.operator_jwt,
                sys = keys.system_account,
                sys_jwt = keys.system_account_jwt,
                dir = work.join("jwt").display(),
            ),
        )?;
        let mut s = NatsServer {
            bin: dir.join("bin/nats-server"),
            config,
            port,
            log,
            child: None,
        };
        s.up()?;
        Ok(s)
    }

    fn up(&mut self) -> Result<()> {
        let mut cmd = Command::new(&self.bin);
        cmd.arg("-c").arg(&self.config);
        self.child = Some(spawn_listening(&mut cmd, &self.log, self.port)?);
        Ok(())
    }

    fn down(&mut self) {
        stop(&mut self.child);
    }

    fn url(&self) -> String {
        format!("nats://127.0.0.1:{}", self.port)
    }
}

impl Drop for NatsServer {
    fn drop(&mut self) {
        self.down();
    }
}

/// A client with `creds`, and the server errors it was sent (permission violations).
async fn connect(
    url: &str,
    creds: &str,
) -> Result<(async_nats::Client, Arc<Mutex<Vec<String>>>), String> {
    let errors = Arc::new(Mutex::new(Vec::new()));
    let seen = errors.clone();
    let client = async_nats::ConnectOptions::with_credentials(creds)
        .map_err(|e| e.to_string())?
        .connection_timeout(Duration::from_secs(3))
        .event_callback(move |event| {
            let seen = seen.clone();
            async move {
                if let async_nats::Event::ServerError(e) = event {
                    seen.lock().unwrap().push(e.to_string());
                }
            }
        })
        .connect(url)
        .await
        .map_err(|e| e.to_string())?;
    Ok((client, errors))
}

fn refused(e: &str) -> bool {
    let e = e.to_lowercase();
    e.contains("authorization") || e.contains("revoked")
}

async fn nats_secret(h: &Harness, ns: &str) -> Result<(String, String, String)> {
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
    Ok((get("NATS_URL")?, get("NATS_CREDS")?, get("NATS_USER_NKEY")?))
}

/// The account JWT the server holds for the account named in `condition` (as the system user).
async fn account_jwt(sys: &async_nats::Client, account: &str) -> Result<String> {
    let m = sys
        .request(
            format!("$SYS.REQ.ACCOUNT.{account}.CLAIMS.LOOKUP"),
            "".into(),
        )
        .await?;
    Ok(String::from_utf8_lossy(&m.payload).into_owned())
}

/// The account id (`A...`) in a DataReady message of the NATS store.
fn account_of(t: &Tenant) -> Result<String> {
    let msg = condition(t, "DataReady")
        .map(|c| c.message.clone())
        .unwrap_or_default();
    msg.split(['(', ')'])
        .find(|w| w.len() == 56 && w.starts_with('A'))
        .map(str::to_string)
        .with_context(|| format!("no account in {msg:?}"))
}

/// Waits until `errors` holds a permissions violation mentioning `subject`.
async fn violation(errors: &Arc<Mutex<Vec<String>>>, subject: &str) -> Result<()> {
    poll_until(
        &format!("a permissions violation on {subject}"),
        Duration::from_secs(10),
        || {
            let errors = errors.lock().unwrap().clone();
            let subject = subject.to_string();
            async move {
                if errors.iter().any(|e| {
                    e.to_lowercase().contains("permissions violation") && e.contains(&subject)
                }) {
                    Ok(())
                } else {
                    Err(format!("{errors:?}"))
                }
            }
        },
    )
    .await?;
    Ok(())
}

#[tokio::test]
#[ignore = "needs the local control plane and hack/components: hack/test runs it"]
async fn shared_nats_accounts_are_fenced_rotated_revoked_and_restored() -> Result<()> {
    let h = Harness::new("nats").await?;
    let dir = testenv::component("nats")?;
    let keys = keys()?;
    let work = std::env::temp_dir().join(format!("tenant-nats-{}", h.ns));
    let _ = std::fs::remove_dir_all(&work);
    let mut server =
        NatsServer::start(&dir, &keys, &work, h.cp.log_path(&format!("nats-{}", h.ns)))?;
    let platform = format!("nats-{}", h.ns);
    apply_value(
        &h.admin,
        &json!({
            "apiVersion": "v1", "kind": "Secret",
            "metadata": {"name": platform, "namespace": "tenant-system"},
            "stringData": {
                "url": server.url(),
                "systemUserCreds": keys.system_creds,
                "operatorSigningKey": keys.signing_seed,
            },
        }),
    )
    .await?;
    let op = h
        .start_operator_with(|c| c.nats_server = platform.clone())
        .await?;

    // Two tenants, each with an account of its own.
    let (a, ns_a) = running_tenant(&h, "na", |_| {}).await?;
    let (b, ns_b) = running_tenant(&h, "nb", |_| {}).await?;
    let a = wait_data(&h, &a.name_any(), "True", "Provisioned").await?;
    let b = wait_data(&h, &b.name_any(), "True", "Provisioned").await?;
    let (account_a, account_b) = (account_of(&a)?, account_of(&b)?);
    ensure!(account_a != account_b, "an account per tenant");
    let (url_a, creds_a, seed_a) = nats_secret(&h, &ns_a).await?;
    let (url_b, creds_b, _) = nats_secret(&h, &ns_b).await?;
    ensure!(url_a == server.url(), "NATS_URL is the server: {url_a}");
    for t in [&a, &b] {
        let status = serde_json::to_string(&t.status)?;
        ensure!(!status.contains(&seed_a), "no seed in the status");
    }
    let prefix_a = format!("tenant.{}.development", a.spec.tenant_id);
    let prefix_b = format!("tenant.{}.development", b.spec.tenant_id);

    // A publishes and subscribes under its prefix, and answers requests (reply inboxes).
    let (ca, errors_a) = connect(&url_a, &creds_a)
        .await
        .map_err(anyhow::Error::msg)?;
    let mut orders = ca.subscribe(format!("{prefix_a}.orders")).await?;
    ca.publish(format!("{prefix_a}.orders"), "o1".into())
        .await?;
    let got = tokio::time::timeout(Duration::from_secs(5), orders.next())
        .await
        .context("A's own message")?
        .context("A's subscription ended")?;
    ensure!(got.payload.as_ref() == b"o1", "A receives its own message");
    let mut service = ca.subscribe(format!("{prefix_a}.rpc")).await?;
    let responder = ca.clone();
    tokio::spawn(async move {
        if let Some(m) = service.next().await
            && let Some(reply) = m.reply
        {
            let _ = responder.publish(reply, "pong".into()).await;
        }
    });
    ca.flush().await?;
    let answer = ca.request(format!("{prefix_a}.rpc"), "ping".into()).await?;
    ensure!(answer.payload.as_ref() == b"pong", "request and reply");

    // B's subjects are refused to A (a permissions violation), and B sees nothing of A.
    let (cb, _errors_b) = connect(&url_b, &creds_b)
        .await
        .map_err(anyhow::Error::msg)?;
    let mut b_orders = cb.subscribe(format!("{prefix_b}.orders")).await?;
    cb.flush().await?;
    let _spy = ca.subscribe(format!("{prefix_b}.orders")).await?;
    ca.publish(format!("{prefix_b}.orders"), "from-a".into())
        .await?;
    ca.flush().await?;
    violation(&errors_a, &format!("{prefix_b}.orders")).await?;
    let _wide = ca.subscribe(">".to_string()).await?;
    ca.flush().await?;
    violation(&errors_a, "\">\"").await?;
    ensure!(
        tokio::time::timeout(Duration::from_secs(1), b_orders.next())
            .await
            .is_err(),
        "B received a message A published on B's subject"
    );
    ensure!(
        errors_a
            .lock()
            .unwrap()
            .iter()
            .filter(|e| e.to_lowercase().contains("permissions violation"))
            .count()
            >= 3,
        "publish, subscribe and the wildcard refused: {:?}",
        errors_a.lock().unwrap()
    );
    drop((ca, cb));

    // A restarted operator finds the accounts in place and pushes nothing.
    let (sys, _) = connect(&server.url(), &keys.system_creds)
        .await
        .map_err(anyhow::Error::msg)?;
    let before = account_jwt(&sys, &account_a).await?;
    ensure!(!before.is_empty(), "the server holds A's account");
    op.stop().await?;
    let op = h
        .start_operator_with(|c| c.nats_server = platform.clone())
        .await?;
    op.wait_ready().await?;
    stays_for("A's account JWT", Duration::from_secs(6), || {
        let (sys, account, before) = (sys.clone(), account_a.clone(), before.clone());
        async move {
            let now = account_jwt(&sys, &account)
                .await
                .map_err(|e| e.to_string())?;
            if now == before {
                Ok(())
            } else {
                Err("pushed again".to_string())
            }
        }
    })
    .await?;

    // Rotation: a new user; the old one is refused.
    rotate(&h, &a.name_any(), "r1").await?;
    let (_, creds_a2, _) = poll_until("a new user for A", TIMEOUT, || {
        let h = &h;
        let ns = ns_a.clone();
        let old = seed_a.clone();
        async move {
            let s = nats_secret(h, &ns).await.map_err(|e| e.to_string())?;
            if s.2 != old {
                Ok(s)
            } else {
                Err("still the old seed".into())
            }
        }
    })
    .await?;
    poll_until("the old user refused", TIMEOUT, || {
        let (url, creds) = (url_a.clone(), creds_a.clone());
        async move {
            match connect(&url, &creds).await {
                Err(e) if refused(&e) => Ok(()),
                Err(e) => Err(e),
                Ok(_) => Err("connected".into()),
            }
        }
    })
    .await?;
    connect(&url_a, &creds_a2)
        .await
        .map_err(anyhow::Error::msg)?;

    // The server goes away: DataReady False naming NATS; back: True again.
    drop(sys);
    server.down();
    wait_data(&h, &a.name_any(), "False", "StoreUnavailable").await?;
    let t = h.get(&a.name_any()).await?;
    ensure!(
        condition(&t, "DataReady").is_some_and(|c| c.message.contains("NATS")),
        "{}",
        conditions(&t)
    );
    server.up()?;
    wait_data(&h, &a.name_any(), "True", "Provisioned").await?;
    h.wait_phase(&a.name_any(), Phase::Running).await?;
    poll_until("A's new user works again", TIMEOUT, || {
        let (url, creds) = (url_a.clone(), creds_a2.clone());
        async move { connect(&url, &creds).await.map(|_| ()) }
    })
    .await?;

    // Deleting A revokes its users; the account stays on the server, closed.
    h.delete_and_wait(&a.name_any()).await?;
    match connect(&url_a, &creds_a2).await {
        Err(e) if refused(&e) => {}
        Err(e) => bail!("A's user after the delete: {e}"),
        Ok(_) => bail!("A's user still connects after the delete"),
    }
    let (sys, _) = connect(&server.url(), &keys.system_creds)
        .await
        .map_err(anyhow::Error::msg)?;
    let kept = account_jwt(&sys, &account_a).await?;
    let claims: Value = jwt::verified_claims(&kept).context("A's account is kept")?;
    ensure!(
        claims.pointer("/nats/limits/conn") == Some(&json!(0)),
        "A's account allows no connections: {claims}"
    );

    h.teardown().await?;
    op.stop().await?;
    let _ = std::fs::remove_dir_all(&work);
    Ok(())
}
