//! `tenant-bench`: how fast and how frugally the operator makes N tenants Ready on the local
//! control plane, next to a bare server-side-apply client doing the same work.
//!
//! One run, three phases, on one control plane:
//! 1. bare client: for N tenants, server-side apply exactly the objects `kubectl tenant render`
//!    prints (the lower bound: no watch, no status, no validation);
//! 2. operator: the real `tenant-operator` binary, as its least-privilege user, reconciles N
//!    Tenants; time from create to Ready per tenant, API writes from the apiserver's audit log,
//!    peak RSS from /proc;
//! 3. forced resync: the operator is restarted, reconciles every tenant again, and every write it
//!    makes is counted (the target is zero).
//!
//! Usage: cargo build --release -p tenant-operator -p tenant-bench
//!        target/release/tenant-bench --tenants 1000

mod cost_model;
mod costs;

use anyhow::{Context, Result, anyhow, bail};
use clap::Parser;
use futures::{StreamExt, TryStreamExt, stream};
use kube::api::{Api, DynamicObject, Patch, PatchParams, PostParams};
use kube::core::{ApiResource, GroupVersionKind};
use kube::runtime::{WatchStreamExt, watcher};
use kube::{Client, ResourceExt};
use serde_json::Value;
use std::collections::{BTreeMap, HashMap};
use std::io::{BufRead, BufReader, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::time::{Duration, Instant};
use tenant_api::Tenant;
use tenant_core::build::{self, BuildContext};
use testenv::{ControlPlane, OPERATOR_USER};

#[derive(Parser)]
#[command(
    about = "Create N tenants with the operator and with a bare SSA client; report times, writes, memory"
)]
struct Args {
    /// How many tenants each phase creates.
    #[arg(long, default_value_t = 100)]
    tenants: usize,
    /// Tenants in flight at once (bare client and Tenant creation); the operator runs with its
    /// default concurrency unless --operator-concurrency is given.
    #[arg(long, default_value_t = 8)]
    concurrency: usize,
    /// Skip the bare client's phase (its figures print as 0): the operator's time, writes and
    /// memory in a third of the time, e.g. to check memory after a change (objects per tenant
    /// then count every rendered object, served or not).
    #[arg(long)]
    operator_only: bool,
    /// Passed to the operator's --concurrency.
    #[arg(long)]
    operator_concurrency: Option<usize>,
    /// The operator binary (build it with --release for meaningful figures).
    #[arg(long, default_value = "target/release/tenant-operator")]
    operator_bin: PathBuf,
    /// The Tenant used as the template (its tenantId is replaced per tenant).
    #[arg(long, default_value = "examples/customer-shop-1.yaml")]
    template: PathBuf,
    /// How long to wait for all tenants to become Ready.
    #[arg(long, default_value_t = 1800)]
    timeout_seconds: u64,
    /// Instead of the phases: the API server's CPU per request of each kind the operator model
    /// makes (the tenant's objects, the Tenant's own writes), N requests of each.
    #[arg(long, value_name = "N")]
    request_costs: Option<usize>,
    /// Instead of the phases, and without a cluster: the cost model's speed for N tenants over
    /// a simulated month of hourly accounting rounds.
    #[arg(long, value_name = "N")]
    cost_model: Option<usize>,
}

const BENCH_NS: &str = "tenant-bench";

