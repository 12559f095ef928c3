//! Configuration, parsed once from flags and environment into a [`Config`]; nothing reads the
//! environment after start-up.

use std::net::SocketAddr;
use std::time::Duration;

use clap::{Parser, Subcommand, ValueEnum};

/// `tenant-operator`: reconciles Tenants into isolated, guarded namespaces.
#[derive(Parser, Debug)]
#[command(name = "tenant-operator", version, about)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Run the controller (uses the usual kubeconfig resolution: KUBECONFIG, ~/.kube/config, in-cluster).
    Run(RunArgs),
}

/// What tenants may do with Ingress hosts no tenant holds.
#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum UnclaimedHosts {
    Allow,
    Refuse,
}

impl From<UnclaimedHosts> for tenant_core::build::domains::Unclaimed {
    fn from(u: UnclaimedHosts) -> Self {
        match u {
            UnclaimedHosts::Allow => tenant_core::build::domains::Unclaimed::Allow,
            UnclaimedHosts::Refuse => tenant_core::build::domains::Unclaimed::Refuse,
        }
    }
}

/// Log output format.
#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum LogFormat {
    Text,
    Json,
}

#[derive(clap::Args, Debug, Clone)]
pub struct RunArgs {
    /// Address of the HTTP server with /metrics, /livez and /readyz.
    #[arg(
        long,
        env = "TENANT_OPERATOR_METRICS_ADDR",
        default_value = "0.0.0.0:8080"
    )]
    pub metrics_addr: SocketAddr,

    /// Log format.
    #[arg(
        long,
        env = "TENANT_OPERATOR_LOG_FORMAT",
        value_enum,
        default_value = "text"
    )]
    pub log_format: LogFormat,

    /// Run only while holding the leader-election Lease (for more than one replica).
    #[arg(long, env = "TENANT_OPERATOR_LEADER_ELECT", default_value_t = false)]
    pub leader_elect: bool,

    /// Namespace of the leader-election Lease.
    #[arg(
        long,
        env = "TENANT_OPERATOR_LEASE_NAMESPACE",
        default_value = "tenant-system"
    )]
    pub lease_namespace: String,

    /// Name of the leader-election Lease.
    #[arg(
        long,
        env = "TENANT_OPERATOR_LEASE_NAME",
        default_value = "tenant-operator"
    )]
    pub lease_name: String,

    /// This replica's identity in the Lease (default: the pod name, else hostname and pid).
    #[arg(long, env = "POD_NAME")]
    pub identity: Option<String>,

    /// The user name the operator acts as; the shared admission policies exempt it.
    #[arg(long, env = "TENANT_OPERATOR_USER", default_value = tenant_core::build::DEFAULT_OPERATOR_USER)]
    pub operator_user: String,

    /// The PriorityClass every tenant may use besides its `isolation.allowedPriorityClasses`:
    /// name the cluster's `globalDefault` PriorityClass here if it has one, since the API server
    /// writes it into every pod that names no class (default: none). Never a `system-` class.
    #[arg(long, env = "TENANT_OPERATOR_DEFAULT_PRIORITY_CLASS", default_value = "", value_parser = priority_class)]
    pub default_priority_class: String,

    /// The operator's own namespace, where it keeps the map of which tenant holds which domain
    /// (ConfigMap `tenant-domains`, read by the ingress-hosts admission policy).
    #[arg(long, env = "TENANT_OPERATOR_NAMESPACE", default_value = tenant_core::build::DEFAULT_OPERATOR_NAMESPACE)]
    pub operator_namespace: String,

    /// The compute quota of strict and standard tenants whose spec bounds no cpu, memory or pod
    /// count, per tenant type: `TYPE:KEY=QUANTITY,...` (KEY: requests.cpu, limits.cpu,
    /// requests.memory, limits.memory, pods) or `TYPE:none`; repeat per type (`;` between them in the
    /// variable). Types not named keep the built-in defaults (docs/tenant-api.md).
    #[arg(
        long,
        env = "TENANT_OPERATOR_DEFAULT_COMPUTE_QUOTA",
        value_delimiter = ';',
        value_parser = tenant_core::presets::ComputeSetting::parse
    )]
    pub default_compute_quota: Vec<tenant_core::presets::ComputeSetting>,

    /// The IngressClass of the tenants' Ingresses (spec.ingressClassName); empty: the
    /// cluster's default IngressClass.
    #[arg(long, env = "TENANT_OPERATOR_INGRESS_CLASS", default_value = "")]
    pub ingress_class: String,

    /// A registry credential (a Secret of type kubernetes.io/dockerconfigjson in the operator's
    /// namespace) to copy into every tenant namespace whose services pull from one of its
    /// registries; repeatable (`,` between names in the variable). Rotating the Secret updates
    /// every copy.
    #[arg(
        long = "pull-secret",
        env = "TENANT_OPERATOR_PULL_SECRETS",
        value_delimiter = ','
    )]
    pub pull_secrets: Vec<String>,

    /// The cert-manager issuer that obtains the certificate of a custom domain whose Tenant names
    /// no ingressTlsSecretName: `ClusterIssuer/<name>` (or `Issuer/<name>`, which must then exist
    /// in every tenant namespace). Empty: no certificates.
    #[arg(long, env = "TENANT_OPERATOR_CERT_ISSUER", default_value = "", value_parser = cert_issuer)]
    pub cert_issuer: String,

    /// The platform's shared Redis: a Secret in the operator's namespace with `url` (the admin
    /// URL, credentials inside) and optionally `tenantURL` (the address tenants' pods use).
    /// Every Tenant in shared data mode without a redisURL of its own then gets an ACL user
    /// limited to its key prefix. Empty: none.
    #[arg(long, env = "TENANT_OPERATOR_REDIS_SERVER", default_value = "")]
    pub redis_server: String,

    /// The platform's shared NATS (operator mode with the full JWT resolver): a Secret in the
    /// operator's namespace with `url`, `systemUserCreds` (a system account user's credentials
    /// file), `operatorSigningKey` (an operator signing key seed) and optionally `tenantURL`
    /// and `accountKeySecret`. Every Tenant in shared data mode without a natsURL of its own
    /// then gets an account of its own and a user limited to its subject prefix. Empty: none.
    #[arg(long, env = "TENANT_OPERATOR_NATS_SERVER", default_value = "")]
    pub nats_server: String,

    /// The platform's shared MongoDB-protocol server, FerretDB on PostgreSQL: a Secret in the
    /// operator's namespace with `url` (the admin's MongoDB URL, SASL PLAIN), `postgresURL`
    /// (a superuser of FerretDB's PostgreSQL database) and optionally `tenantURL`. Every Tenant
    /// in shared data mode without MongoDB settings of its own then gets a PostgreSQL role
    /// owning its database only. Empty: none.
    #[arg(long, env = "TENANT_OPERATOR_MONGODB_SERVER", default_value = "")]
    pub mongodb_server: String,

    /// The image of a dedicated data store (`dataStores.mode: Dedicated`), as `store=image`
    /// with store `mongodb`, `nats` or `redis`; repeatable (`,` between entries in the
    /// variable). A store not named runs its default image (docs/data.md).
    #[arg(
        long = "dedicated-image",
        env = "TENANT_OPERATOR_DEDICATED_IMAGES",
        value_delimiter = ',',
        value_parser = tenant_core::build::dedicated::parse_image_flag
    )]
    pub dedicated_images: Vec<(String, String)>,

    /// The StorageClass of the dedicated data stores' volumes. Empty: the cluster's default.
    #[arg(
        long,
        env = "TENANT_OPERATOR_DEDICATED_STORAGE_CLASS",
        default_value = ""
    )]
    pub dedicated_storage_class: String,

    /// Velero's namespace: where the tenants' backup Schedules, their Backups and restores live.
    #[arg(
        long,
        env = "TENANT_OPERATOR_VELERO_NAMESPACE",
        default_value = tenant_core::build::backup::DEFAULT_VELERO_NAMESPACE,
        value_parser = velero_namespace
    )]
    pub velero_namespace: String,

    /// How the tenants' volume data is backed up when `backupPersistentVolumes` is not false:
    /// `snapshot` (Velero's volume snapshots) or `fs-backup` (Velero's node agent).
    #[arg(
        long,
        env = "TENANT_OPERATOR_BACKUP_VOLUMES",
        default_value = "snapshot",
        value_parser = tenant_core::build::backup::VolumeMethod::parse
    )]
    pub backup_volumes: tenant_core::build::backup::VolumeMethod,

    /// A BackupStorageLocation the platform declares encrypting (repeatable; `default` is the
    /// location Velero uses for tenants that name none). A tenant with
    /// `backupConfig.encryptionEnabled: true` on any other location gets no backups.
    #[arg(
        long = "encrypted-backup-location",
        env = "TENANT_OPERATOR_ENCRYPTED_BACKUP_LOCATIONS",
        value_delimiter = ','
    )]
    pub encrypted_backup_locations: Vec<String>,

    /// How long deleting a Tenant waits for its last backup before the namespace goes anyway.
    #[arg(
        long,
        env = "TENANT_OPERATOR_FINAL_BACKUP_TIMEOUT_SECONDS",
        default_value_t = 600
    )]
    pub final_backup_timeout_seconds: u64,

    /// The platform's tier table (YAML: tier name to `cpuHourlyRate`, `memoryHourlyRate`,
    /// `storageMonthlyRate`, `networkEgressRate`, `currency`); a Tenant's
    /// `tenantConfig.billingTier` picks its rates where `billing` gives none (docs/cost.md).
    #[arg(long, env = "TENANT_OPERATOR_BILLING_TIERS", value_parser = tier_file)]
    pub billing_tiers: Option<tenant_core::cost::TierTable>,

    /// How often the tenants' cost is accrued, in seconds.
    #[arg(
        long,
        env = "TENANT_OPERATOR_COST_INTERVAL_SECONDS",
        default_value_t = 60
    )]
    pub cost_interval_seconds: u64,

    /// How often a tenant's accrued cost is written to its status when nothing else changed
    /// (a budget state or the hourly cost changing is written at once), in seconds.
    #[arg(
        long,
        env = "TENANT_OPERATOR_COST_WRITE_INTERVAL_SECONDS",
        default_value_t = 3600
    )]
    pub cost_write_interval_seconds: u64,

    /// Also hibernate a tenant frozen by its budget (billing.budgetEnforcement, over
    /// monthlyBudget): its services and dedicated data stores are scaled to zero, as with
    /// spec.active=false, until the freeze is lifted. Without it a freeze only refuses new pods.
    #[arg(
        long,
        env = "TENANT_OPERATOR_BUDGET_FREEZE_HIBERNATES",
        default_value_t = false
    )]
    pub budget_freeze_hibernates: bool,

    /// Whether tenants may publish Ingress hosts that no tenant's customDomain holds: allow or
    /// refuse. Hosts another tenant holds are always refused.
    #[arg(
        long,
        env = "TENANT_OPERATOR_UNCLAIMED_HOSTS",
        value_enum,
        default_value = "allow"
    )]
    pub unclaimed_hosts: UnclaimedHosts,

    /// Also run the PRStack controller: each PRStack (a PiShop pull request preview) is run
    /// through a Tenant the operator makes for it (docs/prstack.md). Off by default, so an
    /// operator installed beside an existing PiShop operator leaves its PRStacks alone.
    #[arg(long, env = "TENANT_OPERATOR_PRSTACKS", default_value_t = false)]
    pub prstacks: bool,

    /// The host of a PRStack's preview, `{number}` standing for its pull request number (for
    /// example `pr-{number}.preview.example.com`): it becomes the preview Tenant's customDomain,
    /// with its Ingress and certificate as for any Tenant. Empty: previews get no host.
    #[arg(long, env = "TENANT_OPERATOR_PRSTACK_HOST_PATTERN", default_value = "")]
    pub prstack_host_pattern: String,

    /// This cluster's region: Tenants whose spec.placement names it (in `regions`) run here.
    /// Tenants without a placement run on every cluster. Empty: no region.
    #[arg(long, env = "TENANT_OPERATOR_REGION", default_value = "", value_parser = site_name)]
    pub region: String,

    /// This cluster's name: Tenants whose spec.placement names it (in `clusters`) run here.
    /// Empty: no name. With neither this nor --region, only Tenants without a placement run.
    #[arg(long, env = "TENANT_OPERATOR_CLUSTER_NAME", default_value = "", value_parser = site_name)]
    pub cluster_name: String,

    /// Tenants reconciled in parallel.
    #[arg(long, env = "TENANT_OPERATOR_CONCURRENCY", default_value_t = 8)]
    pub concurrency: u16,

    /// Reconcile only Tenants in this namespace (default: every namespace). The children are
    /// still watched cluster-wide.
    #[arg(long, env = "TENANT_OPERATOR_WATCH_NAMESPACE")]
    pub watch_namespace: Option<String>,

    /// Re-check every Tenant this often even without a change (a no-op check writes nothing).
    #[arg(long, env = "TENANT_OPERATOR_RESYNC_SECONDS", default_value_t = 600)]
    pub resync_seconds: u64,

    /// Threads of the async runtime. The work is mostly waiting on the API server: two threads
    /// keep up with 1000 Tenants, and every extra thread costs memory (on a 16-core node, one
    /// thread per core added 13 MiB at 1000 Tenants).
    #[arg(long, env = "TENANT_OPERATOR_WORKER_THREADS", default_value_t = 2)]
    pub worker_threads: u16,
}

