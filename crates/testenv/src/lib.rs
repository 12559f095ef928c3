//! Test harness for integration tests against the local control plane (`hack/controlplane`).
//!
//! One control plane is shared by all tests of a test binary:
//! - if `TENANT_CP_DIR` names the state dir of a running plane (`hack/controlplane up`), it is reused;
//! - otherwise one is started in a fresh state dir with `hack/controlplane up --watch-pid <this process>`, so
//!   a watchdog stops it once the test process has exited (Rust never drops statics).
//!
//! When the binaries are not built, every test using the harness fails with the message to run
//! `hack/controlplane build`: nothing is skipped silently.
//!
//! Each test makes its own clients ([`ControlPlane::admin_client`], [`ControlPlane::client_as`]) because
//! every `#[tokio::test]` has its own runtime and a client must not outlive the runtime it was made in.

use std::future::Future;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use kube::Client;
use kube::config::{KubeConfigOptions, Kubeconfig};

/// Users in the plane's token file, besides `admin` (group `system:masters`).
pub const TEST_USERS: [&str; 4] = ["alice", "bob", "carol", "eve"];
/// The operator's service-account identity as a token user (kubeconfig `tenant-operator.kubeconfig`).
pub const OPERATOR_USER: &str = "system:serviceaccount:tenant-system:tenant-operator";

/// Why the harness could not provide a control plane or a client.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("control plane unavailable: {0}")]
    ControlPlane(String),
    #[error("reading kubeconfig {path}: {source}")]
    Kubeconfig {
        path: PathBuf,
        #[source]
        source: kube::config::KubeconfigError,
    },
    #[error("building client config from {path}: {source}")]
    ClientConfig {
        path: PathBuf,
        #[source]
        source: kube::config::KubeconfigError,
    },
    #[error("creating client: {0}")]
    Client(#[source] kube::Error),
    #[error("reading {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("timed out after {timeout:?} waiting for {what}; last observed: {last}")]
    Timeout {
        what: String,
        timeout: Duration,
        last: String,
    },
}

/// A running local control plane and the files it writes.
#[derive(Debug)]
pub struct ControlPlane {
    state_dir: PathBuf,
    bin_dir: PathBuf,
    started_here: bool,
}

static SHARED: OnceLock<Result<ControlPlane, String>> = OnceLock::new();

/// The repository's `hack/controlplane` script.
pub fn controlplane_script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../hack/controlplane")
}

fn run_script(args: &[&str]) -> Result<std::process::Output, String> {
    let script = controlplane_script();
    Command::new(&script)
        .args(args)
        .output()
        .map_err(|e| format!("cannot run {}: {e}", script.display()))
}

/// The state dirs test processes left behind: once a test process is gone, its watchdog stops
/// its plane and purges etcd's data, but keeps the logs and the audit log (tens of MB) for a
/// look after a failure. Those of processes gone for over a day are removed here.
fn prune_stale_state_dirs() {
    const KEEP: Duration = Duration::from_secs(24 * 3600);
    let Ok(entries) = std::fs::read_dir(std::env::temp_dir()) else {
        return;
    };
    for e in entries.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        let Some(pid) = name
            .strip_prefix("tenant-cp-test-")
            .and_then(|rest| rest.split('-').next())
            .and_then(|p| p.parse::<u32>().ok())
        else {
            continue;
        };
        let alive = Path::new(&format!("/proc/{pid}")).exists();
        let old = e
            .metadata()
            .and_then(|m| m.modified())
            .ok()
            .and_then(|t| t.elapsed().ok())
            .is_some_and(|age| age > KEEP);
        if !alive && old {
            let _ = std::fs::remove_dir_all(e.path());
        }
    }
}

/// A real third-party component from `hack/components` (fetched from its Go module and cached
/// by version on first use), e.g. `prometheus-crds`: the directory the script prints.
pub fn component(name: &str) -> Result<PathBuf, Error> {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../hack/components");
    let out = Command::new(&script)
        .arg(name)
        .output()
        .map_err(|e| Error::ControlPlane(format!("cannot run {}: {e}", script.display())))?;
    if !out.status.success() {
        return Err(Error::ControlPlane(format!(
            "hack/components {name} failed:\n{}",
            tail(&out.stderr, 10)
        )));
    }
    let dir = String::from_utf8_lossy(&out.stdout).trim().to_string();
    Ok(PathBuf::from(dir))
}

