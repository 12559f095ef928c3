//! The tenant's services on the local control plane (kwok runs their pods, so Deployments become
//! Available): the shop example runs with its Deployments, Services, Ingress and configuration;
//! hibernation scales to zero and back; `deployedAt` rolls out; an HPA owns the replicas and a
//! resync writes nothing; two Tenants on one domain; strict isolation admits the services, and an
//! image outside the allowed registries is reported, not retried hot.
#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)]

mod common;

use std::collections::BTreeMap;
use std::time::Duration;

use anyhow::{Result, ensure};
use common::*;
use k8s_openapi::api::apps::v1::{Deployment, ReplicaSet};
use k8s_openapi::api::autoscaling::v2::HorizontalPodAutoscaler;
use k8s_openapi::api::core::v1::{ConfigMap, Pod, Service};
use k8s_openapi::api::networking::v1::Ingress;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kube::ResourceExt;
use kube::api::{Api, ListParams, Patch, PatchParams};
use serde_json::json;
use tenant_api::{
    Autoscaling, IsolationLevel, IsolationSpec, Phase, ServiceSettings, Tenant, TenantType,
    condition as c,
};
use testenv::poll_until;

fn available(d: &Deployment) -> i32 {
    d.status
        .as_ref()
        .and_then(|s| s.available_replicas)
        .unwrap_or(0)
}

fn replicas(d: &Deployment) -> Option<i32> {
    d.spec.as_ref().and_then(|s| s.replicas)
}

/// Waits until the namespace runs `n` pods of `service` (kwok marks them Running).
async fn wait_pods(h: &Harness, ns: &str, service: &str, n: usize) -> Result<()> {
    let pods: Api<Pod> = Api::namespaced(h.admin.clone(), ns);
    let lp = ListParams::default().labels(&format!("app.kubernetes.io/name={service}"));
    poll_until(&format!("{n} pods of {service}"), TIMEOUT, || {
        let (pods, lp) = (pods.clone(), lp.clone());
        async move {
            let list = pods.list(&lp).await.map_err(|e| e.to_string())?;
            let live = list
                .items
                .iter()
                .filter(|p| p.metadata.deletion_timestamp.is_none())
                .count();
            if live == n {
                Ok(())
            } else {
                Err(format!("{live} pods"))
            }
        }
    })
    .await?;
    Ok(())
}

async fn patch_spec(h: &Harness, name: &str, spec: serde_json::Value) -> Result<()> {
    h.tenants()
        .patch(
            name,
            &PatchParams::default(),
            &Patch::Merge(&json!({ "spec": spec })),
        )
        .await?;
    Ok(())
}