impl Config {
    /// Whether this cluster runs `tenant` (its `spec.placement` against `--region` and
    /// `--cluster-name`).
    pub fn placed(&self, tenant: &tenant_api::Tenant) -> bool {
        tenant_core::placement::placed(tenant, &self.site)
    }

    /// What the builders need to know of this configuration, with `others` as the other
    /// Tenants they may look at.
    pub fn build_context<'a>(
        &'a self,
        others: &'a [tenant_api::Tenant],
        pull_secrets: &'a [tenant_core::build::pull_secrets::PullSecretSource],
        releases: &'a std::collections::BTreeMap<String, String>,
    ) -> tenant_core::build::BuildContext<'a> {
        tenant_core::build::BuildContext {
            other_tenants: others,
            operator_user: &self.operator_user,
            default_priority_class: &self.default_priority_class,
            operator_namespace: &self.operator_namespace,
            compute_defaults: &self.compute_defaults,
            ingress_class: &self.ingress_class,
            pull_secrets,
            cert_issuer: &self.cert_issuer,
            releases,
            held_release: None,
            now: self.clock.now(),
            data: &tenant_core::build::NO_WIRING,
            dedicated: &self.dedicated,
            backup: &self.backup,
            budget_hibernated: false,
        }
    }
}

/// The operator's clock: the system time, shifted by an offset only tests set (so a test can
/// stand five seconds before a sleep time or a maintenance window without waiting for it).
#[derive(Clone, Debug, Default)]
pub struct Clock(std::sync::Arc<std::sync::atomic::AtomicI64>);

