//! A small offline stand-in for kube-apiserver's ValidatingAdmissionPolicy plugin: it takes the
//! policy and binding objects exactly as `shared_policies` renders them and decides a request the
//! way the apiserver does: policy and binding match (rules, exclusions, namespace and object
//! selectors), parameter lookup (before matchConditions, as in the apiserver), matchConditions,
//! variables, validations and messageExpressions.
//!
//! Why not `kube_cel::VapEvaluator` directly: it escapes map keys the CRD way
//! (`shop.pilab.hu/x` becomes `shop__dot__pilab__dot__hu__slash__x`), which is right for CRD
//! rules but not for admission objects, where `labels` is a map with its keys as they are; and it
//! has no `variables`. So this binds the values itself and uses the same CEL interpreter and the
//! same Kubernetes function library (`KubeCelExt::with_all`).

use kube::core::cel::KubeCelExt;
use kube::core::cel::cel::objects::{Key, Map};
use kube::core::cel::cel::{Context, Program, Value};
use serde_json::{Value as Json, json};
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use tenant_core::Object;

/// What is being written: the request's kind and resource.
#[derive(Clone, Copy, Debug)]
pub struct Kind {
    pub group: &'static str,
    pub version: &'static str,
    pub kind: &'static str,
    pub resource: &'static str,
    pub sub: &'static str,
}

const fn k(
    group: &'static str,
    version: &'static str,
    kind: &'static str,
    resource: &'static str,
) -> Kind {
    Kind {
        group,
        version,
        kind,
        resource,
        sub: "",
    }
}

pub const POD: Kind = k("", "v1", "Pod", "pods");
pub const DEPLOYMENT: Kind = k("apps", "v1", "Deployment", "deployments");
pub const STATEFULSET: Kind = k("apps", "v1", "StatefulSet", "statefulsets");
pub const DAEMONSET: Kind = k("apps", "v1", "DaemonSet", "daemonsets");
pub const JOB: Kind = k("batch", "v1", "Job", "jobs");
pub const CRONJOB: Kind = k("batch", "v1", "CronJob", "cronjobs");
pub const SERVICE: Kind = k("", "v1", "Service", "services");
pub const PVC: Kind = k("", "v1", "PersistentVolumeClaim", "persistentvolumeclaims");
pub const HPA: Kind = k(
    "autoscaling",
    "v2",
    "HorizontalPodAutoscaler",
    "horizontalpodautoscalers",
);
pub const ROLE: Kind = k("rbac.authorization.k8s.io", "v1", "Role", "roles");
pub const ROLEBINDING: Kind = k(
    "rbac.authorization.k8s.io",
    "v1",
    "RoleBinding",
    "rolebindings",
);
pub const QUOTA: Kind = k("", "v1", "ResourceQuota", "resourcequotas");
pub const NETPOL: Kind = k(
    "networking.k8s.io",
    "v1",
    "NetworkPolicy",
    "networkpolicies",
);
pub const TENANT_POLICY: Kind = k(
    "shop.pilab.hu",
    "v1alpha1",
    "TenantPolicy",
    "tenantpolicies",
);
pub const CONFIGMAP: Kind = k("", "v1", "ConfigMap", "configmaps");
pub const INGRESS: Kind = k("networking.k8s.io", "v1", "Ingress", "ingresses");
pub const HTTP_ROUTE: Kind = k("gateway.networking.k8s.io", "v1", "HTTPRoute", "httproutes");
pub const GATEWAY: Kind = k("gateway.networking.k8s.io", "v1", "Gateway", "gateways");
pub const NAMESPACE: Kind = k("", "v1", "Namespace", "namespaces");
/// `kubectl debug`: the ephemeral containers subresource of a Pod (the object is the Pod).
pub const POD_EPHEMERAL: Kind = Kind {
    sub: "ephemeralcontainers",
    ..POD
};
/// `kubectl scale deployment`: the Scale subresource of a Deployment.
pub const DEPLOYMENT_SCALE: Kind = Kind {
    group: "apps",
    version: "v1",
    kind: "Scale",
    resource: "deployments",
    sub: "scale",
};

