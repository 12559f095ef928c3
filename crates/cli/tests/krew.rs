//! The plugin as krew users get it: deploy/krew/tenant.yaml, the krew plugin manifest, and
//! hack/krew-package's archive of the kubectl-tenant under test installed, listed and uninstalled by
//! the real krew (built from its Go module by `hack/components krew`), offline. See
//! docs/plugin-krew.md.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Instant, SystemTime, UNIX_EPOCH};

const PLATFORMS: [(&str, &str); 4] = [
    ("darwin", "amd64"),
    ("darwin", "arm64"),
    ("linux", "amd64"),
    ("linux", "arm64"),
];

const RELEASES: &str = "https://github.com/pilab-hu/tenant-operator/releases/download";

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn version() -> String {
    format!("v{}", env!("CARGO_PKG_VERSION"))
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn succeeded(what: &str, out: &Output) {
    assert!(
        out.status.success(),
        "{what}: {}\nstdout:\n{}\nstderr:\n{}",
        out.status,
        text(&out.stdout),
        text(&out.stderr)
    );
}

fn component(name: &str) -> PathBuf {
    let out = Command::new(root().join("hack/components"))
        .arg(name)
        .output()
        .expect("hack/components runs");
    succeeded(&format!("hack/components {name}"), &out);
    PathBuf::from(text(&out.stdout).trim())
}

/// A fresh directory under the system's temporary directory, removed when dropped.
struct TempDir(PathBuf);

impl TempDir {
    fn new(prefix: &str) -> Self {
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .expect("clock")
            .as_nanos();
        let dir = std::env::temp_dir().join(format!("{prefix}-{}-{nanos}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("create the temporary directory");
        Self(dir)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// krew with its root in `krew_root`: no upgrade check (a request to GitHub), and its bin directory
/// on PATH (else it warns on every run that the plugins cannot be found).
fn krew(krew_dir: &Path, krew_root: &Path, args: &[&str]) -> Output {
    let path = format!(
        "{}:{}",
        krew_root.join("bin").display(),
        std::env::var("PATH").unwrap_or_default()
    );
    Command::new(krew_dir.join("krew"))
        .args(args)
        .env("KREW_ROOT", krew_root)
        .env("KREW_NO_UPGRADE_CHECK", "1")
        .env("PATH", path)
        .stdin(Stdio::null())
        .output()
        .expect("krew runs")
}

#[test]
#[ignore = "needs krew (hack/components krew): hack/test runs it"]
fn krew_installs_lists_and_uninstalls_the_packaged_plugin() {
    let krew_dir = component("krew");
    let tmp = TempDir::new("kubectl-tenant-krew");
    let version = version();
    let bin = env!("CARGO_BIN_EXE_kubectl-tenant");

    let start = Instant::now();
    let out = Command::new(root().join("hack/krew-package"))
        .args(["--binary", bin, "--version", &version])
        .args(["--os", "linux", "--arch", "amd64", "--out-dir"])
        .arg(&tmp.0)
        .output()
        .expect("hack/krew-package runs");
    succeeded("hack/krew-package", &out);
    let archive = tmp.0.join("kubectl-tenant_linux_amd64.tar.gz");
    let manifest = tmp.0.join("tenant.yaml");
    assert_eq!(
        text(&out.stdout),
        format!("{}\n{}\n", archive.display(), manifest.display()),
        "hack/krew-package prints the archive and the manifest"
    );
    let packaged = start.elapsed();

    // The manifest written: the one platform, the release's uri for this version.
    let m: serde_json::Value =
        serde_saphyr::from_str(&std::fs::read_to_string(&manifest).expect("read the manifest"))
            .expect("the written manifest is YAML");
    assert_eq!(m["spec"]["version"], version.as_str());
    let platforms = m["spec"]["platforms"].as_array().expect("platforms");
    assert_eq!(platforms.len(), 1, "{platforms:?}");
    assert_eq!(
        platforms[0]["selector"]["matchLabels"],
        serde_json::json!({"os": "linux", "arch": "amd64"})
    );
    assert_eq!(
        platforms[0]["uri"],
        format!("{RELEASES}/{version}/kubectl-tenant_linux_amd64.tar.gz").as_str()
    );

    // Install from the local archive: --manifest needs no index, --archive no download. krew
    // checks the archive's sha256 against the manifest's.
    let krew_root = tmp.0.join("krew-root");
    let start = Instant::now();

    // The committed manifest passes krew's own validation of a plugin manifest and fails only at
    // the placeholder checksum.
    let out = krew(
        &krew_dir,
        &krew_root,
        &[
            "install",
            &format!(
                "--manifest={}",
                root().join("deploy/krew/tenant.yaml").display()
            ),
            &format!("--archive={}", archive.display()),
        ],
    );
    assert!(!out.status.success(), "installed with a placeholder sha256");
    assert!(
        text(&out.stderr).contains(&format!(
            "checksum does not match, want: {}",
            "0".repeat(64)
        )),
        "krew install of deploy/krew/tenant.yaml: {}",
        text(&out.stderr)
    );
    assert!(!krew_root.join("receipts/tenant.yaml").exists());

    let out = krew(
        &krew_dir,
        &krew_root,
        &[
            "install",
            &format!("--manifest={}", manifest.display()),
            &format!("--archive={}", archive.display()),
        ],
    );
    succeeded("krew install", &out);
    assert!(
        text(&out.stderr).contains("Installed plugin: tenant"),
        "{}",
        text(&out.stderr)
    );

    // kubectl finds plugins on PATH by name: krew links bin/kubectl-tenant to its copy.
    let linked = krew_root.join("bin/kubectl-tenant");
    assert!(linked.exists(), "{} is missing", linked.display());
    assert!(
        std::fs::read(&linked).expect("read the installed binary")
            == std::fs::read(bin).expect("read the binary under test"),
        "the installed kubectl-tenant is not the binary packaged"
    );
    let out = Command::new(&linked)
        .args(["info", "-o", "json"])
        .output()
        .expect("the installed kubectl-tenant runs");
    succeeded("kubectl-tenant info -o json", &out);
    let info: serde_json::Value = serde_json::from_slice(&out.stdout).expect("info prints JSON");
    assert_eq!(info["version"], env!("CARGO_PKG_VERSION"));

    // krew's receipt: this version, from no index (krew's name for --manifest is "detached").
    let receipt: serde_json::Value = serde_saphyr::from_str(
        &std::fs::read_to_string(krew_root.join("receipts/tenant.yaml")).expect("read the receipt"),
    )
    .expect("the receipt is YAML");
    assert_eq!(receipt["spec"]["version"], version.as_str());
    assert_eq!(receipt["status"]["source"]["name"], "detached");

    // list and uninstall refuse to run without a local index (each a git clone under index/);
    // an empty repository stands in for the default one, which would be cloned from GitHub.
    let index = krew_root.join("index/default");
    let out = Command::new("git")
        .args(["init", "--quiet"])
        .arg(&index)
        .output()
        .expect("git runs");
    succeeded("git init", &out);

    let out = krew(&krew_dir, &krew_root, &["list"]);
    succeeded("krew list", &out);
    // not on a terminal, list prints INDEX/NAME for plugins of other indexes than the default
    let listed = text(&out.stdout);
    assert!(
        listed.lines().any(|l| l.trim() == "detached/tenant"),
        "krew list: {listed}"
    );

    let out = krew(&krew_dir, &krew_root, &["uninstall", "tenant"]);
    succeeded("krew uninstall tenant", &out);
    assert!(
        std::fs::symlink_metadata(&linked).is_err(),
        "{} is still there",
        linked.display()
    );
    assert!(!krew_root.join("store/tenant").exists());
    assert!(!krew_root.join("receipts/tenant.yaml").exists());
    let out = krew(&krew_dir, &krew_root, &["list"]);
    succeeded("krew list", &out);
    assert!(
        !text(&out.stdout).contains("tenant"),
        "krew list: {}",
        text(&out.stdout)
    );
    eprintln!(
        "hack/krew-package {:.1}s; krew install, run, list, uninstall {:.1}s",
        packaged.as_secs_f64(),
        start.elapsed().as_secs_f64()
    );
}

/// The committed manifest: a krew Plugin for four platforms at the crate's version, each with the
/// release's uri of its archive and a sha256 (a placeholder until hack/krew-package fills it).
#[test]
fn committed_manifest_is_a_krew_plugin_for_four_platforms() {
    let yaml = std::fs::read_to_string(root().join("deploy/krew/tenant.yaml"))
        .expect("read deploy/krew/tenant.yaml");
    let m: serde_json::Value = serde_saphyr::from_str(&yaml).expect("deploy/krew/tenant.yaml");
    assert_eq!(
        m["apiVersion"],
        "krew.googlecontainertools.github.com/v1alpha2"
    );
    assert_eq!(m["kind"], "Plugin");
    assert_eq!(m["metadata"]["name"], "tenant");

    let spec = &m["spec"];
    // hack/krew-package sets the version of a release; the committed one follows the crate's
    let version = version();
    assert_eq!(
        spec["version"],
        version.as_str(),
        "spec.version of deploy/krew/tenant.yaml is not the crate's version"
    );
    let short = spec["shortDescription"].as_str().expect("shortDescription");
    assert!(!short.is_empty() && !short.contains('\n'), "{short:?}");
    assert!(
        spec["homepage"]
            .as_str()
            .is_some_and(|h| h.starts_with("https://"))
    );
    let description = spec["description"].as_str().expect("description");
    for command in [
        "validate",
        "render",
        "quota",
        "cost",
        "backups",
        "migrate",
        "audit-policy",
        "completion",
    ] {
        assert!(
            description.contains(command),
            "the description does not name {command}"
        );
    }

    let mut seen = BTreeSet::new();
    for p in spec["platforms"].as_array().expect("platforms") {
        let labels = p["selector"]["matchLabels"]
            .as_object()
            .unwrap_or_else(|| panic!("no selector.matchLabels: {p}"));
        assert_eq!(
            labels.keys().map(String::as_str).collect::<BTreeSet<_>>(),
            BTreeSet::from(["arch", "os"]),
            "{p}"
        );
        let os = labels["os"].as_str().expect("os");
        let arch = labels["arch"].as_str().expect("arch");
        assert!(seen.insert((os, arch)), "{os}/{arch} twice");
        assert_eq!(p["bin"], "kubectl-tenant", "{os}/{arch}");
        assert_eq!(
            p["files"],
            serde_json::json!([{"from": "kubectl-tenant", "to": "."}]),
            "{os}/{arch}"
        );
        assert_eq!(
            p["uri"],
            format!("{RELEASES}/{version}/kubectl-tenant_{os}_{arch}.tar.gz").as_str(),
            "{os}/{arch}"
        );
        let sha = p["sha256"].as_str().expect("sha256");
        assert!(
            sha.len() == 64
                && sha
                    .bytes()
                    .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)),
            "{os}/{arch}: sha256 {sha:?} is not 64 lowercase hex digits (krew's rule)"
        );
    }
    assert_eq!(seen, BTreeSet::from(PLATFORMS), "the platforms");
}