#[tokio::main]
async fn main() -> Result<()> {
    let args = Args::parse();
    if let Some(n) = args.cost_model {
        return cost_model::run(n);
    }
    let root = std::env::current_dir()?;
    if !args.operator_bin.exists() {
        bail!(
            "{} not found: cargo build --release -p tenant-operator",
            args.operator_bin.display()
        );
    }
    let cp = ControlPlane::get().await.map_err(|e| anyhow!("{e}"))?;
    let admin = cp.admin_client().await.map_err(|e| anyhow!("{e}"))?;
    eprintln!("bench: control plane {}", cp.state_dir().display());
    install(cp, &root)?;
    let template = load_template(&root.join(&args.template))?;
    if let Some(n) = args.request_costs {
        return costs::request_costs(cp, &admin, &template, n.max(1)).await;
    }

    // Phase 1: the bare client.
    let cpu0 = plane_cpu(cp);
    let bare = if args.operator_only {
        Timings {
            total: Duration::ZERO,
            applied: None,
            per_tenant: Vec::new(),
            writes: 0,
            objects_per_tenant: build::tenant_objects(
                &tenant_named(&template, "count", BENCH_NS),
                &BuildContext::default(),
            )?
            .len(),
        }
    } else {
        bare_client(&admin, &template, &args).await?
    };
    let cpu1 = plane_cpu(cp);
    if !args.operator_only {
        // The bare client's domain map goes: the operator keeps its own, and keys of another
        // field manager left in it would make the operator's map differ from the live one after
        // a restart.
        Api::<k8s_openapi::api::core::v1::ConfigMap>::namespaced(
            admin.clone(),
            build::DEFAULT_OPERATOR_NAMESPACE,
        )
        .delete(build::domains::CONFIG_MAP, &Default::default())
        .await?;
        eprintln!(
            "bench: bare client applied {} tenants in {:.1} s",
            args.tenants,
            bare.total.as_secs_f64()
        );
        // The bare client's namespaces go before the operator starts, so both phases run on the
        // same cluster (their pods would otherwise keep the controllers, the scheduler and kwok
        // busy, and slow the operator phase down).
        let gone =
            delete_bare_namespaces(&admin, Duration::from_secs(args.timeout_seconds)).await?;
        eprintln!(
            "bench: the bare client's namespaces deleted in {:.1} s",
            gone.as_secs_f64()
        );
    }

    // Phase 2: the operator.
    ensure_namespace(&admin, BENCH_NS).await?;
    let audit = cp.audit_log_path();
    let audit_start = file_len(&audit)?;
    let cpu2 = plane_cpu(cp);
    let mut op = Operator::start(cp, &args)?;
    op.wait_ready().await?;
    let created_ready = operator_phase(&admin, &template, &args, &mut op).await?;
    let cpu3 = plane_cpu(cp);
    let op_cpu = op.cpu_seconds();
    let op_reconciles = op.reconciles();
    let quiet = Duration::from_secs(5);
    tokio::time::sleep(quiet).await; // let trailing status writes land in the audit log
    let writes = count_writes(&audit, audit_start)?;
    let rss = op.peak_rss_kib()?;
    eprintln!(
        "bench: operator made {} tenants Ready in {:.1} s",
        args.tenants,
        created_ready.total.as_secs_f64()
    );

    // Phase 3: forced resync by restart.
    op.stop()?;
    let resync_start = file_len(&audit)?;
    let mut op = Operator::start(cp, &args)?;
    let t = Instant::now();
    op.wait_ready().await?;
    let reconciled = op
        .wait_reconciles(
            args.tenants as u64,
            Duration::from_secs(args.timeout_seconds),
        )
        .await?;
    let resync_time = t.elapsed();
    let resync_cpu = op.cpu_seconds();
    tokio::time::sleep(quiet).await;
    let resync_writes = count_writes(&audit, resync_start)?;
    let resync_rss = op.peak_rss_kib()?;
    op.stop()?;

    let n = args.tenants as f64;
    let objects = bare.objects_per_tenant;
    println!("## tenant-bench: {} tenants\n", args.tenants);
    println!(
        "Template `{}`: {} objects per tenant. Kubernetes {}; {} CPUs. Concurrency: client {}, operator {}.\n",
        args.template.display(),
        objects,
        server_version(&admin).await?,
        std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(0),
        args.concurrency,
        args.operator_concurrency
            .map(|c| c.to_string())
            .unwrap_or_else(|| "default".into())
    );
    println!("| | bare SSA client | operator |");
    println!("|---|---|---|");
    if args.operator_only {
        println!(
            "| all {} Ready (applied, quota enforced) | skipped | {:.1} s |",
            args.tenants,
            created_ready.total.as_secs_f64()
        );
    } else {
        println!(
            "| all {} Ready (applied, quota enforced) | {:.1} s | {:.1} s ({:.2}x) |",
            args.tenants,
            bare.total.as_secs_f64(),
            created_ready.total.as_secs_f64(),
            created_ready.total.as_secs_f64() / bare.total.as_secs_f64().max(1e-9)
        );
    }
    println!(
        "| all {} applied (quotas not yet enforced) | {:.1} s | |",
        args.tenants,
        bare.applied.unwrap_or_default().as_secs_f64()
    );
    println!(
        "| per tenant p50 / p99 | {} / {} | {} / {} |",
        ms(percentile(&bare.per_tenant, 0.50)),
        ms(percentile(&bare.per_tenant, 0.99)),
        ms(percentile(&created_ready.per_tenant, 0.50)),
        ms(percentile(&created_ready.per_tenant, 0.99))
    );
    println!(
        "| API writes per tenant | {:.1} | {:.1} |",
        bare.writes as f64 / n,
        writes.total as f64 / n
    );
    println!("| operator peak RSS | | {:.1} MiB |", rss as f64 / 1024.0);
    println!(
        "| operator CPU, reconciles | | {op_cpu:.1} s, {op_reconciles} ({:.1} ms each) |",
        op_cpu * 1000.0 / (op_reconciles.max(1) as f64)
    );
    println!();
    println!(
        "Control plane CPU while the bare client ran: {}; while the operator ran: {}.",
        cpu_used(&cpu0, &cpu1),
        cpu_used(&cpu2, &cpu3)
    );
    println!();
    println!(
        "Operator writes by resource and verb: {}",
        fmt_map(&writes.by_resource)
    );
    println!();
    println!(
        "Forced resync (operator restarted): {} reconciles in {:.1} s ({:.1} s operator CPU, start-up included), **{} writes**{}; peak RSS {:.1} MiB.",
        reconciled,
        resync_time.as_secs_f64(),
        resync_cpu,
        resync_writes.total,
        if resync_writes.total > 0 {
            format!(" ({})", fmt_map(&resync_writes.by_resource))
        } else {
            String::new()
        },
        resync_rss as f64 / 1024.0
    );
    Ok(())
}

