//! Runs the `kubectl-tenant` binary on files as a user would and checks what it prints.
//!
//! Render output is compared with committed snapshots under tests/snapshots/. After an intended
//! change, regenerate them with `UPDATE_SNAPSHOTS=1 cargo test -p kubectl-tenant --test cli`
//! and review the diff.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn run(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_kubectl-tenant"))
        .args(args)
        .current_dir(root())
        .output()
        .expect("kubectl-tenant runs")
}

fn run_stdin(args: &[&str], input: &str) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_kubectl-tenant"))
        .args(args)
        .current_dir(root())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("kubectl-tenant runs");
    // A command that reads files, not standard input, may exit before the input is written:
    // the write then meets a closed pipe, which is no failure of the command.
    if let Err(e) = child
        .stdin
        .take()
        .expect("stdin")
        .write_all(input.as_bytes())
    {
        assert_eq!(e.kind(), std::io::ErrorKind::BrokenPipe, "write stdin: {e}");
    }
    child.wait_with_output().expect("wait")
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn examples() -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(root().join("examples"))
        .expect("examples/")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
        .map(|p| {
            format!(
                "examples/{}",
                p.file_name().expect("name").to_string_lossy()
            )
        })
        .collect();
    v.sort();
    v
}

/// Compares with (or, with UPDATE_SNAPSHOTS=1, writes) tests/snapshots/<name>.
fn snapshot(name: &str, actual: &str) {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/snapshots")
        .join(name);
    if std::env::var_os("UPDATE_SNAPSHOTS").is_some() {
        std::fs::create_dir_all(path.parent().expect("dir")).expect("mkdir");
        std::fs::write(&path, actual).expect("write snapshot");
        return;
    }
    let expected = std::fs::read_to_string(&path).unwrap_or_else(|_| {
        panic!(
            "missing snapshot {}; run with UPDATE_SNAPSHOTS=1",
            path.display()
        )
    });
    assert!(
        expected == actual,
        "render output for {name} differs from the snapshot; if intended, rerun with UPDATE_SNAPSHOTS=1 and review the diff"
    );
}

#[test]
fn every_example_validates() {
    let ex = examples();
    assert!(
        ex.len() >= 6,
        "examples/ has the seed example and the seed-004 scenarios"
    );
    let mut args = vec!["validate"];
    args.extend(ex.iter().map(String::as_str));
    let out = run(&args);
    assert!(out.status.success(), "{}{}", stdout(&out), stderr(&out));
    assert!(!stdout(&out).contains("INVALID"));
}

#[test]
fn the_seed_example_is_kept_verbatim() {
    let text = std::fs::read_to_string(root().join("examples/customer-shop-1.yaml")).expect("read");
    for line in [
        "apiVersion: shop.pilab.hu/v1alpha1",
        "  tenantId: \"customer-shop-1\"",
        "  ingressTlsSecretName: \"customer-shop-tls\"",
        "    cpuLimit: \"2\"",
        "    retention: \"30d\"",
        "    billingTier: \"premium\"",
    ] {
        assert!(text.contains(line), "seed line missing: {line}");
    }
}

#[test]
fn render_snapshots_of_every_example() {
    for ex in examples() {
        let out = run(&["render", "--no-shared", &ex]);
        assert!(out.status.success(), "{ex}: {}", stderr(&out));
        let name = Path::new(&ex)
            .file_name()
            .expect("name")
            .to_string_lossy()
            .into_owned();
        snapshot(&name, &stdout(&out));
    }
}

#[test]
fn render_shared_policies_snapshot() {
    let all = stdout(&run(&["render", "examples/customer-shop-1.yaml"]));
    let tenant_only = stdout(&run(&[
        "render",
        "--no-shared",
        "examples/customer-shop-1.yaml",
    ]));
    let shared = all
        .strip_suffix(&tenant_only)
        .expect("shared policies come first, then the tenant's objects");
    snapshot("shared-policies.yaml", shared.trim_end_matches("---\n"));
}

