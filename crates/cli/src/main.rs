//! `kubectl-tenant`: the tenant operator's kubectl plugin: offline commands on Tenant files, and
//! `cost`, `backups` and `audit-policy` against the cluster.
//!
//! Every command here calls the same pure functions the operator runs, so `render` prints exactly
//! what the operator applies and `validate` reports exactly what the operator would refuse.

mod info;
mod input;

use anyhow::{Context, Result};
use clap::{CommandFactory, Parser, Subcommand, ValueEnum};
use input::{Document, read_documents};
use serde::Serialize;
use serde_json::Value;
use std::io::Write;
use std::process::ExitCode;
use tenant_api::Tenant;
use tenant_core::build::{self, BuildContext};
use tenant_core::presets::{ComputeDefaults, ComputeSetting};
use tenant_core::validate::{self, CheckStatus, Report};

#[derive(Parser)]
#[command(
    name = "kubectl-tenant",
    bin_name = "kubectl tenant",
    version,
    about = "Validate, render, total and price Tenants offline (shop.pilab.hu/v1alpha1); show their cost and backups from the cluster; generate the API server's audit policy",
    long_about = "Validate, render, total and price Tenants offline; show their cost and backups from the cluster (the current kubeconfig context); generate the API server's audit policy from Tenant files or the cluster.\n\nFiles may hold several YAML documents separated by '---'; '-' reads standard input, and so does no file at all, except for audit-policy, which then reads the cluster's Tenants."
)]
struct Cli {
    /// The kubeconfig file of the commands that read the cluster (default: $KUBECONFIG, then
    /// ~/.kube/config, then the in-cluster service account).
    #[arg(long, global = true, value_name = "FILE", value_hint = clap::ValueHint::FilePath)]
    kubeconfig: Option<std::path::PathBuf>,
    /// The kubeconfig context of the commands that read the cluster (default: the current one).
    #[arg(long, global = true, value_name = "NAME")]
    context: Option<String>,
    #[command(subcommand)]
    command: Command,
}

/// Where the live commands connect: `--kubeconfig` and `--context`, set once in `main`.
static CLUSTER: std::sync::OnceLock<(Option<std::path::PathBuf>, Option<String>)> =
    std::sync::OnceLock::new();