/// One admission request.
#[derive(Clone, Debug)]
pub struct Request {
    pub op: &'static str,
    pub kind: Kind,
    pub namespace: String,
    pub name: String,
    pub user: String,
    pub groups: Vec<String>,
    pub object: Json,
    pub old: Json,
}

pub const ALICE: &str = "alice@example.com";

impl Request {
    fn new(op: &'static str, kind: Kind, namespace: &str, object: Json, old: Json) -> Request {
        let name = [&object, &old]
            .iter()
            .find_map(|o| o.pointer("/metadata/name").and_then(Json::as_str))
            .unwrap_or_default()
            .to_string();
        Request {
            op,
            kind,
            namespace: namespace.to_string(),
            name,
            user: ALICE.to_string(),
            groups: vec!["system:authenticated".to_string()],
            object,
            old,
        }
    }
    pub fn create(kind: Kind, namespace: &str, object: Json) -> Request {
        Request::new("CREATE", kind, namespace, object, Json::Null)
    }
    pub fn update(kind: Kind, namespace: &str, old: Json, object: Json) -> Request {
        Request::new("UPDATE", kind, namespace, object, old)
    }
    pub fn delete(kind: Kind, namespace: &str, old: Json) -> Request {
        Request::new("DELETE", kind, namespace, Json::Null, old)
    }
    pub fn by(mut self, user: &str, groups: &[&str]) -> Request {
        self.user = user.to_string();
        self.groups = groups.iter().map(|g| g.to_string()).collect();
        self
    }
}

/// The cluster state admission depends on.
pub struct Cluster {
    /// The rendered shared policies and bindings.
    pub objects: Vec<Object>,
    /// Labels of each namespace.
    pub namespaces: BTreeMap<String, BTreeMap<String, String>>,
    /// The `tenant-policy` TenantPolicy of each namespace (the whole manifest).
    pub params: BTreeMap<String, Json>,
}

/// The apiserver's answer: `Ok` or every denial message.
pub type Verdict = Result<(), Vec<String>>;

impl Cluster {
    pub fn admit(&self, req: &Request) -> Verdict {
        let mut denials = Vec::new();
        let policies = self
            .objects
            .iter()
            .filter(|o| o.kind == "ValidatingAdmissionPolicy");
        for policy in policies {
            let spec = &policy.manifest["spec"];
            if !self.matches(&spec["matchConstraints"], req) {
                continue;
            }
            let bindings = self.objects.iter().filter(|o| {
                o.kind == "ValidatingAdmissionPolicyBinding"
                    && o.manifest["spec"]["policyName"] == policy.name.as_str()
            });
            for binding in bindings {
                let bspec = &binding.manifest["spec"];
                if !self.matches(&bspec["matchResources"], req) {
                    continue;
                }
                let mut params = Json::Null;
                if !spec["paramKind"].is_null() && !bspec["paramRef"].is_null() {
                    let pref = &bspec["paramRef"];
                    // A paramRef naming its namespace reads one object cluster-wide, keyed
                    // `namespace/name` here; otherwise the request's namespace's params.
                    let key = match pref["namespace"].as_str() {
                        Some(ns) => format!("{ns}/{}", pref["name"].as_str().unwrap_or_default()),
                        None => req.namespace.clone(),
                    };
                    match self.params.get(&key) {
                        Some(p) if pref["name"] == p["metadata"]["name"] => params = p.clone(),
                        _ if pref["parameterNotFoundAction"] == "Deny" => {
                            denials.push(format!(
                                "{}/{}: failed to configure binding: no params found for policy binding with `Deny` parameterNotFoundAction",
                                policy.name, binding.name
                            ));
                            continue;
                        }
                        _ => continue,
                    }
                }
                let ns_object = if !req.namespace.is_empty() && req.kind.resource != "namespaces" {
                    json!({"metadata": {
                        "name": req.namespace,
                        "labels": self.namespaces.get(&req.namespace).cloned().unwrap_or_default(),
                    }})
                } else {
                    Json::Null
                };
                let mut out = evaluate(spec, req, params, &ns_object)
                    .into_iter()
                    .map(|m| format!("{}/{}: {m}", policy.name, binding.name))
                    .collect();
                denials.append(&mut out);
            }
        }
        if denials.is_empty() {
            Ok(())
        } else {
            Err(denials)
        }
    }

