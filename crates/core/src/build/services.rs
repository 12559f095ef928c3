//! The tenant's services: for each entry of `spec.services` a Deployment and a Service, a
//! PodDisruptionBudget while it runs two replicas or more, and a HorizontalPodAutoscaler when
//! `serviceSettings.<name>.autoscaling` asks for one. The configuration they read is built by
//! [`super::config`], the Ingress in front of them by [`super::ingress`].
//!
//! Defaults (docs/services.md says why):
//! - image `{imageRepository}/{service}:{imageTag}` (`ghcr.io/pilab-hu/pishop`, `latest`);
//! - port 8080, published by the Service on port 80;
//! - replicas `serviceSettings.replicas`, else `limits.minReplicas`, else 1; 0 while the tenant is
//!   inactive (`active: false`), and left to the HPA when autoscaling;
//! - RollingUpdate, one surge pod; no unavailable pod for production tenants;
//! - pods spread over nodes; a restricted security context (non-root, no privilege escalation,
//!   every capability dropped, seccomp RuntimeDefault, no service account token), so they pass
//!   the strict preset's Pod Security level and admission policies;
//! - requests and limits sized to fit the tenant's LimitRange and quota (see [`sizing`]);
//! - a TCP probe on the port, unless `probes` says otherwise.
//!
//! The pod template carries two annotations: the hash of the tenant's configuration (a changed
//! ConfigMap or connection Secret rolls the services) and `deployedAt` (a new value rolls them).

use std::collections::BTreeMap;

use k8s_openapi::api::apps::v1::{
    Deployment, DeploymentSpec, DeploymentStrategy, RollingUpdateDeployment,
};
use k8s_openapi::api::autoscaling::v2::{
    CrossVersionObjectReference, HorizontalPodAutoscaler, HorizontalPodAutoscalerSpec, MetricSpec,
    MetricTarget, ResourceMetricSource,
};
use k8s_openapi::api::core::v1::{
    Capabilities, ConfigMapEnvSource, Container, ContainerPort, EnvFromSource, EnvVar,
    EnvVarSource, HTTPGetAction, LocalObjectReference, PodSecurityContext, PodSpec,
    PodTemplateSpec, Probe, ResourceRequirements, SeccompProfile, SecretEnvSource,
    SecretKeySelector, SecurityContext, Service, ServicePort, ServiceSpec, TCPSocketAction,
    Toleration, TopologySpreadConstraint,
};
use k8s_openapi::api::policy::v1::{PodDisruptionBudget, PodDisruptionBudgetSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, ObjectMeta};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use tenant_api::{ServiceSettings, Tenant, TenantType, labels};

use super::namespace::object_meta;
use super::{BuildContext, BuildError, config, pull_secrets};
use crate::object::Object;
use crate::presets::Effective;
use crate::schedule;

pub mod sizing;

/// The image repository when `imageRepository` is unset.
pub const DEFAULT_REPOSITORY: &str = "ghcr.io/pilab-hu/pishop";
/// The image tag when `imageTag` is unset.
pub const DEFAULT_TAG: &str = "latest";
/// The container port when `serviceSettings.<name>.port` is unset.
pub const DEFAULT_PORT: i32 = 8080;
/// The port every tenant Service publishes (its target is the container's `http` port).
pub const SERVICE_PORT: i32 = 80;
/// The container port's name.
pub const PORT_NAME: &str = "http";
/// Pod template annotation: the hash of the tenant's configuration.
pub const CONFIG_HASH: &str = "shop.pilab.hu/config-hash";
/// Pod template annotation: the `deployedAt` this template was rolled out for.
pub const DEPLOYED_AT: &str = "shop.pilab.hu/deployed-at";
/// Pod template annotation: the image tag (release) this template runs.
pub const RELEASE: &str = "shop.pilab.hu/release";
/// Label of a service's pods and of its Deployment's selector: `stable` or `canary`.
pub const TRACK: &str = "shop.pilab.hu/track";
/// Default share of replicas on a canary, percent.
pub const DEFAULT_CANARY_WEIGHT: i32 = 10;

/// What the services run: an image tag and the `deployedAt` it was rolled out for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Release {
    pub tag: String,
    pub deployed_at: Option<String>,
}

impl Release {
    /// The release a live Deployment's pod template records.
    pub fn of_live(deployment: &serde_json::Value) -> Option<Release> {
        let a = deployment.pointer("/spec/template/metadata/annotations")?;
        Some(Release {
            tag: a.get(RELEASE)?.as_str()?.to_string(),
            deployed_at: a
                .get(DEPLOYED_AT)
                .and_then(serde_json::Value::as_str)
                .map(str::to_string),
        })
    }
}

