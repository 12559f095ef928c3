//! Dedicated data stores (`dataStores.mode: Dedicated`): MongoDB, NATS and Redis as one-replica
//! StatefulSets inside the tenant namespace, each with a headless Service and a
//! PersistentVolumeClaim (from the StatefulSet's claim template), for development, staging and
//! preview tenants that should not share a server.
//!
//! - A store the tenant configures itself (`mongoURI`, `natsURL`, `redisURL`) is not run.
//! - Images are the platform's (`--dedicated-image store=image`); the tenant's allowed
//!   registries must admit them, or the build fails naming both.
//! - Each store's password is random (made by the operator, kept in `tenant-connections`, which
//!   the store's pod reads it from); `credentialsRotation` makes new ones and restarts the store.
//! - Requests and limits are fixed per store and taken from the tenant's quota before the
//!   services are sized (see [`reserved`]); the claim counts against `requests.storage`.
//! - A hibernating or inactive tenant's stores scale to zero; the claims (the data) stay.
//! - `onTenantDeletion: Delete` also deletes the claims with the StatefulSet
//!   (`persistentVolumeClaimRetentionPolicy`).

use std::collections::BTreeMap;

use k8s_openapi::api::apps::v1::{
    StatefulSet, StatefulSetPersistentVolumeClaimRetentionPolicy, StatefulSetSpec,
};
use k8s_openapi::api::core::v1::{
    Container, ContainerPort, EnvVar, EnvVarSource, PersistentVolumeClaim,
    PersistentVolumeClaimSpec, PodSecurityContext, PodSpec, PodTemplateSpec, Probe,
    ResourceRequirements, SeccompProfile, SecretKeySelector, Service, ServicePort, ServiceSpec,
    TCPSocketAction, VolumeMount, VolumeResourceRequirements,
};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity as K8sQuantity;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, ObjectMeta};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use tenant_api::{Tenant, labels};

use super::namespace::object_meta;
use super::{BuildContext, BuildError, config, data, services};
use crate::object::Object;
use crate::presets::Effective;
use crate::quantity::Quantity;

/// Label of a dedicated store's pods (and its StatefulSet's selector): the store's name.
pub const STORE_LABEL: &str = "shop.pilab.hu/data-store";

/// The user name of the dedicated MongoDB and NATS (Redis uses its `default` user).
pub const USER: &str = "tenant";

/// One kind of dedicated store.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Store {
    MongoDB,
    Nats,
    Redis,
}

impl Store {
    pub const ALL: [Store; 3] = [Store::MongoDB, Store::Nats, Store::Redis];