    fn matches(&self, mr: &Json, req: &Request) -> bool {
        if mr.is_null() {
            return true;
        }
        let rules = |key: &str| {
            mr[key]
                .as_array()
                .map(|rs| rs.iter().any(|r| rule_matches(r, req)))
                .unwrap_or(false)
        };
        if !rules("resourceRules") || rules("excludeResourceRules") {
            return false;
        }
        // namespaceSelector: a namespace is matched by its own labels (the new object on CREATE
        // and UPDATE, the stored one on DELETE); other cluster-scoped objects always match.
        let ns_labels = if req.kind.resource == "namespaces" && req.kind.sub.is_empty() {
            let obj = if req.op == "DELETE" {
                &req.old
            } else {
                &req.object
            };
            Some(labels_of(obj))
        } else if !req.namespace.is_empty() {
            Some(
                self.namespaces
                    .get(&req.namespace)
                    .cloned()
                    .unwrap_or_default(),
            )
        } else {
            None
        };
        if let Some(l) = ns_labels
            && !selector_matches(&mr["namespaceSelector"], &l)
        {
            return false;
        }
        // objectSelector: matches if the old or the new object matches.
        let sel = &mr["objectSelector"];
        selector_matches(sel, &labels_of(&req.object))
            || selector_matches(sel, &labels_of(&req.old))
    }
}

fn rule_matches(r: &Json, req: &Request) -> bool {
    let has = |key: &str, want: &str| {
        r[key]
            .as_array()
            .map(|v| v.iter().any(|x| x == "*" || x == want))
            .unwrap_or(false)
    };
    let resource_ok = r["resources"].as_array().is_some_and(|rs| {
        rs.iter().filter_map(Json::as_str).any(|x| {
            let (res, sub) = x.split_once('/').unwrap_or((x, ""));
            (res == "*" || res == req.kind.resource) && (sub == req.kind.sub || sub == "*")
        })
    });
    let group = if req.kind.sub.is_empty() {
        req.kind.group
    } else {
        resource_group(req)
    };
    let is_namespace = req.kind.resource == "namespaces";
    let scope_ok = match r["scope"].as_str().unwrap_or("*") {
        // a Namespace is cluster-scoped, though it has a "namespace" (its own name)
        "Namespaced" => !is_namespace && !req.namespace.is_empty(),
        "Cluster" => req.namespace.is_empty() || is_namespace,
        _ => true,
    };
    has("apiGroups", group)
        && has("apiVersions", req.kind.version)
        && has("operations", req.op)
        && resource_ok
        && scope_ok
}

/// The group of the resource a subresource request is for (a Scale's kind is autoscaling).
fn resource_group(req: &Request) -> &'static str {
    match req.kind.resource {
        "deployments" | "statefulsets" | "replicasets" => "apps",
        _ => "",
    }
}

fn labels_of(obj: &Json) -> BTreeMap<String, String> {
    obj.pointer("/metadata/labels")
        .and_then(Json::as_object)
        .map(|m| {
            m.iter()
                .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_string()))
                .collect()
        })
        .unwrap_or_default()
}