/// The release the spec asks for: `imageTag`, else the platform's current tag of
/// `releaseChannel`, else `latest`; with `deployedAt`.
pub fn desired_release(tenant: &Tenant, ctx: &BuildContext) -> Result<Release, BuildError> {
    let spec = &tenant.spec;
    let tag = match (&spec.image_tag, &spec.release_channel) {
        (Some(t), _) => t.clone(),
        (None, Some(ch)) => ctx.releases.get(ch).cloned().ok_or_else(|| BuildError::Invalid {
            field: "spec.releaseChannel".into(),
            message: format!(
                "channel {ch:?} is not published by the platform (ConfigMap {} in the operator's namespace); published: {}",
                RELEASES_CONFIG_MAP,
                if ctx.releases.is_empty() {
                    "none".to_string()
                } else {
                    ctx.releases.keys().cloned().collect::<Vec<_>>().join(", ")
                }
            ),
        })?,
        (None, None) => DEFAULT_TAG.into(),
    };
    Ok(Release {
        tag,
        deployed_at: spec.deployed_at.as_ref().map(|t| t.0.to_string()),
    })
}

/// The ConfigMap of the platform's release channels (channel -> image tag), in the operator's
/// namespace.
pub const RELEASES_CONFIG_MAP: &str = "tenant-releases";

/// Whether the services run now, after `active` and the hibernation timetable.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Lifecycle {
    pub active: bool,
    /// Asleep by the timetable: until when.
    pub asleep_until: Option<jiff::Timestamp>,
    /// When the timetable next changes something.
    pub next_change: Option<jiff::Timestamp>,
}

/// [`Lifecycle`] of the tenant at `now`.
pub fn lifecycle(tenant: &Tenant, now: jiff::Timestamp) -> Result<Lifecycle, BuildError> {
    let Some(h) = &tenant.spec.hibernation else {
        return Ok(Lifecycle {
            active: tenant.spec.active,
            ..Lifecycle::default()
        });
    };
    let invalid = |field: String, message: String| BuildError::Invalid { field, message };
    let tz = schedule::time_zone(h.time_zone.as_deref())
        .map_err(|m| invalid("spec.hibernation.timeZone".into(), m))?;
    let mut pairs = Vec::new();
    for (i, s) in h.schedules.iter().enumerate() {
        let f = |w: &str| format!("spec.hibernation.schedules[{i}].{w}");
        pairs.push((
            schedule::Cron::parse(&s.sleep).map_err(|m| invalid(f("sleep"), m))?,
            schedule::Cron::parse(&s.wake).map_err(|m| invalid(f("wake"), m))?,
        ));
    }
    let (asleep, next) = schedule::asleep(&pairs, &tz, now);
    Ok(Lifecycle {
        active: tenant.spec.active && !asleep,
        asleep_until: if asleep { next } else { None },
        next_change: next,
    })
}

/// The maintenance window at `now`: `Some((open, next))` (when it closes, or next opens), `None`
/// without a window.
pub fn window(
    tenant: &Tenant,
    now: jiff::Timestamp,
) -> Result<Option<(bool, Option<jiff::Timestamp>)>, BuildError> {
    let Some(w) = &tenant.spec.maintenance_window else {
        return Ok(None);
    };
    let invalid = |field: &str, message: String| BuildError::Invalid {
        field: format!("spec.maintenanceWindow.{field}"),
        message,
    };
    let tz = schedule::time_zone(w.time_zone.as_deref()).map_err(|m| invalid("timeZone", m))?;
    let start = schedule::Cron::parse(&w.schedule).map_err(|m| invalid("schedule", m))?;
    let seconds = schedule::duration_seconds(&w.duration).map_err(|m| invalid("duration", m))?;
    Ok(Some(schedule::window(&start, seconds, &tz, now)))
}

/// Label of every object and pod of one service: the service name.
pub const SERVICE_LABEL: &str = "app.kubernetes.io/name";
/// The component label value of the services' objects.
pub const COMPONENT: &str = "service";
/// Seconds a rollout may make no progress before the Deployment reports it stalled.
pub const PROGRESS_DEADLINE_SECONDS: i32 = 300;
/// Default target CPU utilisation of an autoscaled service, percent.
pub const DEFAULT_CPU_TARGET: i32 = 80;

/// The path under `customDomain` a service is published at by default.
pub fn default_ingress_path(service: &str) -> Option<&'static str> {
    match service {
        "frontend" => Some("/"),
        "api" => Some("/api"),
        _ => None,
    }
}

/// One service as the builders see it, defaults applied.
#[derive(Clone, Debug, PartialEq)]
pub struct ServicePlan {
    pub name: String,
    pub image: String,
    pub port: i32,
    /// Replicas while active (the HPA's minimum when autoscaling).
    pub replicas: i32,
    /// `(min, max)` when autoscaled.
    pub autoscaling: Option<(i32, i32)>,
    pub ingress_path: Option<String>,
    pub settings: ServiceSettings,
    /// `(image, replicas)` of the canary beside it.
    pub canary: Option<(String, i32)>,
}

impl ServicePlan {
    /// Whether an HPA owns the replica count now (only while the tenant is active).
    pub fn autoscaled(&self, active: bool) -> bool {
        active && self.autoscaling.is_some()
    }
}

