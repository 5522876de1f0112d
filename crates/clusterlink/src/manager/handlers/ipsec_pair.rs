//! IPsec between elastic IPs, in place of the `vx-bridge` route (drmysql's
//! version of Kosmos's unmerged pull request #278).
//!
//! Across the internet a node's internal IP is unreachable, and VXLAN is
//! neither encrypted nor authenticated. When both ends of a pair have an
//! elastic (1:1 NAT) IP, node N sends pod traffic for the target T's CIDRs
//! through ESP tunnel mode from its internal IP to T's elastic IP; the cloud
//! NAT rewrites the outer addresses on the way.
//!
//! On N, for every pair of N's pod CIDR `ncidr` and T's `cidr`:
//! - policy out (dir 1): `ncidr -> cidr`, tunnel `N.ip -> T.eip`;
//! - policies in (dir 0) and fwd (dir 2): `cidr -> ncidr`, tunnel `T.eip -> N.ip`;
//!
//! and for the pair, exactly two states: out `N.ip -> T.eip` with SPI
//! `spi(N, T)` and in `T.eip -> N.ip` with SPI `spi(T, N)`, both naming T as the
//! peer. Each direction has its own SPI and key; the key is never here, the
//! agent derives it ([`crate::ipsec`]). Kosmos's pull request appended the
//! states once per CIDR, giving duplicates; here they are per pair.

use super::Output;
use crate::ipsec;
use crate::manager::net::Family;
use crate::manager::topology::NodeView;
use drmysql_api::clusterlink::{XfrmDirection, XfrmPolicy, XfrmState};
use ipnet::IpNet;
use std::net::Ipv4Addr;

/// Adds on `node` (N) the policies for `cidr` behind `target` (T), and the
/// pair's two states.
pub(super) fn add(
    out: &mut Output,
    node: &NodeView<'_>,
    node_ip: Ipv4Addr,
    target: &NodeView<'_>,
    target_eip: Ipv4Addr,
    cidr: IpNet,
) {
    let local_ip = node_ip.to_string();
    let remote_ip = target_eip.to_string();
    let remote_net = cidr.to_string();
    let local_cidrs: Vec<IpNet> = node
        .routed_pod_cidrs()
        .into_iter()
        .filter(|local| Family::of_net(local) == Family::V4)
        .collect();

    let spec = out.spec(&node.name);
    for local in local_cidrs {
        let local_net = local.to_string();
        spec.xfrm_policies.push(XfrmPolicy {
            left_ip: local_ip.clone(),
            left_net: local_net.clone(),
            right_ip: remote_ip.clone(),
            right_net: remote_net.clone(),
            req_id: ipsec::REQID,
            dir: XfrmDirection::Out.kernel(),
        });
        for direction in [XfrmDirection::In, XfrmDirection::Fwd] {
            spec.xfrm_policies.push(XfrmPolicy {
                left_ip: remote_ip.clone(),
                left_net: remote_net.clone(),
                right_ip: local_ip.clone(),
                right_net: local_net.clone(),
                req_id: ipsec::REQID,
                dir: direction.kernel(),
            });
        }
    }
    spec.xfrm_states.push(XfrmState {
        left_ip: local_ip.clone(),
        right_ip: remote_ip.clone(),
        req_id: ipsec::REQID,
        spi: ipsec::spi(&node.name, &target.name),
        peer: target.name.clone(),
    });
    spec.xfrm_states.push(XfrmState {
        left_ip: remote_ip,
        right_ip: local_ip,
        req_id: ipsec::REQID,
        spi: ipsec::spi(&target.name, &node.name),
        peer: target.name.clone(),
    });
}