fn tail(bytes: &[u8], lines: usize) -> String {
    let text = String::from_utf8_lossy(bytes);
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

impl ControlPlane {
    /// The control plane shared by this test binary, started on first use (blocking; see
    /// [`ControlPlane::get`] for async code).
    pub fn shared_blocking() -> Result<&'static ControlPlane, Error> {
        SHARED
            .get_or_init(Self::discover)
            .as_ref()
            .map_err(|e| Error::ControlPlane(e.clone()))
    }

    /// The control plane shared by this test binary, started on first use.
    pub async fn get() -> Result<&'static ControlPlane, Error> {
        if let Some(shared) = SHARED.get() {
            return shared.as_ref().map_err(|e| Error::ControlPlane(e.clone()));
        }
        tokio::task::spawn_blocking(Self::shared_blocking)
            .await
            .map_err(|e| Error::ControlPlane(format!("start-up task failed: {e}")))?
    }

    fn discover() -> Result<ControlPlane, String> {
        let bin_dir = {
            let out = run_script(&["bin-dir"])?;
            PathBuf::from(String::from_utf8_lossy(&out.stdout).trim())
        };
        if let Ok(dir) = std::env::var("TENANT_CP_DIR") {
            let out = run_script(&["status", "--state-dir", &dir])?;
            if out.status.success() {
                return Ok(ControlPlane {
                    state_dir: PathBuf::from(dir),
                    bin_dir,
                    started_here: false,
                });
            }
            eprintln!(
                "testenv: TENANT_CP_DIR={dir} is not a running control plane ({}); starting a fresh one",
                tail(&out.stdout, 1)
            );
        }
        Self::start(&[], bin_dir)
    }

    /// Starts a plane in a fresh state dir with `hack/controlplane up --watch-pid <this process>`
    /// and the extra `up` arguments.
    fn start(extra: &[&str], bin_dir: PathBuf) -> Result<ControlPlane, String> {
        prune_stale_state_dirs();
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or(0);
        let state_dir =
            std::env::temp_dir().join(format!("tenant-cp-test-{}-{nanos:x}", std::process::id()));
        let state = state_dir.to_string_lossy().into_owned();
        let pid = std::process::id().to_string();
        eprintln!(
            "testenv: starting a control plane in {state} (stopped when this test process exits)"
        );
        let mut args = vec!["up", "--state-dir", &state, "--watch-pid", &pid];
        args.extend_from_slice(extra);
        let out = run_script(&args)?;
        if !out.status.success() {
            return Err(format!(
                "`hack/controlplane {}` failed ({}):\n{}",
                args.join(" "),
                out.status,
                tail(&out.stderr, 60)
            ));
        }
        Ok(ControlPlane {
            state_dir,
            bin_dir,
            started_here: true,
        })
    }

    /// A control plane of the caller's own, apart from the shared one, whose API server runs
    /// with `policy` as its audit policy (`hack/controlplane up --audit-policy`). It has its own
    /// state dir and ports; [`OwnPlane::stop`] (or dropping it) stops it, and the watchdog stops
    /// it when the test process exits should neither run.
    pub async fn start_with_audit_policy(policy: &Path) -> Result<OwnPlane, Error> {
        let policy = policy.to_string_lossy().into_owned();
        tokio::task::spawn_blocking(move || {
            let out = run_script(&["bin-dir"])?;
            let bin_dir = PathBuf::from(String::from_utf8_lossy(&out.stdout).trim());
            Self::start(&["--audit-policy", &policy], bin_dir)
        })
        .await
        .map_err(|e| Error::ControlPlane(format!("start-up task failed: {e}")))?
        .map(|plane| OwnPlane {
            plane,
            stopped: false,
        })
        .map_err(Error::ControlPlane)
    }

    /// Stops only the plane's kube-apiserver (`hack/controlplane apiserver-stop`): etcd, the
    /// controllers and kwok keep running, and every client's requests fail until
    /// [`ControlPlane::start_apiserver`]. Every user of the plane sees the outage, so a test that
    /// calls it needs a plane of its own (its own test binary, without `TENANT_CP_DIR`).
    pub async fn stop_apiserver(&self) -> Result<(), Error> {
        self.apiserver("apiserver-stop").await
    }

    /// Starts the kube-apiserver stopped by [`ControlPlane::stop_apiserver`] again, with the same
    /// flags, port, certificates and audit log (`hack/controlplane apiserver-start`), and returns
    /// once its `/readyz` answers `ok`.
    pub async fn start_apiserver(&self) -> Result<(), Error> {
        self.apiserver("apiserver-start").await
    }

    async fn apiserver(&self, command: &'static str) -> Result<(), Error> {
        let state = self.state_dir.to_string_lossy().into_owned();
        tokio::task::spawn_blocking(move || {
            let out = run_script(&[command, "--state-dir", &state])?;
            if out.status.success() {
                Ok(())
            } else {
                Err(format!(
                    "`hack/controlplane {command} --state-dir {state}` failed ({}):\n{}",
                    out.status,
                    tail(&out.stderr, 40)
                ))
            }
        })
        .await
        .map_err(|e| Error::ControlPlane(format!("{command} task failed: {e}")))?
        .map_err(Error::ControlPlane)
    }

    /// The state dir (`TENANT_CP_DIR`): kubeconfigs, pki, logs, audit log.
    pub fn state_dir(&self) -> &Path {
        &self.state_dir
    }

    /// Whether this process started the plane (it is then stopped when the process exits).
    pub fn started_here(&self) -> bool {
        self.started_here
    }

    /// The dir with etcd, kube-apiserver, kube-controller-manager, kube-scheduler, kubectl and kwok.
    pub fn bin_dir(&self) -> &Path {
        &self.bin_dir
    }

    /// The apiserver's audit log (JSON lines, one event per request).
    pub fn audit_log_path(&self) -> PathBuf {
        self.state_dir.join("audit.log")
    }

    /// The log file of a component (`etcd`, `kube-apiserver`, `kube-controller-manager`, ...).
    pub fn log_path(&self, component: &str) -> PathBuf {
        self.state_dir.join("logs").join(format!("{component}.log"))
    }

    /// The kubeconfig of `user`: `admin`, a name of [`TEST_USERS`] or [`OPERATOR_USER`].
    pub fn kubeconfig_path(&self, user: &str) -> PathBuf {
        let file = if user == OPERATOR_USER {
            "tenant-operator"
        } else {
            user
        };
        self.state_dir
            .join("kubeconfigs")
            .join(format!("{file}.kubeconfig"))
    }

    /// A `kubectl` command (the version built with the plane) using the admin kubeconfig.
    pub fn kubectl(&self) -> Command {
        let mut cmd = Command::new(self.bin_dir.join("kubectl"));
        cmd.arg("--kubeconfig").arg(self.kubeconfig_path("admin"));
        cmd
    }

    /// A client acting as the cluster admin (`system:masters`).
    pub async fn admin_client(&self) -> Result<Client, Error> {
        self.client_as("admin").await
    }

    /// A client authenticated with the bearer token of `user` (see [`ControlPlane::kubeconfig_path`]).
    pub async fn client_as(&self, user: &str) -> Result<Client, Error> {
        let path = self.kubeconfig_path(user);
        let kubeconfig = Kubeconfig::read_from(&path).map_err(|source| Error::Kubeconfig {
            path: path.clone(),
            source,
        })?;
        let config =
            kube::Config::from_custom_kubeconfig(kubeconfig, &KubeConfigOptions::default())
                .await
                .map_err(|source| Error::ClientConfig { path, source })?;
        Client::try_from(config).map_err(Error::Client)
    }

    /// All audit events written so far, parsed (lines that are not JSON are left out).
    pub fn audit_events(&self) -> Result<Vec<serde_json::Value>, Error> {
        let path = self.audit_log_path();
        let text = std::fs::read_to_string(&path).map_err(|source| Error::Io { path, source })?;
        Ok(text
            .lines()
            .filter_map(|line| serde_json::from_str(line).ok())
            .collect())
    }
}