fn min_replicas(tenant: &Tenant) -> i32 {
    tenant
        .spec
        .limits
        .as_ref()
        .and_then(|l| l.min_replicas)
        .unwrap_or(0)
        .max(0)
}

/// The services of the tenant with their defaults, running release `tag`, in `spec.services`
/// order.
pub fn plans(tenant: &Tenant, tag: &str) -> Result<Vec<ServicePlan>, BuildError> {
    let spec = &tenant.spec;
    let services = spec.services.clone().unwrap_or_default();
    let settings = spec.service_settings.clone().unwrap_or_default();
    if let Some(unknown) = settings.keys().find(|k| !services.contains(k)) {
        return Err(BuildError::Invalid {
            field: format!("spec.serviceSettings.{unknown}"),
            message: format!("{unknown} is not listed in spec.services"),
        });
    }
    let floor = min_replicas(tenant);
    let repository = spec
        .image_repository
        .as_deref()
        .unwrap_or(DEFAULT_REPOSITORY)
        .trim_end_matches('/');
    services
        .iter()
        .map(|name| {
            let s = settings.get(name).cloned().unwrap_or_default();
            let field = |f: &str| format!("spec.serviceSettings.{name}.{f}");
            let image = match s.image.as_deref().map(str::trim) {
                Some("") => {
                    return Err(BuildError::Invalid {
                        field: field("image"),
                        message: "must not be empty".into(),
                    });
                }
                Some(i) => i.to_string(),
                None => format!("{repository}/{name}:{tag}"),
            };
            let replicas = s.replicas.unwrap_or(floor.max(1));
            if replicas < floor {
                return Err(BuildError::Invalid {
                    field: field("replicas"),
                    message: format!(
                        "{replicas} is below the tenant's minimum of {floor} (spec.limits.minReplicas)"
                    ),
                });
            }
            let autoscaling = match &s.autoscaling {
                Some(a) => {
                    let min = a.min_replicas.unwrap_or(floor.max(1)).max(floor).max(1);
                    if a.max_replicas < min {
                        return Err(BuildError::Invalid {
                            field: field("autoscaling.maxReplicas"),
                            message: format!(
                                "{} is below the minimum of {min} replicas (autoscaling.minReplicas, spec.limits.minReplicas)",
                                a.max_replicas
                            ),
                        });
                    }
                    Some((min, a.max_replicas))
                }
                None => None,
            };
            let ingress_path = match s.ingress_path.as_deref() {
                Some("") => None,
                Some(p) => Some(p.to_string()),
                None => default_ingress_path(name).map(str::to_string),
            };
            let replicas = autoscaling.map_or(replicas, |(min, _)| min);
            // A canary of an explicitly named image makes no sense: only release-tagged images.
            let canary = match (&spec.canary, &s.image) {
                (Some(c), None) => {
                    let w = c.weight.unwrap_or(DEFAULT_CANARY_WEIGHT).clamp(1, 99);
                    let n = ((replicas * w + 50) / 100).max(1);
                    Some((format!("{repository}/{name}:{}", c.image_tag), n))
                }
                _ => None,
            };
            // the canary's replicas come out of the service's (one stable replica at least)
            let replicas = match (&canary, autoscaling) {
                (Some((_, n)), None) => (replicas - n).max(1),
                _ => replicas,
            };
            Ok(ServicePlan {
                name: name.clone(),
                image,
                port: s.port.unwrap_or(DEFAULT_PORT),
                replicas,
                autoscaling,
                ingress_path,
                settings: s,
                canary,
            })
        })
        .collect()
}

/// The labels of one track of a service's pods (what its Deployment selects).
pub fn track_selector(tenant: &Tenant, service: &str, canary: bool) -> BTreeMap<String, String> {
    let mut l = selector(tenant, service);
    l.insert(
        TRACK.into(),
        if canary { "canary" } else { "stable" }.into(),
    );
    l
}

/// The labels that select one service's pods (both tracks: what its Service selects).
pub fn selector(tenant: &Tenant, service: &str) -> BTreeMap<String, String> {
    BTreeMap::from([
        (SERVICE_LABEL.to_string(), service.to_string()),
        (labels::TENANT_ID.to_string(), tenant.spec.tenant_id.clone()),
    ])
}

fn meta(tenant: &Tenant, eff: &Effective, service: &str) -> ObjectMeta {
    let mut m = object_meta(tenant, eff, service);
    let l = m.labels.get_or_insert_with(BTreeMap::new);
    l.insert(SERVICE_LABEL.into(), service.into());
    l.insert(labels::APP_COMPONENT.into(), COMPONENT.into());
    m
}