    /// The name in flags and labels.
    pub fn key(self) -> &'static str {
        match self {
            Store::MongoDB => "mongodb",
            Store::Nats => "nats",
            Store::Redis => "redis",
        }
    }

    /// The StatefulSet's and Service's name.
    pub fn object_name(self) -> String {
        format!("data-{}", self.key())
    }

    pub fn port(self) -> i32 {
        match self {
            Store::MongoDB => 27017,
            Store::Nats => 4222,
            Store::Redis => 6379,
        }
    }

    /// The image when the platform names none.
    pub fn default_image(self) -> &'static str {
        match self {
            Store::MongoDB => "docker.io/library/mongo:7.0",
            Store::Nats => "docker.io/library/nats:2.10-alpine",
            Store::Redis => "docker.io/library/redis:7.2-alpine",
        }
    }

    /// The connection Secret's key holding the store's password.
    pub fn password_key(self) -> &'static str {
        match self {
            Store::MongoDB => "MONGO_PASSWORD",
            Store::Nats => "NATS_PASSWORD",
            Store::Redis => "REDIS_PASSWORD",
        }
    }

    /// Whether `credentialsRotation` gives the store a new password. Not MongoDB: its image sets
    /// the root password only on an empty volume, so a new password in the Secret would lock the
    /// services out of a running store.
    pub fn rotates(self) -> bool {
        self != Store::MongoDB
    }

    /// The claim's size.
    pub fn storage(self) -> &'static str {
        match self {
            Store::MongoDB => "2Gi",
            Store::Nats | Store::Redis => "1Gi",
        }
    }

    /// `(cpu request, cpu limit, memory request, memory limit)` of the store's container.
    pub fn resources(self) -> (&'static str, &'static str, &'static str, &'static str) {
        match self {
            Store::MongoDB => ("100m", "500m", "256Mi", "512Mi"),
            Store::Nats | Store::Redis => ("50m", "250m", "64Mi", "128Mi"),
        }
    }

    fn data_path(self) -> &'static str {
        match self {
            Store::MongoDB => "/data/db",
            Store::Nats | Store::Redis => "/data",
        }
    }

    /// The container's arguments and environment (the password comes from the Secret).
    fn command(self) -> (Vec<String>, Vec<EnvVar>) {
        let password = EnvVar {
            name: "STORE_PASSWORD".into(),
            value_from: Some(EnvVarSource {
                secret_key_ref: Some(SecretKeySelector {
                    name: config::SECRET.into(),
                    key: self.password_key().into(),
                    optional: Some(false),
                }),
                ..EnvVarSource::default()
            }),
            ..EnvVar::default()
        };
        let s = |v: &[&str]| v.iter().map(|a| a.to_string()).collect::<Vec<_>>();
        match self {
            Store::MongoDB => (
                s(&["mongod", "--bind_ip_all", "--auth", "--dbpath", "/data/db"]),
                vec![
                    EnvVar {
                        name: "MONGO_INITDB_ROOT_USERNAME".into(),
                        value: Some(USER.into()),
                        ..EnvVar::default()
                    },
                    EnvVar {
                        name: "MONGO_INITDB_ROOT_PASSWORD".into(),
                        ..password
                    },
                ],
            ),
            Store::Nats => (
                s(&[
                    "nats-server",
                    "--port",
                    "4222",
                    "--user",
                    USER,
                    "--pass",
                    "$(STORE_PASSWORD)",
                    "--jetstream",
                    "--store_dir",
                    "/data",
                ]),
                vec![password],
            ),
            Store::Redis => (
                s(&[
                    "redis-server",
                    "--requirepass",
                    "$(STORE_PASSWORD)",
                    "--appendonly",
                    "yes",
                    "--dir",
                    "/data",
                ]),
                vec![password],
            ),
        }
    }
}

/// The platform's settings of dedicated stores.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DedicatedConfig {
    /// store key (`mongodb`, `nats`, `redis`) -> image; a store missing here runs
    /// [`Store::default_image`].
    pub images: BTreeMap<String, String>,
    /// The claims' StorageClass (empty: the cluster's default class).
    pub storage_class: String,
}

impl DedicatedConfig {
    pub fn image(&self, store: Store) -> String {
        self.images
            .get(store.key())
            .cloned()
            .unwrap_or_else(|| store.default_image().to_string())
    }
}

/// The `--dedicated-image` flag: `store=image` with a known store and a non-empty image.
pub fn parse_image_flag(s: &str) -> Result<(String, String), String> {
    let (store, image) = s
        .split_once('=')
        .ok_or_else(|| format!("{s:?}: expected STORE=IMAGE"))?;
    let store = store.trim().to_lowercase();
    let known = Store::ALL.map(Store::key);
    if !known.contains(&store.as_str()) {
        return Err(format!(
            "{store:?}: the store must be one of {}",
            known.join(", ")
        ));
    }
    let image = image.trim();
    if image.is_empty() || image.contains(char::is_whitespace) {
        return Err(format!(
            "{s:?}: the image must be a non-empty image reference"
        ));
    }
    Ok((store, image.to_string()))
}

/// No platform settings: the default images and StorageClass.
pub static DEFAULT_CONFIG: std::sync::LazyLock<DedicatedConfig> =
    std::sync::LazyLock::new(DedicatedConfig::default);

