//! A TCP proxy between the operator (as a process) and the API server, for the network's
//! faults: it records when it accepted each connection and how many are open, and it can cut the
//! open connections silently, as a node or load balancer that vanishes does. TLS goes through
//! untouched (the server certificate names 127.0.0.1).

use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use anyhow::{Context, Result};
use testenv::OPERATOR_USER;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::JoinHandle;

use super::Harness;

pub struct Proxy {
    pub port: u16,
    accepted: Arc<Mutex<Vec<Instant>>>,
    open: Arc<AtomicUsize>,
    /// Bumped by [`Proxy::cut_silently`]: connections accepted before stop forwarding.
    cut: watch::Sender<u64>,
    /// The connections cut, both ends held open so that neither side hears of it.
    held: Arc<Mutex<Vec<(TcpStream, TcpStream)>>>,
    task: JoinHandle<()>,
}

/// Decrements the open count when a proxied connection ends, however it ends.
struct OpenGuard(Arc<AtomicUsize>);

impl Drop for OpenGuard {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

impl Proxy {
    /// A proxy to the API server at 127.0.0.1:`upstream`. While the API server is down, a
    /// connection is accepted and closed at once, as a refused one.
    pub async fn start(upstream: u16) -> Result<Proxy> {
        let listener = TcpListener::bind(("127.0.0.1", 0)).await?;
        let port = listener.local_addr()?.port();
        let accepted = Arc::new(Mutex::new(Vec::new()));
        let open = Arc::new(AtomicUsize::new(0));
        let (cut, cuts) = watch::channel(0u64);
        let held = Arc::new(Mutex::new(Vec::new()));
        let (acc, op, hold) = (accepted.clone(), open.clone(), held.clone());
        let task = tokio::spawn(async move {
            while let Ok((mut inbound, _)) = listener.accept().await {
                acc.lock().unwrap().push(Instant::now());
                let (op, hold, mut cuts) = (op.clone(), hold.clone(), cuts.clone());
                let born = *cuts.borrow_and_update();
                tokio::spawn(async move {
                    let Ok(mut outbound) = TcpStream::connect(("127.0.0.1", upstream)).await else {
                        return;
                    };
                    op.fetch_add(1, Ordering::SeqCst);
                    let _guard = OpenGuard(op);
                    let cut = tokio::select! {
                        _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound) => false,
                        _ = cuts.wait_for(|n| *n > born) => true,
                    };
                    if cut {
                        hold.lock().unwrap().push((inbound, outbound));
                    }
                });
            }
        });
        Ok(Proxy {
            port,
            accepted,
            open,
            cut,
            held,
            task,
        })
    }

    /// Connections accepted in `[from, to)`.
    pub fn accepted_between(&self, from: Instant, to: Instant) -> Vec<Instant> {
        self.accepted
            .lock()
            .unwrap()
            .iter()
            .copied()
            .filter(|t| *t >= from && *t < to)
            .collect()
    }

    /// The connections open now.
    pub fn open(&self) -> usize {
        self.open.load(Ordering::SeqCst)
    }

    /// Stops forwarding on every connection open now, in both directions, without closing any:
    /// whatever the operator sends on one of them is never answered, and nothing more comes.
    /// New connections go through as before. Returns how many were open.
    pub fn cut_silently(&self) -> usize {
        let open = self.open();
        self.cut.send_modify(|n| *n += 1);
        open
    }

    /// The connections cut so far and held.
    pub fn held(&self) -> usize {
        self.held.lock().unwrap().len()
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// The port of the API server in the operator's kubeconfig, and the kubeconfig's text with where
/// the port is in it.
pub fn operator_kubeconfig(h: &Harness) -> Result<(String, u16, usize, usize)> {
    const SERVER: &str = "server: https://127.0.0.1:";
    let text = std::fs::read_to_string(h.cp.kubeconfig_path(OPERATOR_USER))?;
    let at = text
        .find(SERVER)
        .context("no 127.0.0.1 server in the kubeconfig")?
        + SERVER.len();
    let len = text[at..].chars().take_while(char::is_ascii_digit).count();
    let port = text[at..at + len]
        .parse()
        .context("the kubeconfig's server port")?;
    Ok((text, port, at, len))
}

/// The operator's kubeconfig with the server replaced by the proxy, as a file only its owner
/// reads (it holds the operator's token).
pub fn kubeconfig_via(h: &Harness, proxy_port: u16) -> Result<PathBuf> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let (text, _, at, len) = operator_kubeconfig(h)?;
    let replaced = format!("{}{proxy_port}{}", &text[..at], &text[at + len..]);
    let path =
        h.cp.state_dir()
            .join(format!("{}-operator-via-proxy.kubeconfig", h.ns));
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .write(true)
        .truncate(true)
        .mode(0o600)
        .open(&path)?;
    f.write_all(replaced.as_bytes())?;
    Ok(path)
}