fn ms(d: Duration) -> String {
    format!("{} ms", d.as_millis())
}

fn fmt_map(m: &BTreeMap<String, u64>) -> String {
    if m.is_empty() {
        return "none".into();
    }
    m.iter()
        .map(|(k, v)| format!("{k} {v}"))
        .collect::<Vec<_>>()
        .join(", ")
}

fn percentile(v: &[Duration], p: f64) -> Duration {
    if v.is_empty() {
        return Duration::ZERO;
    }
    let mut s = v.to_vec();
    s.sort();
    let idx = ((s.len() as f64 - 1.0) * p).round() as usize;
    s[idx.min(s.len() - 1)]
}

/// CRDs and the operator's RBAC, with the plane's own kubectl.
fn install(cp: &ControlPlane, root: &Path) -> Result<()> {
    let mut cmd = cp.kubectl();
    cmd.args(["apply", "--server-side", "-f"])
        .arg(root.join("deploy/crds"));
    for f in [
        "namespace.yaml",
        "serviceaccount.yaml",
        "rbac.yaml",
        "fence.yaml",
    ] {
        cmd.arg("-f").arg(root.join("deploy/operator").join(f));
    }
    let out = cmd.output().context("running kubectl")?;
    if !out.status.success() {
        bail!("kubectl apply: {}", String::from_utf8_lossy(&out.stderr));
    }
    let out = cp
        .kubectl()
        .args([
            "wait",
            "--for=condition=Established",
            "crd",
            "--all",
            "--timeout=60s",
        ])
        .output()?;
    if !out.status.success() {
        bail!(
            "CRDs not established: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    Ok(())
}

fn load_template(path: &Path) -> Result<Tenant> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    serde_saphyr::from_str(&text).map_err(|e| anyhow!("{}: {e}", path.display()))
}

fn tenant_named(template: &Tenant, id: &str, namespace: &str) -> Tenant {
    let mut spec = template.spec.clone();
    spec.tenant_id = id.to_string();
    // Every tenant its own host under the template's domain: a host belongs to one tenant (the
    // operator's domain map then holds one entry per tenant).
    if let Some(d) = spec.custom_domain.as_mut() {
        *d = format!("{id}.{}", d.trim_start_matches("*."));
    }
    let mut t = Tenant::new(id, spec);
    t.metadata.namespace = Some(namespace.to_string());
    t
}

async fn ensure_namespace(client: &Client, name: &str) -> Result<()> {
    let api: Api<k8s_openapi::api::core::v1::Namespace> = Api::all(client.clone());
    let ns =
        serde_json::json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}});
    api.patch(name, &PatchParams::apply("tenant-bench"), &Patch::Apply(ns))
        .await?;
    Ok(())
}