/// A control plane started for one test ([`ControlPlane::start_with_audit_policy`]); derefs to
/// [`ControlPlane`] for its clients and files.
#[derive(Debug)]
pub struct OwnPlane {
    plane: ControlPlane,
    stopped: bool,
}

impl std::ops::Deref for OwnPlane {
    type Target = ControlPlane;
    fn deref(&self) -> &ControlPlane {
        &self.plane
    }
}

impl OwnPlane {
    /// Stops the plane (`hack/controlplane down --purge-data`; logs and the audit log stay).
    pub async fn stop(mut self) -> Result<(), Error> {
        self.stopped = true;
        let state = self.plane.state_dir.to_string_lossy().into_owned();
        tokio::task::spawn_blocking(move || stop_plane(&state))
            .await
            .map_err(|e| Error::ControlPlane(format!("stop task failed: {e}")))?
            .map_err(Error::ControlPlane)
    }
}

impl Drop for OwnPlane {
    /// A test that failed before [`OwnPlane::stop`] still stops its plane.
    fn drop(&mut self) {
        if !self.stopped
            && let Err(e) = stop_plane(&self.plane.state_dir.to_string_lossy())
        {
            eprintln!("testenv: {e}");
        }
    }
}

fn stop_plane(state: &str) -> Result<(), String> {
    let out = run_script(&["down", "--state-dir", state, "--purge-data"])?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "`hack/controlplane down --state-dir {state}` failed ({}):\n{}",
            out.status,
            tail(&out.stderr, 20)
        ))
    }
}