impl Clock {
    pub fn now(&self) -> jiff::Timestamp {
        let offset = self.0.load(std::sync::atomic::Ordering::Relaxed);
        let now = jiff::Timestamp::now();
        now.checked_add(jiff::SignedDuration::from_secs(offset))
            .unwrap_or(now)
    }

    /// Makes `now()` read `at` from this moment on (and keep running from there).
    pub fn set(&self, at: jiff::Timestamp) {
        let offset = at.as_second() - jiff::Timestamp::now().as_second();
        self.0.store(offset, std::sync::atomic::Ordering::Relaxed);
    }
}

/// Everything the operator needs to know besides the cluster, fixed at start-up.
#[derive(Clone, Debug)]
pub struct Config {
    pub metrics_addr: SocketAddr,
    pub log_format: LogFormat,
    pub leader_elect: bool,
    pub lease_namespace: String,
    pub lease_name: String,
    pub identity: String,
    pub operator_user: String,
    /// The platform's default PriorityClass, allowed in every tenant (empty: none).
    pub default_priority_class: String,
    /// The operator's own namespace (the domain map lives there).
    pub operator_namespace: String,
    /// The compute quota of strict and standard tenants that set none.
    pub compute_defaults: tenant_core::presets::ComputeDefaults,
    /// The IngressClass of the tenants' Ingresses (empty: the cluster default).
    pub ingress_class: String,
    /// The platform's registry credentials (Secret names in the operator's namespace).
    pub pull_secrets: Vec<String>,
    /// The cert-manager issuer of custom domains without a TLS Secret (empty: none).
    pub cert_issuer: String,
    /// The platform Secret of the shared Redis (empty: none registered).
    pub redis_server: String,
    /// The platform Secret of the shared NATS (empty: none registered).
    pub nats_server: String,
    /// The platform Secret of the shared MongoDB (empty: none registered).
    pub mongodb_server: String,
    /// The images and StorageClass of dedicated data stores.
    pub dedicated: tenant_core::build::dedicated::DedicatedConfig,
    /// Velero's namespace and the platform's backup settings.
    pub backup: tenant_core::build::backup::BackupPlatform,
    /// How long a Tenant's deletion waits for its last backup.
    pub final_backup_timeout: Duration,
    /// The platform's billing tiers.
    pub billing_tiers: tenant_core::cost::TierTable,
    /// How often cost is accrued.
    pub cost_interval: Duration,
    /// How often accrued cost is written when nothing else changed.
    pub cost_write_interval: Duration,
    /// A tenant frozen by its budget is also scaled to zero.
    pub budget_freeze_hibernates: bool,
    /// Whether the PRStack controller runs.
    pub prstacks: bool,
    /// A preview's host, `{number}` for its pull request number (empty: none).
    pub prstack_host_pattern: String,
    /// Whether tenants may publish hosts no tenant holds.
    pub unclaimed_hosts: tenant_core::build::domains::Unclaimed,
    /// This cluster's region and name, for `spec.placement`.
    pub site: tenant_core::placement::Site,
    pub concurrency: u16,
    pub watch_namespace: Option<String>,
    pub resync: Duration,
    pub worker_threads: usize,
    /// How long a Lease is valid without renewal.
    pub lease_duration: Duration,
    /// How often the leader renews (and a standby retries).
    pub lease_renew: Duration,
    /// Requeue interval while waiting for something asynchronous (namespace deletion, a
    /// conflicting namespace going away).
    pub wait_requeue: Duration,
    /// The time hibernation timetables and maintenance windows are read at.
    pub clock: Clock,
}