fn probe(path: Option<&String>) -> Probe {
    let mut p = Probe {
        period_seconds: Some(10),
        failure_threshold: Some(3),
        timeout_seconds: Some(2),
        ..Probe::default()
    };
    match path {
        Some(path) => {
            p.http_get = Some(HTTPGetAction {
                path: Some(path.clone()),
                port: IntOrString::String(PORT_NAME.into()),
                ..HTTPGetAction::default()
            })
        }
        None => {
            p.tcp_socket = Some(TCPSocketAction {
                port: IntOrString::String(PORT_NAME.into()),
                ..TCPSocketAction::default()
            })
        }
    }
    p
}

/// Readiness, liveness and startup probes of a service (none when `probes.enabled` is false).
fn probes(plan: &ServicePlan) -> (Option<Probe>, Option<Probe>, Option<Probe>) {
    let settings = plan.settings.probes.clone().unwrap_or_default();
    if settings.enabled == Some(false) {
        return (None, None, None);
    }
    let readiness = probe(settings.readiness_path.as_ref());
    let liveness = probe(settings.liveness_path.as_ref());
    let startup = settings
        .initial_delay_seconds
        .filter(|d| *d > 0)
        .map(|d| Probe {
            // the container gets this long to start before liveness applies
            failure_threshold: Some((d + 9) / 10 + 1),
            ..probe(settings.liveness_path.as_ref())
        });
    (Some(readiness), Some(liveness), startup)
}

/// The environment of one service's container, beside `envFrom` of the configuration: the
/// service's own name and port, the passwords named by secret references, then
/// `serviceSettings.<name>.env` (which wins over every other variable of the same name).
fn env(tenant: &Tenant, plan: &ServicePlan) -> Vec<EnvVar> {
    let mut out: BTreeMap<String, EnvVar> = BTreeMap::new();
    let mut put = |v: EnvVar| {
        out.insert(v.name.clone(), v);
    };
    let plain = |name: &str, value: String| EnvVar {
        name: name.to_string(),
        value: Some(value),
        value_from: None,
    };
    put(plain("SERVICE_NAME", plan.name.clone()));
    put(plain("PORT", plan.port.to_string()));
    for (name, r) in config::secret_refs(tenant) {
        put(EnvVar {
            name: name.to_string(),
            value: None,
            value_from: Some(EnvVarSource {
                secret_key_ref: Some(SecretKeySelector {
                    name: r.name.clone(),
                    key: r.key.clone(),
                    optional: Some(false),
                }),
                ..EnvVarSource::default()
            }),
        });
    }
    for (k, v) in plan.settings.env.iter().flatten() {
        put(plain(k, v.clone()));
    }
    out.into_values().collect()
}

/// How one Deployment of a service runs: its track, image and release, whether active.
struct Run<'a> {
    active: bool,
    canary: bool,
    image: &'a str,
    release: &'a Release,
}

/// The container security context of every workload the operator runs: non-root, no
/// privilege escalation, every capability dropped, seccomp RuntimeDefault (Pod Security
/// "restricted").
pub(crate) fn restricted_container() -> SecurityContext {
    SecurityContext {
        allow_privilege_escalation: Some(false),
        run_as_non_root: Some(true),
        capabilities: Some(Capabilities {
            drop: Some(vec!["ALL".into()]),
            add: None,
        }),
        seccomp_profile: Some(SeccompProfile {
            type_: "RuntimeDefault".into(),
            localhost_profile: None,
        }),
        ..SecurityContext::default()
    }
}

