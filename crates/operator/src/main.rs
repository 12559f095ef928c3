//! `tenant-operator run`: flags and environment in, the operator running until SIGTERM/SIGINT.

use std::process::ExitCode;

use clap::Parser;
use tenant_operator::Operator;
use tenant_operator::context::{Cli, Command, Config, LogFormat};
use tracing::{error, info};
use tracing_subscriber::EnvFilter;

#[cfg(all(target_os = "linux", not(target_env = "msvc")))]
#[global_allocator]
static GLOBAL: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

fn init_logging(format: LogFormat) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt().with_env_filter(filter);
    match format {
        LogFormat::Json => builder
            .json()
            .flatten_event(true)
            .with_current_span(true)
            .init(),
        LogFormat::Text => builder.init(),
    }
}

/// Resolves on SIGTERM (what the kubelet sends) or SIGINT.
async fn shutdown_signal() {
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(e) => {
                error!(error = %e, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    tokio::select! {
        () = term => info!("SIGTERM: shutting down"),
        r = tokio::signal::ctrl_c() => match r {
            Ok(()) => info!("SIGINT: shutting down"),
            Err(e) => error!(error = %e, "cannot listen for SIGINT"),
        },
    }
}

async fn run(config: Config) -> anyhow::Result<()> {
    let mut kube_config = kube::Config::infer().await?;
    // The API server's audit log then tells the replicas apart (they share one user).
    kube_config.headers.push((
        http::header::USER_AGENT,
        http::HeaderValue::from_str(&user_agent(&config.identity))?,
    ));
    let client = tenant_operator::client(kube_config)?;
    let operator = Operator::bind(config, client).await?;
    info!(addr = %operator.local_addr(), "serving /metrics, /livez, /readyz");
    operator.run(shutdown_signal()).await?;
    Ok(())
}

/// `tenant-operator/<version> (<identity>)`, the identity cut to what a header may hold.
fn user_agent(identity: &str) -> String {
    let identity: String = identity
        .chars()
        .filter(|c| c.is_ascii_graphic() || *c == ' ')
        .take(128)
        .collect();
    format!("tenant-operator/{} ({identity})", env!("CARGO_PKG_VERSION"))
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let Command::Run(args) = cli.command;
    let config = Config::from(args);
    init_logging(config.log_format);
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(config.worker_threads)
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            error!(error = %e, "cannot start the async runtime");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(config)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            error!(error = %format!("{e:#}"), "tenant-operator failed");
            ExitCode::FAILURE
        }
    }
}