async fn server_version(client: &Client) -> Result<String> {
    Ok(client.apiserver_version().await?.git_version)
}

struct Timings {
    total: Duration,
    /// Bare client only: when the last object was applied (before the quotas were enforced).
    applied: Option<Duration>,
    per_tenant: Vec<Duration>,
    writes: u64,
    objects_per_tenant: usize,
}

/// Resolves (and caches) the API resource of each kind the builders produce.
struct Resources {
    client: Client,
    cache: tokio::sync::Mutex<HashMap<String, ApiResource>>,
}

impl Resources {
    async fn api(&self, obj: &tenant_core::Object) -> Result<Api<DynamicObject>> {
        let key = format!("{}/{}", obj.api_version, obj.kind);
        let ar = {
            let mut cache = self.cache.lock().await;
            match cache.get(&key) {
                Some(ar) => ar.clone(),
                None => {
                    let (group, version) = match obj.api_version.split_once('/') {
                        Some((g, v)) => (g.to_string(), v.to_string()),
                        None => (String::new(), obj.api_version.clone()),
                    };
                    let gvk = GroupVersionKind::gvk(&group, &version, &obj.kind);
                    let (ar, _) = kube::discovery::pinned_kind(&self.client, &gvk).await?;
                    cache.insert(key, ar.clone());
                    ar
                }
            }
        };
        Ok(match &obj.namespace {
            Some(ns) => Api::namespaced_with(self.client.clone(), ns, &ar),
            None => Api::all_with(self.client.clone(), &ar),
        })
    }

    /// The kinds of `objects` the cluster does not serve (optional integrations whose CRD is
    /// not installed): the operator skips their objects, and so does the bare client.
    async fn not_served(&self, objects: &[tenant_core::Object]) -> Vec<String> {
        let mut out = Vec::new();
        for obj in objects {
            let optional = tenant_core::registry::find(&obj.api_version, &obj.kind)
                .is_some_and(|k| k.optional());
            if optional && !out.contains(&obj.kind) && self.api(obj).await.is_err() {
                out.push(obj.kind.clone());
            }
        }
        out
    }
}

async fn bare_client(admin: &Client, template: &Tenant, args: &Args) -> Result<Timings> {
    let res = Resources {
        client: admin.clone(),
        cache: Default::default(),
    };
    let pp = PatchParams::apply("tenant-bench-bare").force();
    let ctx = BuildContext::default();
    for obj in build::shared_objects(&ctx)? {
        res.api(&obj)
            .await?
            .patch(&obj.name, &pp, &Patch::Apply(&obj.manifest))
            .await?;
    }
    let tenants: Vec<Tenant> = (0..args.tenants)
        .map(|i| tenant_named(template, &format!("bare-{i}"), BENCH_NS))
        .collect();
    // The domain map the ingress-hosts policy reads (a bare client keeps it too: without it the
    // API server refuses every Ingress in tenant namespaces). One write for all tenants.
    ensure_namespace(admin, build::DEFAULT_OPERATOR_NAMESPACE).await?;
    let map = build::domains::config_map(
        &tenants,
        build::DEFAULT_OPERATOR_NAMESPACE,
        build::domains::Unclaimed::Allow,
    );
    res.api(&map)
        .await?
        .patch(&map.name, &pp, &Patch::Apply(&map.manifest))
        .await?;
    let not_served = res
        .not_served(&build::tenant_objects(&tenants[0], &ctx)?)
        .await;
    if !not_served.is_empty() {
        eprintln!("bench: not served here, skipped by both clients: {not_served:?}");
    }
    let served = |o: &tenant_core::Object| !not_served.contains(&o.kind);
    let objects_per_tenant = build::tenant_objects(&tenants[0], &ctx)?
        .iter()
        .filter(|o| served(o))
        .count();
    // The same "Ready" as the operator's: applied, the quota enforced (kube-controller-manager
    // has filled in status.hard; until then the apiserver refuses the namespace's pods), and
    // every service's Deployment available.
    let quotas = quota_enforced_watch(admin.clone(), "bare-");
    let services = template.spec.services.as_ref().map_or(0, Vec::len);
    let deployments =
        (services > 0).then(|| deployments_available_watch(admin.clone(), "bare-", services));
    let start = Instant::now();
    let results: Vec<(String, Instant, Duration, u64)> = stream::iter(tenants.iter())
        .map(|t| {
            let (res, pp, ctx, served) = (&res, &pp, &ctx, &served);
            async move {
                let t0 = Instant::now();
                let mut writes = 0;
                let mut objects = build::tenant_objects(t, ctx)?;
                objects.retain(|o| served(o));
                for obj in &mut objects {
                    disown(obj);
                }
                for obj in &objects {
                    res.api(obj)
                        .await?
                        .patch(&obj.name, pp, &Patch::Apply(&obj.manifest))
                        .await
                        .with_context(|| format!("applying {}", obj.key()))?;
                    writes += 1;
                }
                let ns = objects[0].name.clone();
                Ok::<_, anyhow::Error>((ns, t0, t0.elapsed(), writes))
            }
        })
        .buffer_unordered(args.concurrency)
        .try_collect()
        .await?;
    let applied = start.elapsed();
    let mut enforced = quotas
        .wait_for(args.tenants, Duration::from_secs(args.timeout_seconds))
        .await?;
    if let Some(d) = deployments {
        let available = d
            .wait_for(args.tenants, Duration::from_secs(args.timeout_seconds))
            .await?;
        for (ns, at) in available {
            let e = enforced.entry(ns).or_insert(at);
            *e = (*e).max(at);
        }
    }
    let mut per_tenant = Vec::new();
    let mut last = start;
    for (ns, t0, apply_time, _) in &results {
        let at = enforced
            .get(ns)
            .copied()
            .unwrap_or(*t0 + *apply_time)
            .max(*t0 + *apply_time);
        last = last.max(at);
        per_tenant.push(at.duration_since(*t0));
    }
    Ok(Timings {
        total: last.duration_since(start),
        applied: Some(applied),
        per_tenant,
        writes: results.iter().map(|r| r.3).sum(),
        objects_per_tenant,
    })
}

