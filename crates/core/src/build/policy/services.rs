//! `tenant-services`: NodePort, LoadBalancer and externalIPs of Services.
//!
//! Node ports: where NodePorts are not allowed, no Service of the tenant may take one. A
//! LoadBalancer Service (where allowed) must then set `allocateLoadBalancerNodePorts: false`
//! and name no `nodePort`: the API server would otherwise open a port on every node for it,
//! and the namespace's `services.nodeports: 0` quota counts those ports too (see "LoadBalancer
//! node ports" in docs/admission-policies.md).

use super::SERVICES;
use super::common::{CU, PolicyDef, check, parameterised, var};

pub(super) fn policy() -> PolicyDef {
    let variables = vec![
        var(
            "serviceType",
            "has(object.spec.type) ? object.spec.type : 'ClusterIP'".into(),
        ),
        // LoadBalancers are allowed, NodePorts are not: the load balancer may take no node port.
        var(
            "lbWithoutNodePorts",
            "variables.serviceType == 'LoadBalancer' && params.spec.allowLoadBalancers && !params.spec.allowNodePorts".into(),
        ),
        var(
            "allocatesNodePorts",
            "!has(object.spec.allocateLoadBalancerNodePorts) || object.spec.allocateLoadBalancerNodePorts".into(),
        ),
        var(
            "namedNodePorts",
            "has(object.spec.ports) ? object.spec.ports.filter(p, has(p.nodePort) && p.nodePort != 0).map(p, string(p.nodePort)) : []".into(),
        ),
    ];
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
            "!variables.lbWithoutNodePorts || !variables.allocatesNodePorts".into(),
            "services: a LoadBalancer must set spec.allocateLoadBalancerNodePorts: false (isolation.allowNodePorts)",
            "'services: Service ' + object.metadata.name + ': a LoadBalancer must set spec.allocateLoadBalancerNodePorts: false \
             in this tenant: node ports are not allowed (isolation.allowNodePorts), and a LoadBalancer that allocates them \
             opens a port on every node'".into(),
        ),
        check(
            "!variables.lbWithoutNodePorts || variables.allocatesNodePorts || size(variables.namedNodePorts) == 0".into(),
            "services: spec.ports[*].nodePort is not allowed (isolation.allowNodePorts)",
            "'services: Service ' + object.metadata.name + ': spec.ports[*].nodePort (' + variables.namedNodePorts.join(', ') \
             + ') is not allowed in this tenant (isolation.allowNodePorts)'".into(),
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