fn selector_matches(sel: &Json, labels: &BTreeMap<String, String>) -> bool {
    if sel.is_null() {
        return true;
    }
    let by_labels = sel["matchLabels"]
        .as_object()
        .map(|m| {
            m.iter()
                .all(|(k, v)| labels.get(k).map(String::as_str) == v.as_str())
        })
        .unwrap_or(true);
    let by_exprs = sel["matchExpressions"]
        .as_array()
        .map(|es| {
            es.iter().all(|e| {
                let key = e["key"].as_str().unwrap_or_default();
                let values: Vec<&str> = e["values"]
                    .as_array()
                    .map(|v| v.iter().filter_map(Json::as_str).collect())
                    .unwrap_or_default();
                match e["operator"].as_str().unwrap_or_default() {
                    "Exists" => labels.contains_key(key),
                    "DoesNotExist" => !labels.contains_key(key),
                    "In" => labels
                        .get(key)
                        .is_some_and(|v| values.contains(&v.as_str())),
                    "NotIn" => labels
                        .get(key)
                        .is_none_or(|v| !values.contains(&v.as_str())),
                    other => panic!("unknown selector operator {other}"),
                }
            })
        })
        .unwrap_or(true);
    by_labels && by_exprs
}

fn s(v: &str) -> Value {
    Value::String(Arc::new(v.to_string()))
}

fn map(entries: Vec<(&str, Value)>) -> Value {
    let m: HashMap<Key, Value> = entries
        .into_iter()
        .map(|(k, v)| (Key::String(Arc::new(k.to_string())), v))
        .collect();
    Value::Map(Map { map: Arc::new(m) })
}

/// JSON to CEL with map keys as they are (no CRD escaping).
pub fn to_cel(v: &Json) -> Value {
    match v {
        Json::Null => Value::Null,
        Json::Bool(b) => Value::Bool(*b),
        Json::Number(n) => match n.as_i64() {
            Some(i) => Value::Int(i),
            None => Value::Float(n.as_f64().unwrap_or(f64::NAN)),
        },
        Json::String(x) => s(x),
        Json::Array(a) => Value::List(Arc::new(a.iter().map(to_cel).collect())),
        Json::Object(o) => {
            let m: HashMap<Key, Value> = o
                .iter()
                .map(|(k, v)| (Key::String(Arc::new(k.clone())), to_cel(v)))
                .collect();
            Value::Map(Map { map: Arc::new(m) })
        }
    }
}

fn request_value(req: &Request) -> Value {
    let group = if req.kind.sub.is_empty() {
        req.kind.group
    } else {
        resource_group(req)
    };
    map(vec![
        ("operation", s(req.op)),
        ("name", s(&req.name)),
        ("namespace", s(&req.namespace)),
        ("subResource", s(req.kind.sub)),
        ("dryRun", Value::Bool(false)),
        (
            "kind",
            map(vec![
                (
                    "group",
                    s(if req.kind.sub.is_empty() {
                        req.kind.group
                    } else {
                        "autoscaling"
                    }),
                ),
                ("version", s(req.kind.version)),
                ("kind", s(req.kind.kind)),
            ]),
        ),
        (
            "resource",
            map(vec![
                ("group", s(group)),
                ("version", s(req.kind.version)),
                ("resource", s(req.kind.resource)),
            ]),
        ),
        ("userInfo", {
            let mut user = vec![("username", s(&req.user)), ("uid", s(""))];
            // like the apiserver's request, which omits an empty group list
            if !req.groups.is_empty() {
                let groups = req.groups.iter().map(|g| s(g)).collect();
                user.push(("groups", Value::List(Arc::new(groups))));
            }
            map(user)
        }),
    ])
}

fn run(expr: &str, ctx: &Context) -> Result<Value, String> {
    let program = Program::compile(expr).map_err(|e| format!("compile error in `{expr}`: {e}"))?;
    program
        .execute(ctx)
        .map_err(|e| format!("evaluation error in `{expr}`: {e}"))
}

