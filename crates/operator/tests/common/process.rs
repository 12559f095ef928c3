//! The operator as a process: the built `tenant-operator` binary, run as the operator's service
//! account user against the test's control plane, scoped to the test's namespace.

use std::path::Path;
use std::process::{ExitStatus, Stdio};
use std::time::Duration;

use anyhow::{Context, Result, ensure};
use testenv::{OPERATOR_USER, poll_until};
use tokio::process::{Child, Command};

use super::{Harness, TIMEOUT, http_get};

/// A running `tenant-operator run`, killed when dropped.
pub struct OperatorProcess {
    child: Child,
    pub port: u16,
}

/// A TCP port free on 127.0.0.1 at the time of asking.
pub fn free_port() -> Result<u16> {
    let l = std::net::TcpListener::bind("127.0.0.1:0")?;
    Ok(l.local_addr()?.port())
}

impl OperatorProcess {
    /// The binary with the flags every test uses (its namespace, a free metrics port, JSON
    /// logs appended to `log`).
    pub fn start(h: &Harness, log: &Path) -> Result<OperatorProcess> {
        Self::start_with(h, log, &[])
    }

    /// As [`OperatorProcess::start`], with `extra` flags after the common ones.
    pub fn start_with(h: &Harness, log: &Path, extra: &[&str]) -> Result<OperatorProcess> {
        Self::start_via(h, log, &h.cp.kubeconfig_path(OPERATOR_USER), extra)
    }

    /// As [`OperatorProcess::start_with`], reaching the API server through `kubeconfig` (the
    /// operator user's, with another server address).
    pub fn start_via(
        h: &Harness,
        log: &Path,
        kubeconfig: &Path,
        extra: &[&str],
    ) -> Result<OperatorProcess> {
        let port = free_port()?;
        let out = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(log)?;
        let child = Command::new(env!("CARGO_BIN_EXE_tenant-operator"))
            .args([
                "run",
                "--watch-namespace",
                &h.ns,
                "--metrics-addr",
                &format!("127.0.0.1:{port}"),
                "--log-format",
                "json",
            ])
            .args(extra)
            .env("KUBECONFIG", kubeconfig)
            .env("RUST_LOG", "info")
            .stdout(Stdio::from(out.try_clone()?))
            .stderr(Stdio::from(out))
            .kill_on_drop(true)
            .spawn()
            .context("starting the tenant-operator binary")?;
        Ok(OperatorProcess { child, port })
    }

    /// The process id.
    pub fn pid(&self) -> Option<u32> {
        self.child.id()
    }

    /// `GET path` on the metrics port: (status code, body).
    pub async fn get(&self, path: &str) -> Result<(u16, String)> {
        http_get(self.port, path).await
    }

    /// Waits until `/readyz` answers 200 (a leader with synced caches, or a standby).
    pub async fn wait_ready(&self) -> Result<()> {
        self.wait_readyz(|_| true).await
    }

    /// Waits until `/readyz` answers 200 with a body `body` accepts (`ok` for a leader whose
    /// caches are synced, `standby` for a standby).
    pub async fn wait_readyz(&self, body: impl Fn(&str) -> bool) -> Result<()> {
        poll_until("operator process /readyz", TIMEOUT, || async {
            match self.get("/readyz").await {
                Ok((200, b)) if body(&b) => Ok(()),
                Ok((c, b)) => Err(format!("{c} {b}")),
                Err(e) => Err(e.to_string()),
            }
        })
        .await?;
        Ok(())
    }

    /// The exit status, if the process has ended.
    pub fn exited(&mut self) -> Result<Option<ExitStatus>> {
        Ok(self.child.try_wait()?)
    }

    pub async fn kill9(mut self) -> Result<()> {
        self.child.kill().await?; // SIGKILL
        Ok(())
    }

    /// Sends SIGTERM (what the kubelet sends) without waiting.
    pub fn term(&self) -> Result<()> {
        let pid = self.child.id().context("no pid: the process has ended")?;
        let st = std::process::Command::new("kill")
            .args(["-TERM", &pid.to_string()])
            .status()?;
        ensure!(st.success(), "kill -TERM {pid} failed");
        Ok(())
    }

    /// Waits up to `timeout` for the process to end.
    pub async fn wait_exit(&mut self, timeout: Duration) -> Result<ExitStatus> {
        tokio::time::timeout(timeout, self.child.wait())
            .await
            .context("the operator process did not end")?
            .context("waiting for the operator process")
    }

    /// SIGTERM, then its exit status (within 30 s).
    pub async fn sigterm(mut self) -> Result<ExitStatus> {
        self.term()?;
        self.wait_exit(Duration::from_secs(30)).await
    }
}
