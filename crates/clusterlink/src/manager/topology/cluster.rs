//! A valid Cluster, parsed once: its mode, families, CIDRs, global map and
//! VXLAN ranges. Whatever does not parse is skipped and named in a warning, so
//! one bad entry costs only itself.

use crate::manager::net::{self, Family};
use drmysql_api::clusterlink::{Cluster, ClusterLinkOptions, NetworkType, VxlanCidrs};
use ipnet::IpNet;
use kube::ResourceExt;
use std::collections::BTreeMap;

/// A valid Cluster, parsed.
#[derive(Debug)]
pub(in crate::manager) struct ClusterView {
    pub(in crate::manager) name: String,
    pub(in crate::manager) p2p: bool,
    ipv4: bool,
    ipv6: bool,
    /// Whether the CNI is Calico (also when unset), which keeps pod source IPs
    /// by disabled IPPools rather than by an ipset.
    pub(in crate::manager) calico: bool,
    /// The cluster's pod CIDRs: `status.clusterLinkStatus.podCIDRs`, or, when
    /// that yields none, the manual `spec.clusterLinkOptions.clusterpodCIDRs`.
    pub(in crate::manager) pod_cidrs: Vec<IpNet>,
    pub(in crate::manager) service_cidrs: Vec<IpNet>,
    /// `globalCIDRsMap`: real CIDR to the global CIDR other clusters see.
    pub(in crate::manager) global_map: BTreeMap<IpNet, IpNet>,
    /// `vx-local` ranges; none in p2p mode, which has no `vx-local`.
    pub(in crate::manager) local_ranges: Ranges,
    pub(in crate::manager) bridge_ranges: Ranges,
    /// `nodeElasticIPMap`, by node name, unparsed.
    pub(super) elastic_ips: BTreeMap<String, String>,
}

impl ClusterView {
    pub(in crate::manager) fn supports(&self, family: Family) -> bool {
        match family {
            Family::V4 => self.ipv4,
            Family::V6 => self.ipv6,
        }
    }

    pub(in crate::manager) fn is_gateway_mode(&self) -> bool {
        !self.p2p
    }

    /// The CIDRs as other clusters see them: only the families this cluster
    /// joins, each mapped through `globalCIDRsMap` (Kosmos's `FilterByIPFamily`
    /// then `ConvertToGlobalCIDRs`).
    pub(in crate::manager) fn exported(&self, cidrs: &[IpNet]) -> Vec<IpNet> {
        cidrs
            .iter()
            .filter(|cidr| self.supports(Family::of_net(cidr)))
            .map(|cidr| self.global_map.get(cidr).copied().unwrap_or(*cidr))
            .collect()
    }
}

/// The IPv4 and IPv6 range of one kind of VXLAN device.
#[derive(Debug, Default)]
pub(in crate::manager) struct Ranges {
    v4: Option<IpNet>,
    v6: Option<IpNet>,
}

impl Ranges {
    pub(in crate::manager) fn get(&self, family: Family) -> Option<IpNet> {
        match family {
            Family::V4 => self.v4,
            Family::V6 => self.v6,
        }
    }
}

/// Parses the valid clusters, in the given (name) order.
pub(in crate::manager) fn build_clusters(
    clusters: &[&Cluster],
    warnings: &mut Vec<String>,
) -> Vec<ClusterView> {
    clusters
        .iter()
        .filter_map(|cluster| {
            let options = cluster.enabled_link_options()?;
            Some(cluster_view(cluster, options, warnings))
        })
        .collect()
}

fn cluster_view(cluster: &Cluster, options: &ClusterLinkOptions, warnings: &mut Vec<String>) -> ClusterView {
    let name = cluster.name_any();
    let field = |path: &str| format!("Cluster {name:?} {path}");
    let status = cluster.status.as_ref().map(|status| &status.cluster_link_status);

    let status_pods = status
        .map(|status| status.pod_cidrs.as_slice())
        .unwrap_or_default();
    let mut pod_cidrs = net::parse_cidrs(status_pods, &field("status.clusterLinkStatus.podCIDRs"), warnings);
    if pod_cidrs.is_empty() {
        pod_cidrs = net::parse_cidrs(
            &options.cluster_pod_cidrs,
            &field("spec.clusterLinkOptions.clusterpodCIDRs"),
            warnings,
        );
    }
    let status_services = status
        .map(|status| status.service_cidrs.as_slice())
        .unwrap_or_default();
    let service_cidrs = net::parse_cidrs(
        status_services,
        &field("status.clusterLinkStatus.serviceCIDRs"),
        warnings,
    );

    let mut global_map = BTreeMap::new();
    for (real, global) in &options.global_cidrs_map {
        match (net::parse_cidr(real), net::parse_cidr(global)) {
            (Some(real), Some(global)) if Family::of_net(&real) == Family::of_net(&global) => {
                global_map.insert(real, global);
            }
            _ => warnings.push(format!(
                "{}: {real:?} -> {global:?} is not a pair of CIDRs of one family; skipped",
                field("spec.clusterLinkOptions.globalCIDRsMap")
            )),
        }
    }

    let p2p = options.network_type == NetworkType::P2p;
    let families = [
        (Family::V4, options.ip_family.has_ipv4()),
        (Family::V6, options.ip_family.has_ipv6()),
    ];
    let local_ranges = if p2p {
        Ranges::default()
    } else {
        parse_ranges(
            &options.local_cidrs,
            families,
            &field("spec.clusterLinkOptions.localCIDRs"),
            warnings,
        )
    };
    let bridge_ranges = parse_ranges(
        &options.bridge_cidrs,
        families,
        &field("spec.clusterLinkOptions.bridgeCIDRs"),
        warnings,
    );

    let cni = options.cni.trim();
    ClusterView {
        name,
        p2p,
        ipv4: options.ip_family.has_ipv4(),
        ipv6: options.ip_family.has_ipv6(),
        calico: cni.is_empty() || cni.eq_ignore_ascii_case("calico"),
        pod_cidrs,
        service_cidrs,
        global_map,
        local_ranges,
        bridge_ranges,
        elastic_ips: options.node_elastic_ip_map.clone(),
    }
}

/// The ranges of the joined families; an empty one means "no such device", as
/// in Kosmos, and one that does not parse is warned about.
fn parse_ranges(
    cidrs: &VxlanCidrs,
    families: [(Family, bool); 2],
    what: &str,
    warnings: &mut Vec<String>,
) -> Ranges {
    let mut ranges = Ranges::default();
    for (family, joined) in families {
        let (text, key, slot) = match family {
            Family::V4 => (&cidrs.ip, "ip", &mut ranges.v4),
            Family::V6 => (&cidrs.ip6, "ip6", &mut ranges.v6),
        };
        if !joined || text.is_empty() {
            continue;
        }
        *slot = net::parse_cidr(text).filter(|net| Family::of_net(net) == family);
        if slot.is_none() {
            warnings.push(format!(
                "{what}.{key}: {text:?} is not a CIDR of that family; skipped"
            ));
        }
    }
    ranges
}