/// Deletes the bare client's namespaces (`managed-by=tenant-bench`) and waits until they are
/// gone; returns how long that took.
async fn delete_bare_namespaces(admin: &Client, timeout: Duration) -> Result<Duration> {
    let api: Api<k8s_openapi::api::core::v1::Namespace> = Api::all(admin.clone());
    let lp = kube::api::ListParams::default().labels("app.kubernetes.io/managed-by=tenant-bench");
    let t = Instant::now();
    // Namespaces have no deletecollection: one delete each.
    let names: Vec<String> = api
        .list_metadata(&lp)
        .await?
        .items
        .into_iter()
        .filter_map(|n| n.metadata.name)
        .collect();
    stream::iter(names)
        .map(|n| {
            let api = api.clone();
            async move { api.delete(&n, &Default::default()).await.map(|_| ()) }
        })
        .buffer_unordered(8)
        .try_collect::<Vec<()>>()
        .await?;
    loop {
        let left = api.list_metadata(&lp.clone().limit(1)).await?;
        if left.items.is_empty() {
            return Ok(t.elapsed());
        }
        if t.elapsed() > timeout {
            bail!(
                "the bare client's namespaces are not gone after {} s",
                timeout.as_secs()
            );
        }
        tokio::time::sleep(Duration::from_secs(2)).await;
    }
}

/// Marks a bare-client object as the benchmark's, not the operator's: the same object, but the
/// operator's caches (which select `managed-by=tenant-operator`) do not hold it, so the operator
/// phase is measured with only its own objects in memory.
fn disown(obj: &mut tenant_core::Object) {
    if let Some(labels) = obj
        .manifest
        .pointer_mut("/metadata/labels")
        .and_then(Value::as_object_mut)
    {
        labels.insert(
            "app.kubernetes.io/managed-by".into(),
            Value::String("tenant-bench".into()),
        );
    }
    if let Some(annotations) = obj
        .manifest
        .pointer_mut("/metadata/annotations")
        .and_then(Value::as_object_mut)
    {
        annotations.remove("shop.pilab.hu/owner");
    }
}

/// Records when each tenant namespace's ResourceQuota first reports status.hard.
struct QuotaWatch {
    rx: tokio::sync::mpsc::UnboundedReceiver<(String, Instant)>,
    task: tokio::task::JoinHandle<()>,
}