impl Config {
    /// Defaults suitable for tests: metrics on an ephemeral loopback port, no leader election.
    pub fn for_tests() -> Config {
        Config {
            metrics_addr: SocketAddr::from(([127, 0, 0, 1], 0)),
            log_format: LogFormat::Text,
            leader_elect: false,
            lease_namespace: "tenant-system".into(),
            lease_name: "tenant-operator".into(),
            identity: default_identity(),
            operator_user: tenant_core::build::DEFAULT_OPERATOR_USER.into(),
            default_priority_class: String::new(),
            operator_namespace: tenant_core::build::DEFAULT_OPERATOR_NAMESPACE.into(),
            unclaimed_hosts: Default::default(),
            compute_defaults: Default::default(),
            ingress_class: String::new(),
            pull_secrets: Vec::new(),
            cert_issuer: String::new(),
            redis_server: String::new(),
            nats_server: String::new(),
            mongodb_server: String::new(),
            dedicated: Default::default(),
            backup: Default::default(),
            final_backup_timeout: Duration::from_secs(600),
            billing_tiers: Default::default(),
            cost_interval: Duration::from_secs(60),
            cost_write_interval: Duration::from_secs(3600),
            budget_freeze_hibernates: false,
            prstacks: false,
            prstack_host_pattern: String::new(),
            site: Default::default(),
            concurrency: 8,
            watch_namespace: None,
            resync: Duration::from_secs(600),
            worker_threads: 2,
            lease_duration: Duration::from_secs(15),
            lease_renew: Duration::from_secs(5),
            wait_requeue: Duration::from_secs(2),
            clock: Clock::default(),
        }
    }
}