/// A DNS-1123 label unique within this test run: `<prefix>-<pid+time>-<counter>`, at most 63 chars.
pub fn unique_name(prefix: &str) -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    static RUN: OnceLock<String> = OnceLock::new();
    let run = RUN.get_or_init(|| {
        let secs = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0);
        base36((u64::from(std::process::id()) << 20) ^ secs)
    });
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let prefix: String = prefix
        .to_ascii_lowercase()
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .take(40)
        .collect();
    format!("{}-{run}-{n}", prefix.trim_matches('-'))
}

fn base36(mut v: u64) -> String {
    const DIGITS: &[u8; 36] = b"0123456789abcdefghijklmnopqrstuvwxyz";
    let mut out = Vec::new();
    loop {
        out.push(DIGITS[(v % 36) as usize]);
        v /= 36;
        if v == 0 {
            break;
        }
    }
    out.reverse();
    String::from_utf8_lossy(&out).into_owned()
}

/// Polls `check` until it returns `Ok`, or fails after `timeout` with `what` and the last `Err` it gave.
///
/// `check` returns `Err(description of what it saw)` while the condition does not hold yet. The interval
/// starts at 100 ms and grows to 1 s.
pub async fn poll_until<T, F, Fut>(what: &str, timeout: Duration, mut check: F) -> Result<T, Error>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, String>>,
{
    let deadline = Instant::now() + timeout;
    let mut interval = Duration::from_millis(100);
    loop {
        let last = match check().await {
            Ok(value) => return Ok(value),
            Err(last) => last,
        };
        if Instant::now() >= deadline {
            return Err(Error::Timeout {
                what: what.to_string(),
                timeout,
                last,
            });
        }
        tokio::time::sleep(interval.min(deadline.saturating_duration_since(Instant::now()))).await;
        interval = (interval * 2).min(Duration::from_secs(1));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unique_names_are_dns_labels_and_distinct() {
        let a = unique_name("Ns_Test");
        let b = unique_name("Ns_Test");
        assert_ne!(a, b);
        for name in [&a, &b] {
            assert!(name.len() <= 63, "{name}");
            assert!(name.starts_with("ns-test-"), "{name}");
            assert!(
                name.chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-'),
                "{name}"
            );
        }
    }

    #[tokio::test]
    async fn poll_until_times_out_with_last_observation() {
        let mut calls = 0;
        let result: Result<(), Error> = poll_until("never", Duration::from_millis(300), || {
            calls += 1;
            let seen = format!("call {calls}");
            async move { Err(seen) }
        })
        .await;
        let message = result.err().map(|e| e.to_string()).unwrap_or_default();
        assert!(message.contains("waiting for never"), "{message}");
        assert!(message.contains("last observed: call"), "{message}");
    }

    #[tokio::test]
    async fn poll_until_returns_the_value() -> Result<(), Error> {
        let mut calls = 0;
        let value = poll_until("third call", Duration::from_secs(5), || {
            calls += 1;
            let n = calls;
            async move {
                if n >= 3 {
                    Ok(n)
                } else {
                    Err(format!("call {n}"))
                }
            }
        })
        .await?;
        assert_eq!(value, 3);
        Ok(())
    }
}