fn quota_enforced_watch(client: Client, id_prefix: &'static str) -> QuotaWatch {
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    let api: Api<k8s_openapi::api::core::v1::ResourceQuota> = Api::all(client);
    let task = tokio::spawn(async move {
        let cfg = watcher::Config::default().labels("shop.pilab.hu/tenant-id");
        let mut s = watcher(api, cfg).applied_objects().boxed();
        while let Some(Ok(q)) = s.next().await {
            let ours = q
                .labels()
                .get("shop.pilab.hu/tenant-id")
                .is_some_and(|id| id.starts_with(id_prefix));
            let hard = q
                .status
                .as_ref()
                .and_then(|s| s.hard.as_ref())
                .is_some_and(|h| !h.is_empty());
            if ours
                && hard
                && tx
                    .send((q.namespace().unwrap_or_default(), Instant::now()))
                    .is_err()
            {
                break;
            }
        }
    });
    QuotaWatch { rx, task }
}

/// Records when every one of `per_namespace` Deployments in a tenant namespace is available
/// (its current template on all its replicas), once per namespace.
fn deployments_available_watch(
    client: Client,
    id_prefix: &'static str,
    per_namespace: usize,
) -> QuotaWatch {
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    let api: Api<k8s_openapi::api::apps::v1::Deployment> = Api::all(client);
    let task = tokio::spawn(async move {
        let cfg = watcher::Config::default().labels("shop.pilab.hu/tenant-id");
        let mut s = watcher(api, cfg).applied_objects().boxed();
        let mut available: HashMap<String, std::collections::HashSet<String>> = HashMap::new();
        while let Some(Ok(d)) = s.next().await {
            let ours = d
                .labels()
                .get("shop.pilab.hu/tenant-id")
                .is_some_and(|id| id.starts_with(id_prefix));
            if !ours {
                continue;
            }
            let want = d.spec.as_ref().and_then(|s| s.replicas).unwrap_or(1);
            let st = d.status.clone().unwrap_or_default();
            let done = st.observed_generation >= d.metadata.generation
                && st.updated_replicas.unwrap_or(0) == want
                && st.available_replicas.unwrap_or(0) >= want
                && st.replicas.unwrap_or(0) == want;
            let ns = d.namespace().unwrap_or_default();
            let set = available.entry(ns.clone()).or_default();
            let before = set.len();
            if done {
                set.insert(d.name_any());
            } else {
                set.remove(&d.name_any());
            }
            if before < per_namespace
                && set.len() == per_namespace
                && tx.send((ns, Instant::now())).is_err()
            {
                break;
            }
        }
    });
    QuotaWatch { rx, task }
}

impl QuotaWatch {
    async fn wait_for(mut self, n: usize, timeout: Duration) -> Result<HashMap<String, Instant>> {
        let mut seen = HashMap::new();
        let deadline = tokio::time::Instant::now() + timeout;
        while seen.len() < n {
            match tokio::time::timeout_at(deadline, self.rx.recv()).await {
                Ok(Some((ns, at))) => {
                    seen.entry(ns).or_insert(at);
                }
                Ok(None) => bail!("the watch ended"),
                Err(_) => bail!("only {} of {n} namespaces ready in time", seen.len()),
            }
        }
        self.task.abort();
        Ok(seen)
    }
}