/// The stores the tenant runs in its namespace: in Dedicated mode, each it does not configure
/// itself.
pub fn stores(tenant: &Tenant) -> Vec<Store> {
    if !data::dedicated(tenant) {
        return Vec::new();
    }
    let s = &tenant.spec;
    Store::ALL
        .into_iter()
        .filter(|st| match st {
            Store::MongoDB => s.mongo_uri.is_none(),
            Store::Nats => s.nats_url.is_none(),
            Store::Redis => s.redis_url.is_none(),
        })
        .collect()
}

/// What the dedicated stores take of the quota: `(cpu requests, cpu limits, memory requests,
/// memory limits)`, zero while they are scaled down.
pub fn reserved(tenant: &Tenant, active: bool) -> [Quantity; 4] {
    let mut out = [Quantity::from_nanos(0); 4];
    if !active {
        return out;
    }
    for st in stores(tenant) {
        let (a, b, c, d) = st.resources();
        for (slot, v) in out.iter_mut().zip([a, b, c, d]) {
            if let Ok(q) = Quantity::parse(v) {
                *slot = Quantity::from_nanos(slot.nanos() + q.nanos());
            }
        }
    }
    out
}

/// The connection Secret's entries of the dedicated stores, with the passwords the operator
/// made (`passwords`: store key -> password; render has none and shows a placeholder).
pub fn secret_entries(
    tenant: &Tenant,
    eff: &Effective,
    passwords: &BTreeMap<String, String>,
) -> BTreeMap<String, String> {
    let mut d = BTreeMap::new();
    let (db, _, _) = config::data_names(tenant, eff);
    for st in stores(tenant) {
        let pw = passwords
            .get(st.key())
            .cloned()
            .unwrap_or_else(|| "generated-by-the-operator".into());
        let host = format!("{}.{}.svc:{}", st.object_name(), eff.namespace, st.port());
        let creds = data::Credentials {
            url: String::new(),
            username: USER.into(),
            password: pw.clone(),
        };
        match st {
            Store::MongoDB => {
                d.insert(
                    "MONGO_URI".into(),
                    format!(
                        "mongodb://{USER}:{}@{host}/{db}?authSource=admin",
                        data::percent_encode(&pw)
                    ),
                );
                d.insert("MONGO_USERNAME".into(), USER.into());
            }
            Store::Nats => {
                d.insert(
                    "NATS_URL".into(),
                    data::url_with_credentials(&data::Credentials {
                        url: format!("nats://{host}"),
                        ..creds
                    }),
                );
                d.insert("NATS_USERNAME".into(), USER.into());
            }
            Store::Redis => {
                d.insert(
                    "REDIS_URL".into(),
                    format!("redis://:{}@{host}", data::percent_encode(&pw)),
                );
            }
        }
        d.insert(st.password_key().into(), pw);
    }
    d
}

