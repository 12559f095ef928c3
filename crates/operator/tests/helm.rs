//! The Helm chart (deploy/chart) with a real Helm, built from its Go module by
//! `hack/components helm`, on this binary's own local control plane:
//! - `helm lint`, and `helm template` with the documented values renders exactly the plain
//!   manifests (deploy/crds, deploy/operator, deploy/operator/monitoring) plus Helm's labels;
//!   values that cannot work are refused, naming the value;
//! - `helm install` of the previous chart version (its packaged release) is accepted by the API
//!   server; the operator, run as a process with the chart's service-account token and the
//!   Deployment's own arguments, reconciles the examples; `helm upgrade` to this chart, and a
//!   restart with changed arguments, write nothing to the tenants, which stay Ready; `helm uninstall` keeps the CRDs and the Tenants, and a second install takes
//!   them over.
#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)]

mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use anyhow::{Context, Result, bail, ensure};
use common::{TIMEOUT, operator_writes_since, repo_path};
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::authentication::v1::{TokenRequest, TokenRequestSpec};
use k8s_openapi::api::core::v1::{Namespace, ServiceAccount};
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{Api, ListParams, PostParams};
use serde_json::{Value, json};
use tenant_api::Tenant;
use testenv::{ControlPlane, poll_until};
use tokio::process::{Child, Command};

/// The chart of the previous release, as `helm package` made it (upgraded from below).
const PREVIOUS_CHART: &str = "crates/operator/tests/fixtures/tenant-operator-0.1.0.tgz";
const RELEASE: &str = "tenant-operator";
const NAMESPACE: &str = "tenant-system";
/// The values under which the chart renders every plain manifest.
const ALL_ON: &[&str] = &[
    "--set",
    "crds.prstack=true",
    "--set",
    "monitoring.serviceMonitor.enabled=true",
    "--set",
    "monitoring.prometheusRule.enabled=true",
    "--set",
    "monitoring.dashboard.enabled=true",
];

fn helm_bin() -> Result<PathBuf> {
    Ok(testenv::component("helm")?.join("helm"))
}

/// Runs `helm ARGS` (as the cluster admin) from the repository root: (success, stdout, stderr).
fn helm(cp: &ControlPlane, args: &[&str]) -> Result<(bool, String, String)> {
    let out = std::process::Command::new(helm_bin()?)
        .args(args)
        .arg("--kubeconfig")
        .arg(cp.kubeconfig_path("admin"))
        .current_dir(repo_path(""))
        .output()
        .context("running helm")?;
    Ok((
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    ))
}

/// `helm template` of the chart as release RELEASE in NAMESPACE, with `extra` arguments.
fn template_args<'a>(extra: &[&'a str]) -> Vec<&'a str> {
    let mut args = vec![
        "template",
        RELEASE,
        "deploy/chart",
        "--namespace",
        NAMESPACE,
    ];
    args.extend_from_slice(extra);
    args
}

fn helm_ok(cp: &ControlPlane, args: &[&str]) -> Result<String> {
    let (ok, out, err) = helm(cp, args)?;
    ensure!(ok, "helm {args:?} failed:\n{out}{err}");
    Ok(out)
}