#[test]
fn render_is_deterministic_and_in_apply_order() {
    let a = stdout(&run(&["render", "--no-shared", "examples/acme-corp.yaml"]));
    let b = stdout(&run(&["render", "--no-shared", "examples/acme-corp.yaml"]));
    assert_eq!(a, b);
    let kinds: Vec<&str> = a.lines().filter_map(|l| l.strip_prefix("kind: ")).collect();
    assert_eq!(kinds.first(), Some(&"Namespace"));
    assert_eq!(kinds.get(1), Some(&"TenantPolicy"));
    let pos = |k: &str| kinds.iter().position(|x| *x == k).unwrap_or(usize::MAX);
    assert!(
        pos("ResourceQuota") < pos("RoleBinding"),
        "guardrails before access: {kinds:?}"
    );
    assert!(
        pos("NetworkPolicy") < pos("RoleBinding"),
        "guardrails before access: {kinds:?}"
    );
}

#[test]
fn strict_example_renders_restricted_default_deny_and_object_counts() {
    let out = stdout(&run(&[
        "render",
        "--no-shared",
        "examples/strict-isolation.yaml",
    ]));
    assert!(out.contains("pod-security.kubernetes.io/enforce: restricted"));
    assert!(out.contains("name: tenant-default-deny"));
    for key in [
        "services.nodeports: \"0\"",
        "services.loadbalancers: \"0\"",
        "pods: \"50\"",
        "count/deployments.apps: \"20\"",
        "secrets: \"50\"",
    ] {
        assert!(out.contains(key), "strict quota lacks {key}");
    }
}

#[test]
fn permissive_example_has_no_network_policy() {
    let out = stdout(&run(&[
        "render",
        "--no-shared",
        "examples/single-tenant.yaml",
    ]));
    assert!(out.contains("pod-security.kubernetes.io/enforce: privileged"));
    assert!(!out.contains("kind: NetworkPolicy"));
}

#[test]
fn invalid_tenant_fails_with_field_path_and_exit_1() {
    let bad = std::fs::read_to_string(root().join("examples/customer-shop-1.yaml"))
        .expect("read")
        .replace("cpuLimit: \"2\"", "cpuLimit: \"two\"");
    let out = run_stdin(&["validate", "-"], &bad);
    assert_eq!(out.status.code(), Some(1), "{}", stdout(&out));
    assert!(
        stdout(&out).contains("spec.resourceLimits.cpuLimit"),
        "{}",
        stdout(&out)
    );
}

#[test]
fn validate_json_has_the_seed_shape() {
    let out = run(&["validate", "-o", "json", "examples/customer-shop-1.yaml"]);
    assert!(out.status.success());
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(v["valid"], true);
    assert!(v["errors"].as_array().is_some_and(|e| e.is_empty()));
    let checks = v["checks"].as_array().expect("checks");
    assert!(checks.len() > 20);
    for c in checks {
        for key in ["name", "field", "status", "message"] {
            assert!(c.get(key).is_some(), "check without {key}: {c}");
        }
    }
    let bad = std::fs::read_to_string(root().join("examples/customer-shop-1.yaml"))
        .expect("read")
        .replace("tenantType: \"production\"", "tenantType: \"prod\"");
    let out = run_stdin(&["validate", "-o", "json"], &bad);
    assert_eq!(out.status.code(), Some(1));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(v["valid"], false);
    let errors = v["errors"].to_string();
    assert!(errors.contains("spec.tenantType"), "{errors}");
}

