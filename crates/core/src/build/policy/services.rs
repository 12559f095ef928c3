//! `tenant-services`: NodePort, LoadBalancer and externalIPs of Services.

use super::SERVICES;
use super::common::{CU, PolicyDef, check, parameterised, var};

pub(super) fn policy() -> PolicyDef {
    let variables = vec![var(
        "serviceType",
        "has(object.spec.type) ? object.spec.type : 'ClusterIP'".into(),
    )];
    let validations = vec![
        check(
            "params.spec.allowNodePorts || variables.serviceType != 'NodePort'".into(),
            "services: type NodePort is not allowed (isolation.allowNodePorts)",
            "'services: Service ' + object.metadata.name + ': spec.type NodePort is not allowed in this tenant \
             (isolation.allowNodePorts); use ClusterIP behind the Ingress'".into(),
        ),
        check(
            "params.spec.allowLoadBalancers || variables.serviceType != 'LoadBalancer'".into(),
            "services: type LoadBalancer is not allowed (isolation.allowLoadBalancers)",
            "'services: Service ' + object.metadata.name + ': spec.type LoadBalancer is not allowed in this tenant \
             (isolation.allowLoadBalancers); use ClusterIP behind the Ingress'".into(),
        ),
        check(
            "params.spec.allowHostNamespaces || !has(object.spec.externalIPs) || size(object.spec.externalIPs) == 0".into(),
            "services: spec.externalIPs is not allowed (isolation.allowHostNamespaces)",
            "'services: Service ' + object.metadata.name + ': spec.externalIPs (' + object.spec.externalIPs.join(', ') \
             + ') is not allowed in this tenant: it can capture traffic for any address (CVE-2020-8554; isolation.allowHostNamespaces)'".into(),
        ),
    ];
    parameterised(SERVICES, &[("", "services", CU)], variables, validations)
}