fn kubectl_ok(cp: &ControlPlane, args: &[&str]) -> Result<String> {
    let out = cp
        .kubectl()
        .args(args)
        .current_dir(repo_path(""))
        .output()?;
    ensure!(
        out.status.success(),
        "kubectl {args:?} failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

fn documents(text: &str) -> Result<Vec<Value>> {
    let docs: Vec<Value> = serde_saphyr::from_multiple(text).context("parsing YAML")?;
    Ok(docs.into_iter().filter(|d| !d.is_null()).collect())
}

fn key(doc: &Value) -> String {
    format!(
        "{} {} {}/{}",
        doc["apiVersion"].as_str().unwrap_or_default(),
        doc["kind"].as_str().unwrap_or_default(),
        doc["metadata"]["namespace"].as_str().unwrap_or_default(),
        doc["metadata"]["name"].as_str().unwrap_or_default()
    )
}

/// A rendered object without what only Helm adds: its release labels and the keep annotation.
fn without_helm(mut doc: Value) -> Value {
    let meta = &mut doc["metadata"];
    if let Some(labels) = meta.get_mut("labels").and_then(Value::as_object_mut) {
        for l in [
            "app.kubernetes.io/instance",
            "app.kubernetes.io/version",
            "helm.sh/chart",
        ] {
            labels.remove(l);
        }
        if labels.get("app.kubernetes.io/managed-by") == Some(&json!("Helm")) {
            labels.remove("app.kubernetes.io/managed-by");
        }
    }
    if let Some(annotations) = meta.get_mut("annotations").and_then(Value::as_object_mut) {
        annotations.remove("helm.sh/resource-policy");
        if annotations.is_empty() {
            meta.as_object_mut().unwrap().remove("annotations");
        }
    }
    doc
}

fn by_key(docs: Vec<Value>) -> BTreeMap<String, Value> {
    docs.into_iter().map(|d| (key(&d), d)).collect()
}

/// The first difference between two JSON values, as a path.
fn first_difference(a: &Value, b: &Value, path: &str) -> Option<String> {
    match (a, b) {
        (Value::Object(x), Value::Object(y)) => {
            for k in x.keys().chain(y.keys()) {
                let (va, vb) = (
                    x.get(k).unwrap_or(&Value::Null),
                    y.get(k).unwrap_or(&Value::Null),
                );
                if let Some(d) = first_difference(va, vb, &format!("{path}.{k}")) {
                    return Some(d);
                }
            }
            None
        }
        (Value::Array(x), Value::Array(y)) if x.len() == y.len() => x
            .iter()
            .zip(y)
            .enumerate()
            .find_map(|(i, (va, vb))| first_difference(va, vb, &format!("{path}[{i}]"))),
        // Whitespace aside: YAML parsers differ on the line breaks of folded scalars with
        // more-indented lines (the fence's CEL), which kustomize re-emits.
        (Value::String(x), Value::String(y)) if x.split_whitespace().eq(y.split_whitespace()) => {
            None
        }
        _ if a == b => None,
        _ => Some(format!("{path}: chart {a} / plain {b}")),
    }
}

#[tokio::test]
#[ignore = "needs Helm (hack/components helm) and the local control plane: hack/test runs it"]
async fn the_chart_lints_and_renders_the_plain_manifests_and_refuses_values_that_cannot_work()
-> Result<()> {
    let cp = ControlPlane::get().await?;
    let lint = helm_ok(cp, &["lint", "--strict", "deploy/chart"])?;
    ensure!(lint.contains("0 chart(s) failed"), "{lint}");

    // The chart with every part on, in the plain manifests' namespace, against the plain ones.
    let args = template_args(ALL_ON);
    let rendered = by_key(
        documents(&helm_ok(cp, &args)?)?
            .into_iter()
            .map(without_helm)
            .collect(),
    );
    let mut plain = Vec::new();
    for file in std::fs::read_dir(repo_path("deploy/crds"))? {
        plain.extend(documents(&std::fs::read_to_string(file?.path())?)?);
    }
    plain.extend(documents(&kubectl_ok(
        cp,
        &["kustomize", "deploy/operator"],
    )?)?);
    plain.extend(documents(&kubectl_ok(
        cp,
        &["kustomize", "deploy/operator/monitoring"],
    )?)?);
    // The release namespace is Helm's (helm install --create-namespace, or made beforehand).
    plain.retain(|d| d["kind"] != "Namespace");
    let plain = by_key(plain);
    let chart_only: Vec<_> = rendered
        .keys()
        .filter(|k| !plain.contains_key(*k))
        .collect();
    let plain_only: Vec<_> = plain
        .keys()
        .filter(|k| !rendered.contains_key(*k))
        .collect();
    ensure!(
        chart_only.is_empty() && plain_only.is_empty(),
        "only in the chart: {chart_only:?}; only in the plain manifests: {plain_only:?}"
    );
    for (k, chart) in &rendered {
        if let Some(d) = first_difference(chart, &plain[k], "") {
            bail!("{k} differs between the chart and the plain manifests at {d}");
        }
    }
    eprintln!(
        "helm template renders the {} plain objects exactly",
        rendered.len()
    );

    // Defaults: no PRStack CRD, no monitoring objects (their CRDs may be missing).
    let defaults = documents(&helm_ok(cp, &template_args(&[]))?)?;
    let kinds: Vec<String> = defaults.iter().map(key).collect();
    ensure!(
        !kinds.iter().any(|k| k.contains("prstacks.shop.pilab.hu")
            || k.contains("ServiceMonitor")
            || k.contains("PrometheusRule")),
        "{kinds:?}"
    );

    // Another namespace, Velero elsewhere, a tier table: nothing names tenant-system, the fence
    // and the shared policies' user follow the namespace, every config value reaches the args.
    let other = helm_ok(
        cp,
        &[
            "template",
            "tenants",
            "deploy/chart",
            "--namespace",
            "platform-tenancy",
            "--set",
            "config.veleroNamespace=backups",
            "--set",
            "config.concurrency=3",
            "--set",
            "config.pullSecrets={registry-a,registry-b}",
            "--set",
            "config.billingTiers.gold.cpuHourlyRate=0.05",
            "--set",
            "config.certIssuer=ClusterIssuer/letsencrypt",
            "--set",
            "config.prstacks=true",
            "--set",
            "crds.prstack=true",
        ],
    )?;
    ensure!(
        !other.contains("tenant-system"),
        "the chart in namespace platform-tenancy still names tenant-system"
    );
    ensure!(!other.contains("'velero'"), "the fence still names velero");
    let docs = documents(&other)?;
    let deployment = docs
        .iter()
        .find(|d| d["kind"] == "Deployment")
        .context("no Deployment")?;
    let args: Vec<&str> = deployment["spec"]["template"]["spec"]["containers"][0]["args"]
        .as_array()
        .context("no args")?
        .iter()
        .filter_map(Value::as_str)
        .collect();
    for want in [
        "--operator-user=system:serviceaccount:platform-tenancy:tenant-operator",
        "--lease-namespace=platform-tenancy",
        "--velero-namespace=backups",
        "--concurrency=3",
        "--pull-secret=registry-a",
        "--pull-secret=registry-b",
        "--billing-tiers=/etc/tenant-operator/billing-tiers.yaml",
        "--cert-issuer=ClusterIssuer/letsencrypt",
        "--prstacks",
    ] {
        ensure!(args.contains(&want), "{want} not in {args:?}");
    }
    let fence = docs
        .iter()
        .find(|d| d["kind"] == "ValidatingAdmissionPolicy")
        .context("no fence")?;
    ensure!(
        fence.to_string().contains(
            "request.userInfo.username == 'system:serviceaccount:platform-tenancy:tenant-operator'"
        ),
        "the fence does not name the release's user"
    );
    ensure!(
        docs.iter().any(|d| d["kind"] == "ConfigMap"
            && d["metadata"]["name"] == "tenant-operator-billing-tiers"),
        "no tier table ConfigMap"
    );

    // Values that cannot work are refused with the value's name.
    for (set, says) in [
        (
            vec![
                "--set",
                "replicaCount=2",
                "--set",
                "leaderElection.enabled=false",
            ],
            "leaderElection.enabled",
        ),
        (vec!["--set", "config.logFormat=xml"], "logFormat"),
        (vec!["--set", "config.concurrency=0"], "concurrency"),
        (vec!["--set", "config.nosuchFlag=1"], "nosuchFlag"),
        (vec!["--set", "config.prstacks=true"], "crds.prstack"),
    ] {
        let args = template_args(&set);
        let (ok, out, err) = helm(cp, &args)?;
        ensure!(!ok, "helm {args:?} was accepted:\n{out}");
        ensure!(
            err.contains(says),
            "helm {args:?} refused without naming {says}:\n{err}"
        );
    }
    Ok(())
}

/// A kubeconfig acting with the bearer token of the chart's service account (a TokenRequest),
/// against this plane.
async fn service_account_kubeconfig(cp: &ControlPlane, dir: &Path) -> Result<PathBuf> {
    let admin = cp.admin_client().await?;
    let sas: Api<ServiceAccount> = Api::namespaced(admin, NAMESPACE);
    let token: TokenRequest = sas
        .create_token_request(
            "tenant-operator",
            &PostParams::default(),
            &TokenRequest {
                spec: TokenRequestSpec {
                    audiences: vec![],
                    expiration_seconds: Some(3600),
                    ..Default::default()
                },
                ..Default::default()
            },
        )
        .await
        .context("a token of the chart's service account")?;
    let token = token.status.context("no token")?.token;
    let text = std::fs::read_to_string(cp.kubeconfig_path("admin"))?;
    let mut config: Value = serde_saphyr::from_str(&text)?;
    for user in config["users"].as_array_mut().context("no users")? {
        user["user"] = json!({ "token": token });
    }
    let path = dir.join("chart-sa.kubeconfig");
    std::fs::write(&path, serde_json::to_vec_pretty(&config)?)?;
    Ok(path)
}

fn free_port() -> Result<u16> {
    let l = std::net::TcpListener::bind("127.0.0.1:0")?;
    Ok(l.local_addr()?.port())
}

/// The operator binary run as the chart's Deployment would run it: its container's arguments,
/// environment (the pod name and namespace from the downward API) and the service account's
/// token; only the metrics address is moved to a free local port.
async fn run_as_deployment(cp: &ControlPlane, kubeconfig: &Path, log: &Path) -> Result<Child> {
    let admin = cp.admin_client().await?;
    let d = Api::<Deployment>::namespaced(admin, NAMESPACE)
        .get("tenant-operator")
        .await?;
    let container = d
        .spec
        .and_then(|s| s.template.spec)
        .map(|s| s.containers[0].clone())
        .context("no container")?;
    let port = free_port()?;
    let args: Vec<String> = container
        .args
        .unwrap_or_default()
        .into_iter()
        .map(|a| {
            if a.starts_with("--metrics-addr=") {
                format!("--metrics-addr=127.0.0.1:{port}")
            } else {
                a
            }
        })
        .collect();
    ensure!(args.contains(&"--leader-elect".to_string()), "{args:?}");
    let out = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(log)?;
    Command::new(env!("CARGO_BIN_EXE_tenant-operator"))
        .args(&args)
        .env("KUBECONFIG", kubeconfig)
        .env("POD_NAME", "tenant-operator-helm-test")
        .env("TENANT_OPERATOR_NAMESPACE", NAMESPACE)
        .env("RUST_LOG", "info")
        .stdout(Stdio::from(out.try_clone()?))
        .stderr(Stdio::from(out))
        .kill_on_drop(true)
        .spawn()
        .context("starting the tenant-operator binary")
}

async fn sigterm(mut child: Child) -> Result<()> {
    let pid = child.id().context("no pid")?;
    let st = std::process::Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .status()?;
    ensure!(st.success(), "kill -TERM failed");
    let status = tokio::time::timeout(Duration::from_secs(30), child.wait()).await??;
    ensure!(status.success(), "the operator exited {status}");
    Ok(())
}

/// Every Tenant in the cluster Ready=True, as `namespace/name -> status namespace`.
async fn all_ready(cp: &ControlPlane, expected: usize) -> Result<BTreeMap<String, String>> {
    let admin = cp.admin_client().await?;
    let tenants: Api<Tenant> = Api::all(admin);
    poll_until(
        &format!("all {expected} example Tenants Ready"),
        TIMEOUT,
        || {
            let tenants = tenants.clone();
            async move {
                let list = tenants
                    .list(&ListParams::default())
                    .await
                    .map_err(|e| e.to_string())?;
                let mut out = BTreeMap::new();
                let mut waiting = Vec::new();
                for t in list.items {
                    let name = format!(
                        "{}/{}",
                        t.metadata.namespace.clone().unwrap_or_default(),
                        t.metadata.name.clone().unwrap_or_default()
                    );
                    let ready = common::condition(&t, "Ready").is_some_and(|c| c.status == "True");
                    match (ready, t.status.as_ref().and_then(|s| s.namespace.clone())) {
                        (true, Some(ns)) => {
                            out.insert(name, ns);
                        }
                        _ => waiting.push(format!("{name}: {}", common::conditions(&t))),
                    }
                }
                if out.len() == expected && waiting.is_empty() {
                    Ok(out)
                } else {
                    Err(format!("{} ready; waiting: {waiting:?}", out.len()))
                }
            }
        },
    )
    .await
    .map_err(Into::into)
}

#[tokio::test]
#[ignore = "needs Helm (hack/components helm) and the local control plane: hack/test runs it"]
async fn helm_installs_upgrades_and_uninstalls_and_the_operator_reconciles_the_examples()
-> Result<()> {
    let cp = ControlPlane::get().await?;
    let admin = cp.admin_client().await?;
    let dir = cp.state_dir().join("helm-test");
    std::fs::create_dir_all(&dir)?;
    let docs = std::fs::read_to_string(repo_path("docs/helm.md"))?;
    for command in [
        "kubectl create namespace tenant-system",
        "kubectl label namespace tenant-system pod-security.kubernetes.io/enforce=restricted",
        "helm install tenant-operator deploy/chart --namespace tenant-system --wait",
    ] {
        ensure!(
            docs.contains(command),
            "docs/helm.md no longer installs with `{command}`: update this test with it"
        );
    }
    // prometheus-operator's CRDs, so that the monitoring objects can be installed.
    let prom = testenv::component("prometheus-crds")?;
    kubectl_ok(
        cp,
        &["apply", "--server-side", "-f", &prom.to_string_lossy()],
    )?;
    // The release namespace, made as docs/helm.md says: Pod Security restricted.
    kubectl_ok(cp, &["create", "namespace", NAMESPACE])?;
    kubectl_ok(
        cp,
        &[
            "label",
            "namespace",
            NAMESPACE,
            "pod-security.kubernetes.io/enforce=restricted",
        ],
    )?;

    // First the previous chart version, as packaged for its release (tests/fixtures): the
    // upgrade below is the one a user makes.
    let previous = repo_path(PREVIOUS_CHART);
    let mut first = vec![
        "install",
        RELEASE,
        previous.as_str(),
        "--namespace",
        NAMESPACE,
        "--wait",
        "--timeout",
        "120s",
    ];
    first.extend_from_slice(ALL_ON);
    let mut install = vec![
        "install",
        RELEASE,
        "deploy/chart",
        "--namespace",
        NAMESPACE,
        "--wait",
        "--timeout",
        "120s",
    ];
    install.extend_from_slice(ALL_ON);
    let out = helm_ok(cp, &first)?;
    ensure!(out.contains("STATUS: deployed"), "{out}");
    ensure!(
        out.contains("kubectl tenant validate"),
        "NOTES say the next step:\n{out}"
    );
    let crds: Api<CustomResourceDefinition> = Api::all(admin.clone());
    let tenants_crd = crds.get("tenants.shop.pilab.hu").await?;
    ensure!(
        tenants_crd
            .metadata
            .annotations
            .unwrap_or_default()
            .get("helm.sh/resource-policy")
            .map(String::as_str)
            == Some("keep"),
        "the Tenant CRD is not kept on uninstall"
    );
    // --wait: the two replicas became available on the (fake) nodes, under Pod Security.
    let d = Api::<Deployment>::namespaced(admin.clone(), NAMESPACE)
        .get("tenant-operator")
        .await?;
    ensure!(
        d.status.and_then(|s| s.available_replicas) == Some(2),
        "the Deployment is not available with 2 replicas"
    );

    // The operator with the chart's token and arguments reconciles the examples.
    let kubeconfig = service_account_kubeconfig(cp, &dir).await?;
    let log = dir.join("operator.log");
    let op = run_as_deployment(cp, &kubeconfig, &log).await?;
    let examples = std::fs::read_dir(repo_path("examples"))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "yaml"))
        .count();
    let out = kubectl_ok(cp, &["apply", "--server-side", "-f", "examples/"])?;
    let expected = out.lines().filter(|l| l.starts_with("tenant.")).count();
    ensure!(expected >= examples, "{out}");
    let ready = all_ready(cp, expected).await?;
    eprintln!(
        "{} example Tenants Ready under the chart's service account",
        ready.len()
    );
    let tenant_namespaces: Vec<String> = ready.values().cloned().collect();
    plugin_reads_the_context_it_is_told(cp, &dir, &ready).await?;

    // Settled first: Ready is written before the last status fields (the first cost accrual).
    poll_until("no writes to the tenants for 5 s", TIMEOUT, || {
        let namespaces = tenant_namespaces.clone();
        async move {
            let since = jiff::Timestamp::now() - jiff::SignedDuration::from_secs(5);
            match common::writes_since(cp, since, &namespaces, None, true) {
                Ok(w) if w.is_empty() => Ok(()),
                Ok(w) => Err(format!("{w:?}")),
                Err(e) => Err(e.to_string()),
            }
        }
    })
    .await?;
    // helm upgrade from the previous chart version to this one (its CRDs gain fields, its
    // operator flags stay): the tenants see no write, by anyone, and stay Ready.
    let since = jiff::Timestamp::now();
    let mut upgrade = vec!["upgrade", RELEASE, "deploy/chart", "--namespace", NAMESPACE];
    upgrade.extend_from_slice(ALL_ON);
    helm_ok(cp, &upgrade)?;
    tokio::time::sleep(Duration::from_secs(5)).await;
    let writes = common::writes_since(cp, since, &tenant_namespaces, None, true)?;
    ensure!(
        writes.is_empty(),
        "the upgrade from the previous chart wrote to tenants: {writes:?}"
    );
    all_ready(cp, expected).await?;
    let chart = std::fs::read_to_string(repo_path("deploy/chart/Chart.yaml"))?;
    let version = chart
        .lines()
        .find_map(|l| l.strip_prefix("version: "))
        .context("deploy/chart/Chart.yaml has no version")?;
    ensure!(
        !PREVIOUS_CHART.ends_with(&format!("-{version}.tgz")),
        "deploy/chart is still version {version}, the previous chart's"
    );
    let history = helm_ok(cp, &["history", RELEASE, "--namespace", NAMESPACE])?;
    ensure!(
        history.contains(&format!("tenant-operator-{version}")),
        "the release is not at chart {version}:\n{history}"
    );

    // An upgrade that changes a flag rolls the pods: the operator restarted with the new
    // arguments writes nothing to unchanged tenants either.
    let mut changed = upgrade.clone();
    changed.extend_from_slice(&["--set", "config.concurrency=4"]);
    helm_ok(cp, &changed)?;
    sigterm(op).await?;
    let since = jiff::Timestamp::now();
    let op = run_as_deployment(cp, &kubeconfig, &log).await?;
    tokio::time::sleep(Duration::from_secs(10)).await;
    let writes = operator_writes_since(cp, since, &tenant_namespaces)?;
    ensure!(
        writes.is_empty(),
        "the restarted operator wrote to unchanged tenants: {writes:?}"
    );
    all_ready(cp, expected).await?;
    let history = helm_ok(cp, &["history", RELEASE, "--namespace", NAMESPACE])?;
    ensure!(
        history.lines().count() == 4,
        "three revisions expected:\n{history}"
    );
    sigterm(op).await?;

    // Uninstall: the operator's objects go, the CRDs and the Tenants stay.
    helm_ok(
        cp,
        &["uninstall", RELEASE, "--namespace", NAMESPACE, "--wait"],
    )?;
    ensure!(
        Api::<Deployment>::namespaced(admin.clone(), NAMESPACE)
            .get_opt("tenant-operator")
            .await?
            .is_none(),
        "the Deployment outlived the uninstall"
    );
    let fence = kubectl_ok(cp, &["get", "validatingadmissionpolicies", "-o", "name"])?;
    ensure!(!fence.contains("tenant-operator-fence"), "{fence}");
    crds.get("tenants.shop.pilab.hu").await?;
    let left = Api::<Tenant>::all(admin.clone())
        .list(&ListParams::default())
        .await?;
    ensure!(
        left.items.len() == expected,
        "{} Tenants left",
        left.items.len()
    );
    for ns in &tenant_namespaces {
        ensure!(
            Api::<Namespace>::all(admin.clone())
                .get_opt(ns)
                .await?
                .is_some(),
            "{ns} went with the uninstall"
        );
    }

    // Installed again: the kept CRDs are taken over by the new release.
    let out = helm_ok(cp, &install)?;
    ensure!(out.contains("STATUS: deployed"), "{out}");

    // Moving from the plain manifests (docs/helm.md): an install made with kubectl is taken over
    // by `helm install --take-ownership`, its Deployment updated in place.
    helm_ok(
        cp,
        &["uninstall", RELEASE, "--namespace", NAMESPACE, "--wait"],
    )?;
    kubectl_ok(cp, &["apply", "--server-side", "-k", "deploy/operator/"])?;
    let deployments = Api::<Deployment>::namespaced(admin.clone(), NAMESPACE);
    let before = deployments.get("tenant-operator").await?.metadata.uid;
    let docs = std::fs::read_to_string(repo_path("docs/helm.md"))?;
    ensure!(
        docs.contains("helm install --take-ownership"),
        "docs/helm.md"
    );
    let mut take = install.clone();
    take.extend_from_slice(&["--take-ownership", "--force-conflicts"]);
    let out = helm_ok(cp, &take)?;
    ensure!(out.contains("STATUS: deployed"), "{out}");
    let after = deployments.get("tenant-operator").await?;
    ensure!(
        after.metadata.uid == before,
        "the Deployment was replaced, not adopted"
    );
    ensure!(
        after
            .metadata
            .labels
            .unwrap_or_default()
            .get("app.kubernetes.io/managed-by")
            == Some(&"Helm".to_string()),
        "the adopted Deployment does not carry Helm's label"
    );
    Ok(())
}

