//! Tenants created right after the CRDs are installed and the operator started, on a control
//! plane of this binary's own: none is refused. (The finalizer's MutatingAdmissionPolicy would
//! make the API server refuse Tenant creates with 503 until it has read the Tenant schema; the
//! operator applies it only after that.) Every Tenant has the finalizer and reaches Running.
#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)]

mod common;

use std::time::{Duration, Instant};

use anyhow::{Result, ensure};
use common::*;
use kube::ResourceExt;
use kube::api::DeleteParams;
use tenant_api::{Phase, labels};

#[tokio::test]
#[ignore = "needs the local control plane: hack/test runs it"]
async fn tenants_created_right_after_the_install_are_all_accepted() -> Result<()> {
    // Harness::new installs the CRDs on this binary's fresh control plane.
    let h = Harness::new("op-fresh").await?;
    let op = h.start_operator().await?;
    let start = Instant::now();
    let mut names = Vec::new();
    let mut refused = Vec::new();
    // One create every 500 ms for 15 s: across the time the policy goes in.
    while start.elapsed() < Duration::from_secs(15) {
        let t = h.tenant("fresh");
        match h.create(&t).await {
            Ok(_) => names.push(t.name_any()),
            Err(e) => refused.push(format!("{:?}: {e:#}", start.elapsed())),
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    ensure!(
        refused.is_empty(),
        "{} of {} creates refused:\n{}",
        refused.len(),
        names.len() + refused.len(),
        refused.join("\n")
    );
    for name in &names {
        let t = h.wait_phase(name, Phase::Running).await?;
        ensure!(
            t.finalizers().iter().any(|f| f == labels::FINALIZER),
            "{name} has no finalizer"
        );
    }
    eprintln!(
        "{} Tenants created within 15 s of the install, none refused",
        names.len()
    );
    // All deleted at once (this plane is the binary's own): the cleanup runs in parallel.
    let api = h.tenants();
    for name in &names {
        api.delete(name, &DeleteParams::default()).await?;
    }
    testenv::poll_until("every Tenant cleaned up and gone", TIMEOUT, || {
        let api = api.clone();
        async move {
            let left = api
                .list(&Default::default())
                .await
                .map_err(|e| e.to_string())?;
            match left.items.len() {
                0 => Ok(()),
                n => Err(format!("{n} left")),
            }
        }
    })
    .await?;
    h.teardown().await?;
    op.stop().await
}