/// The pod template of one service; `pull` names the registry credentials of its pods.
fn pod_template(
    tenant: &Tenant,
    eff: &Effective,
    plan: &ServicePlan,
    resources: ResourceRequirements,
    config: &config::Config,
    pull: &[String],
    run: &Run,
) -> PodTemplateSpec {
    let iso = &eff.isolation;
    let sel = selector(tenant, &plan.name);
    let mut pod_labels = track_selector(tenant, &plan.name, run.canary);
    pod_labels.insert(labels::ENVIRONMENT.into(), eff.environment.clone());
    pod_labels.insert(labels::PART_OF.into(), "tenant".into());
    let mut annotations = BTreeMap::from([
        (CONFIG_HASH.to_string(), config.hash.clone()),
        (RELEASE.to_string(), run.release.tag.clone()),
    ]);
    if let Some(at) = &run.release.deployed_at {
        annotations.insert(DEPLOYED_AT.into(), at.clone());
    }
    let image = run.image;
    let pull_always = iso.require_image_pull_policy_always
        || image.ends_with(":latest")
        || !image.rsplit('/').next().unwrap_or("").contains([':', '@']);
    let mut env_from = vec![EnvFromSource {
        config_map_ref: Some(ConfigMapEnvSource {
            name: config::CONFIG_MAP.into(),
            optional: Some(false),
        }),
        ..EnvFromSource::default()
    }];
    if config.secret.is_some() {
        env_from.push(EnvFromSource {
            secret_ref: Some(SecretEnvSource {
                name: config::SECRET.into(),
                optional: Some(false),
            }),
            ..EnvFromSource::default()
        });
    }
    let (readiness, liveness, startup) = probes(plan);
    let container = Container {
        name: plan.name.clone(),
        image: Some(image.to_string()),
        image_pull_policy: Some(
            if pull_always {
                "Always"
            } else {
                "IfNotPresent"
            }
            .into(),
        ),
        ports: Some(vec![ContainerPort {
            name: Some(PORT_NAME.into()),
            container_port: plan.port,
            protocol: Some("TCP".into()),
            ..ContainerPort::default()
        }]),
        env: Some(env(tenant, plan)),
        env_from: Some(env_from),
        resources: Some(resources),
        readiness_probe: readiness,
        liveness_probe: liveness,
        startup_probe: startup,
        security_context: Some(restricted_container()),
        ..Container::default()
    };
    let mut pod_security = PodSecurityContext {
        run_as_non_root: Some(true),
        seccomp_profile: Some(SeccompProfile {
            type_: "RuntimeDefault".into(),
            localhost_profile: None,
        }),
        ..PodSecurityContext::default()
    };
    if iso.app_armor {
        pod_security.app_armor_profile = Some(k8s_openapi::api::core::v1::AppArmorProfile {
            type_: "RuntimeDefault".into(),
            localhost_profile: None,
        });
    }
    let (node_selector, tolerations) = if iso.dedicated_nodes {
        (
            Some(BTreeMap::from([(
                iso.dedicated_node_label.clone(),
                eff.tenant_id.clone(),
            )])),
            Some(vec![Toleration {
                key: Some(iso.dedicated_node_label.clone()),
                operator: Some("Equal".into()),
                value: Some(eff.tenant_id.clone()),
                effect: Some("NoSchedule".into()),
                ..Toleration::default()
            }]),
        )
    } else {
        (None, None)
    };
    PodTemplateSpec {
        metadata: Some(ObjectMeta {
            labels: Some(pod_labels),
            annotations: Some(annotations),
            ..ObjectMeta::default()
        }),
        spec: Some(PodSpec {
            containers: vec![container],
            automount_service_account_token: Some(false),
            enable_service_links: Some(false),
            security_context: Some(pod_security),
            node_selector,
            tolerations,
            image_pull_secrets: (!pull.is_empty()).then(|| {
                pull.iter()
                    .map(|n| LocalObjectReference { name: n.clone() })
                    .collect()
            }),
            topology_spread_constraints: Some(vec![TopologySpreadConstraint {
                max_skew: 1,
                topology_key: "kubernetes.io/hostname".into(),
                when_unsatisfiable: "ScheduleAnyway".into(),
                label_selector: Some(LabelSelector {
                    match_labels: Some(sel),
                    ..LabelSelector::default()
                }),
                ..TopologySpreadConstraint::default()
            }]),
            ..PodSpec::default()
        }),
    }
}

fn deployment(
    tenant: &Tenant,
    eff: &Effective,
    plan: &ServicePlan,
    resources: ResourceRequirements,
    config: &config::Config,
    pull: &[String],
    run: &Run,
) -> Deployment {
    let active = run.active;
    let name = if run.canary {
        format!("{}-canary", plan.name)
    } else {
        plan.name.clone()
    };
    let canary_replicas = plan.canary.as_ref().map_or(0, |(_, n)| *n);
    let max_unavailable = if tenant.spec.tenant_type == TenantType::Production {
        0
    } else {
        1
    };
    let mut metadata = meta(tenant, eff, &name);
    if let Some(l) = metadata.labels.as_mut() {
        l.insert(SERVICE_LABEL.into(), plan.name.clone());
    }
    Deployment {
        metadata,
        spec: Some(DeploymentSpec {
            // An HPA owns the count while autoscaling: the field is left out of the apply, so
            // the operator never writes it back over the HPA's choice.
            replicas: if !active {
                Some(0)
            } else if run.canary {
                Some(canary_replicas)
            } else if plan.autoscaled(active) {
                None
            } else {
                Some(plan.replicas)
            },
            selector: LabelSelector {
                match_labels: Some(track_selector(tenant, &plan.name, run.canary)),
                ..LabelSelector::default()
            },
            strategy: Some(DeploymentStrategy {
                type_: Some("RollingUpdate".into()),
                rolling_update: Some(RollingUpdateDeployment {
                    max_surge: Some(IntOrString::Int(1)),
                    max_unavailable: Some(IntOrString::Int(max_unavailable)),
                }),
            }),
            revision_history_limit: Some(5),
            progress_deadline_seconds: Some(PROGRESS_DEADLINE_SECONDS),
            template: pod_template(tenant, eff, plan, resources, config, pull, run),
            ..DeploymentSpec::default()
        }),
        status: None,
    }
}

