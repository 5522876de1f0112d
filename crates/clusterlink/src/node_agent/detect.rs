//! Which underlay interface and addresses this node's VXLAN devices bind to.
//!
//! As Kosmos's agent does: a per-node interface from `nicNodeNames`, else
//! `defaultNICName`, else (`*`) auto-detection by `can-reach=<ip>`: the interface
//! whose address the kernel would use as the source towards that IP (a UDP
//! `connect`, which sends nothing). The agent writes the result to its
//! ClusterNode, where the network manager reads it.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, UdpSocket};

use drmysql_api::clusterlink::ClusterLinkOptions;
use futures::TryStreamExt;
use netlink_packet_route::address::{AddressAttribute, AddressScope};
use netlink_packet_route::link::LinkAttribute;

/// Kosmos's default auto-detection target.
pub const DEFAULT_CAN_REACH: IpAddr = IpAddr::V4(Ipv4Addr::new(8, 8, 8, 8));

/// How the interface is chosen.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum InterfaceChoice {
    /// This interface, by name.
    Named(String),
    /// The interface the kernel routes towards this address through.
    CanReach(IpAddr),
}

/// The underlay this node's VXLAN devices bind to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Underlay {
    /// Interface name.
    pub interface: String,
    /// Its first global IPv4 address.
    pub ipv4: Option<Ipv4Addr>,
    /// Its first global IPv6 address.
    pub ipv6: Option<Ipv6Addr>,
}

/// Why the underlay could not be found.
#[derive(Debug, thiserror::Error)]
pub enum DetectError {
    /// The Cluster's options name a method drmysql does not know.
    #[error(
        "spec.clusterLinkOptions.autodetectionMethod: {method:?} is not supported; use can-reach=<IP address>"
    )]
    Method {
        /// The method as written.
        method: String,
    },
    /// No route towards the can-reach target.
    #[error("cannot find a route towards {target} (autodetectionMethod can-reach): {source}")]
    NoRoute {
        /// The target.
        target: IpAddr,
        /// The error.
        #[source]
        source: std::io::Error,
    },
    /// No interface carries the address.
    #[error("no interface carries {0}")]
    NoInterfaceWith(IpAddr),
    /// The named interface does not exist.
    #[error("interface {0:?} does not exist on this node")]
    NoSuchInterface(String),
    /// The named interface has no global address.
    #[error("interface {0:?} has no global IPv4 or IPv6 address")]
    NoAddress(String),
    /// Netlink failed.
    #[error("netlink: {0}")]
    Netlink(#[from] rtnetlink::Error),
}

/// Chooses the interface for `node` from the Cluster's options.
pub fn choose(options: &ClusterLinkOptions, node: &str) -> Result<InterfaceChoice, DetectError> {
    if let Some(entry) = options
        .nic_node_names
        .iter()
        .find(|entry| entry.node_name.iter().any(|name| name == node))
    {
        return Ok(InterfaceChoice::Named(entry.interface_name.clone()));
    }
    let default = options.default_nic_name.trim();
    if !default.is_empty() && default != "*" {
        return Ok(InterfaceChoice::Named(default.to_owned()));
    }
    let method = options.autodetection_method.trim();
    if method.is_empty() {
        return Ok(InterfaceChoice::CanReach(DEFAULT_CAN_REACH));
    }
    method
        .strip_prefix("can-reach=")
        .and_then(|target| target.trim().parse::<IpAddr>().ok())
        .map(InterfaceChoice::CanReach)
        .ok_or_else(|| DetectError::Method {
            method: method.to_owned(),
        })
}