async fn operator_phase(
    admin: &Client,
    template: &Tenant,
    args: &Args,
    op: &mut Operator,
) -> Result<Timings> {
    let api: Api<Tenant> = Api::namespaced(admin.clone(), BENCH_NS);
    // Watch first, so no Ready transition is missed.
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<(String, Instant)>();
    let watch_api = api.clone();
    let watch = tokio::spawn(async move {
        let mut s = watcher(watch_api, watcher::Config::default())
            .applied_objects()
            .boxed();
        while let Some(Ok(t)) = s.next().await {
            let ready = t
                .status
                .as_ref()
                .and_then(|s| s.conditions.as_ref())
                .is_some_and(|cs| cs.iter().any(|c| c.type_ == "Ready" && c.status == "True"));
            if ready && tx.send((t.name_any(), Instant::now())).is_err() {
                break;
            }
        }
    });
    let start = Instant::now();
    let created: Vec<(String, Instant)> = stream::iter(0..args.tenants)
        .map(|i| {
            let api = api.clone();
            let t = tenant_named(template, &format!("op-{i}"), BENCH_NS);
            async move {
                let t0 = Instant::now();
                api.create(&PostParams::default(), &t).await?;
                Ok::<_, anyhow::Error>((t.name_any(), t0))
            }
        })
        .buffer_unordered(args.concurrency)
        .try_collect()
        .await?;
    let created: HashMap<String, Instant> = created.into_iter().collect();
    let mut ready: HashMap<String, Instant> = HashMap::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(args.timeout_seconds);
    while ready.len() < args.tenants {
        op.sample_rss();
        match tokio::time::timeout_at(
            deadline.min(tokio::time::Instant::now() + Duration::from_millis(250)),
            rx.recv(),
        )
        .await
        {
            Ok(Some((name, at))) => {
                if created.contains_key(&name) {
                    ready.entry(name).or_insert(at);
                }
            }
            Ok(None) => bail!("the Tenant watch ended"),
            Err(_) if tokio::time::Instant::now() >= deadline => bail!(
                "only {} of {} tenants Ready after {} s",
                ready.len(),
                args.tenants,
                args.timeout_seconds
            ),
            Err(_) => {}
        }
    }
    watch.abort();
    let last = ready.values().max().copied().unwrap_or(start);
    Ok(Timings {
        total: last.duration_since(start),
        applied: None,
        per_tenant: ready
            .iter()
            .filter_map(|(n, r)| created.get(n).map(|c| r.saturating_duration_since(*c)))
            .collect(),
        writes: 0,
        objects_per_tenant: 0,
    })
}

/// CPU seconds (user + system) a process has used so far, from /proc/PID/stat.
fn cpu_seconds(pid: u32) -> Option<f64> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the command name (which is in parentheses and may hold spaces).
    let rest = text.rsplit_once(')')?.1;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let utime: f64 = fields.get(11)?.parse().ok()?;
    let stime: f64 = fields.get(12)?.parse().ok()?;
    Some((utime + stime) / clock_ticks())
}

fn clock_ticks() -> f64 {
    static TICKS: std::sync::OnceLock<f64> = std::sync::OnceLock::new();
    *TICKS.get_or_init(|| {
        Command::new("getconf")
            .arg("CLK_TCK")
            .output()
            .ok()
            .and_then(|o| String::from_utf8_lossy(&o.stdout).trim().parse().ok())
            .unwrap_or(100.0)
    })
}

/// CPU seconds of the control plane's components (pid files in the state dir), by name.
fn plane_cpu(cp: &ControlPlane) -> BTreeMap<String, f64> {
    ["etcd", "kube-apiserver", "kube-controller-manager"]
        .into_iter()
        .filter_map(|c| {
            let pid = std::fs::read_to_string(cp.state_dir().join(format!("pids/{c}.pid"))).ok()?;
            Some((c.to_string(), cpu_seconds(pid.trim().parse().ok()?)?))
        })
        .collect()
}

/// CPU seconds spent between two samples of [`plane_cpu`], formatted.
fn cpu_used(before: &BTreeMap<String, f64>, after: &BTreeMap<String, f64>) -> String {
    after
        .iter()
        .map(|(k, a)| format!("{k} {:.1} s", a - before.get(k).copied().unwrap_or(0.0)))
        .collect::<Vec<_>>()
        .join(", ")
}

struct Writes {
    total: u64,
    by_resource: BTreeMap<String, u64>,
}

fn file_len(p: &Path) -> Result<u64> {
    Ok(std::fs::metadata(p).map(|m| m.len()).unwrap_or(0))
}

/// The operator user's mutating requests in the audit log after `offset`.
fn count_writes(audit: &Path, offset: u64) -> Result<Writes> {
    let mut f =
        std::fs::File::open(audit).with_context(|| format!("opening {}", audit.display()))?;
    f.seek(SeekFrom::Start(offset))?;
    let mut w = Writes {
        total: 0,
        by_resource: BTreeMap::new(),
    };
    for line in BufReader::new(f).lines() {
        let Ok(ev) = serde_json::from_str::<Value>(&line?) else {
            continue;
        };
        let s = |p: &str| ev.pointer(p).and_then(Value::as_str).unwrap_or("");
        if s("/user/username") != OPERATOR_USER || s("/stage") != "ResponseComplete" {
            continue;
        }
        let verb = s("/verb");
        if !matches!(
            verb,
            "create" | "update" | "patch" | "delete" | "deletecollection"
        ) {
            continue;
        }
        let mut resource = s("/objectRef/resource").to_string();
        if !s("/objectRef/subresource").is_empty() {
            resource = format!("{resource}/{}", s("/objectRef/subresource"));
        }
        w.total += 1;
        *w.by_resource
            .entry(format!("{resource} {verb}"))
            .or_default() += 1;
    }
    Ok(w)
}