/// Evaluates one (policy, binding, params) invocation; returns its denial messages.
fn evaluate(spec: &Json, req: &Request, params: Json, ns_object: &Json) -> Vec<String> {
    let mut ctx = Context::default().with_all();
    ctx.add_variable_from_value("namespaceObject", to_cel(ns_object));
    ctx.add_variable_from_value("object", to_cel(&req.object));
    ctx.add_variable_from_value("oldObject", to_cel(&req.old));
    ctx.add_variable_from_value("request", request_value(req));
    ctx.add_variable_from_value("params", to_cel(&params));

    let list = |key: &str| spec[key].as_array().cloned().unwrap_or_default();
    for mc in list("matchConditions") {
        let expr = mc["expression"].as_str().unwrap_or_default();
        match run(expr, &ctx) {
            Ok(Value::Bool(true)) => {}
            Ok(Value::Bool(false)) => return Vec::new(),
            // failurePolicy Fail: an error in a match condition denies
            Ok(other) => return vec![format!("matchCondition returned {other:?}")],
            Err(e) => return vec![e],
        }
    }

    // Variables are lazy in the apiserver; here they are evaluated in order and one that fails
    // is left out, so only an expression that uses it fails.
    let mut vars: Vec<(String, Value)> = Vec::new();
    for v in list("variables") {
        let bound = map(vars.iter().map(|(k, v)| (k.as_str(), v.clone())).collect());
        ctx.add_variable_from_value("variables", bound);
        if let Ok(val) = run(v["expression"].as_str().unwrap_or_default(), &ctx) {
            vars.push((v["name"].as_str().unwrap_or_default().to_string(), val));
        }
    }
    ctx.add_variable_from_value(
        "variables",
        map(vars.iter().map(|(k, v)| (k.as_str(), v.clone())).collect()),
    );

    let mut denials = Vec::new();
    for val in list("validations") {
        let expr = val["expression"].as_str().unwrap_or_default();
        match run(expr, &ctx) {
            Ok(Value::Bool(true)) => {}
            Ok(Value::Bool(false)) => {
                let message = match val["messageExpression"].as_str() {
                    // The apiserver falls back to `message` when the messageExpression fails; a
                    // failure here is a bug in the policy, so the test says so.
                    Some(me) => match run(me, &ctx) {
                        Ok(Value::String(m)) => m.to_string(),
                        other => panic!("messageExpression `{me}` failed: {other:?}"),
                    },
                    None => val["message"].as_str().unwrap_or_default().to_string(),
                };
                denials.push(message);
            }
            Ok(other) => denials.push(format!("validation returned {other:?}")),
            Err(e) => denials.push(e),
        }
    }
    denials
}

/// Every CEL expression in the rendered objects, with where it is.
pub fn all_expressions(objects: &[Object]) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for o in objects
        .iter()
        .filter(|o| o.kind == "ValidatingAdmissionPolicy")
    {
        let spec = &o.manifest["spec"];
        for (list, field) in [
            ("matchConditions", "expression"),
            ("variables", "expression"),
            ("validations", "expression"),
            ("validations", "messageExpression"),
        ] {
            for (i, item) in spec[list]
                .as_array()
                .cloned()
                .unwrap_or_default()
                .iter()
                .enumerate()
            {
                if let Some(e) = item[field].as_str() {
                    out.push((format!("{}.{list}[{i}].{field}", o.name), e.to_string()));
                }
            }
        }
    }
    out
}

/// Compiles an expression with the interpreter the harness uses.
pub fn compiles(expr: &str) -> Result<(), String> {
    Program::compile(expr)
        .map(|_| ())
        .map_err(|e| e.to_string())
}

/// A minimal object of `kind` with `name` and `labels`.
pub fn meta(name: &str, labels: &[(&str, &str)]) -> Json {
    let l: serde_json::Map<String, Json> = labels
        .iter()
        .map(|(k, v)| (k.to_string(), json!(v)))
        .collect();
    json!({"name": name, "labels": l})
}