fn service(tenant: &Tenant, eff: &Effective, plan: &ServicePlan) -> Service {
    Service {
        metadata: meta(tenant, eff, &plan.name),
        spec: Some(ServiceSpec {
            type_: Some("ClusterIP".into()),
            selector: Some(selector(tenant, &plan.name)),
            ports: Some(vec![ServicePort {
                name: Some(PORT_NAME.into()),
                port: SERVICE_PORT,
                target_port: Some(IntOrString::String(PORT_NAME.into())),
                protocol: Some("TCP".into()),
                ..ServicePort::default()
            }]),
            ..ServiceSpec::default()
        }),
        status: None,
    }
}

fn pdb(tenant: &Tenant, eff: &Effective, plan: &ServicePlan) -> PodDisruptionBudget {
    PodDisruptionBudget {
        metadata: meta(tenant, eff, &plan.name),
        spec: Some(PodDisruptionBudgetSpec {
            max_unavailable: Some(IntOrString::Int(1)),
            selector: Some(LabelSelector {
                match_labels: Some(selector(tenant, &plan.name)),
                ..LabelSelector::default()
            }),
            ..PodDisruptionBudgetSpec::default()
        }),
        status: None,
    }
}

fn hpa(
    tenant: &Tenant,
    eff: &Effective,
    plan: &ServicePlan,
    (min, max): (i32, i32),
) -> HorizontalPodAutoscaler {
    let a = plan.settings.autoscaling.clone().unwrap_or_default();
    let utilization = |resource: &str, percent: i32| MetricSpec {
        type_: "Resource".into(),
        resource: Some(ResourceMetricSource {
            name: resource.into(),
            target: MetricTarget {
                type_: "Utilization".into(),
                average_utilization: Some(percent),
                ..MetricTarget::default()
            },
        }),
        ..MetricSpec::default()
    };
    let mut metrics = vec![utilization(
        "cpu",
        a.target_cpu_utilization_percentage
            .unwrap_or(DEFAULT_CPU_TARGET),
    )];
    if let Some(m) = a.target_memory_utilization_percentage {
        metrics.push(utilization("memory", m));
    }
    HorizontalPodAutoscaler {
        metadata: meta(tenant, eff, &plan.name),
        spec: Some(HorizontalPodAutoscalerSpec {
            scale_target_ref: CrossVersionObjectReference {
                api_version: Some("apps/v1".into()),
                kind: "Deployment".into(),
                name: plan.name.clone(),
            },
            min_replicas: Some(min),
            max_replicas: max,
            metrics: Some(metrics),
            behavior: None,
        }),
        status: None,
    }
}