impl From<RunArgs> for Config {
    fn from(a: RunArgs) -> Config {
        Config {
            metrics_addr: a.metrics_addr,
            log_format: a.log_format,
            leader_elect: a.leader_elect,
            lease_namespace: a.lease_namespace,
            lease_name: a.lease_name,
            identity: a
                .identity
                .filter(|s| !s.is_empty())
                .unwrap_or_else(default_identity),
            operator_user: a.operator_user,
            default_priority_class: a.default_priority_class,
            operator_namespace: a.operator_namespace,
            unclaimed_hosts: a.unclaimed_hosts.into(),
            compute_defaults: tenant_core::presets::ComputeDefaults::with(&a.default_compute_quota),
            ingress_class: a.ingress_class,
            pull_secrets: a
                .pull_secrets
                .into_iter()
                .map(|s| s.trim().to_string())
                .filter(|s| !s.is_empty())
                .collect(),
            cert_issuer: a.cert_issuer,
            redis_server: a.redis_server.trim().to_string(),
            nats_server: a.nats_server.trim().to_string(),
            mongodb_server: a.mongodb_server.trim().to_string(),
            dedicated: tenant_core::build::dedicated::DedicatedConfig {
                images: a.dedicated_images.into_iter().collect(),
                storage_class: a.dedicated_storage_class.trim().to_string(),
            },
            backup: tenant_core::build::backup::BackupPlatform {
                velero_namespace: a.velero_namespace,
                volumes: a.backup_volumes,
                encrypted_locations: a
                    .encrypted_backup_locations
                    .into_iter()
                    .map(|s| s.trim().to_string())
                    .filter(|s| !s.is_empty())
                    .collect(),
            },
            final_backup_timeout: Duration::from_secs(a.final_backup_timeout_seconds),
            billing_tiers: a.billing_tiers.unwrap_or_default(),
            cost_interval: Duration::from_secs(a.cost_interval_seconds.max(1)),
            cost_write_interval: Duration::from_secs(a.cost_write_interval_seconds.max(1)),
            budget_freeze_hibernates: a.budget_freeze_hibernates,
            prstacks: a.prstacks,
            prstack_host_pattern: a.prstack_host_pattern.trim().to_string(),
            site: tenant_core::placement::Site {
                region: Some(a.region).filter(|s| !s.is_empty()),
                cluster: Some(a.cluster_name).filter(|s| !s.is_empty()),
            },
            concurrency: a.concurrency.max(1),
            watch_namespace: a.watch_namespace.filter(|s| !s.is_empty()),
            resync: Duration::from_secs(a.resync_seconds.max(10)),
            worker_threads: usize::from(a.worker_threads.max(1)),
            lease_duration: Duration::from_secs(15),
            lease_renew: Duration::from_secs(5),
            wait_requeue: Duration::from_secs(2),
            clock: Clock::default(),
        }
    }
}

