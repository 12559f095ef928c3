//! The operator's image, as far as it can be tested without a container engine: the binary
//! deploy/image/Dockerfile puts into the image (`hack/build-static`: musl, linked statically) runs
//! as user 65532 in a read-only root file system that holds nothing but itself and its
//! kubeconfig (what `FROM scratch`, `USER 65532:65532` and `readOnlyRootFilesystem: true` give a
//! pod), and reconciles a Tenant on the local control plane.
#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)]

mod common;

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context, Result, ensure};
use common::*;
use serde_json::Value;
use tenant_api::Phase;
use testenv::{OPERATOR_USER, poll_until};

const UID: &str = "65532";

/// The pid of the process whose command line is exactly `args`.
fn pid_of(args: &[String]) -> Option<u32> {
    let want: Vec<u8> = args.iter().flat_map(|a| a.bytes().chain([0])).collect();
    std::fs::read_dir("/proc").ok()?.flatten().find_map(|e| {
        let pid: u32 = e.file_name().to_str()?.parse().ok()?;
        (std::fs::read(e.path().join("cmdline")).ok()? == want).then_some(pid)
    })
}

#[tokio::test]
#[ignore = "needs the local control plane and a static build (hack/build-static): hack/test runs it"]
async fn the_static_binary_runs_as_non_root_in_a_read_only_root_holding_only_itself() -> Result<()>
{
    let dockerfile = std::fs::read_to_string(repo_path("deploy/image/Dockerfile"))?;
    for line in [
        "FROM scratch",
        "USER 65532:65532",
        "hack/build-static --profile release",
        "ENTRYPOINT [\"/tenant-operator\"]",
    ] {
        ensure!(
            dockerfile.contains(line),
            "deploy/image/Dockerfile lost `{line}`"
        );
    }
    // The same build as the image's, in the dev profile (faster; static all the same).
    let out = tokio::task::spawn_blocking(|| {
        std::process::Command::new(repo_path("hack/build-static"))
            .args(["--profile", "dev"])
            .output()
    })
    .await??;
    ensure!(
        out.status.success(),
        "hack/build-static failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let bin = PathBuf::from(String::from_utf8_lossy(&out.stdout).trim());

    let h = Harness::new("op-image").await?;
    // The root file system: the binary and a kubeconfig, readable by 65532, nothing else (no
    // libc, no shell, no /tmp).
    let root = h.cp.state_dir().join(format!("image-root-{}", h.ns));
    std::fs::create_dir_all(&root)?;
    std::fs::copy(&bin, root.join("tenant-operator"))?;
    let text = std::fs::read_to_string(h.cp.kubeconfig_path(OPERATOR_USER))?;
    let config: Value = serde_saphyr::from_str(&text)?;
    std::fs::write(root.join("kubeconfig"), serde_json::to_vec(&config)?)?;
    for (path, mode) in [
        ("", "755"),
        ("tenant-operator", "755"),
        ("kubeconfig", "644"),
    ] {
        let st = std::process::Command::new("chmod")
            .args([mode, &root.join(path).to_string_lossy()])
            .status()?;
        ensure!(st.success(), "chmod {path}");
    }
    let port = std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port();
    let args: Vec<String> = [
        "/tenant-operator",
        "run",
        "--watch-namespace",
        &h.ns,
        "--metrics-addr",
        &format!("127.0.0.1:{port}"),
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    // A mount namespace of its own: the root bound read-only onto itself, then chroot into it
    // as 65532.
    let script = format!(
        "mount --bind \"$0\" \"$0\" && mount -o remount,bind,ro \"$0\" && exec chroot --userspec={UID}:{UID} \"$0\" {}",
        args.join(" ")
    );
    let log = std::fs::File::create(root.with_extension("log"))?;
    let mut child = tokio::process::Command::new("unshare")
        .args([
            "--mount",
            "--fork",
            "--kill-child",
            "--",
            "sh",
            "-c",
            &script,
        ])
        .arg(&root)
        .env_clear()
        .env("PATH", "/usr/sbin:/usr/bin:/sbin:/bin")
        .env("KUBECONFIG", "/kubeconfig")
        .env("RUST_LOG", "info")
        .stdout(log.try_clone()?)
        .stderr(log)
        .kill_on_drop(true)
        .spawn()
        .context("unshare")?;

    poll_until("the operator's /readyz", TIMEOUT, || async {
        match http_get(port, "/readyz").await {
            Ok((200, _)) => Ok(()),
            Ok((c, b)) => Err(format!("{c} {b}")),
            Err(e) => Err(e.to_string()),
        }
    })
    .await?;
    let pid = pid_of(&args).context("the operator's process")?;
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    let uid = status
        .lines()
        .find(|l| l.starts_with("Uid:"))
        .unwrap_or_default();
    ensure!(
        uid.split_whitespace().skip(1).all(|u| u == UID),
        "the operator runs as {uid}"
    );
    let mounts = std::fs::read_to_string(format!("/proc/{pid}/mountinfo"))?;
    let root_mount = mounts
        .lines()
        .rfind(|l| l.split_whitespace().nth(4) == Some("/"))
        .context("no / in the operator's mountinfo")?;
    ensure!(
        root_mount
            .split_whitespace()
            .nth(5)
            .is_some_and(|o| o.split(',').any(|x| x == "ro")),
        "the operator's root is not read-only: {root_mount}"
    );
    ensure!(
        std::fs::read_link(format!("/proc/{pid}/root"))? == root,
        "the operator's root is not the image root"
    );

    // It reconciles.
    let t = h.tenant("img");
    let t = h.create(&t).await?;
    let name = t.metadata.name.clone().unwrap_or_default();
    h.wait_phase(&name, Phase::Running).await?;
    let (code, metrics) = http_get(port, "/metrics").await?;
    ensure!(
        code == 200 && metrics.contains("tenant_operator_"),
        "/metrics: {code}"
    );

    // Deleted: its cleanup runs under the same constraints.
    h.teardown().await?;

    // SIGTERM: a clean stop.
    let st = std::process::Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .status()?;
    ensure!(st.success(), "kill -TERM");
    let exit = tokio::time::timeout(Duration::from_secs(30), child.wait()).await??;
    ensure!(exit.success(), "the operator exited {exit}");
    eprintln!(
        "{} ({} bytes, static) ran as {UID} in a read-only root, reconciled and cleaned up {name}",
        bin.display(),
        std::fs::metadata(&bin)?.len()
    );
    std::fs::remove_dir_all(&root)?;
    Ok(())
}