/// The Service and StatefulSet of each dedicated store.
pub fn build(
    tenant: &Tenant,
    eff: &Effective,
    ctx: &BuildContext,
) -> Result<Vec<Object>, BuildError> {
    let stores = stores(tenant);
    if stores.is_empty() {
        return Ok(Vec::new());
    }
    let active = services::lifecycle(tenant, ctx.now)?.active && !ctx.budget_hibernated;
    let allowed = super::policy::registry_prefixes(
        &eff.isolation.allowed_registries,
        "spec.isolation.allowedRegistries",
    )?;
    let blocked = super::policy::registry_prefixes(
        &eff.isolation.blocked_registries,
        "spec.isolation.blockedRegistries",
    )?;
    let classes = &eff.isolation.allowed_storage_classes;
    let class = &ctx.dedicated.storage_class;
    if !classes.is_empty() && !classes.contains(class) {
        return Err(BuildError::Invalid {
            field: "spec.isolation.allowedStorageClasses".into(),
            message: format!(
                "the dedicated data stores' volumes use {} (the platform's --dedicated-storage-class), which is not among the tenant's storage classes ({}); allow it or ask the platform for another class",
                if class.is_empty() {
                    "the cluster's default class".to_string()
                } else {
                    format!("class {class}")
                },
                classes.join(", ")
            ),
        });
    }
    let mut out = Vec::new();
    for st in stores {
        if let Some(name) = tenant
            .spec
            .services
            .iter()
            .flatten()
            .find(|s| **s == st.object_name())
        {
            return Err(BuildError::Invalid {
                field: "spec.services".into(),
                message: format!(
                    "service {name:?} has the name of the dedicated {} store (dataStores.mode: Dedicated); rename it",
                    st.key()
                ),
            });
        }
        let image = ctx.dedicated.image(st);
        if !allowed.is_empty() && !allowed.iter().any(|p| image_in(&image, p)) {
            return Err(BuildError::Invalid {
                field: "spec.dataStores.mode".into(),
                message: format!(
                    "the dedicated {} image {image} (the platform's --dedicated-image) is not from an allowed registry ({}); allow its registry or ask the platform for another image",
                    st.key(),
                    allowed.join(", ")
                ),
            });
        }
        if let Some(b) = blocked.iter().find(|p| image_in(&image, p)) {
            return Err(BuildError::Invalid {
                field: "spec.dataStores.mode".into(),
                message: format!(
                    "the dedicated {} image {image} (the platform's --dedicated-image) is from a blocked registry ({b})",
                    st.key()
                ),
            });
        }
        out.push(Object::from_resource(&service(tenant, eff, st))?);
        out.push(Object::from_resource(&stateful_set(
            tenant, eff, ctx, st, &image, active,
        ))?);
    }
    Ok(out)
}

/// Whether `image` is under the registry prefix `prefix` (Docker Hub short names normalised).
fn image_in(image: &str, prefix: &str) -> bool {
    let first = image.split('/').next().unwrap_or("");
    let full = if image.contains('/')
        && (first.contains('.') || first.contains(':') || first == "localhost")
    {
        image.to_string()
    } else if image.contains('/') {
        format!("docker.io/{image}")
    } else {
        format!("docker.io/library/{image}")
    };
    full == prefix
        || full.starts_with(&format!("{prefix}/"))
        || full.starts_with(&format!("{prefix}:"))
}

fn selector(tenant: &Tenant, st: Store) -> BTreeMap<String, String> {
    let mut sel = crate::naming::common_labels(&tenant.spec);
    sel.retain(|k, _| k == labels::TENANT_ID || k == labels::ENVIRONMENT);
    sel.insert(STORE_LABEL.into(), st.key().into());
    sel
}

fn meta(tenant: &Tenant, eff: &Effective, st: Store) -> ObjectMeta {
    let mut m = object_meta(tenant, eff, &st.object_name());
    if let Some(l) = m.labels.as_mut() {
        l.insert(STORE_LABEL.into(), st.key().into());
        l.insert(labels::APP_COMPONENT.into(), "data-store".into());
    }
    m
}

fn service(tenant: &Tenant, eff: &Effective, st: Store) -> Service {
    Service {
        metadata: meta(tenant, eff, st),
        spec: Some(ServiceSpec {
            // headless: the StatefulSet's governing Service, and the clients' address
            cluster_ip: Some("None".into()),
            selector: Some(selector(tenant, st)),
            ports: Some(vec![ServicePort {
                name: Some(st.key().into()),
                port: st.port(),
                target_port: Some(IntOrString::String(st.key().into())),
                protocol: Some("TCP".into()),
                ..ServicePort::default()
            }]),
            ..ServiceSpec::default()
        }),
        ..Service::default()
    }
}

fn q(s: &str) -> K8sQuantity {
    K8sQuantity(s.to_string())
}