#[derive(Subcommand)]
enum Command {
    /// Check Tenants against the schema, the CRD's CEL rules and the cross-field rules.
    /// Exit code 0: all valid; 1: some invalid; 2: files could not be read.
    Validate {
        /// Output format (wide: text listing the checks that passed too).
        #[arg(short, long, value_enum, default_value_t = Format::Text)]
        output: Format,
        /// Also list the checks that passed (text output; as -o wide).
        #[arg(short, long)]
        verbose: bool,
        /// Tenant YAML files (`-` for standard input).
        files: Vec<String>,
    },
    /// Print every Kubernetes object the operator creates for these Tenants, in apply order.
    Render(Box<RenderArgs>),
    /// Quota totals across tenants, compared with the cluster's capacity.
    Quota {
        #[command(subcommand)]
        command: QuotaCommand,
    },
    /// Print the CustomResourceDefinitions (or write them to a directory).
    Crd {
        /// Write one YAML file per CRD into this directory instead of printing.
        #[arg(long, value_hint = clap::ValueHint::DirPath)]
        out_dir: Option<std::path::PathBuf>,
        /// Output format (json: a v1 List of the CRDs).
        #[arg(short, long, value_enum, default_value_t = ObjectFormat::Yaml, conflicts_with = "out_dir")]
        output: ObjectFormat,
    },
    /// Print the shell completion script of kubectl-tenant, e.g.
    /// `kubectl tenant completion bash > /etc/bash_completion.d/kubectl-tenant`. For
    /// `kubectl tenant <TAB>` itself (kubectl 1.26+), put an executable `kubectl_complete-tenant`
    /// on the PATH that runs `kubectl-tenant __complete "$@"` (docs/plugin.md).
    Completion {
        /// The shell.
        shell: CompletionShell,
    },
    /// Each Tenant's accrued cost (from the cluster: cycle to date, forecast, budget, % used),
    /// or with --offline the most each Tenant in FILES can cost in a month from its spec alone:
    /// its quota's CPU and memory (limits, else requests) around the clock and its storage quota,
    /// at its rates (spec, else its billingTier's) and discounts; egress is not included.
    Cost {
        /// Read Tenant YAML files instead of the cluster.
        #[arg(long)]
        offline: bool,
        /// The Tenants' namespace (live); default: the context's namespace.
        #[arg(short, long)]
        namespace: Option<String>,
        /// Tenants of every namespace (live).
        #[arg(short = 'A', long)]
        all_namespaces: bool,
        /// The platform's tier table (as the operator's flag of the same name): YAML, tier name
        /// to `cpuHourlyRate`, `memoryHourlyRate`, `storageMonthlyRate`, `networkEgressRate`,
        /// `currency`.
        #[arg(long, value_hint = clap::ValueHint::FilePath)]
        billing_tiers: Option<std::path::PathBuf>,
        /// The compute quota of strict and standard tenants that bound no cpu, memory or pod
        /// count (as the operator's flag of the same name).
        #[arg(long, value_parser = ComputeSetting::parse)]
        default_compute_quota: Vec<ComputeSetting>,
        #[arg(short, long, value_enum, default_value_t = Format::Text)]
        output: Format,
        /// Tenant names (live; none: every Tenant of the namespace), or with --offline Tenant
        /// YAML files (`-` for standard input).
        args: Vec<String>,
    },
    /// List a Tenant's Velero backups, newest first (phase, origin, started, completed,
    /// expires). Reads the cluster of the current kubeconfig context.
    Backups {
        /// The Tenant's name.
        tenant: String,
        /// The Tenant's namespace; default: the context's namespace.
        #[arg(short, long)]
        namespace: Option<String>,
        /// Velero's namespace (as the operator's flag of the same name).
        #[arg(long, default_value = tenant_core::build::backup::DEFAULT_VELERO_NAMESPACE)]
        velero_namespace: String,
        #[arg(short, long, value_enum, default_value_t = Format::Text)]
        output: Format,
    },
    /// Print the kube-apiserver audit policy (audit.k8s.io/v1 Policy, for --audit-policy-file)
    /// that audits each Tenant's namespace at its auditLevel where apiAudit is on (presets
    /// count) and every other request at --default-level. Secrets, service-account tokens,
    /// TokenReviews, Tenants and PRStacks are never logged above Metadata. Reads Tenant YAML
    /// files, or without files the Tenants of every namespace of the cluster (current kubeconfig
    /// context).
    AuditPolicy {
        /// The level of every request no tenant rule matches: None, Metadata, Request or
        /// RequestResponse. None would end the platform's auditing outside tenant namespaces.
        #[arg(long, default_value = "Metadata", value_parser = tenant_core::audit::parse_level)]
        default_level: tenant_api::AuditLevel,
        /// Output format (JSON has no header comment).
        #[arg(short, long, value_enum, default_value_t = ObjectFormat::Yaml)]
        output: ObjectFormat,
        /// Tenant YAML files (`-` for standard input); none: the cluster's Tenants.
        files: Vec<String>,
    },
    /// Print the Tenant for each PRStack: the same namespace (pr-<n>-shop-pilab-hu), tenantId
    /// pr-<n>, type development, its services, image tag, active, deployedAt, data-store URLs,
    /// dedicated stores for the rest, limits and backups. What could not be mapped is listed in
    /// comments (YAML) or on standard error (JSON). Reads PRStack YAML files, or without files
    /// the cluster's PRStacks (current kubeconfig context).
    Migrate {
        /// The tenantId (default pr-<prNumber>); only with one PRStack.
        #[arg(long)]
        tenant_id: Option<String>,
        /// The Tenant's name (default: the PRStack's); only with one PRStack.
        #[arg(long)]
        name: Option<String>,
        /// The tenantType: development or staging.
        #[arg(long = "type", value_enum, default_value_t = MigrateType::Development)]
        tenant_type: MigrateType,
        /// Without files: the PRStacks of this namespace only (default: every namespace).
        #[arg(short, long)]
        namespace: Option<String>,
        #[arg(short, long, value_enum, default_value_t = ObjectFormat::Yaml)]
        output: ObjectFormat,
        /// Hand the live previews over to their Tenants, data and namespace included: the
        /// arguments then name PRStacks of the cluster (in -n's namespace; none: all of them).
        /// Each PRStack is deleted once its Tenant is Running in the same namespace.
        #[arg(long)]
        apply: bool,
        /// With --apply: how long to wait for each Tenant to be Running, in seconds.
        #[arg(long, default_value_t = 300)]
        timeout: u64,
        /// PRStack YAML files (`-` for standard input); none: the cluster's PRStacks. With
        /// --apply: PRStack names.
        files: Vec<String>,
    },
    /// Framework metadata: name, version, features, supported isolation levels, billing cycles,
    /// resource types.
    Info {
        #[arg(short, long, value_enum, default_value_t = Format::Text)]
        output: Format,
    },
}