/// The example shop runs: 4 Deployments Available, 4 Services, the Ingress for its domain with
/// its TLS Secret, its features in the ConfigMap; `status.servicesReady` says 4/4. A resync then
/// writes nothing.
#[tokio::test]
#[ignore = "needs the local control plane (hack/test runs it)"]
async fn the_shop_example_runs_on_its_domain() -> Result<()> {
    let h = Harness::new("svc-shop").await?;
    let op = h.start_operator().await?;
    let t = h
        .example("customer-shop-1.yaml")?
        .into_iter()
        .next()
        .unwrap();
    let name = t.name_any();
    h.create(&t).await?;
    let t = h.wait_phase(&name, Phase::Running).await?;
    let ns = status_namespace(&t)?;
    let st = t.status.clone().unwrap_or_default();
    ensure!(
        st.services_ready.as_deref() == Some("4/4"),
        "servicesReady {:?}: {}",
        st.services_ready,
        conditions(&t)
    );
    let services_ready = condition(&t, c::SERVICES_READY).expect("ServicesReady");
    ensure!(services_ready.status == "True", "{}", conditions(&t));

    let deployments: Api<Deployment> = Api::namespaced(h.admin.clone(), &ns);
    let mut names = Vec::new();
    for d in deployments.list(&Default::default()).await?.items {
        ensure!(available(&d) >= 1, "{} not available", d.name_any());
        let image = d
            .spec
            .as_ref()
            .unwrap()
            .template
            .spec
            .as_ref()
            .unwrap()
            .containers[0]
            .image
            .clone()
            .unwrap_or_default();
        ensure!(
            image == format!("ghcr.io/pilab-hu/pishop/{}:v1.2.3", d.name_any()),
            "{image}"
        );
        names.push(d.name_any());
    }
    names.sort();
    ensure!(
        names == ["api", "frontend", "scheduler", "worker"],
        "{names:?}"
    );
    let services: Api<Service> = Api::namespaced(h.admin.clone(), &ns);
    ensure!(services.list(&Default::default()).await?.items.len() == 4);

    let ingress: Ingress = Api::namespaced(h.admin.clone(), &ns)
        .get("tenant-ingress")
        .await?;
    let spec = ingress.spec.unwrap();
    let rule = &spec.rules.as_ref().unwrap()[0];
    ensure!(rule.host.as_deref() == Some("shop.customer.com"));
    let paths: BTreeMap<String, String> = rule
        .http
        .as_ref()
        .unwrap()
        .paths
        .iter()
        .map(|p| {
            (
                p.path.clone().unwrap_or_default(),
                p.backend.service.as_ref().unwrap().name.clone(),
            )
        })
        .collect();
    ensure!(
        paths
            == BTreeMap::from([
                ("/".to_string(), "frontend".to_string()),
                ("/api".to_string(), "api".to_string())
            ]),
        "{paths:?}"
    );
    let tls = &spec.tls.unwrap()[0];
    ensure!(tls.secret_name.as_deref() == Some("customer-shop-tls"));

    let cm: ConfigMap = Api::namespaced(h.admin.clone(), &ns)
        .get("tenant-config")
        .await?;
    let data = cm.data.unwrap();
    ensure!(
        data["TENANT_FEATURES"] == "advanced-analytics,custom-themes,api-access",
        "{data:?}"
    );
    for f in [
        "FEATURE_ADVANCED_ANALYTICS",
        "FEATURE_CUSTOM_THEMES",
        "FEATURE_API_ACCESS",
    ] {
        ensure!(data.get(f).map(String::as_str) == Some("true"), "{f}");
    }

    // A resync with everything running writes nothing.
    let since = jiff::Timestamp::now();
    let before = op.metrics.writes_total();
    op.stop().await?;
    let op2 = h
        .start_operator_with(|c| c.resync = Duration::from_secs(3))
        .await?;
    op2.wait_ready().await?;
    tokio::time::sleep(Duration::from_secs(8)).await;
    let writes = op2.metrics.writes_total();
    let audited = operator_writes_since(h.cp, since, std::slice::from_ref(&ns))?;
    ensure!(
        writes == 0 && audited.is_empty(),
        "a resync of a running shop wrote: {writes} (metric, {before} before), audit: {audited:?}"
    );
    h.teardown().await?;
    op2.stop().await
}

fn one_service(t: &mut Tenant, settings: ServiceSettings) {
    t.spec.tenant_type = TenantType::Staging;
    t.spec.image_tag = Some("1.0.0".into());
    t.spec.services = Some(vec!["web".into()]);
    t.spec.service_settings = Some(BTreeMap::from([("web".to_string(), settings)]));
}