fn stateful_set(
    tenant: &Tenant,
    eff: &Effective,
    ctx: &BuildContext,
    st: Store,
    image: &str,
    active: bool,
) -> StatefulSet {
    let sel = selector(tenant, st);
    let mut pod_labels = sel.clone();
    pod_labels.insert(labels::PART_OF.into(), "tenant".into());
    let (args, env) = st.command();
    let (cr, cl, mr, ml) = st.resources();
    let probe = || Probe {
        tcp_socket: Some(TCPSocketAction {
            port: IntOrString::String(st.key().into()),
            host: None,
        }),
        period_seconds: Some(10),
        ..Probe::default()
    };
    let delete = data::deletes_data(tenant);
    let container = Container {
        name: st.key().into(),
        image: Some(image.to_string()),
        args: Some(args),
        env: Some(env),
        ports: Some(vec![ContainerPort {
            name: Some(st.key().into()),
            container_port: st.port(),
            protocol: Some("TCP".into()),
            ..ContainerPort::default()
        }]),
        resources: Some(ResourceRequirements {
            requests: Some(BTreeMap::from([
                ("cpu".into(), q(cr)),
                ("memory".into(), q(mr)),
            ])),
            limits: Some(BTreeMap::from([
                ("cpu".into(), q(cl)),
                ("memory".into(), q(ml)),
            ])),
            ..ResourceRequirements::default()
        }),
        readiness_probe: Some(probe()),
        liveness_probe: Some(Probe {
            initial_delay_seconds: Some(30),
            ..probe()
        }),
        volume_mounts: Some(vec![VolumeMount {
            name: "data".into(),
            mount_path: st.data_path().into(),
            ..VolumeMount::default()
        }]),
        security_context: Some(services::restricted_container()),
        ..Container::default()
    };
    let claim = PersistentVolumeClaim {
        metadata: ObjectMeta {
            name: Some("data".into()),
            labels: Some(sel.clone()),
            ..ObjectMeta::default()
        },
        spec: Some(PersistentVolumeClaimSpec {
            access_modes: Some(vec!["ReadWriteOnce".into()]),
            resources: Some(VolumeResourceRequirements {
                requests: Some(BTreeMap::from([("storage".into(), q(st.storage()))])),
                ..VolumeResourceRequirements::default()
            }),
            storage_class_name: (!ctx.dedicated.storage_class.is_empty())
                .then(|| ctx.dedicated.storage_class.clone()),
            ..PersistentVolumeClaimSpec::default()
        }),
        ..PersistentVolumeClaim::default()
    };
    StatefulSet {
        metadata: meta(tenant, eff, st),
        spec: Some(StatefulSetSpec {
            service_name: Some(st.object_name()),
            replicas: Some(if active { 1 } else { 0 }),
            selector: LabelSelector {
                match_labels: Some(sel),
                ..LabelSelector::default()
            },
            persistent_volume_claim_retention_policy: Some(
                StatefulSetPersistentVolumeClaimRetentionPolicy {
                    when_deleted: Some(if delete { "Delete" } else { "Retain" }.into()),
                    when_scaled: Some("Retain".into()),
                },
            ),
            template: PodTemplateSpec {
                metadata: Some(ObjectMeta {
                    labels: Some(pod_labels),
                    // a new rotation token (new passwords) restarts the store; MongoDB keeps its
                    // password (see `Store::rotates`)
                    annotations: st.rotates().then(|| {
                        BTreeMap::from([(
                            data::ROTATION_ANNOTATION.to_string(),
                            data::rotation(tenant),
                        )])
                    }),
                    ..ObjectMeta::default()
                }),
                spec: Some(PodSpec {
                    containers: vec![container],
                    automount_service_account_token: Some(false),
                    enable_service_links: Some(false),
                    security_context: Some(PodSecurityContext {
                        run_as_non_root: Some(true),
                        run_as_user: Some(999),
                        run_as_group: Some(999),
                        fs_group: Some(999),
                        seccomp_profile: Some(SeccompProfile {
                            type_: "RuntimeDefault".into(),
                            localhost_profile: None,
                        }),
                        ..PodSecurityContext::default()
                    }),
                    ..PodSpec::default()
                }),
            },
            volume_claim_templates: Some(vec![claim]),
            ..StatefulSetSpec::default()
        }),
        ..StatefulSet::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::build::tenant_objects;
    use serde_json::Value;
    use tenant_api::DataDeletionPolicy;
    use tenant_api::{
        DataStoreMode, DataStores, IsolationSpec, ResourceLimits, TenantSpec, TenantType,
    };

    fn preview() -> Tenant {
        let mut spec = TenantSpec::new("pr-7", TenantType::Development);
        spec.services = Some(vec!["api".into(), "web".into()]);
        spec.data_stores = Some(DataStores {
            mode: Some(DataStoreMode::Dedicated),
            ..DataStores::default()
        });
        let mut t = Tenant::new("pr-7", spec);
        t.metadata.namespace = Some("tenants".into());
        t
    }

    fn objects(t: &Tenant) -> Vec<Object> {
        tenant_objects(t, &BuildContext::default()).unwrap()
    }

    fn find<'a>(objs: &'a [Object], kind: &str, name: &str) -> Option<&'a Value> {
        objs.iter()
            .find(|o| o.kind == kind && o.name == name)
            .map(|o| &o.manifest)
    }

    #[test]
    fn a_dedicated_tenant_runs_each_store_it_does_not_configure_itself() {
        let mut t = preview();
        let objs = objects(&t);
        for st in Store::ALL {
            let sts = find(&objs, "StatefulSet", &st.object_name()).expect("a StatefulSet");
            assert_eq!(sts["spec"]["replicas"], 1);
            assert_eq!(sts["spec"]["serviceName"], st.object_name());
            assert_eq!(
                sts["spec"]["volumeClaimTemplates"][0]["spec"]["resources"]["requests"]["storage"],
                st.storage()
            );
            assert_eq!(
                sts["spec"]["persistentVolumeClaimRetentionPolicy"]["whenDeleted"],
                "Retain"
            );
            let env = &sts["spec"]["template"]["spec"]["containers"][0]["env"];
            assert!(
                env.to_string().contains(st.password_key()),
                "the password comes from the Secret: {env}"
            );
            let svc = find(&objs, "Service", &st.object_name()).expect("a Service");
            assert_eq!(svc["spec"]["clusterIP"], "None");
        }
        t.spec.redis_url = Some("redis://own:6379".into());
        let objs = objects(&t);
        assert!(find(&objs, "StatefulSet", "data-redis").is_none());
        assert!(find(&objs, "StatefulSet", "data-mongodb").is_some());
        t.spec.data_stores = None;
        assert!(stores(&t).is_empty());
        assert!(
            !objects(&t).iter().any(|o| o.kind == "StatefulSet"),
            "shared mode runs nothing in the namespace"
        );
    }

    #[test]
    fn the_secret_points_at_the_stores_with_their_passwords() {
        let t = preview();
        let eff = Effective::of(&t);
        let passwords = BTreeMap::from([
            ("mongodb".to_string(), "m/pw".to_string()),
            ("nats".to_string(), "npw".to_string()),
            ("redis".to_string(), "rpw".to_string()),
        ]);
        let d = secret_entries(&t, &eff, &passwords);
        let ns = &eff.namespace;
        assert_eq!(
            d["MONGO_URI"],
            format!(
                "mongodb://tenant:m%2Fpw@data-mongodb.{ns}.svc:27017/tenant_pr_7_development?authSource=admin"
            )
        );
        assert_eq!(
            d["NATS_URL"],
            format!("nats://tenant:npw@data-nats.{ns}.svc:4222")
        );
        assert_eq!(
            d["REDIS_URL"],
            format!("redis://:rpw@data-redis.{ns}.svc:6379")
        );
        assert_eq!(d["REDIS_PASSWORD"], "rpw");
    }

    #[test]
    fn stores_are_taken_from_the_quota_before_the_services_are_sized() {
        let mut t = preview();
        t.spec.resource_limits = Some(ResourceLimits {
            cpu_limit: Some("1".into()),
            memory_limit: Some("1Gi".into()),
            ..Default::default()
        });
        // 1 CPU less the stores' 1 CPU of limits leaves nothing for the services
        let err = tenant_objects(&t, &BuildContext::default())
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("limits.cpu") && err.contains("dedicated data stores"),
            "{err}"
        );
        t.spec.resource_limits = Some(ResourceLimits {
            cpu_limit: Some("2".into()),
            memory_limit: Some("4Gi".into()),
            ..Default::default()
        });
        let objs = objects(&t);
        let api = find(&objs, "Deployment", "api").unwrap();
        // (2 CPU - 1 CPU of stores) / 4 slots (2 services, a replica and a surge pod each)
        assert_eq!(
            api["spec"]["template"]["spec"]["containers"][0]["resources"]["limits"]["cpu"],
            "250m"
        );
    }

    #[test]
    fn images_from_a_registry_the_tenant_does_not_allow_are_refused() {
        let mut t = preview();
        t.spec.isolation = Some(IsolationSpec {
            allowed_registries: Some(vec!["ghcr.io".into()]),
            ..IsolationSpec::default()
        });
        let err = tenant_objects(&t, &BuildContext::default())
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("spec.dataStores.mode") && err.contains("docker.io/library/mongo"),
            "{err}"
        );
        let cfg = DedicatedConfig {
            images: Store::ALL
                .iter()
                .map(|s| {
                    (
                        s.key().to_string(),
                        format!("ghcr.io/platform/{}:1", s.key()),
                    )
                })
                .collect(),
            storage_class: "fast".into(),
        };
        let ctx = BuildContext {
            dedicated: &cfg,
            ..BuildContext::default()
        };
        let objs = tenant_objects(&t, &ctx).unwrap();
        let sts = find(&objs, "StatefulSet", "data-redis").unwrap();
        assert_eq!(
            sts["spec"]["template"]["spec"]["containers"][0]["image"],
            "ghcr.io/platform/redis:1"
        );
        assert_eq!(
            sts["spec"]["volumeClaimTemplates"][0]["spec"]["storageClassName"],
            "fast"
        );
        t.spec.isolation.as_mut().unwrap().allowed_storage_classes = Some(vec!["slow".into()]);
        let err = tenant_objects(&t, &ctx).unwrap_err().to_string();
        assert!(
            err.contains("allowedStorageClasses") && err.contains("class fast"),
            "{err}"
        );
        assert!(parse_image_flag("redis=ghcr.io/x/redis:7").is_ok());
        assert!(parse_image_flag("postgres=x").is_err());
        assert!(parse_image_flag("redis=").is_err());
    }

    #[test]
    fn a_sleeping_tenant_scales_its_stores_to_zero_and_delete_takes_the_volumes() {
        let mut t = preview();
        t.spec.active = false;
        t.spec.data_stores.as_mut().unwrap().on_tenant_deletion = Some(DataDeletionPolicy::Delete);
        let objs = objects(&t);
        let sts = find(&objs, "StatefulSet", "data-nats").unwrap();
        assert_eq!(sts["spec"]["replicas"], 0);
        assert_eq!(
            sts["spec"]["persistentVolumeClaimRetentionPolicy"]["whenDeleted"],
            "Delete"
        );
        assert_eq!(reserved(&t, false), [Quantity::from_nanos(0); 4]);
    }

    #[test]
    fn a_service_may_not_take_a_stores_name() {
        let mut t = preview();
        t.spec.services = Some(vec!["data-redis".into()]);
        let err = tenant_objects(&t, &BuildContext::default())
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("spec.services") && err.contains("data-redis"),
            "{err}"
        );
    }
}
