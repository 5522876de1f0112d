//! The four VXLAN devices of clusterlink, with Kosmos's names, VNIs and ports
//! (`pkg/constants/network.go`), so that a node joined by Kosmos and one joined
//! by drmysql speak the same VXLAN.

use super::net::Family;

/// One kind of VXLAN device.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct VxlanKind {
    /// Device name.
    pub name: &'static str,
    /// VXLAN network identifier.
    pub vni: i32,
    /// UDP destination port.
    pub port: i32,
}

/// Joins gateway and p2p endpoint nodes across clusters (IPv4).
pub const VX_BRIDGE: VxlanKind = VxlanKind {
    name: "vx-bridge",
    vni: 54,
    port: 4876,
};

/// Joins a gateway-mode cluster's nodes to their gateway (IPv4).
pub const VX_LOCAL: VxlanKind = VxlanKind {
    name: "vx-local",
    vni: 55,
    port: 4877,
};

/// [`VX_BRIDGE`] for IPv6.
pub const VX_BRIDGE_6: VxlanKind = VxlanKind {
    name: "vx-bridge-6",
    vni: 64,
    port: 4866,
};

/// [`VX_LOCAL`] for IPv6.
pub const VX_LOCAL_6: VxlanKind = VxlanKind {
    name: "vx-local-6",
    vni: 65,
    port: 4867,
};

/// The device type Kosmos writes, `vxlan`.
pub const VXLAN_TYPE: &str = "vxlan";

/// The all-zero MAC of the flood FDB entry per peer.
pub(super) const ALL_ZERO_MAC: &str = "00:00:00:00:00:00";

pub(super) fn bridge(family: Family) -> VxlanKind {
    match family {
        Family::V4 => VX_BRIDGE,
        Family::V6 => VX_BRIDGE_6,
    }
}

pub(super) fn local(family: Family) -> VxlanKind {
    match family {
        Family::V4 => VX_LOCAL,
        Family::V6 => VX_LOCAL_6,
    }
}