/// `--billing-tiers`: a YAML file holding the tier table.
fn tier_file(path: &str) -> Result<tenant_core::cost::TierTable, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("cannot read {path}: {e}"))?;
    serde_saphyr::from_str(&text).map_err(|e| format!("{path} is not a tier table: {e}"))
}

/// `--default-priority-class`: empty, or a PriorityClass name outside the reserved `system-` ones.
/// `--cert-issuer`: empty, or `ClusterIssuer/<name>` / `Issuer/<name>`.
fn cert_issuer(s: &str) -> Result<String, String> {
    if s.is_empty() {
        return Ok(String::new());
    }
    tenant_core::build::ingress::parse_issuer(s)?;
    Ok(s.to_string())
}

/// `--velero-namespace`: a namespace name.
fn velero_namespace(s: &str) -> Result<String, String> {
    let s = s.trim();
    match tenant_core::validate::names::dns_label_error(s) {
        Some(e) => Err(format!("{s:?} is not a namespace name: {e}")),
        None => Ok(s.to_string()),
    }
}

/// `--region`, `--cluster-name`: empty, or a DNS label (what `spec.placement` may name).
fn site_name(s: &str) -> Result<String, String> {
    let s = s.trim();
    if s.is_empty() {
        return Ok(String::new());
    }
    match tenant_core::validate::names::dns_label_error(s) {
        Some(e) => Err(format!("{s:?} is not a DNS label: {e}")),
        None => Ok(s.to_string()),
    }
}

fn priority_class(s: &str) -> Result<String, String> {
    let s = s.trim();
    if s.is_empty() {
        return Ok(String::new());
    }
    match tenant_core::build::policy::priority_class_error(s) {
        Some(e) => Err(e),
        None => Ok(s.to_string()),
    }
}