#[test]
fn render_refuses_invalid_input_and_prints_nothing() {
    let bad = std::fs::read_to_string(root().join("examples/acme-corp.yaml"))
        .expect("read")
        .replace("monthlyBudget: 10000", "monthlyBudget: -5");
    let out = run_stdin(&["render", "-"], &bad);
    assert_eq!(out.status.code(), Some(1));
    assert!(out.stdout.is_empty(), "nothing half-rendered");
    assert!(
        stderr(&out).contains("spec.billing.monthlyBudget"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn unreadable_files_and_bad_yaml_exit_2_with_a_clear_message() {
    let out = run(&["validate", "no/such/file.yaml"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("cannot read no/such/file.yaml"),
        "{}",
        stderr(&out)
    );
    let out = run_stdin(&["validate"], "spec: [unclosed\n");
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("not valid YAML"), "{}", stderr(&out));
    let out = run_stdin(&["validate"], "- just\n- a list\n");
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("not a mapping"), "{}", stderr(&out));
}

#[test]
fn quota_total_sums_the_three_tenants_and_warns_near_capacity() {
    let out = run(&[
        "quota",
        "total",
        "-o",
        "json",
        "examples/multi-tenant-cluster.yaml",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(v["totalCpuQuota"], "350");
    assert_eq!(v["totalMemoryQuota"], "896Gi");
    assert_eq!(v["tenants"].as_array().map(Vec::len), Some(3));

    // 350 of 400 CPUs is 87.5%: above the 80% line.
    let out = run(&[
        "quota",
        "total",
        "--capacity",
        "cpu=400,memory=2Ti",
        "examples/multi-tenant-cluster.yaml",
    ]);
    let text = stdout(&out);
    assert!(text.contains("WARNING: requests.cpu"), "{text}");
    assert!(
        !text.contains("WARNING: requests.memory: tenants"),
        "896Gi of 2Ti is under 80%: {text}"
    );
    let strict = run(&[
        "quota",
        "total",
        "--fail-on-warning",
        "--capacity",
        "cpu=400",
        "examples/multi-tenant-cluster.yaml",
    ]);
    assert_eq!(strict.status.code(), Some(1));
    let roomy = run(&[
        "quota",
        "total",
        "--fail-on-warning",
        "--capacity",
        "cpu=1000,memory=10Ti",
        "examples/multi-tenant-cluster.yaml",
    ]);
    assert_eq!(roomy.status.code(), Some(0), "{}", stdout(&roomy));
    let bad = run(&[
        "quota",
        "total",
        "--capacity",
        "gpu=1",
        "examples/single-tenant.yaml",
    ]);
    assert_eq!(bad.status.code(), Some(2));
    assert!(stderr(&bad).contains("capacity gpu"), "{}", stderr(&bad));
}

#[test]
fn quota_total_and_render_count_the_default_compute_quota() {
    const TWO: &str = "apiVersion: shop.pilab.hu/v1alpha1
kind: Tenant
metadata: {name: a, namespace: t}
spec: {tenantId: a, tenantType: staging}
---
apiVersion: shop.pilab.hu/v1alpha1
kind: Tenant
metadata: {name: b, namespace: t}
spec: {tenantId: b, tenantType: production, isolation: {isolationLevel: permissive}}
";
    let total = |extra: &[&str]| {
        let mut args = vec!["quota", "total", "-o", "json"];
        args.extend_from_slice(extra);
        args.push("-");
        let out = run_stdin(&args, TWO);
        assert!(out.status.success(), "{}", stderr(&out));
        serde_json::from_slice::<serde_json::Value>(&out.stdout).expect("json")
    };
    // the standard staging tenant counts with the built-in default; the permissive one is unbounded
    let v = total(&[]);
    assert_eq!(v["totalCpuQuota"], "4");
    assert_eq!(
        v["totals"]["requests.cpu"]["unbounded"],
        serde_json::json!(["b/production"])
    );
    // the platform's setting, as the operator's flag
    let v = total(&["--default-compute-quota", "staging:requests.cpu=3"]);
    assert_eq!(v["totalCpuQuota"], "3");
    assert!(v["totals"].get("limits.cpu").is_none(), "{v}");
    let out = run_stdin(
        &[
            "render",
            "--no-shared",
            "--default-compute-quota",
            "staging:requests.memory=5Gi",
            "-",
        ],
        TWO,
    );
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stdout(&out).contains("requests.memory: 5Gi"),
        "{}",
        stdout(&out)
    );
    let bad = run_stdin(
        &[
            "quota",
            "total",
            "--default-compute-quota",
            "staging:gpus=3",
            "-",
        ],
        TWO,
    );
    assert_eq!(bad.status.code(), Some(2));
    assert!(
        stderr(&bad).contains("not a compute quota key"),
        "{}",
        stderr(&bad)
    );
}

#[test]
fn cost_offline_prices_the_quota_at_the_tenants_rates() {
    // acme-corp: 200 CPUs, 512Gi, 2Ti at 0.05/CPU-h, 0.01/GiB-h, 0.10/GiB-month, 10% volume
    // discount, over 730 hours.
    let out = run(&["cost", "--offline", "-o", "json", "examples/acme-corp.yaml"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    let row = &v[0];
    assert_eq!(row["tenant"], "acme-corp/prod");
    assert_eq!(row["currency"], "USD");
    let close = |k: &str, want: f64| {
        let got = row[k].as_f64().unwrap_or(f64::NAN);
        assert!((got - want).abs() < 1e-6, "{k}: {got} != {want}");
    };
    close("cpu", 200.0 * 0.05 * 730.0 * 0.9);
    close("memory", 512.0 * 0.01 * 730.0 * 0.9);
    close("storage", 2048.0 * 0.10 * 0.9);
    close("total", 6570.0 + 3363.84 + 184.32);
    let text = stdout(&run(&["cost", "--offline", "examples/acme-corp.yaml"]));
    assert!(text.contains("10118.16"), "{text}");
    assert!(text.contains("over its monthlyBudget 10000.00"), "{text}");
    // the seed's tenant names a tier; with a tier table it is priced by it
    let dir = std::env::temp_dir().join(format!("tiers-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let tiers = dir.join("tiers.yaml");
    std::fs::write(&tiers, "premium: {cpuHourlyRate: 0.1, currency: EUR}\n").unwrap();
    let out = run(&[
        "cost",
        "--offline",
        "--billing-tiers",
        tiers.to_str().unwrap(),
        "-o",
        "json",
        "examples/customer-shop-1.yaml",
    ]);
    let _ = std::fs::remove_dir_all(&dir);
    assert!(out.status.success(), "{}", stderr(&out));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(v[0]["currency"], "EUR");
    assert!(v[0].get("unknownTier").is_none(), "{v}");
    assert!(v[0]["cpu"].as_f64().unwrap_or(0.0) > 0.0, "{v}");
    // live, against a cluster that is not there: a clear error, exit 2
    let out = Command::new(env!("CARGO_BIN_EXE_kubectl-tenant"))
        .args(["cost", "shop"])
        .env("KUBECONFIG", "/nonexistent/kubeconfig")
        .env_remove("KUBERNETES_SERVICE_HOST")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("connecting to the cluster"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn info_lists_the_framework_metadata() {
    let out = run(&["info", "-o", "json"]);
    assert!(out.status.success());
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(
        v["supportedIsolationLevels"],
        serde_json::json!(["strict", "standard", "permissive"])
    );
    assert_eq!(
        v["supportedBillingCycles"],
        serde_json::json!(["hourly", "daily", "weekly", "monthly"])
    );
    assert_eq!(
        v["supportedResourceTypes"],
        serde_json::json!(["compute", "storage", "network"])
    );
    assert!(v["name"].is_string() && v["version"].is_string());
    assert!(v["features"]["network-policies"]["status"] == "available");
}

#[test]
fn crd_prints_the_committed_crds() {
    let out = run(&["crd"]);
    assert!(out.status.success());
    let printed = stdout(&out);
    for file in ["tenants", "prstacks", "tenantpolicies"] {
        let committed =
            std::fs::read_to_string(root().join(format!("deploy/crds/{file}.shop.pilab.hu.yaml")))
                .expect("committed CRD");
        assert!(
            printed.contains(&committed),
            "{file} CRD printed differs from deploy/crds"
        );
    }
}

#[test]
fn a_prstack_is_not_rendered_as_a_tenant() {
    let prs = "apiVersion: shop.pilab.hu/v1alpha1\nkind: PRStack\nmetadata:\n  name: pr-1\nspec:\n  prNumber: 1\n";
    let out = run_stdin(&["validate"], prs);
    assert!(
        out.status.success(),
        "a valid PRStack validates: {}",
        stdout(&out)
    );
    let out = run_stdin(&["render"], prs);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("not a Tenant"));
}

/// User-facing text speaks of the product, not of the documents it was specified from; those
/// are named in docs/field-origins.md only.
#[test]
fn user_facing_text_names_no_source_document() {
    const SOURCE_NAMES: [&str; 7] = [
        "seed",
        "nixernetes",
        "pishop operator",
        "validatetenant",
        "calculatetotalquota",
        "mktenant",
        "mknamespacequota",
    ];
    let mut texts: Vec<(String, String)> = Vec::new();
    for args in [
        vec!["--help"],
        vec!["validate", "--help"],
        vec!["render", "--help"],
        vec!["quota", "--help"],
        vec!["quota", "total", "--help"],
        vec!["crd", "--help"],
        vec!["info", "--help"],
        vec!["info"],
        vec!["info", "-o", "json"],
        vec!["migrate", "--help"],
        vec!["migrate", "examples/prstack/pr-123.yaml"],
        vec!["validate", "-v", "examples/customer-shop-1.yaml"],
    ] {
        let out = run(&args);
        assert!(out.status.success(), "{args:?}: {}", stderr(&out));
        texts.push((format!("kubectl tenant {}", args.join(" ")), stdout(&out)));
    }
    let mut files = vec![root().join("README.md")];
    for dir in ["docs", "examples", "examples/prstack"] {
        for entry in std::fs::read_dir(root().join(dir)).expect(dir) {
            let path = entry.expect("entry").path();
            if path.is_file() && !path.ends_with("field-origins.md") {
                files.push(path);
            }
        }
    }
    assert!(files.len() > 8, "{files:?}");
    for path in files {
        let text = std::fs::read_to_string(&path).expect("read");
        texts.push((path.display().to_string(), text));
    }
    let mut found = Vec::new();
    for (what, text) in &texts {
        let lower = text.to_lowercase();
        for word in SOURCE_NAMES {
            if lower.contains(word) {
                found.push(format!("{what}: {word}"));
            }
        }
    }
    assert!(found.is_empty(), "{found:#?}");
}

#[test]
fn validate_warns_about_fields_the_operator_does_not_act_on_yet() {
    let out = run(&["validate", "examples/acme-corp.yaml"]);
    assert!(
        out.status.success(),
        "warnings never invalidate: {}",
        stdout(&out)
    );
    let text = stdout(&out);
    for pending in [
        "  warning: spec.billing.networkEgressRate: accepted and validated, but not acted on by the operator yet",
        "  warning: spec.billing.chargebackModel: accepted and validated, but only partly acted on by the operator yet",
    ] {
        assert!(text.contains(pending), "{pending} in {text}");
    }
    // enforced by the tenant-budget admission policy: no warning
    assert!(!text.contains("spec.billing.budgetEnforcement"), "{text}");
    let out = run(&["validate", "examples/customer-shop-1.yaml"]);
    let text = stdout(&out);
    assert!(
        !text.contains("acted on"),
        "the seed's Tenant is acted on in full: {text}"
    );
    for acted_on in [
        "spec.imageTag",
        "spec.services",
        "spec.customDomain",
        "spec.ingressTlsSecretName",
        "spec.tenantConfig.features",
        "spec.active",
        "spec.backupConfig",
    ] {
        assert!(
            !text.contains(&format!("warning: {acted_on}:")),
            "{acted_on} is acted on: {text}"
        );
    }
    let out = run(&["validate", "-o", "json", "examples/customer-shop-1.yaml"]);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    let pending: Vec<&str> = v["checks"]
        .as_array()
        .expect("checks")
        .iter()
        .filter(|c| c["name"] == "pending.notActedOn" && c["status"] == "warn")
        .filter_map(|c| c["field"].as_str())
        .collect();
    assert!(pending.is_empty(), "{pending:?}");
    let partly: Vec<&str> = v["checks"]
        .as_array()
        .expect("checks")
        .iter()
        .filter(|c| c["name"] == "pending.partlyActedOn" && c["status"] == "warn")
        .filter_map(|c| c["field"].as_str())
        .collect();
    assert!(partly.is_empty(), "{partly:?}");
}

#[test]
fn migrate_turns_prstacks_into_tenants_snapshot() {
    let out = run(&["migrate", "examples/prstack/pr-123.yaml"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let yaml = stdout(&out);
    assert!(yaml.contains("# from PRStack/default/pr-123\n"), "{yaml}");
    assert!(
        yaml.contains("# not mapped: spec.githubCheckRun: "),
        "the field this tool does not know is listed: {yaml}"
    );
    snapshot("migrate-prstack.yaml", &yaml);
    // every Tenant printed is valid
    let tenants: Vec<serde_json::Value> = serde_saphyr::from_multiple(&yaml).expect("yaml");
    let tenants: Vec<_> = tenants.into_iter().filter(|t| !t.is_null()).collect();
    assert_eq!(tenants.len(), 2);
    for t in &tenants {
        let r = tenant_core::validate::validate_value(t);
        assert!(r.valid, "{:?}", r.errors);
        assert_eq!(
            t["spec"]["namespaceConfig"]["name"]
                .as_str()
                .map(|n| n.ends_with("-shop-pilab-hu")),
            Some(true)
        );
    }
    // -o json: a List of the same Tenants; what was not mapped on standard error
    let out = run(&["migrate", "-o", "json", "examples/prstack/pr-123.yaml"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let list: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(list["kind"], "List");
    assert_eq!(list["items"].as_array().map(Vec::len), Some(2));
    assert_eq!(list["items"][0], tenants[0]);
    assert!(
        stderr(&out).contains("PRStack/default/pr-124: not mapped: spec.githubCheckRun"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn migrate_refuses_what_it_cannot_map() {
    // --tenant-id with two PRStacks
    let out = run(&[
        "migrate",
        "--tenant-id",
        "x",
        "examples/prstack/pr-123.yaml",
    ]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    // the hand-over keeps the name: --name is refused before any cluster is contacted
    let out = run(&["migrate", "--apply", "--name", "other", "pr-123"]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("--name cannot be used with --apply"),
        "{}",
        stderr(&out)
    );
    // a Tenant is not a PRStack
    let out = run(&["migrate", "examples/acme-corp.yaml"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("not a PRStack"), "{}", stderr(&out));
    assert!(stdout(&out).is_empty());
    // staging with a chosen id
    let bad = "apiVersion: shop.pilab.hu/v1alpha1\nkind: PRStack\nmetadata: {name: p}\nspec: {prNumber: 9}\n";
    let out = run_stdin(
        &[
            "migrate",
            "--type",
            "staging",
            "--tenant-id",
            "shop-qa",
            "-",
        ],
        bad,
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let t: serde_json::Value = serde_saphyr::from_str(&stdout(&out)).expect("yaml");
    assert_eq!(t["spec"]["tenantType"], "staging");
    assert_eq!(t["spec"]["tenantId"], "shop-qa");
    assert_eq!(t["spec"]["namespaceConfig"]["name"], "pr-9-shop-pilab-hu");
    // a broken prNumber: an error naming it, nothing printed
    let out = run_stdin(
        &["migrate", "-"],
        &bad.replace("prNumber: 9", "prNumber: nine"),
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("PRStack/default/p"),
        "{}",
        stderr(&out)
    );
    assert!(stdout(&out).is_empty());
}

#[test]
fn audit_policy_of_the_examples_snapshot() {
    let ex = examples();
    let mut args = vec!["audit-policy"];
    args.extend(ex.iter().map(String::as_str));
    let out = run(&args);
    assert!(out.status.success(), "{}", stderr(&out));
    let yaml = stdout(&out);
    assert!(
        yaml.starts_with("# kube-apiserver audit policy") && yaml.contains("--audit-policy-file="),
        "{yaml}"
    );
    snapshot("audit-policy.yaml", &yaml);

    // -o json is the same policy, without the comment
    args.extend(["-o", "json"]);
    let out = run(&args);
    assert!(out.status.success(), "{}", stderr(&out));
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    let from_yaml: serde_json::Value = serde_saphyr::from_str(&yaml).expect("yaml");
    assert_eq!(json, from_yaml);
    assert_eq!(json["kind"], "Policy");
    // the catch-all is last, at the default level
    assert_eq!(
        json["rules"].as_array().and_then(|r| r.last()),
        Some(&serde_json::json!({"level": "Metadata"}))
    );
}

#[test]
fn audit_policy_default_level_and_refusals() {
    let out = run(&[
        "audit-policy",
        "--default-level",
        "none",
        "-o",
        "json",
        "examples/strict-isolation.yaml",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    let rules = v["rules"].as_array().expect("rules");
    assert_eq!(rules.last(), Some(&serde_json::json!({"level": "None"})));
    assert!(
        rules.iter().any(|r| r["level"] == "RequestResponse"),
        "the strict example audits its namespace at RequestResponse: {v}"
    );

    let out = run(&[
        "audit-policy",
        "--default-level",
        "Verbose",
        "examples/acme-corp.yaml",
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("RequestResponse"), "{}", stderr(&out));

    let bad = std::fs::read_to_string(root().join("examples/acme-corp.yaml"))
        .expect("read")
        .replace("monthlyBudget: 10000", "monthlyBudget: -5");
    let out = run_stdin(&["audit-policy", "-"], &bad);
    assert_eq!(out.status.code(), Some(1));
    assert!(out.stdout.is_empty(), "no policy from an invalid Tenant");
    assert!(
        stderr(&out).contains("spec.billing.monthlyBudget"),
        "{}",
        stderr(&out)
    );
}
