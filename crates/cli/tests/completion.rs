//! Shell completion as users get it: `kubectl tenant completion bash|zsh|fish` sourced into the
//! real shell, and `kubectl tenant <TAB>` through the real kubectl's plugin completion
//! (`kubectl_complete-tenant`). bash is the machine's; zsh and fish come from Debian's packages
//! (`hack/components shells`), kubectl from the local control plane's build.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::{Path, PathBuf};
use std::process::Command;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// PATH with the kubectl-tenant under test first (the scripts call it by name).
fn path_with(dirs: &[&Path]) -> String {
    let mut parts: Vec<String> = dirs.iter().map(|d| d.display().to_string()).collect();
    let bin = Path::new(env!("CARGO_BIN_EXE_kubectl-tenant"));
    parts.insert(0, bin.parent().unwrap().display().to_string());
    parts.push(std::env::var("PATH").unwrap_or_default());
    parts.join(":")
}

fn shell(program: &Path, script: &str, extra_path: &[&Path]) -> String {
    let out = Command::new(program)
        .args(["-c", script])
        .current_dir(root())
        .env("PATH", path_with(extra_path))
        .output()
        .unwrap_or_else(|e| panic!("{} runs: {e}", program.display()));
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "{} failed:\n{stdout}{}",
        program.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

/// The candidates, sorted (fish sorts its own; the order is the shell's business).
fn sorted<'a>(v: impl IntoIterator<Item = &'a str>) -> Vec<&'a str> {
    let mut v: Vec<&str> = v.into_iter().collect();
    v.sort_unstable();
    v
}

fn component(name: &str) -> PathBuf {
    let out = Command::new(root().join("hack/components"))
        .arg(name)
        .output()
        .expect("hack/components runs");
    assert!(
        out.status.success(),
        "hack/components {name}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    PathBuf::from(String::from_utf8_lossy(&out.stdout).trim())
}

/// Each case: the words typed after `kubectl-tenant`, and what completing the last must offer.
const CASES: &[(&[&str], &[&str])] = &[
    (&["val"], &["validate"]),
    (&["validate", "-o", ""], &["text", "wide", "json", "yaml"]),
    (&["backups", "shop", "--velero-n"], &["--velero-namespace"]),
    (&["cost", "--con"], &["--context"]),
    (
        &["validate", "examples/s"],
        &[
            "examples/single-tenant.yaml",
            "examples/strict-isolation.yaml",
        ],
    ),
];

#[test]
fn bash_completes_commands_flags_values_and_files() {
    for (words, want) in CASES {
        let typed: Vec<String> = words.iter().map(|w| format!("'{w}'")).collect();
        let script = format!(
            "source <(kubectl-tenant completion bash) && COMP_WORDS=(kubectl-tenant {}) && \
             COMP_CWORD={} && _kubectl_tenant && printf '%s\\n' \"${{COMPREPLY[@]}}\"",
            typed.join(" "),
            words.len()
        );
        let got = shell(Path::new("bash"), &script, &[]);
        assert_eq!(
            sorted(got.lines()),
            sorted(want.iter().copied()),
            "bash completing {words:?}"
        );
    }
}

#[test]
#[ignore = "needs zsh and fish (hack/components shells): hack/test runs it"]
fn zsh_and_fish_complete_as_bash_does() {
    let shells = component("shells");
    for (words, want) in CASES {
        // zsh without compinit: _describe and _files print what they would offer.
        let typed: Vec<String> = words.iter().map(|w| format!("'{w}'")).collect();
        let script = format!(
            "compdef() {{ : }}; _describe() {{ print -rl -- \"${{(@P)${{@[-1]}}}}\" }}; \
             _files() {{ print -rl -- {}*(N) }}; source <(kubectl-tenant completion zsh); \
             words=(kubectl-tenant {}); CURRENT={}; _kubectl_tenant",
            words.last().unwrap(),
            typed.join(" "),
            words.len() + 1
        );
        let got = shell(
            &shells.join("bin/zsh"),
            &format!("emulate zsh; {script}"),
            &[],
        );
        let got = sorted(got.lines().map(|l| l.split(':').next().unwrap()));
        assert_eq!(
            got,
            sorted(want.iter().copied()),
            "zsh completing {words:?}"
        );

        let line = format!("kubectl-tenant {}", words.join(" "));
        let got = shell(
            &shells.join("bin/fish"),
            &format!("kubectl-tenant completion fish | source; complete -C '{line}'"),
            &[],
        );
        let got = sorted(got.lines().map(|l| l.split('\t').next().unwrap()));
        assert_eq!(
            got,
            sorted(want.iter().copied()),
            "fish completing {words:?}"
        );
    }
}

#[test]
#[ignore = "needs kubectl (hack/controlplane build): hack/test runs it"]
fn kubectl_completes_the_plugin_through_kubectl_complete_tenant() {
    let out = Command::new(root().join("hack/controlplane"))
        .arg("bin-dir")
        .output()
        .expect("hack/controlplane runs");
    let kubectl_dir = PathBuf::from(String::from_utf8_lossy(&out.stdout).trim());
    // The shim docs/plugin.md tells users to put on their PATH.
    let shim_dir = std::env::temp_dir().join(format!("kubectl-complete-{}", std::process::id()));
    std::fs::create_dir_all(&shim_dir).unwrap();
    let docs = std::fs::read_to_string(root().join("docs/plugin.md")).unwrap();
    let shim = "#!/bin/sh\nexec kubectl-tenant __complete \"$@\"\n";
    assert!(
        docs.contains(shim),
        "docs/plugin.md no longer shows the shim:\n{shim}"
    );
    let file = shim_dir.join("kubectl_complete-tenant");
    std::fs::write(&file, shim).unwrap();
    Command::new("chmod")
        .args(["+x", &file.display().to_string()])
        .status()
        .unwrap();
    for (words, want) in CASES {
        let out = Command::new(kubectl_dir.join("kubectl"))
            .arg("__complete")
            .arg("tenant")
            .args(*words)
            .current_dir(root())
            .env("PATH", path_with(&[&shim_dir]))
            .output()
            .expect("kubectl runs");
        let text = String::from_utf8_lossy(&out.stdout);
        let mut lines: Vec<&str> = text.lines().collect();
        let directive = lines.pop().unwrap_or_default();
        let names: Vec<&str> = lines
            .iter()
            .map(|l| l.split('\t').next().unwrap())
            .collect();
        if words.first() == Some(&"validate") && words.len() == 2 {
            // file names: kubectl tells the shell to complete them itself
            assert_eq!(directive, ":0", "kubectl completing {words:?}: {text}");
            assert!(names.is_empty(), "{text}");
        } else {
            assert_eq!(names, want.to_vec(), "kubectl completing {words:?}");
            assert_eq!(directive, ":4", "kubectl completing {words:?}");
        }
    }
    std::fs::remove_dir_all(&shim_dir).unwrap();
}
