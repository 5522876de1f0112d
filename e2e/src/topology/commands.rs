//! The `ip` invocations that build the underlay and the nodes, pure, so that
//! what the namespace layer runs can be read and tested without root.

use std::net::Ipv4Addr;

use super::plan::UNDERLAY_PREFIX;
use crate::kubelet::netns::Ipv4Cidr;

/// The bridge in the underlay namespace.
pub const BRIDGE: &str = "br0";

/// The underlay-namespace side of the root namespace's veth.
pub const UPLINK: &str = "uplink";

/// A node's underlay interface, as on a real node.
pub const NODE_LINK: &str = "eth0";

fn words(line: &str) -> Vec<String> {
    line.split(' ').map(str::to_owned).collect()
}

/// Creates `root_link` in the root namespace with its peer [`UPLINK`] in the
/// underlay namespace. It fails with "File exists" when another topology
/// holds the name, which is what makes choosing an id race-free.
pub fn reserve_root_link(root_link: &str, underlay_netns: &str) -> Vec<String> {
    words(&format!(
        "link add {root_link} type veth peer name {UPLINK} netns {underlay_netns}"
    ))
}

/// Bridges the uplink in the underlay namespace and addresses the root side
/// with `api_address`, labelled with the underlay namespace's name.
pub fn underlay_setup(root_link: &str, underlay_netns: &str, api_address: Ipv4Addr) -> Vec<Vec<String>> {
    [
        format!("-n {underlay_netns} link set lo up"),
        format!("-n {underlay_netns} link add {BRIDGE} type bridge"),
        format!("-n {underlay_netns} link set {BRIDGE} up"),
        format!("-n {underlay_netns} link set {UPLINK} master {BRIDGE} up"),
        format!("link set {root_link} alias {underlay_netns}"),
        format!("addr add {api_address}/{UNDERLAY_PREFIX} dev {root_link}"),
        format!("link set {root_link} up"),
    ]
    .iter()
    .map(|line| words(line))
    .collect()
}

/// Creates a node namespace with `lo` up and [`NODE_LINK`] at
/// `underlay_ip`, its peer `port` on the underlay bridge.
pub fn node_setup(
    node_netns: &str,
    underlay_netns: &str,
    port: &str,
    underlay_ip: Ipv4Addr,
) -> Vec<Vec<String>> {
    [
        format!("netns add {node_netns}"),
        format!("-n {node_netns} link set lo up"),
        format!("-n {node_netns} link add {NODE_LINK} type veth peer name {port} netns {underlay_netns}"),
        format!("-n {underlay_netns} link set {port} master {BRIDGE} up"),
        format!("-n {node_netns} addr add {underlay_ip}/{UNDERLAY_PREFIX} dev {NODE_LINK}"),
        format!("-n {node_netns} link set {NODE_LINK} up"),
    ]
    .iter()
    .map(|line| words(line))
    .collect()
}

/// Routes `cidr` via `via` in `netns` (`add` or `del`): the CNI's part,
/// a node's route to another node's pod CIDR.
pub fn pod_route(netns: &str, action: &str, cidr: Ipv4Cidr, via: Ipv4Addr) -> Vec<String> {
    words(&format!(
        "-n {netns} route {action} {cidr} via {via} dev {NODE_LINK}"
    ))
}

/// Sets a node's bridge port up or down, on the underlay side, so that the
/// node keeps its address and routes while it is cut off.
pub fn port_state(underlay_netns: &str, port: &str, up: bool) -> Vec<String> {
    let state = if up { "up" } else { "down" };
    words(&format!("-n {underlay_netns} link set {port} {state}"))
}

/// Deletes a namespace.
pub fn netns_del(netns: &str) -> Vec<String> {
    words(&format!("netns del {netns}"))
}

/// Deletes a link of the root namespace (both ends, for a veth).
pub fn link_del(link: &str) -> Vec<String> {
    words(&format!("link del {link}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn joined(commands: &[Vec<String>]) -> Vec<String> {
        commands.iter().map(|args| args.join(" ")).collect()
    }

    #[test]
    fn the_underlay_bridges_the_root_veth_and_addresses_the_root_side() {
        assert_eq!(
            reserve_root_link("drm-ul3", "p-1-0-ul").join(" "),
            "link add drm-ul3 type veth peer name uplink netns p-1-0-ul"
        );
        let setup = joined(&underlay_setup(
            "drm-ul3",
            "p-1-0-ul",
            Ipv4Addr::new(198, 18, 3, 1),
        ));
        assert!(setup.contains(&"-n p-1-0-ul link set uplink master br0 up".to_owned()));
        assert!(setup.contains(&"addr add 198.18.3.1/24 dev drm-ul3".to_owned()));
        assert_eq!(setup.last().map(String::as_str), Some("link set drm-ul3 up"));
    }

    #[test]
    fn a_node_is_a_namespace_with_eth0_on_the_bridge() {
        let setup = joined(&node_setup(
            "p-1-0-a-n1",
            "p-1-0-ul",
            "n10",
            Ipv4Addr::new(198, 18, 3, 10),
        ));
        assert_eq!(
            setup[0], "netns add p-1-0-a-n1",
            "the namespace comes first: undo deletes it"
        );
        assert!(setup.contains(&"-n p-1-0-a-n1 link set lo up".to_owned()));
        assert!(setup.contains(&"-n p-1-0-ul link set n10 master br0 up".to_owned()));
        assert!(setup.contains(&"-n p-1-0-a-n1 addr add 198.18.3.10/24 dev eth0".to_owned()));
    }

    #[test]
    fn routes_and_partitions_touch_only_what_they_name() {
        let cidr: Ipv4Cidr = "10.20.2.0/24".parse().expect("cidr");
        assert_eq!(
            pod_route("ns", "add", cidr, Ipv4Addr::new(198, 18, 3, 11)).join(" "),
            "-n ns route add 10.20.2.0/24 via 198.18.3.11 dev eth0"
        );
        assert_eq!(
            port_state("ul", "n11", false).join(" "),
            "-n ul link set n11 down"
        );
        assert_eq!(port_state("ul", "n11", true).join(" "), "-n ul link set n11 up");
    }
}