/// `active: false` scales the service to zero (phase Suspended), `true` brings it back;
/// a new `deployedAt` makes a new ReplicaSet and is recorded once rolled out.
#[tokio::test]
#[ignore = "needs the local control plane (hack/test runs it)"]
async fn hibernation_and_rollouts() -> Result<()> {
    let h = Harness::new("svc-sleep").await?;
    let op = h.start_operator().await?;
    let (t, ns) = running_tenant(&h, "sleep", |t| {
        one_service(
            t,
            ServiceSettings {
                replicas: Some(2),
                ..Default::default()
            },
        )
    })
    .await?;
    let name = t.name_any();
    wait_pods(&h, &ns, "web", 2).await?;
    let deployments: Api<Deployment> = Api::namespaced(h.admin.clone(), &ns);
    ensure!(replicas(&deployments.get("web").await?) == Some(2));

    patch_spec(&h, &name, json!({"active": false})).await?;
    h.wait_phase(&name, Phase::Suspended).await?;
    ensure!(replicas(&deployments.get("web").await?) == Some(0));
    wait_pods(&h, &ns, "web", 0).await?;
    poll_until("ServicesReady Suspended", TIMEOUT, || {
        let h = &h;
        let name = name.clone();
        async move {
            let t = h.get(&name).await.map_err(|e| e.to_string())?;
            match condition(&t, c::SERVICES_READY) {
                Some(s) if s.reason == "Suspended" && s.status == "True" => Ok(()),
                _ => Err(conditions(&t)),
            }
        }
    })
    .await?;
    // namespace, configuration and guardrails stay
    ensure!(h.namespace(&ns).await?.is_some());
    Api::<ConfigMap>::namespaced(h.admin.clone(), &ns)
        .get("tenant-config")
        .await?;

    patch_spec(&h, &name, json!({"active": true})).await?;
    h.wait_phase(&name, Phase::Running).await?;
    wait_pods(&h, &ns, "web", 2).await?;

    let rs: Api<ReplicaSet> = Api::namespaced(h.admin.clone(), &ns);
    let before = rs.list(&Default::default()).await?.items.len();
    // whole seconds: metav1.Time has no finer resolution
    let at = Time(jiff::Timestamp::from_second(
        jiff::Timestamp::now().as_second(),
    )?);
    patch_spec(&h, &name, json!({ "deployedAt": at })).await?;
    let t = poll_until("the rollout recorded", TIMEOUT, || {
        let h = &h;
        let name = name.clone();
        let at = at.clone();
        async move {
            let t = h.get(&name).await.map_err(|e| e.to_string())?;
            let st = t.status.clone().unwrap_or_default();
            if st.last_deployed_at.as_ref() == Some(&at) && st.phase == Some(Phase::Running) {
                Ok(t)
            } else {
                Err(format!(
                    "lastDeployedAt {:?}, phase {:?}: {}",
                    st.last_deployed_at,
                    st.phase,
                    conditions(&t)
                ))
            }
        }
    })
    .await?;
    let after = rs.list(&Default::default()).await?.items.len();
    ensure!(
        after == before + 1,
        "ReplicaSets {before} -> {after}: {}",
        conditions(&t)
    );
    wait_pods(&h, &ns, "web", 2).await?;
    h.teardown().await?;
    op.stop().await
}

/// With autoscaling, the HPA owns the replica count: the operator applies no `replicas`, the
/// HPA raises the Deployment to its minimum, and a resync writes nothing.
#[tokio::test]
#[ignore = "needs the local control plane (hack/test runs it)"]
async fn an_hpa_owns_the_replicas() -> Result<()> {
    let h = Harness::new("svc-hpa").await?;
    let op = h.start_operator().await?;
    let (_t, ns) = running_tenant(&h, "hpa", |t| {
        one_service(
            t,
            ServiceSettings {
                autoscaling: Some(Autoscaling {
                    min_replicas: Some(3),
                    max_replicas: 5,
                    ..Default::default()
                }),
                ..Default::default()
            },
        )
    })
    .await?;
    let hpa: HorizontalPodAutoscaler = Api::namespaced(h.admin.clone(), &ns).get("web").await?;
    ensure!(hpa.spec.as_ref().unwrap().min_replicas == Some(3));
    let deployments: Api<Deployment> = Api::namespaced(h.admin.clone(), &ns);
    poll_until("the HPA scales web to 3", TIMEOUT, || {
        let d = deployments.clone();
        async move {
            let d = d.get("web").await.map_err(|e| e.to_string())?;
            if replicas(&d) == Some(3) && available(&d) == 3 {
                Ok(())
            } else {
                Err(format!(
                    "replicas {:?}, available {}",
                    replicas(&d),
                    available(&d)
                ))
            }
        }
    })
    .await?;
    // the HPA's choice stands; the operator writes nothing over it
    let since = jiff::Timestamp::now();
    op.stop().await?;
    let op2 = h
        .start_operator_with(|c| c.resync = Duration::from_secs(3))
        .await?;
    op2.wait_ready().await?;
    tokio::time::sleep(Duration::from_secs(8)).await;
    let audited = operator_writes_since(h.cp, since, std::slice::from_ref(&ns))?;
    ensure!(
        op2.metrics.writes_total() == 0 && audited.is_empty(),
        "writes over the HPA: {audited:?}"
    );
    ensure!(replicas(&deployments.get("web").await?) == Some(3));
    h.teardown().await?;
    op2.stop().await
}