/// Finds the interface and its addresses in the current network namespace.
pub async fn detect(handle: &rtnetlink::Handle, choice: &InterfaceChoice) -> Result<Underlay, DetectError> {
    let addresses = addresses(handle).await?;
    // The address the kernel picks towards a can-reach target is the one to use
    // in its family, whatever its scope.
    let (index, preferred) = match choice {
        InterfaceChoice::CanReach(target) => {
            let source = source_towards(*target)?;
            let index = addresses
                .iter()
                .find(|address| address.ip == source)
                .map(|address| address.index)
                .ok_or(DetectError::NoInterfaceWith(source))?;
            (index, Some(source))
        }
        InterfaceChoice::Named(name) => {
            let mut links = handle.link().get().match_name(name.clone()).execute();
            match links.try_next().await {
                Ok(Some(link)) => (link.header.index, None),
                Ok(None) => return Err(DetectError::NoSuchInterface(name.clone())),
                // ENODEV for an unknown name; ERANGE for one longer than IFNAMSIZ.
                Err(rtnetlink::Error::NetlinkError(message))
                    if [-ENODEV, -ERANGE].contains(&message.raw_code()) =>
                {
                    return Err(DetectError::NoSuchInterface(name.clone()));
                }
                Err(error) => return Err(error.into()),
            }
        }
    };
    let interface = link_name(handle, index).await?;
    let global = |address: &&InterfaceAddress| address.index == index && address.global;
    let candidates = || {
        preferred
            .into_iter()
            .chain(addresses.iter().filter(global).map(|address| address.ip))
    };
    let ipv4 = candidates().find_map(|ip| match ip {
        IpAddr::V4(ip) => Some(ip),
        IpAddr::V6(_) => None,
    });
    let ipv6 = candidates().find_map(|ip| match ip {
        IpAddr::V6(ip) => Some(ip),
        IpAddr::V4(_) => None,
    });
    if ipv4.is_none() && ipv6.is_none() {
        return Err(DetectError::NoAddress(interface));
    }
    Ok(Underlay {
        interface,
        ipv4,
        ipv6,
    })
}

/// `ENODEV`, what the kernel answers for a link name it does not know.
const ENODEV: i32 = 19;
/// `ERANGE`, what it answers for a name too long to be a link's.
const ERANGE: i32 = 34;

struct InterfaceAddress {
    index: u32,
    ip: IpAddr,
    global: bool,
}

async fn addresses(handle: &rtnetlink::Handle) -> Result<Vec<InterfaceAddress>, DetectError> {
    let mut stream = handle.address().get().execute();
    let mut found = Vec::new();
    while let Some(message) = stream.try_next().await? {
        let global = message.header.scope == AddressScope::Universe;
        // IPv4 puts the interface's own address in Local (Address is the peer on
        // point-to-point links); IPv6 has only Address.
        let local = message.attributes.iter().find_map(|attribute| match attribute {
            AddressAttribute::Local(ip) => Some(*ip),
            _ => None,
        });
        let address = message.attributes.iter().find_map(|attribute| match attribute {
            AddressAttribute::Address(ip) => Some(*ip),
            _ => None,
        });
        if let Some(ip) = local.or(address) {
            found.push(InterfaceAddress {
                index: message.header.index,
                ip,
                global,
            });
        }
    }
    Ok(found)
}

async fn link_name(handle: &rtnetlink::Handle, index: u32) -> Result<String, DetectError> {
    let mut links = handle.link().get().match_index(index).execute();
    let link = links
        .try_next()
        .await?
        .ok_or_else(|| DetectError::NoSuchInterface(format!("#{index}")))?;
    link.attributes
        .iter()
        .find_map(|attribute| match attribute {
            LinkAttribute::IfName(name) => Some(name.clone()),
            _ => None,
        })
        .ok_or_else(|| DetectError::NoSuchInterface(format!("#{index}")))
}

/// The source address the kernel picks towards `target`; nothing is sent.
fn source_towards(target: IpAddr) -> Result<IpAddr, DetectError> {
    let unspecified: IpAddr = match target {
        IpAddr::V4(_) => Ipv4Addr::UNSPECIFIED.into(),
        IpAddr::V6(_) => Ipv6Addr::UNSPECIFIED.into(),
    };
    let no_route = |source| DetectError::NoRoute { target, source };
    let socket = UdpSocket::bind(SocketAddr::new(unspecified, 0)).map_err(no_route)?;
    socket.connect(SocketAddr::new(target, 53)).map_err(no_route)?;
    Ok(socket.local_addr().map_err(no_route)?.ip())
}

#[cfg(test)]
mod tests;