#[derive(clap::Args)]
struct RenderArgs {
    /// Leave out the cluster-wide admission policies shared by all tenants.
    #[arg(long)]
    no_shared: bool,
    /// The user the operator runs as (exempt from the admission policies).
    #[arg(long, default_value = build::DEFAULT_OPERATOR_USER)]
    operator_user: String,
    /// The platform's default PriorityClass, which every tenant may use (as the operator's
    /// flag of the same name).
    #[arg(long, default_value = "")]
    default_priority_class: String,
    /// The operator's namespace, where the domain map of the ingress-hosts policy lives (as
    /// the operator's flag of the same name).
    #[arg(long, default_value = build::DEFAULT_OPERATOR_NAMESPACE)]
    operator_namespace: String,
    /// The compute quota of strict and standard tenants that bound no cpu, memory or pod count, per
    /// tenant type (as the operator's flag of the same name): `TYPE:KEY=QUANTITY,...` or
    /// `TYPE:none`, repeatable. Types not named keep the built-in defaults.
    #[arg(long, value_parser = ComputeSetting::parse)]
    default_compute_quota: Vec<ComputeSetting>,
    /// The IngressClass of the tenants' Ingresses (as the operator's flag of the same
    /// name); empty: the cluster's default class.
    #[arg(long, default_value = "")]
    ingress_class: String,
    /// A registry credential the operator copies in (as its `--pull-secret`), given here as
    /// `NAME=REGISTRY[,REGISTRY...]`, since render never reads the platform's Secret: the
    /// copy is printed with its data redacted. Repeatable.
    #[arg(long = "pull-secret", value_parser = declared_pull_secret)]
    pull_secrets: Vec<tenant_core::build::pull_secrets::PullSecretSource>,
    /// The cert-manager issuer of custom domains without a TLS Secret (as the operator's
    /// flag of the same name): `ClusterIssuer/<name>` or `Issuer/<name>`.
    #[arg(long, default_value = "")]
    cert_issuer: String,
    /// A release channel of the platform (as the operator's ConfigMap tenant-releases):
    /// `CHANNEL=TAG`, repeatable; Tenants with that releaseChannel render with that tag.
    #[arg(long = "release", value_parser = channel_release)]
    releases: Vec<(String, String)>,
    /// The image of a dedicated data store (as the operator's flag of the same name):
    /// `STORE=IMAGE` with STORE `mongodb`, `nats` or `redis`; repeatable.
    #[arg(long = "dedicated-image", value_parser = tenant_core::build::dedicated::parse_image_flag)]
    dedicated_images: Vec<(String, String)>,
    /// The StorageClass of dedicated data stores' volumes (as the operator's flag).
    #[arg(long, default_value = "")]
    dedicated_storage_class: String,
    /// Velero's namespace, where backup Schedules go (as the operator's flag).
    #[arg(long, default_value = tenant_core::build::backup::DEFAULT_VELERO_NAMESPACE)]
    velero_namespace: String,
    /// How volume data is backed up: `snapshot` or `fs-backup` (as the operator's flag).
    #[arg(long, default_value = "snapshot", value_parser = tenant_core::build::backup::VolumeMethod::parse)]
    backup_volumes: tenant_core::build::backup::VolumeMethod,
    /// A BackupStorageLocation the platform declares encrypting (as the operator's flag),
    /// repeatable.
    #[arg(long = "encrypted-backup-location")]
    encrypted_backup_locations: Vec<String>,
    /// Output format (json: a v1 List of the objects).
    #[arg(short, long, value_enum, default_value_t = ObjectFormat::Yaml)]
    output: ObjectFormat,
    /// Tenant YAML files (`-` for standard input).
    files: Vec<String>,
}

#[derive(Subcommand)]
enum QuotaCommand {
    /// Sum every quota key over the tenants; with --capacity, warn above 80% of it.
    Total {
        /// Cluster capacity, e.g. `cpu=100,memory=512Gi,storage=10Ti,pods=1000`.
        #[arg(long)]
        capacity: Option<String>,
        /// Exit with code 1 when there is any warning.
        #[arg(long)]
        fail_on_warning: bool,
        /// The compute quota of strict and standard tenants that bound no cpu, memory or pod count, per
        /// tenant type (as the operator's flag of the same name): `TYPE:KEY=QUANTITY,...` or
        /// `TYPE:none`, repeatable. Types not named keep the built-in defaults.
        #[arg(long, value_parser = ComputeSetting::parse)]
        default_compute_quota: Vec<ComputeSetting>,
        #[arg(short, long, value_enum, default_value_t = Format::Text)]
        output: Format,
        /// Tenant YAML files (`-` for standard input).
        files: Vec<String>,
    },
}

/// The output of a command that prints a report or a table.
#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Format {
    /// A table or lines for people.
    Text,
    /// Text with the columns and details left out of `text`.
    Wide,
    Json,
    Yaml,
}

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
enum CompletionShell {
    Bash,
    Zsh,
    Fish,
}

/// The output of a command that prints a Kubernetes object (which has no text form).
#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
enum ObjectFormat {
    Yaml,
    Json,
}

/// The tenantType a preview may become.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
enum MigrateType {
    Development,
    Staging,
}

fn main() -> ExitCode {
    let args: Vec<std::ffi::OsString> = std::env::args_os().collect();
    // kubectl's plugin completion protocol: kubectl_complete-tenant runs `kubectl-tenant
    // __complete ARGS... PARTIAL`.
    if args.get(1).is_some_and(|a| a == "__complete") {
        let words: Vec<String> = args[2..]
            .iter()
            .map(|a| a.to_string_lossy().into_owned())
            .collect();
        print!(
            "{}",
            kubectl_tenant::complete::candidates(&Cli::command(), &words)
        );
        return ExitCode::SUCCESS;
    }
    let cli = Cli::parse_from(args);
    let _ = CLUSTER.set((cli.kubeconfig.clone(), cli.context.clone()));
    match run(cli) {
        Ok(code) => code,
        // `kubectl tenant render ... | head`: the reader went away, which is not an error.
        Err(e) if is_broken_pipe(&e) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(2)
        }
    }
}