/// The operator binary, run as its own user.
struct Operator {
    child: Child,
    port: u16,
    peak_kib: u64,
}

impl Operator {
    fn start(cp: &ControlPlane, args: &Args) -> Result<Operator> {
        let port = std::net::TcpListener::bind("127.0.0.1:0")?
            .local_addr()?
            .port();
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(cp.state_dir().join("logs/tenant-operator-bench.log"))?;
        let mut cmd = Command::new(&args.operator_bin);
        cmd.arg("run")
            .arg("--metrics-addr")
            .arg(format!("127.0.0.1:{port}"))
            .env("KUBECONFIG", cp.kubeconfig_path(OPERATOR_USER))
            .env(
                "RUST_LOG",
                std::env::var("BENCH_OPERATOR_LOG").unwrap_or_else(|_| "warn".into()),
            )
            .stdout(log.try_clone()?)
            .stderr(log);
        if let Some(c) = args.operator_concurrency {
            cmd.arg("--concurrency").arg(c.to_string());
        }
        let child = cmd
            .spawn()
            .with_context(|| format!("starting {}", args.operator_bin.display()))?;
        Ok(Operator {
            child,
            port,
            peak_kib: 0,
        })
    }

    fn http_get(&self, path: &str) -> Option<(u16, String)> {
        let mut s = std::net::TcpStream::connect(("127.0.0.1", self.port)).ok()?;
        s.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
        write!(s, "GET {path} HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n").ok()?;
        let mut body = String::new();
        s.read_to_string(&mut body).ok()?;
        let code = body.split_whitespace().nth(1)?.parse().ok()?;
        Some((code, body))
    }

    async fn wait_ready(&mut self) -> Result<()> {
        for _ in 0..600 {
            if let Some(status) = self.child.try_wait()? {
                bail!("the operator exited: {status}");
            }
            if matches!(self.http_get("/readyz"), Some((200, _))) {
                return Ok(());
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        bail!("the operator did not become ready in 60 s")
    }

    /// Sum of `tenant_operator_reconciles_total` over its labels.
    fn reconciles(&self) -> u64 {
        let Some((_, body)) = self.http_get("/metrics") else {
            return 0;
        };
        body.lines()
            .filter(|l| l.starts_with("tenant_operator_reconciles_total"))
            .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
            .sum::<f64>() as u64
    }

    async fn wait_reconciles(&mut self, n: u64, timeout: Duration) -> Result<u64> {
        let deadline = Instant::now() + timeout;
        loop {
            self.sample_rss();
            let r = self.reconciles();
            if r >= n {
                return Ok(r);
            }
            if Instant::now() > deadline {
                bail!("only {r} of {n} reconciles after the restart");
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    fn status_kib(&self, field: &str) -> Option<u64> {
        let text = std::fs::read_to_string(format!("/proc/{}/status", self.child.id())).ok()?;
        text.lines()
            .find(|l| l.starts_with(field))?
            .split_whitespace()
            .nth(1)?
            .parse()
            .ok()
    }

    fn sample_rss(&mut self) {
        if let Some(v) = self.status_kib("VmHWM:") {
            self.peak_kib = self.peak_kib.max(v);
        }
    }

    /// CPU seconds the operator process has used so far.
    fn cpu_seconds(&self) -> f64 {
        cpu_seconds(self.child.id()).unwrap_or(0.0)
    }

    fn peak_rss_kib(&mut self) -> Result<u64> {
        self.sample_rss();
        Ok(self.peak_kib)
    }

    fn stop(mut self) -> Result<()> {
        // SIGTERM for a graceful shutdown, then wait.
        let _ = Command::new("kill")
            .arg(self.child.id().to_string())
            .status();
        for _ in 0..100 {
            if self.child.try_wait()?.is_some() {
                return Ok(());
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        self.child.kill()?;
        self.child.wait()?;
        Ok(())
    }
}