fn default_identity() -> String {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_string())
        .unwrap_or_else(|_| "tenant-operator".into());
    format!("{host}-{}", std::process::id())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_parse_into_a_config() {
        let cli = Cli::try_parse_from(["tenant-operator", "run"]).map_err(|e| e.to_string());
        let Ok(Cli {
            command: Command::Run(args),
        }) = cli
        else {
            unreachable!("parse failed: {cli:?}");
        };
        let cfg = Config::from(args);
        assert_eq!(cfg.metrics_addr.port(), 8080);
        assert!(!cfg.leader_elect);
        assert_eq!(cfg.operator_user, tenant_core::build::DEFAULT_OPERATOR_USER);
        assert_eq!(cfg.watch_namespace, None);
        assert!(!cfg.identity.is_empty());
        assert_eq!(cfg.worker_threads, 2);
    }

    #[test]
    fn flags_override_defaults() {
        let cli = Cli::try_parse_from([
            "tenant-operator",
            "run",
            "--metrics-addr",
            "127.0.0.1:9090",
            "--log-format",
            "json",
            "--leader-elect",
            "--concurrency",
            "0",
            "--watch-namespace",
            "tenants",
            "--worker-threads",
            "0",
        ]);
        let Ok(Cli {
            command: Command::Run(args),
        }) = cli
        else {
            unreachable!("parse failed");
        };
        let cfg = Config::from(args);
        assert_eq!(cfg.log_format, LogFormat::Json);
        assert!(cfg.leader_elect);
        assert_eq!(cfg.concurrency, 1, "zero concurrency is raised to one");
        assert_eq!(cfg.watch_namespace.as_deref(), Some("tenants"));
        assert_eq!(cfg.worker_threads, 1, "zero threads is raised to one");
    }

    #[test]
    fn default_priority_class_is_checked_at_start_up() {
        let parse = |v: &str| {
            Cli::try_parse_from(["tenant-operator", "run", "--default-priority-class", v])
                .map(|c| match c.command {
                    Command::Run(a) => Config::from(a).default_priority_class,
                })
                .map_err(|e| e.to_string())
        };
        assert_eq!(parse("tenant-normal"), Ok("tenant-normal".to_string()));
        assert_eq!(parse(""), Ok(String::new()));
        let Err(e) = parse("system-cluster-critical") else {
            unreachable!("a system- class must be refused");
        };
        assert!(e.contains("reserved"), "{e}");
        assert!(parse("Not_A_Name").is_err());
    }

    #[test]
    fn default_compute_quota_is_checked_at_start_up() {
        use tenant_api::TenantType;
        let parse = |args: &[&str]| {
            let mut argv = vec!["tenant-operator", "run"];
            argv.extend_from_slice(args);
            Cli::try_parse_from(argv)
                .map(|c| match c.command {
                    Command::Run(a) => Config::from(a).compute_defaults,
                })
                .map_err(|e| e.to_string())
        };
        let builtin = tenant_core::presets::ComputeDefaults::builtin();
        assert_eq!(parse(&[]), Ok(builtin.clone()));
        let Ok(d) = parse(&[
            "--default-compute-quota",
            "production:requests.cpu=32,requests.memory=64Gi,pods=300",
            "--default-compute-quota",
            "development:none",
        ]) else {
            unreachable!("a valid setting must parse");
        };
        assert_eq!(
            d.describe(TenantType::Production),
            "pods=300, requests.cpu=32, requests.memory=64Gi"
        );
        assert_eq!(d.describe(TenantType::Development), "none");
        assert_eq!(
            d.of(TenantType::Staging),
            builtin.of(TenantType::Staging),
            "types not named keep the built-in defaults"
        );
        for bad in [
            "production",
            "prod:requests.cpu=1",
            "production:gpus=3",
            "production:requests.cpu=lots",
            "production:requests.cpu=0",
            "production:pods=1.5",
            "production:",
        ] {
            assert!(
                parse(&["--default-compute-quota", bad]).is_err(),
                "{bad} must be refused"
            );
        }
    }
}