fn is_broken_pipe(e: &anyhow::Error) -> bool {
    e.chain().any(|c| {
        c.downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
    })
}

fn run(cli: Cli) -> Result<ExitCode> {
    match cli.command {
        Command::Validate {
            output,
            verbose,
            files,
        } => cmd_validate(&files, output, verbose),
        Command::Render(args) => {
            let RenderArgs {
                no_shared,
                operator_user,
                default_priority_class,
                operator_namespace,
                default_compute_quota,
                ingress_class,
                pull_secrets,
                cert_issuer,
                releases,
                dedicated_images,
                dedicated_storage_class,
                velero_namespace,
                backup_volumes,
                encrypted_backup_locations,
                output,
                files,
            } = *args;
            cmd_render(
                &files,
                no_shared,
                output,
                &BuildContext {
                    other_tenants: &[],
                    operator_user: &operator_user,
                    default_priority_class: &default_priority_class,
                    operator_namespace: &operator_namespace,
                    compute_defaults: &ComputeDefaults::with(&default_compute_quota),
                    ingress_class: &ingress_class,
                    pull_secrets: &pull_secrets,
                    cert_issuer: &cert_issuer,
                    releases: &releases.into_iter().collect(),
                    held_release: None,
                    now: tenant_core::schedule::Timestamp::now(),
                    data: &tenant_core::build::NO_WIRING,
                    dedicated: &tenant_core::build::dedicated::DedicatedConfig {
                        images: dedicated_images.into_iter().collect(),
                        storage_class: dedicated_storage_class,
                    },
                    backup: &tenant_core::build::backup::BackupPlatform {
                        velero_namespace,
                        volumes: backup_volumes,
                        encrypted_locations: encrypted_backup_locations,
                    },
                    // render knows no cost: a spec never renders as frozen
                    budget_hibernated: false,
                },
            )
        }
        Command::Quota {
            command:
                QuotaCommand::Total {
                    capacity,
                    fail_on_warning,
                    default_compute_quota,
                    output,
                    files,
                },
        } => cmd_quota_total(
            &files,
            capacity.as_deref(),
            fail_on_warning,
            &ComputeDefaults::with(&default_compute_quota),
            output,
        ),
        Command::Crd { out_dir, output } => cmd_crd(out_dir.as_deref(), output),
        Command::Completion { shell } => {
            // Each script asks `kubectl-tenant __complete` (crate::complete), as kubectl's own
            // plugin completion does: one answer for every shell and for `kubectl tenant <TAB>`.
            write_stdout(match shell {
                CompletionShell::Bash => include_str!("completion/kubectl-tenant.bash"),
                CompletionShell::Zsh => include_str!("completion/kubectl-tenant.zsh"),
                CompletionShell::Fish => include_str!("completion/kubectl-tenant.fish"),
            })?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Cost {
            offline: true,
            billing_tiers,
            default_compute_quota,
            output,
            args,
            ..
        } => cmd_cost_offline(
            &args,
            billing_tiers.as_deref(),
            &ComputeDefaults::with(&default_compute_quota),
            output,
        ),
        Command::Cost {
            namespace,
            all_namespaces,
            output,
            args,
            ..
        } => {
            let rows = live(|client| async move {
                let ns = if all_namespaces {
                    None
                } else {
                    Some(namespace.unwrap_or_else(|| client.default_namespace().to_string()))
                };
                kubectl_tenant::cost::live(&client, ns.as_deref(), &args).await
            })?;
            print_structured(&rows, output, |r, wide| {
                write_stdout(&kubectl_tenant::cost::table(r, wide))
            })?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Backups {
            tenant,
            namespace,
            velero_namespace,
            output,
        } => {
            let listing = live(|client| async move {
                let ns = namespace.unwrap_or_else(|| client.default_namespace().to_string());
                kubectl_tenant::backups::list(&client, &ns, &tenant, &velero_namespace).await
            })?;
            print_structured(&listing, output, |l, wide| {
                write_stdout(&kubectl_tenant::backups::table(l, wide))
            })?;
            Ok(ExitCode::SUCCESS)
        }
        Command::AuditPolicy {
            default_level,
            output,
            files,
        } => {
            let tenants = if files.is_empty() {
                live(
                    |client| async move { kubectl_tenant::audit_policy::live_tenants(&client).await },
                )?
            } else {
                let docs = read_documents(&files)?;
                let Some(tenants) = valid_tenants(&docs)? else {
                    eprintln!(
                        "no policy printed: fix the errors above (kubectl tenant validate shows all checks)"
                    );
                    return Ok(ExitCode::from(1));
                };
                tenants
            };
            let output = match output {
                ObjectFormat::Yaml => kubectl_tenant::audit_policy::Output::Yaml,
                ObjectFormat::Json => kubectl_tenant::audit_policy::Output::Json,
            };
            write_stdout(&kubectl_tenant::audit_policy::document(
                &tenants,
                default_level,
                output,
            )?)?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Migrate {
            tenant_id,
            name,
            tenant_type,
            namespace,
            output,
            apply,
            timeout,
            files,
        } => {
            if apply && name.is_some() {
                eprintln!(
                    "--name cannot be used with --apply: the hand-over keeps the name, so the Tenant that runs the preview keeps running it"
                );
                return Ok(ExitCode::from(2));
            }
            let docs: Vec<(String, serde_json::Value)> = if apply {
                let ns = namespace.clone();
                live(|client| async move {
                    kubectl_tenant::migrate::live_prstacks(&client, ns.as_deref()).await
                })?
                .into_iter()
                .filter(|d| {
                    files.is_empty()
                        || files
                            .iter()
                            .any(|f| d["metadata"]["name"].as_str() == Some(f.as_str()))
                })
                .map(|d| (String::from("cluster"), d))
                .collect()
            } else if files.is_empty() {
                live(|client| async move {
                    kubectl_tenant::migrate::live_prstacks(&client, namespace.as_deref()).await
                })?
                .into_iter()
                .map(|d| (String::from("cluster"), d))
                .collect()
            } else {
                let docs = read_documents(&files)?;
                let counts = input::counts(&docs);
                docs.into_iter()
                    .map(|d| {
                        (
                            d.location(counts.get(&d.source).copied().unwrap_or(1)),
                            d.value,
                        )
                    })
                    .collect()
            };
            if docs.is_empty() {
                eprintln!("no PRStack found");
                return Ok(ExitCode::from(1));
            }
            if docs.len() > 1 && (tenant_id.is_some() || name.is_some()) {
                eprintln!(
                    "--tenant-id and --name need exactly one PRStack ({} given)",
                    docs.len()
                );
                return Ok(ExitCode::from(2));
            }
            let opts = tenant_core::migrate::Options {
                tenant_id,
                name,
                tenant_type: Some(match tenant_type {
                    MigrateType::Development => tenant_api::TenantType::Development,
                    MigrateType::Staging => tenant_api::TenantType::Staging,
                }),
            };
            let mut migrations = Vec::new();
            let mut failed = false;
            for (at, doc) in &docs {
                match tenant_core::migrate::prstack_to_tenant(doc, &opts) {
                    Ok(m) => {
                        // the Tenant must be one the API server and the operator accept
                        let report = tenant_core::validate::validate_value(&serde_json::to_value(
                            &m.tenant,
                        )?);
                        if report.valid {
                            migrations.push(m);
                        } else {
                            failed = true;
                            for e in &report.errors {
                                eprintln!("{at}: {}: the Tenant would be invalid: {e}", m.source);
                            }
                        }
                    }
                    Err(e) => {
                        failed = true;
                        eprintln!("{at}: {e}");
                    }
                }
            }
            if failed {
                eprintln!("nothing printed: fix the errors above");
                return Ok(ExitCode::from(1));
            }
            if apply {
                let by_source: Vec<(serde_json::Value, tenant_core::migrate::Migration)> =
                    docs.into_iter().map(|(_, d)| d).zip(migrations).collect();
                let timeout = std::time::Duration::from_secs(timeout);
                let results = live(|client| async move {
                    let mut out = Vec::new();
                    for (doc, m) in &by_source {
                        for u in &m.unmapped {
                            eprintln!("{}: not mapped: {}: {}", m.source, u.field, u.reason);
                        }
                        out.push(
                            kubectl_tenant::migrate::hand_over(&client, doc, m, timeout).await,
                        );
                    }
                    Ok(out)
                })?;
                let mut code = ExitCode::SUCCESS;
                for r in results {
                    match r {
                        Ok(line) => println!("{line}"),
                        Err(e) => {
                            eprintln!("error: {e:#}");
                            code = ExitCode::from(1);
                        }
                    }
                }
                return Ok(code);
            }
            let output = match output {
                ObjectFormat::Yaml => kubectl_tenant::migrate::Output::Yaml,
                ObjectFormat::Json => {
                    for m in &migrations {
                        for u in &m.unmapped {
                            eprintln!("{}: not mapped: {}: {}", m.source, u.field, u.reason);
                        }
                    }
                    kubectl_tenant::migrate::Output::Json
                }
            };
            write_stdout(&kubectl_tenant::migrate::document(&migrations, output)?)?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Info { output } => {
            print_structured(&info::framework(), output, |f, _| info::print_text(f))?;
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// One document's report, identified.
#[derive(Serialize)]
struct DocumentReport {
    file: String,
    object: String,
    #[serde(flatten)]
    report: Report,
}

/// The `-o json` shape: `{valid, errors, checks}` over all documents, plus each document's own
/// report.
#[derive(Serialize)]
struct Summary {
    valid: bool,
    errors: Vec<String>,
    checks: Vec<validate::Check>,
    documents: Vec<DocumentReport>,
}

fn report_for(doc: &Document) -> Report {
    match doc.value.get("kind").and_then(Value::as_str) {
        Some("PRStack") => validate::validate_prstack_value(&doc.value),
        _ => validate::validate_value(&doc.value),
    }
}

fn cmd_validate(files: &[String], output: Format, verbose: bool) -> Result<ExitCode> {
    let docs = read_documents(files)?;
    if docs.is_empty() {
        anyhow::bail!("no documents to validate");
    }
    let counts = input::counts(&docs);
    let mut documents = Vec::new();
    for doc in &docs {
        documents.push(DocumentReport {
            file: doc.location(counts[&doc.source]),
            object: doc.describe(),
            report: report_for(doc),
        });
    }
    let valid = documents.iter().all(|d| d.report.valid);
    let verbose = verbose || output == Format::Wide;
    match output {
        Format::Text | Format::Wide => {
            let mut out = std::io::stdout().lock();
            for d in &documents {
                let fails = d.report.errors.len();
                let warns = count(&d.report, CheckStatus::Warn);
                let passed = count(&d.report, CheckStatus::Pass);
                let verdict = if d.report.valid { "valid" } else { "INVALID" };
                writeln!(
                    out,
                    "{}: {}: {verdict} ({passed} checks passed, {warns} warnings, {fails} errors)",
                    d.file, d.object
                )?;
                for e in &d.report.errors {
                    writeln!(out, "  error: {e}")?;
                }
                for c in &d.report.checks {
                    match c.status {
                        CheckStatus::Warn => {
                            writeln!(out, "  warning: {}: {}", c.field, c.message)?
                        }
                        CheckStatus::Pass if verbose => {
                            writeln!(out, "  ok: {} ({})", c.name, c.field)?
                        }
                        _ => {}
                    }
                }
            }
        }
        Format::Json | Format::Yaml => {
            let summary = Summary {
                valid,
                errors: documents
                    .iter()
                    .flat_map(|d| {
                        d.report
                            .errors
                            .iter()
                            .map(move |e| format!("{}: {e}", d.file))
                    })
                    .collect(),
                checks: documents
                    .iter()
                    .flat_map(|d| d.report.checks.iter().cloned())
                    .collect(),
                documents,
            };
            print_structured(&summary, output, |_, _| Ok(()))?;
        }
    }
    Ok(if valid {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

fn count(r: &Report, status: CheckStatus) -> usize {
    r.checks.iter().filter(|c| c.status == status).count()
}

/// Parses and validates Tenant documents; on any invalid one, prints every error and returns None.
fn valid_tenants(docs: &[Document]) -> Result<Option<Vec<Tenant>>> {
    let counts = input::counts(docs);
    let mut tenants = Vec::new();
    let mut failed = false;
    for doc in docs {
        let loc = doc.location(counts[&doc.source]);
        if doc.value.get("kind").and_then(Value::as_str) != Some("Tenant") {
            eprintln!(
                "{loc}: {}: not a Tenant (only Tenant documents are rendered)",
                doc.describe()
            );
            failed = true;
            continue;
        }
        let report = validate::validate_value(&doc.value);
        if !report.valid {
            for e in &report.errors {
                eprintln!("{loc}: {}: {e}", doc.describe());
            }
            failed = true;
            continue;
        }
        let tenant: Tenant = serde_json::from_value(doc.value.clone())
            .with_context(|| format!("{loc}: {}", doc.describe()))?;
        tenants.push(tenant);
    }
    Ok(if failed { None } else { Some(tenants) })
}

/// `platform`: the operator's settings the objects depend on (its other Tenants are the files).
/// `CHANNEL=TAG` of `render --release`.
fn channel_release(s: &str) -> std::result::Result<(String, String), String> {
    match s.split_once('=') {
        Some((c, t)) if !c.trim().is_empty() && !t.trim().is_empty() => {
            Ok((c.trim().to_string(), t.trim().to_string()))
        }
        _ => Err(format!("{s:?}: expected CHANNEL=TAG")),
    }
}

/// `NAME=REGISTRY[,REGISTRY...]` of `render --pull-secret`.
fn declared_pull_secret(
    s: &str,
) -> std::result::Result<tenant_core::build::pull_secrets::PullSecretSource, String> {
    let (name, registries) = s
        .split_once('=')
        .ok_or_else(|| format!("{s:?}: expected NAME=REGISTRY[,REGISTRY...]"))?;
    let registries: Vec<String> = registries
        .split(',')
        .map(str::trim)
        .filter(|r| !r.is_empty())
        .map(str::to_string)
        .collect();
    if name.trim().is_empty() || registries.is_empty() {
        return Err(format!("{s:?}: expected NAME=REGISTRY[,REGISTRY...]"));
    }
    Ok(tenant_core::build::pull_secrets::PullSecretSource::declared(name.trim(), &registries))
}

fn cmd_render(
    files: &[String],
    no_shared: bool,
    output: ObjectFormat,
    platform: &BuildContext,
) -> Result<ExitCode> {
    let docs = read_documents(files)?;
    let Some(tenants) = valid_tenants(&docs)? else {
        eprintln!(
            "nothing rendered: fix the errors above (kubectl tenant validate shows all checks)"
        );
        return Ok(ExitCode::from(1));
    };
    let ctx = BuildContext {
        other_tenants: &tenants,
        ..platform.clone()
    };
    let mut objects = Vec::new();
    if !no_shared {
        objects.extend(build::shared_objects(&ctx)?);
    }
    for t in &tenants {
        objects.extend(build::tenant_objects(t, &ctx)?);
    }
    // Secret values never leave the Tenant files through render.
    if output == ObjectFormat::Json {
        write_stdout(&json_list(objects.iter().map(|o| o.redacted()))?)?;
        return Ok(ExitCode::SUCCESS);
    }
    let mut out = String::new();
    for (i, o) in objects.iter().enumerate() {
        if i > 0 {
            out.push_str("---\n");
        }
        out.push_str(&to_yaml(&o.redacted())?);
    }
    write_stdout(&out)?;
    Ok(ExitCode::SUCCESS)
}

fn cmd_quota_total(
    files: &[String],
    capacity: Option<&str>,
    fail_on_warning: bool,
    compute: &ComputeDefaults,
    output: Format,
) -> Result<ExitCode> {
    let capacity = match capacity {
        Some(c) => tenant_core::totals::parse_capacity(c)?,
        None => Default::default(),
    };
    let docs = read_documents(files)?;
    let Some(tenants) = valid_tenants(&docs)? else {
        return Ok(ExitCode::from(1));
    };
    let totals = tenant_core::totals::calculate_total_quota(&tenants, &capacity, compute)?;
    print_structured(&totals, output, |t, _| {
        let mut out = std::io::stdout().lock();
        writeln!(out, "Tenants: {}", t.tenants.join(", "))?;
        writeln!(
            out,
            "{:<34} {:>12} {:>8} {:>10} {:>10} {:>7}",
            "RESOURCE", "TOTAL", "TENANTS", "UNBOUNDED", "CAPACITY", "USE"
        )?;
        for (key, k) in &t.totals {
            writeln!(
                out,
                "{:<34} {:>12} {:>8} {:>10} {:>10} {:>7}",
                key,
                k.total,
                k.tenants,
                k.unbounded.len(),
                k.capacity.as_deref().unwrap_or("-"),
                k.ratio
                    .map(|r| format!("{:.1}%", r * 100.0))
                    .unwrap_or_else(|| "-".into())
            )?;
        }
        for w in &t.warnings {
            writeln!(out, "WARNING: {w}")?;
        }
        Ok(())
    })?;
    if !totals.warnings.is_empty() && !matches!(output, Format::Text | Format::Wide) {
        for w in &totals.warnings {
            eprintln!("WARNING: {w}");
        }
    }
    Ok(if fail_on_warning && !totals.warnings.is_empty() {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}

/// Runs a command against the cluster of the current kubeconfig context.
fn live<T, F, Fut>(f: F) -> Result<T>
where
    F: FnOnce(kube::Client) -> Fut,
    Fut: std::future::Future<Output = Result<T>>,
{
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?
        .block_on(async {
            let (client, which) = client().await?;
            f(client).await.with_context(|| which)
        })
}

/// A client of the cluster `--kubeconfig` and `--context` name (default: the usual kubeconfig
/// resolution and its current context), and which cluster that is, for errors.
async fn client() -> Result<(kube::Client, String)> {
    let (path, context) = CLUSTER.get().cloned().unwrap_or_default();
    let what = match (&path, &context) {
        (None, None) => "the current kubeconfig context".to_string(),
        (Some(p), None) => format!("the current context of {}", p.display()),
        (None, Some(c)) => format!("kubeconfig context {c}"),
        (Some(p), Some(c)) => format!("context {c} of {}", p.display()),
    };
    let config = if path.is_none() && context.is_none() {
        kube::Config::infer().await.map_err(anyhow::Error::from)
    } else {
        let options = kube::config::KubeConfigOptions {
            context,
            ..Default::default()
        };
        match &path {
            Some(p) => match kube::config::Kubeconfig::read_from(p) {
                Ok(kubeconfig) => kube::Config::from_custom_kubeconfig(kubeconfig, &options)
                    .await
                    .map_err(anyhow::Error::from),
                Err(e) => Err(anyhow::Error::from(e)),
            },
            None => kube::Config::from_kubeconfig(&options)
                .await
                .map_err(anyhow::Error::from),
        }
    }
    .with_context(|| format!("connecting to the cluster of {what}"))?;
    let which = format!("the cluster of {what} ({})", config.cluster_url);
    let client =
        kube::Client::try_from(config).with_context(|| format!("connecting to {which}"))?;
    Ok((client, which))
}

/// One Tenant's offline cost.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct TenantCost {
    tenant: String,
    #[serde(flatten)]
    cost: tenant_core::cost::OfflineCost,
    /// A billingTier the tier table does not have.
    #[serde(skip_serializing_if = "Option::is_none")]
    unknown_tier: Option<String>,
    /// `billing.monthlyBudget`.
    #[serde(skip_serializing_if = "Option::is_none")]
    monthly_budget: Option<f64>,
}

fn cmd_cost_offline(
    files: &[String],
    tiers: Option<&std::path::Path>,
    compute: &ComputeDefaults,
    output: Format,
) -> Result<ExitCode> {
    let table: tenant_core::cost::TierTable = match tiers {
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("cannot read {}", path.display()))?;
            serde_saphyr::from_str(&text)
                .with_context(|| format!("{}: not a tier table", path.display()))?
        }
        None => Default::default(),
    };
    let docs = read_documents(files)?;
    let Some(tenants) = valid_tenants(&docs)? else {
        return Ok(ExitCode::from(1));
    };
    let ctx = BuildContext {
        compute_defaults: compute,
        ..BuildContext::default()
    };
    let mut rows = Vec::new();
    for t in &tenants {
        let prices = tenant_core::cost::price_list(t, &table);
        let hard = tenant_core::totals::tenant_hard_limits(t, &ctx)?;
        rows.push(TenantCost {
            tenant: format!(
                "{}/{}",
                t.spec.tenant_id,
                tenant_core::naming::environment(&t.spec)
            ),
            cost: tenant_core::cost::offline(&prices, &hard),
            unknown_tier: prices.unknown_tier.clone(),
            monthly_budget: t.spec.billing.as_ref().and_then(|b| b.monthly_budget),
        });
    }
    print_structured(&rows, output, |rows, _| {
        let mut out = std::io::stdout().lock();
        let money = |v: Option<f64>| {
            v.map(|v| format!("{v:.2}"))
                .unwrap_or_else(|| "unbounded".into())
        };
        writeln!(
            out,
            "{:<34} {:>8} {:>12} {:>12} {:>12} {:>12}",
            "TENANT", "CURRENCY", "CPU/MO", "MEMORY/MO", "STORAGE/MO", "MAX/MO"
        )?;
        for r in rows {
            writeln!(
                out,
                "{:<34} {:>8} {:>12} {:>12} {:>12} {:>12}",
                r.tenant,
                r.cost.currency,
                money(r.cost.cpu),
                money(r.cost.memory),
                money(r.cost.storage),
                money(r.cost.total)
            )?;
        }
        for r in rows {
            if !r.cost.unpriced.is_empty() {
                writeln!(
                    out,
                    "NOTE: {}: no rate for {} (priced at 0)",
                    r.tenant,
                    r.cost.unpriced.join(", ")
                )?;
            }
            if let (Some(budget), Some(max)) = (r.monthly_budget, r.cost.total)
                && max > budget
            {
                writeln!(
                    out,
                    "NOTE: {}: its quota can cost {max:.2} a month, over its monthlyBudget {budget:.2}",
                    r.tenant
                )?;
            }
            if let Some(tier) = &r.unknown_tier {
                writeln!(
                    out,
                    "WARNING: {}: billingTier {tier:?} is not in the tier table",
                    r.tenant
                )?;
            }
        }
        Ok(())
    })?;
    Ok(ExitCode::SUCCESS)
}

fn cmd_crd(out_dir: Option<&std::path::Path>, output: ObjectFormat) -> Result<ExitCode> {
    let crds = tenant_api::crds();
    match out_dir {
        Some(dir) => {
            std::fs::create_dir_all(dir)
                .with_context(|| format!("cannot create {}", dir.display()))?;
            for (file, crd) in &crds {
                let path = dir.join(file);
                std::fs::write(&path, to_yaml(crd)?)
                    .with_context(|| format!("cannot write {}", path.display()))?;
            }
        }
        None if output == ObjectFormat::Json => {
            write_stdout(&json_list(crds.iter().map(|(_, c)| c))?)?;
        }
        None => {
            let docs: Result<Vec<String>> = crds.iter().map(|(_, c)| to_yaml(c)).collect();
            write_stdout(&docs?.join("---\n"))?;
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn write_stdout(s: &str) -> Result<()> {
    let mut out = std::io::stdout().lock();
    out.write_all(s.as_bytes())?;
    out.flush()?;
    Ok(())
}

/// Objects as a v1 List (what `kubectl get -o json` prints for several), pretty JSON.
fn json_list<T: Serialize>(items: impl IntoIterator<Item = T>) -> Result<String> {
    let items: Vec<Value> = items
        .into_iter()
        .map(|i| serde_json::to_value(i))
        .collect::<serde_json::Result<_>>()?;
    let list = serde_json::json!({"apiVersion": "v1", "kind": "List", "items": items});
    Ok(format!("{}\n", serde_json::to_string_pretty(&list)?))
}

fn to_yaml<T: Serialize>(v: &T) -> Result<String> {
    serde_saphyr::to_string(v).context("cannot serialize to YAML")
}

/// Prints `v` as JSON or YAML, or with `text` (told whether the output is wide).
fn print_structured<T: Serialize>(
    v: &T,
    output: Format,
    text: impl FnOnce(&T, bool) -> Result<()>,
) -> Result<()> {
    match output {
        Format::Text => text(v, false),
        Format::Wide => text(v, true),
        Format::Json => write_stdout(&format!("{}\n", serde_json::to_string_pretty(v)?)),
        Format::Yaml => write_stdout(&to_yaml(v)?),
    }
}