/// Every object of the tenant's services, configuration first (the pods read it at start):
/// the ConfigMap and connection Secret, then per service its Deployment, Service, and its
/// PodDisruptionBudget and HorizontalPodAutoscaler when it has them; then the Ingress. A tenant
/// without services still gets its configuration when it sets a field of it (see
/// [`config::wanted`]).
pub fn build(
    tenant: &Tenant,
    eff: &Effective,
    ctx: &BuildContext,
) -> Result<Vec<Object>, BuildError> {
    if !config::wanted(tenant) && ctx.data.is_empty() {
        return Ok(Vec::new());
    }
    // the release: the spec's, unless the maintenance window holds the running one
    let release = match ctx.held_release {
        Some(r) => r.clone(),
        None => desired_release(tenant, ctx)?,
    };
    let plans = plans(tenant, &release.tag)?;
    let cfg = config::build(tenant, eff, ctx.data)?;
    let mut out = vec![Object::from_resource(&cfg.config_map)?];
    if let Some(secret) = &cfg.secret {
        out.push(Object::from_resource(secret)?);
    }
    if plans.is_empty() {
        return Ok(out);
    }
    let resources = sizing::resources(tenant, eff, ctx, &plans)?;
    let active = lifecycle(tenant, ctx.now)?.active && !ctx.budget_hibernated;
    // the platform's credentials for the registries the services pull from, then the tenant's own
    let mut pull: Vec<String> = Vec::new();
    for source in pull_secrets::needed(&plans, ctx.pull_secrets) {
        out.push(Object::from_resource(&pull_secrets::copy(
            tenant, eff, source,
        ))?);
        pull.push(pull_secrets::copy_name(&source.name));
    }
    for own in tenant.spec.image_pull_secrets.iter().flatten() {
        if !pull.contains(own) {
            pull.push(own.clone());
        }
    }
    for (plan, res) in plans.iter().zip(resources) {
        let stable = Run {
            active,
            canary: false,
            image: &plan.image,
            release: &release,
        };
        out.push(Object::from_resource(&deployment(
            tenant,
            eff,
            plan,
            res.clone(),
            &cfg,
            &pull,
            &stable,
        ))?);
        if let (Some((image, _)), Some(c)) = (&plan.canary, &tenant.spec.canary) {
            let canary_release = Release {
                tag: c.image_tag.clone(),
                deployed_at: release.deployed_at.clone(),
            };
            let run = Run {
                active,
                canary: true,
                image,
                release: &canary_release,
            };
            out.push(Object::from_resource(&deployment(
                tenant, eff, plan, res, &cfg, &pull, &run,
            ))?);
        }
        out.push(Object::from_resource(&service(tenant, eff, plan))?);
        let running = if plan.autoscaled(active) {
            plan.autoscaling.map_or(0, |(min, _)| min)
        } else if active {
            plan.replicas
        } else {
            0
        };
        if running >= 2 {
            out.push(Object::from_resource(&pdb(tenant, eff, plan))?);
        }
        if let (true, Some(bounds)) = (active, plan.autoscaling) {
            out.push(Object::from_resource(&hpa(tenant, eff, plan, bounds))?);
        }
    }
    out.extend(super::ingress::build(tenant, eff, ctx, &plans)?);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Value;
    use tenant_api::{Autoscaling, LimitsSpec, ResourceLimits, TenantSpec};

    fn shop() -> Tenant {
        let mut spec = TenantSpec::new("shop", TenantType::Production);
        spec.image_tag = Some("v1.2.3".into());
        spec.custom_domain = Some("shop.example.com".into());
        spec.services = Some(vec![
            "api".into(),
            "frontend".into(),
            "worker".into(),
            "scheduler".into(),
        ]);
        spec.resource_limits = Some(ResourceLimits {
            cpu_limit: Some("2".into()),
            memory_limit: Some("4Gi".into()),
            ..Default::default()
        });
        Tenant::new("shop", spec)
    }

    fn objects(t: &Tenant) -> Vec<Object> {
        build(t, &Effective::of(t), &BuildContext::default()).unwrap()
    }

    fn find<'a>(objs: &'a [Object], kind: &str, name: &str) -> Option<&'a Value> {
        objs.iter()
            .find(|o| o.kind == kind && o.name == name)
            .map(|o| &o.manifest)
    }

    fn settings(t: &mut Tenant, name: &str, s: ServiceSettings) {
        t.spec
            .service_settings
            .get_or_insert_with(BTreeMap::new)
            .insert(name.into(), s);
    }

    #[test]
    fn the_shop_gets_its_objects_in_order_and_fits_its_quota() {
        let objs = objects(&shop());
        let kinds: Vec<&str> = objs.iter().map(|o| o.kind.as_str()).collect();
        assert_eq!(kinds.first(), Some(&"ConfigMap"));
        assert_eq!(kinds.last(), Some(&"Ingress"));
        assert_eq!(kinds.iter().filter(|k| **k == "Deployment").count(), 4);
        assert_eq!(kinds.iter().filter(|k| **k == "Service").count(), 4);
        let api = find(&objs, "Deployment", "api").unwrap();
        let c = &api["spec"]["template"]["spec"]["containers"][0];
        assert_eq!(c["image"], "ghcr.io/pilab-hu/pishop/api:v1.2.3");
        // 2 CPU over 4 services x (1 replica + 1 surge pod)
        assert_eq!(c["resources"]["limits"]["cpu"], "250m");
        assert_eq!(c["resources"]["limits"]["memory"], "512Mi");
        assert_eq!(c["securityContext"]["allowPrivilegeEscalation"], false);
        assert_eq!(
            api["spec"]["strategy"]["rollingUpdate"]["maxUnavailable"],
            0
        );
        assert_eq!(api["spec"]["replicas"], 1);
        assert!(find(&objs, "PodDisruptionBudget", "api").is_none());
    }

    #[test]
    fn explicit_resources_are_kept_and_the_rest_share_what_is_left() {
        let mut t = shop();
        settings(
            &mut t,
            "api",
            ServiceSettings {
                cpu_limit: Some("1".into()),
                ..Default::default()
            },
        );
        // 2 - 1 x 2 slots leaves nothing for the others: an error naming the quota
        match build(&t, &Effective::of(&t), &BuildContext::default()) {
            Err(BuildError::Invalid { field, message }) => {
                assert_eq!(field, "quota limits.cpu");
                assert!(message.contains("frontend, worker, scheduler"), "{message}");
            }
            other => panic!("{other:?}"),
        }
        let mut t = shop();
        settings(
            &mut t,
            "api",
            ServiceSettings {
                cpu_limit: Some("500m".into()),
                ..Default::default()
            },
        );
        let objs = objects(&t);
        let limit = |n: &str| {
            find(&objs, "Deployment", n).unwrap()["spec"]["template"]["spec"]["containers"][0]
                ["resources"]["limits"]["cpu"]
                .clone()
        };
        assert_eq!(limit("api"), "500m");
        // (2 - 0.5 x 2) / 6 = 166m
        assert_eq!(limit("worker"), "166m");
    }

    #[test]
    fn a_quota_too_small_is_an_error_naming_it() {
        let mut t = shop();
        t.spec.resource_limits.as_mut().unwrap().cpu_limit = Some("50m".into());
        match build(&t, &Effective::of(&t), &BuildContext::default()) {
            Err(BuildError::Invalid { field, message }) => {
                assert_eq!(field, "quota limits.cpu");
                assert!(
                    message.contains("api, frontend, worker, scheduler"),
                    "{message}"
                );
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn inactive_tenants_scale_to_zero_without_autoscalers_or_budgets() {
        let mut t = shop();
        settings(
            &mut t,
            "api",
            ServiceSettings {
                replicas: Some(3),
                cpu_limit: Some("100m".into()),
                ..Default::default()
            },
        );
        settings(
            &mut t,
            "frontend",
            ServiceSettings {
                autoscaling: Some(Autoscaling {
                    max_replicas: 4,
                    min_replicas: Some(2),
                    ..Default::default()
                }),
                ..Default::default()
            },
        );
        let objs = objects(&t);
        assert!(find(&objs, "PodDisruptionBudget", "api").is_some());
        assert!(find(&objs, "PodDisruptionBudget", "frontend").is_some());
        let hpa = find(&objs, "HorizontalPodAutoscaler", "frontend").unwrap();
        assert_eq!(hpa["spec"]["minReplicas"], 2);
        let frontend = find(&objs, "Deployment", "frontend").unwrap();
        assert!(
            frontend["spec"].get("replicas").is_none(),
            "the HPA owns the count"
        );

        t.spec.active = false;
        let objs = objects(&t);
        for name in ["api", "frontend"] {
            assert_eq!(
                find(&objs, "Deployment", name).unwrap()["spec"]["replicas"],
                0
            );
        }
        assert!(
            !objs
                .iter()
                .any(|o| o.kind == "PodDisruptionBudget" || o.kind == "HorizontalPodAutoscaler")
        );
    }

    #[test]
    fn a_tenant_hibernated_by_its_budget_scales_to_zero_like_an_inactive_one() {
        let t = shop();
        let ctx = BuildContext {
            budget_hibernated: true,
            ..BuildContext::default()
        };
        let objs = build(&t, &Effective::of(&t), &ctx).unwrap();
        let deployments: Vec<&Object> = objs.iter().filter(|o| o.kind == "Deployment").collect();
        assert!(!deployments.is_empty());
        for d in deployments {
            assert_eq!(d.manifest["spec"]["replicas"], 0, "{}", d.name);
        }
        assert!(
            !objs
                .iter()
                .any(|o| o.kind == "PodDisruptionBudget" || o.kind == "HorizontalPodAutoscaler")
        );
        // the same tenant not frozen runs
        let objs = objects(&t);
        assert!(
            objs.iter()
                .filter(|o| o.kind == "Deployment")
                .all(|d| d.manifest["spec"]["replicas"] != 0)
        );
    }

    #[test]
    fn replicas_respect_the_tenant_minimum() {
        let mut t = shop();
        t.spec.limits = Some(LimitsSpec {
            min_replicas: Some(2),
            ..Default::default()
        });
        t.spec.resource_limits = None;
        let plans = plans(&t, "v1").unwrap();
        assert!(plans.iter().all(|p| p.replicas == 2));
        settings(
            &mut t,
            "api",
            ServiceSettings {
                replicas: Some(1),
                ..Default::default()
            },
        );
        match plans_of(&t) {
            Err(BuildError::Invalid { field, .. }) => {
                assert_eq!(field, "spec.serviceSettings.api.replicas")
            }
            other => panic!("{other:?}"),
        }
        let mut t = shop();
        settings(&mut t, "nope", ServiceSettings::default());
        assert!(
            matches!(plans_of(&t), Err(BuildError::Invalid { field, .. }) if field == "spec.serviceSettings.nope")
        );
    }

    fn plans_of(t: &Tenant) -> Result<Vec<ServicePlan>, BuildError> {
        plans(t, "v1")
    }

    #[test]
    fn the_ingress_routes_frontend_and_api_and_refuses_a_path_twice() {
        let objs = objects(&shop());
        let ing = find(&objs, "Ingress", super::super::ingress::INGRESS).unwrap();
        let paths: Vec<(String, String)> = ing["spec"]["rules"][0]["http"]["paths"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| {
                (
                    p["path"].as_str().unwrap().to_string(),
                    p["backend"]["service"]["name"]
                        .as_str()
                        .unwrap()
                        .to_string(),
                )
            })
            .collect();
        assert_eq!(
            paths,
            [
                ("/api".to_string(), "api".to_string()),
                ("/".to_string(), "frontend".to_string())
            ]
        );
        let mut t = shop();
        settings(
            &mut t,
            "worker",
            ServiceSettings {
                ingress_path: Some("/api".into()),
                ..Default::default()
            },
        );
        assert!(matches!(
            build(&t, &Effective::of(&t), &BuildContext::default()),
            Err(BuildError::Invalid { field, .. }) if field == "spec.serviceSettings.worker.ingressPath"
        ));
        let mut t = shop();
        t.spec.custom_domain = None;
        assert!(!objects(&t).iter().any(|o| o.kind == "Ingress"));
    }
}