/// `kubectl tenant --kubeconfig F --context C` (docs/plugin.md) against this plane: a
/// kubeconfig whose current context is a dead address works only with `--context`, whatever
/// `$KUBECONFIG` says, and a failure names the context.
async fn plugin_reads_the_context_it_is_told(
    cp: &ControlPlane,
    dir: &Path,
    ready: &BTreeMap<String, String>,
) -> Result<()> {
    let text = std::fs::read_to_string(cp.kubeconfig_path("admin"))?;
    let mut config: Value = serde_saphyr::from_str(&text)?;
    let mut cluster = config["clusters"][0].clone();
    cluster["name"] = json!("nowhere");
    cluster["cluster"]["server"] = json!("https://127.0.0.1:1");
    config["clusters"].as_array_mut().unwrap().push(cluster);
    let mut context = config["contexts"][0].clone();
    let plane = context["name"].as_str().unwrap_or_default().to_string();
    context["name"] = json!("nowhere");
    context["context"]["cluster"] = json!("nowhere");
    config["contexts"].as_array_mut().unwrap().push(context);
    config["current-context"] = json!("nowhere");
    let file = dir.join("two-contexts.kubeconfig");
    std::fs::write(&file, serde_json::to_vec_pretty(&config)?)?;
    let file = file.to_string_lossy().into_owned();
    let bin = common::kubectl_tenant()?;
    let run = |args: Vec<String>| {
        let bin = bin.clone();
        async move {
            tokio::task::spawn_blocking(move || {
                std::process::Command::new(bin)
                    .args(args)
                    .env("KUBECONFIG", "/nonexistent/kubeconfig")
                    .output()
            })
            .await?
            .map_err(anyhow::Error::from)
        }
    };
    let args = |extra: &[&str]| -> Vec<String> {
        ["--kubeconfig", &file, "cost", "-A"]
            .iter()
            .chain(extra)
            .map(|s| s.to_string())
            .collect()
    };
    let out = run(args(&["--context", &plane, "-o", "json"])).await?;
    ensure!(
        out.status.success(),
        "cost --context {plane}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let rows: Vec<Value> = serde_json::from_slice(&out.stdout)?;
    for tenant in ready.keys() {
        ensure!(
            rows.iter().any(|r| r["tenant"] == tenant.as_str()),
            "cost -A --context {plane} does not list {tenant}: {rows:?}"
        );
    }
    let out = run(args(&["--context", &plane, "-o", "wide"])).await?;
    let wide = String::from_utf8_lossy(&out.stdout);
    ensure!(
        out.status.success() && wide.contains("MONTH-PROJECTED") && wide.contains("ACCRUED-AT"),
        "cost -o wide: {wide}"
    );
    // The current context (nowhere) fails, and says which one.
    let out = run(args(&[])).await?;
    let err = String::from_utf8_lossy(&out.stderr);
    ensure!(
        out.status.code() == Some(2) && err.contains(&file),
        "without --context: exit {:?}: {err}",
        out.status.code()
    );
    let out = run(args(&["--context", "no-such-context"])).await?;
    let err = String::from_utf8_lossy(&out.stderr);
    ensure!(
        out.status.code() == Some(2) && err.contains("no-such-context"),
        "an unknown context: exit {:?}: {err}",
        out.status.code()
    );
    Ok(())
}