/// A second Tenant naming a domain an older Tenant holds gets `DomainConflict` and nothing is
/// applied for it; once the holder is gone, it proceeds.
#[tokio::test]
#[ignore = "needs the local control plane (hack/test runs it)"]
async fn two_tenants_cannot_hold_one_domain() -> Result<()> {
    let h = Harness::new("svc-domain").await?;
    let op = h.start_operator().await?;
    let domain = format!("{}.example.com", h.ns);
    let (first, _) = running_tenant(&h, "first", |t| {
        t.spec.custom_domain = Some(domain.clone());
        one_service(t, ServiceSettings::default());
    })
    .await?;
    let mut second = h.tenant("second");
    one_service(&mut second, ServiceSettings::default());
    second.spec.custom_domain = Some(domain.clone());
    h.create(&second).await?;
    let t = h.wait_phase(&second.name_any(), Phase::Failed).await?;
    let ready = condition(&t, c::READY).expect("Ready");
    ensure!(
        ready.reason == "DomainConflict" && ready.message.contains(&first.name_any()),
        "{}",
        conditions(&t)
    );
    let ns = tenant_core::naming::namespace_name(&second.spec);
    ensure!(
        h.namespace(&ns).await?.is_none(),
        "namespace {ns} was created for the conflicting Tenant"
    );
    h.teardown().await?;
    op.stop().await
}

/// Under strict isolation the services are admitted (Pod Security restricted and the admission
/// policies); an image outside `allowedRegistries` is refused with the service and the rule
/// named, and the operator does not retry it hot.
#[tokio::test]
#[ignore = "needs the local control plane (hack/test runs it)"]
async fn strict_tenants_run_their_services_and_hear_about_refused_images() -> Result<()> {
    let h = Harness::new("svc-strict").await?;
    let op = h.start_operator().await?;
    let strict = |t: &mut Tenant, registries: Vec<String>| {
        one_service(t, ServiceSettings::default());
        t.spec.tenant_type = TenantType::Production;
        t.spec.isolation = Some(IsolationSpec {
            isolation_level: Some(IsolationLevel::Strict),
            allowed_registries: Some(registries),
            ..Default::default()
        });
    };
    let (_t, ns) =
        running_tenant(&h, "strict", |t| strict(t, vec!["ghcr.io/pilab-hu".into()])).await?;
    wait_pods(&h, &ns, "web", 1).await?;

    // An image outside allowedRegistries: refused before anything is applied, with the
    // service, the image and the rule named, and not retried until the spec changes.
    let mut bad = h.tenant("badreg");
    strict(&mut bad, vec!["registry.example.com".into()]);
    h.create(&bad).await?;
    let name = bad.name_any();
    let t = h.wait_phase(&name, Phase::Failed).await?;
    let ready = condition(&t, c::READY).unwrap();
    ensure!(
        ready.reason == "InvalidSpec"
            && ready.message.contains("\"web\"")
            && ready.message.contains("allowedRegistries"),
        "{}",
        conditions(&t)
    );
    ensure!(
        h.namespace(&tenant_core::naming::namespace_name(&bad.spec))
            .await?
            .is_none()
    );
    // (the refusal's Event is published just after the status write)
    tokio::time::sleep(Duration::from_secs(2)).await;
    let reconciles = op.metrics.reconciles_total();
    let rv = h.get(&name).await?.resource_version();
    tokio::time::sleep(Duration::from_secs(10)).await;
    let r = op.metrics.reconciles_total() - reconciles;
    ensure!(r <= 2, "{r} reconciles of a refused Tenant in 10 s");
    ensure!(
        h.get(&name).await?.resource_version() == rv,
        "the refused Tenant was written again"
    );

    // The same tenant admitting the registry: admitted by Pod Security and the policies.
    patch_spec(
        &h,
        &name,
        json!({"isolation": {"allowedRegistries": ["registry.example.com", "ghcr.io/pilab-hu"]}}),
    )
    .await?;
    h.wait_phase(&name, Phase::Running).await?;
    h.teardown().await?;
    op.stop().await
}

