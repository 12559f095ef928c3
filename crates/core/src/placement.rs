//! Placement: whether this cluster's operator runs a Tenant (`spec.placement` against the
//! operator's `--region` and `--cluster-name`).

use tenant_api::{Placement, Tenant};

/// Where this operator runs: its region and its cluster's name, either possibly unnamed.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Site {
    pub region: Option<String>,
    pub cluster: Option<String>,
}

impl Site {
    /// `region eu-west, cluster eu-west-1`, `region eu-west`, or `no region or cluster name`.
    pub fn describe(&self) -> String {
        let parts: Vec<String> = [("region", &self.region), ("cluster", &self.cluster)]
            .into_iter()
            .filter_map(|(what, v)| v.as_ref().map(|v| format!("{what} {v}")))
            .collect();
        if parts.is_empty() {
            "no region or cluster name (--region, --cluster-name)".to_string()
        } else {
            parts.join(", ")
        }
    }
}

fn names(v: Option<&Vec<String>>) -> &[String] {
    v.map(Vec::as_slice).unwrap_or_default()
}

/// `regions [eu-west], clusters [us-east-2]` (the lists the placement names).
fn describe(p: &Placement) -> String {
    let mut parts = Vec::new();
    for (what, list) in [("regions", &p.regions), ("clusters", &p.clusters)] {
        let list = names(list.as_ref());
        if !list.is_empty() {
            parts.push(format!("{what} [{}]", list.join(", ")));
        }
    }
    parts.join(", ")
}

/// `None` when `site` runs the Tenant: no placement, or the site's region or cluster is named
/// in it. Otherwise why not, for the Tenant's status.
pub fn refusal(placement: Option<&Placement>, site: &Site) -> Option<String> {
    let p = placement?;
    let named = |list: Option<&Vec<String>>, mine: &Option<String>| {
        mine.as_ref()
            .is_some_and(|m| names(list).iter().any(|n| n == m))
    };
    if named(p.regions.as_ref(), &site.region) || named(p.clusters.as_ref(), &site.cluster) {
        return None;
    }
    Some(format!(
        "spec.placement names {}; the operator of this cluster runs for {}: it leaves this Tenant alone here",
        describe(p),
        site.describe()
    ))
}

/// Whether `site` runs `tenant`.
pub fn placed(tenant: &Tenant, site: &Site) -> bool {
    refusal(tenant.spec.placement.as_ref(), site).is_none()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(regions: &[&str], clusters: &[&str]) -> Placement {
        let list = |v: &[&str]| {
            (!v.is_empty()).then(|| v.iter().map(|s| s.to_string()).collect::<Vec<_>>())
        };
        Placement {
            regions: list(regions),
            clusters: list(clusters),
        }
    }

    fn site(region: Option<&str>, cluster: Option<&str>) -> Site {
        Site {
            region: region.map(str::to_string),
            cluster: cluster.map(str::to_string),
        }
    }

    #[test]
    fn no_placement_runs_everywhere_even_on_an_unnamed_site() {
        assert_eq!(refusal(None, &site(None, None)), None);
        assert_eq!(refusal(None, &site(Some("eu"), Some("eu-1"))), None);
    }

    #[test]
    fn a_named_region_or_cluster_places_it() {
        let placement = p(&["eu"], &["us-2"]);
        assert_eq!(refusal(Some(&placement), &site(Some("eu"), None)), None);
        assert_eq!(
            refusal(Some(&placement), &site(Some("eu"), Some("eu-9"))),
            None
        );
        assert_eq!(
            refusal(Some(&placement), &site(Some("us"), Some("us-2"))),
            None
        );
        assert_eq!(refusal(Some(&placement), &site(None, Some("us-2"))), None);
    }

    #[test]
    fn elsewhere_says_where_it_is_placed_and_where_this_operator_runs() {
        let placement = p(&["eu", "ap"], &[]);
        let why = refusal(Some(&placement), &site(Some("us"), Some("us-1"))).unwrap_or_default();
        assert!(why.contains("regions [eu, ap]"), "{why}");
        assert!(why.contains("region us, cluster us-1"), "{why}");
        // a cluster name equal to a region name does not count as that region
        assert!(refusal(Some(&placement), &site(None, Some("eu"))).is_some());
    }

    #[test]
    fn an_unnamed_site_runs_no_placed_tenant() {
        let why = refusal(Some(&p(&["eu"], &[])), &site(None, None)).unwrap_or_default();
        assert!(why.contains("--region"), "{why}");
    }
}