/// The platform's registry credential (`--pull-secret`) is copied into the namespace of a tenant
/// pulling from its registry, referenced by the pods, kept in step when rotated, and not
/// readable by the tenant's viewers; a tenant pulling from elsewhere gets no copy.
#[tokio::test]
#[ignore = "needs the local control plane (hack/test runs it)"]
async fn registry_credentials_follow_the_platform_secret() -> Result<()> {
    use k8s_openapi::api::core::v1::Secret;
    use kube::api::PostParams;
    let h = Harness::new("svc-pull").await?;
    let source = format!("ghcr-{}", h.ns);
    let secrets: Api<Secret> = Api::namespaced(h.admin.clone(), "tenant-system");
    let config = |token: &str| json!({".dockerconfigjson": base64(&format!(r#"{{"auths":{{"ghcr.io":{{"auth":"{token}"}}}}}}"#))});
    secrets
        .create(
            &PostParams::default(),
            &from_json(json!({
                "metadata": {"name": source},
                "type": "kubernetes.io/dockerconfigjson",
                "data": config("first"),
            })),
        )
        .await?;
    let op = h
        .start_operator_with(|c| c.pull_secrets = vec![source.clone()])
        .await?;
    let (_t, ns) = running_tenant(&h, "pull", |t| {
        one_service(t, ServiceSettings::default());
        t.spec.rbac = Some(tenant_api::RbacSpec {
            viewers: Some(vec!["eve".into()]),
            ..Default::default()
        });
    })
    .await?;
    let copy_name = format!("pull-{source}");
    let copies: Api<Secret> = Api::namespaced(h.admin.clone(), &ns);
    let copy = copies.get(&copy_name).await?;
    ensure!(copy.type_.as_deref() == Some("kubernetes.io/dockerconfigjson"));
    let d: Deployment = Api::namespaced(h.admin.clone(), &ns).get("web").await?;
    let refs: Vec<String> = d
        .spec
        .unwrap()
        .template
        .spec
        .unwrap()
        .image_pull_secrets
        .unwrap_or_default()
        .into_iter()
        .map(|r| r.name)
        .collect();
    ensure!(refs == [copy_name.clone()], "{refs:?}");

    // rotation reaches the copy
    secrets
        .patch(
            &source,
            &PatchParams::default(),
            &Patch::Merge(&json!({"data": config("second")})),
        )
        .await?;
    let want = secrets.get(&source).await?.data.unwrap();
    poll_until("the copy rotated", TIMEOUT, || {
        let (copies, name, want) = (copies.clone(), copy_name.clone(), want.clone());
        async move {
            let c = copies.get(&name).await.map_err(|e| e.to_string())?;
            if c.data.as_ref() == Some(&want) {
                Ok(())
            } else {
                Err("not yet".into())
            }
        }
    })
    .await?;

    // a viewer (eve) cannot read it
    let eve: Api<Secret> = Api::namespaced(h.cp.client_as("eve").await?, &ns);
    refused(
        "eve, a viewer, reads the registry credential",
        eve.get(&copy_name).await,
    )?;

    // a tenant pulling from another registry gets no copy
    let (_t2, ns2) = running_tenant(&h, "nopull", |t| {
        one_service(
            t,
            ServiceSettings {
                image: Some("registry.example.com/web:1".into()),
                ..Default::default()
            },
        );
    })
    .await?;
    ensure!(
        Api::<Secret>::namespaced(h.admin.clone(), &ns2)
            .get_opt(&copy_name)
            .await?
            .is_none()
    );
    h.teardown().await?;
    secrets.delete(&source, &Default::default()).await?;
    op.stop().await
}

fn base64(s: &str) -> String {
    use k8s_openapi::ByteString;
    serde_json::to_value(ByteString(s.as_bytes().to_vec()))
        .ok()
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_default()
}

/// `hh:mm:ss` UTC today, as a timestamp.
fn today_at(h: i8, m: i8, s: i8) -> jiff::Timestamp {
    jiff::Timestamp::now()
        .to_zoned(jiff::tz::TimeZone::UTC)
        .date()
        .at(h, m, s, 0)
        .to_zoned(jiff::tz::TimeZone::UTC)
        .unwrap()
        .timestamp()
}

async fn wait_replicas(h: &Harness, ns: &str, name: &str, want: i32) -> Result<Deployment> {
    let api: Api<Deployment> = Api::namespaced(h.admin.clone(), ns);
    let name = name.to_string();
    Ok(
        poll_until(&format!("{name} at {want} replicas"), TIMEOUT, || {
            let (api, name) = (api.clone(), name.clone());
            async move {
                let d = api.get(&name).await.map_err(|e| e.to_string())?;
                if replicas(&d) == Some(want) {
                    Ok(d)
                } else {
                    Err(format!("replicas {:?}", replicas(&d)))
                }
            }
        })
        .await?,
    )
}

/// Waits until Deployment `name` runs an image ending in `suffix`.
async fn wait_image(h: &Harness, ns: &str, name: &str, suffix: &str) -> Result<()> {
    let api: Api<Deployment> = Api::namespaced(h.admin.clone(), ns);
    poll_until(&format!("{name} on {suffix}"), TIMEOUT, || {
        let api = api.clone();
        async move {
            let img = image_of(&api.get(name).await.map_err(|e| e.to_string())?);
            if img.ends_with(suffix) {
                Ok(())
            } else {
                Err(img)
            }
        }
    })
    .await?;
    Ok(())
}

fn image_of(d: &Deployment) -> String {
    d.spec
        .as_ref()
        .unwrap()
        .template
        .spec
        .as_ref()
        .unwrap()
        .containers[0]
        .image
        .clone()
        .unwrap_or_default()
}

/// The hibernation timetable puts the services to sleep at the sleep time and wakes them at the
/// wake time (the operator's clock is set a few seconds before each).
#[tokio::test]
#[ignore = "needs the local control plane (hack/test runs it)"]
async fn a_timetable_puts_the_tenant_to_sleep_and_wakes_it() -> Result<()> {
    let h = Harness::new("svc-timetable").await?;
    let clock = tenant_operator::Clock::default();
    clock.set(today_at(2, 59, 54));
    let op = h.start_operator_with(|c| c.clock = clock.clone()).await?;
    let (t, ns) = running_tenant(&h, "sleepy", |t| {
        one_service(t, ServiceSettings::default());
        t.spec.hibernation = Some(tenant_api::Hibernation {
            schedules: vec![tenant_api::HibernationSchedule {
                sleep: "0 3 * * *".into(),
                wake: "0 4 * * *".into(),
            }],
            time_zone: Some("UTC".into()),
        });
    })
    .await?;
    let name = t.name_any();
    // 03:00 comes: asleep without any spec change
    wait_replicas(&h, &ns, "web", 0).await?;
    let t = h.wait_phase(&name, Phase::Suspended).await?;
    let ready = condition(&t, c::READY).unwrap();
    ensure!(
        ready.message.contains("hibernation timetable"),
        "{}",
        conditions(&t)
    );
    // a few seconds before 04:00 (a spec edit makes the operator look at the new time)
    clock.set(today_at(3, 59, 54));
    patch_spec(&h, &name, json!({"displayName": "sleepy"})).await?;
    wait_replicas(&h, &ns, "web", 1).await?;
    h.wait_phase(&name, Phase::Running).await?;
    h.teardown().await?;
    op.stop().await
}

/// A maintenance window holds a new image tag until it opens; the status shows the pending
/// release and when it runs; a release channel's new tag reaches a following tenant in its
/// window, and one without a window at once.
#[tokio::test]
#[ignore = "needs the local control plane (hack/test runs it)"]
async fn windows_hold_releases_and_channels_reach_followers() -> Result<()> {
    use k8s_openapi::api::core::v1::ConfigMap;
    let h = Harness::new("svc-window").await?;
    let clock = tenant_operator::Clock::default();
    clock.set(today_at(4, 59, 40));
    // the channels live in the operator's namespace, shared by the binary's tests: a unique one
    let channel = format!(
        "ch-{}",
        h.ns.len() + h.ns.bytes().map(usize::from).sum::<usize>()
    );
    let releases: Api<ConfigMap> = Api::namespaced(h.admin.clone(), "tenant-system");
    let publish = |tag: &str| {
        json!({"apiVersion": "v1", "kind": "ConfigMap",
               "metadata": {"name": "tenant-releases", "namespace": "tenant-system"},
               "data": {channel.clone(): tag}})
    };
    apply_value(&h.admin, &publish("1.0.0")).await?;
    let op = h.start_operator_with(|c| c.clock = clock.clone()).await?;
    let window = tenant_api::MaintenanceWindow {
        schedule: "0 5 * * *".into(),
        duration: "1h".into(),
        time_zone: None,
    };
    let (pinned, pinned_ns) = running_tenant(&h, "pinned", |t| {
        one_service(t, ServiceSettings::default());
        t.spec.maintenance_window = Some(window.clone());
    })
    .await?;
    let (follower, follower_ns) = running_tenant(&h, "follower", |t| {
        one_service(t, ServiceSettings::default());
        t.spec.image_tag = None;
        t.spec.release_channel = Some(channel.clone());
        t.spec.maintenance_window = Some(window.clone());
    })
    .await?;
    let (eager, eager_ns) = running_tenant(&h, "eager", |t| {
        one_service(t, ServiceSettings::default());
        t.spec.image_tag = None;
        t.spec.release_channel = Some(channel.clone());
    })
    .await?;
    let deployments = |ns: &str| Api::<Deployment>::namespaced(h.admin.clone(), ns);
    ensure!(image_of(&deployments(&follower_ns).get("web").await?).ends_with(":1.0.0"));

    // 04:59:4x: a new tag and a new channel release wait for 05:00
    patch_spec(&h, &pinned.name_any(), json!({"imageTag": "1.1.0"})).await?;
    apply_value(&h.admin, &publish("1.1.0")).await?;
    // the tenant without a window gets it at once
    wait_image(&h, &eager_ns, "web", ":1.1.0").await?;
    let _ = eager;
    let t = h.get(&pinned.name_any()).await?;
    let pending = t.status.as_ref().and_then(|s| s.pending_rollout.clone());
    ensure!(
        pending.as_ref().and_then(|p| p.image_tag.as_deref()) == Some("1.1.0")
            && pending
                .as_ref()
                .and_then(|p| p.not_before.clone())
                .map(|t| t.0)
                == Some(today_at(5, 0, 0)),
        "pendingRollout {pending:?}: {}",
        conditions(&t)
    );
    ensure!(image_of(&deployments(&pinned_ns).get("web").await?).ends_with(":1.0.0"));
    ensure!(image_of(&deployments(&follower_ns).get("web").await?).ends_with(":1.0.0"));

    // 05:00: both roll out, and the pending rollout is gone
    for (name, ns) in [
        (pinned.name_any(), &pinned_ns),
        (follower.name_any(), &follower_ns),
    ] {
        wait_image(&h, ns, "web", ":1.1.0").await?;
        let t = h.wait_phase(&name, Phase::Running).await?;
        poll_until(
            &format!("{name}'s pending rollout cleared"),
            TIMEOUT,
            || {
                let h = &h;
                let name = name.clone();
                async move {
                    let t = h.get(&name).await.map_err(|e| e.to_string())?;
                    match t.status.and_then(|s| s.pending_rollout) {
                        None => Ok(()),
                        Some(p) => Err(format!("{p:?}")),
                    }
                }
            },
        )
        .await?;
        let _ = t;
    }
    releases
        .delete("tenant-releases", &Default::default())
        .await
        .ok();
    h.teardown().await?;
    op.stop().await
}

/// A canary runs part of the replicas on its tag behind the same Service, and is promoted by
/// moving imageTag to it and removing the canary.
#[tokio::test]
#[ignore = "needs the local control plane (hack/test runs it)"]
async fn a_canary_runs_and_is_promoted() -> Result<()> {
    let h = Harness::new("svc-canary").await?;
    let op = h.start_operator().await?;
    let (t, ns) = running_tenant(&h, "canary", |t| {
        one_service(
            t,
            ServiceSettings {
                replicas: Some(4),
                ..Default::default()
            },
        );
        t.spec.canary = Some(tenant_api::Canary {
            image_tag: "2.0.0".into(),
            weight: Some(25),
        });
    })
    .await?;
    let name = t.name_any();
    let stable = wait_replicas(&h, &ns, "web", 3).await?;
    let canary = wait_replicas(&h, &ns, "web-canary", 1).await?;
    ensure!(image_of(&stable).ends_with(":1.0.0") && image_of(&canary).ends_with(":2.0.0"));
    // both tracks behind the one Service
    wait_pods(&h, &ns, "web", 4).await?;
    let svc: Service = Api::namespaced(h.admin.clone(), &ns).get("web").await?;
    let sel = svc.spec.unwrap().selector.unwrap_or_default();
    ensure!(!sel.contains_key("shop.pilab.hu/track"), "{sel:?}");

    // promote
    patch_spec(&h, &name, json!({"imageTag": "2.0.0", "canary": null})).await?;
    let stable = wait_replicas(&h, &ns, "web", 4).await?;
    ensure!(image_of(&stable).ends_with(":2.0.0"));
    poll_until("the canary Deployment pruned", TIMEOUT, || {
        let api: Api<Deployment> = Api::namespaced(h.admin.clone(), &ns);
        async move {
            match api.get_opt("web-canary").await.map_err(|e| e.to_string())? {
                None => Ok(()),
                Some(_) => Err("still there".into()),
            }
        }
    })
    .await?;
    h.wait_phase(&name, Phase::Running).await?;
    h.teardown().await?;
    op.stop().await
}

/// A rollout the quota refuses (the tenant's own pod took the room of the surge pod) is reported
/// as stalled, naming the service and the cause, and recovers once there is room again.
#[tokio::test]
#[ignore = "needs the local control plane (hack/test runs it)"]
async fn a_rollout_the_quota_refuses_is_reported_and_recovers() -> Result<()> {
    use k8s_openapi::api::core::v1::Pod;
    use kube::api::PostParams;
    let h = Harness::new("svc-stall").await?;
    let op = h.start_operator().await?;
    let (t, ns) = running_tenant(&h, "stall", |t| {
        one_service(
            t,
            ServiceSettings {
                replicas: Some(2),
                ..Default::default()
            },
        );
        // production: a rollout never lowers capacity, so it needs the surge pod
        t.spec.tenant_type = TenantType::Production;
        t.spec.owner = Some("alice".into());
        t.spec.quota = Some(tenant_api::QuotaSpec {
            pod_quota: Some(3),
            ..Default::default()
        });
    })
    .await?;
    let name = t.name_any();
    wait_pods(&h, &ns, "web", 2).await?;
    // alice's own pod takes the third slot
    let alice = h.cp.client_as("alice").await?;
    wait_allowed(&alice, "create", "", "pods", Some(&ns)).await?;
    let pods: Api<Pod> = Api::namespaced(alice, &ns);
    pods.create(
        &PostParams::default(),
        &from_json(json!({"metadata": {"name": "alice-job"}, "spec": restricted_pod_spec(serde_json::Value::Null)})),
    )
    .await?;
    let at = Time(jiff::Timestamp::from_second(
        jiff::Timestamp::now().as_second(),
    )?);
    patch_spec(&h, &name, json!({ "deployedAt": at })).await?;
    let t = poll_until("the stalled rollout reported", TIMEOUT, || {
        let h = &h;
        let name = name.clone();
        async move {
            let t = h.get(&name).await.map_err(|e| e.to_string())?;
            match condition(&t, c::SERVICES_READY) {
                Some(s) if s.reason == "RolloutStalled" => Ok(t),
                _ => Err(conditions(&t)),
            }
        }
    })
    .await?;
    let msg = condition(&t, c::SERVICES_READY).unwrap().message.clone();
    ensure!(
        msg.contains("web") && msg.contains("exceeded quota"),
        "{msg}"
    );
    ensure!(
        t.status.as_ref().and_then(|s| s.phase) == Some(Phase::Deployment)
            && condition(&t, c::READY).is_some_and(|r| r.status == "False"),
        "{}",
        conditions(&t)
    );
    // room again: the rollout completes
    Api::<Pod>::namespaced(h.admin.clone(), &ns)
        .delete("alice-job", &Default::default())
        .await?;
    poll_until("the rollout completed", TIMEOUT, || {
        let h = &h;
        let name = name.clone();
        let at = at.clone();
        async move {
            let t = h.get(&name).await.map_err(|e| e.to_string())?;
            let st = t.status.clone().unwrap_or_default();
            if st.phase == Some(Phase::Running) && st.last_deployed_at.as_ref() == Some(&at) {
                Ok(())
            } else {
                Err(conditions(&t))
            }
        }
    })
    .await?;
    h.teardown().await?;
    op.stop().await
}
