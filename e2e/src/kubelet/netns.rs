//! Pod network namespaces, wired to their node the way a simple CNI plugin
//! (Calico-style, without proxy ARP) would: a veth pair per Pod, the Pod's
//! address as a /32 on its `eth0`, a default route through the node side of
//! the pair (which carries the pod CIDR's gateway address), and a /32 route
//! on the node back to the Pod. Every Pod on a node thus reaches every other
//! through the node, which is where the clusterlink agent routes
//! cross-cluster traffic. Forwarding in the node namespace belongs to the
//! node's setup, not to this module.
//!
//! Traffic must originate inside these namespaces (probes come from the node,
//! as the kubelet's do), so [`within`] runs work on a thread that has entered
//! one with `setns`, and [`tcp_socket_in`] makes a socket there that any tokio
//! runtime can then connect: a socket belongs to the namespace it was created
//! in, whichever thread uses it later. IPv4 only.

use std::fmt;
use std::fs::File;
use std::net::{Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::str::FromStr;

use nix::sched::{CloneFlags, setns};
use tokio::net::TcpSocket;

use super::command::{IP_TIMEOUT, require, run};
use super::error::KubeletError;

/// Where `ip netns` keeps named namespaces.
const NETNS_DIR: &str = "/run/netns";

/// The file of the named network namespace.
pub fn netns_path(name: &str) -> PathBuf {
    PathBuf::from(NETNS_DIR).join(name)
}

/// Runs `work` on a new thread that has entered network namespace `netns`.
/// Everything it creates (sockets, and processes it spawns) lives there.
pub fn within<T: Send>(netns: &str, work: impl FnOnce() -> T + Send) -> Result<T, KubeletError> {
    let path = netns_path(netns);
    let failed = |message: String| KubeletError::Netns {
        netns: netns.to_owned(),
        message,
    };
    std::thread::scope(|scope| {
        scope
            .spawn(|| {
                let file = File::open(&path)
                    .map_err(|error| failed(format!("cannot open {}: {error}", path.display())))?;
                setns(&file, CloneFlags::CLONE_NEWNET).map_err(|error| failed(format!("setns: {error}")))?;
                Ok(work())
            })
            .join()
            .map_err(|_| failed("the thread inside the namespace panicked".to_owned()))?
    })
}

/// A TCP socket for `address`'s family, created inside `netns`.
pub fn tcp_socket_in(netns: &str, address: &SocketAddr) -> Result<TcpSocket, KubeletError> {
    let socket = within(netns, || {
        if address.is_ipv4() {
            TcpSocket::new_v4()
        } else {
            TcpSocket::new_v6()
        }
    })?;
    socket.map_err(|error| KubeletError::Netns {
        netns: netns.to_owned(),
        message: format!("cannot create a socket: {error}"),
    })
}

/// An IPv4 prefix such as a node's pod CIDR.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Ipv4Cidr {
    network: Ipv4Addr,
    prefix: u8,
}

impl Ipv4Cidr {
    /// The prefix with its host bits cleared.
    pub fn new(address: Ipv4Addr, prefix: u8) -> Option<Self> {
        (prefix <= 32).then(|| {
            let mask = Self::mask(prefix);
            Self {
                network: Ipv4Addr::from(u32::from(address) & mask),
                prefix,
            }
        })
    }

    fn mask(prefix: u8) -> u32 {
        u32::MAX.checked_shl(32 - u32::from(prefix)).unwrap_or(0)
    }

    /// Whether `address` is inside.
    pub fn contains(&self, address: Ipv4Addr) -> bool {
        u32::from(address) & Self::mask(self.prefix) == u32::from(self.network)
    }

    /// The gateway the node side of every Pod's veth carries: the first host
    /// address.
    pub fn gateway(&self) -> Ipv4Addr {
        Ipv4Addr::from(u32::from(self.network).saturating_add(1))
    }

    /// The lowest address that is neither the network, the gateway, the
    /// broadcast address nor `in_use`.
    pub fn allocate(&self, in_use: &[Ipv4Addr]) -> Option<Ipv4Addr> {
        let first = u32::from(self.network);
        let last = first | !Self::mask(self.prefix);
        (first.saturating_add(2)..last)
            .map(Ipv4Addr::from)
            .find(|candidate| !in_use.contains(candidate))
    }
}

impl fmt::Display for Ipv4Cidr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.network, self.prefix)
    }
}

impl FromStr for Ipv4Cidr {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let invalid = || format!("{text:?} is not an IPv4 CIDR");
        let (address, prefix) = text.split_once('/').ok_or_else(invalid)?;
        let address: Ipv4Addr = address.parse().map_err(|_| invalid())?;
        let prefix: u8 = prefix.parse().map_err(|_| invalid())?;
        Self::new(address, prefix).ok_or_else(invalid)
    }
}

/// The node-side veth name of a Pod namespace: `veth` and eight hex digits of
/// a hash of the namespace name, within the kernel's 15 characters.
pub fn host_veth_name(pod_netns: &str) -> String {
    let mut hash: u32 = 0x811c_9dc5;
    for byte in pod_netns.bytes() {
        hash ^= u32::from(byte);
        hash = hash.wrapping_mul(0x0100_0193);
    }
    format!("veth{hash:08x}")
}

/// The `ip` invocations that wire a Pod namespace to its node, in order.
pub fn setup_commands(
    node_netns: &str,
    pod_netns: &str,
    pod_ip: Ipv4Addr,
    gateway: Ipv4Addr,
) -> Vec<Vec<String>> {
    let veth = host_veth_name(pod_netns);
    let (pod, gateway) = (format!("{pod_ip}/32"), format!("{gateway}/32"));
    let lines = [
        format!("netns add {pod_netns}"),
        format!("-n {pod_netns} link set lo up"),
        format!("-n {node_netns} link add {veth} type veth peer name eth0 netns {pod_netns}"),
        format!("-n {node_netns} addr add {gateway} dev {veth}"),
        format!("-n {node_netns} link set {veth} up"),
        format!("-n {pod_netns} addr add {pod} dev eth0"),
        format!("-n {pod_netns} link set eth0 up"),
        format!("-n {pod_netns} route add {gateway} dev eth0 scope link"),
        format!(
            "-n {pod_netns} route add default via {} dev eth0",
            gateway.trim_end_matches("/32")
        ),
        format!("-n {node_netns} route add {pod} dev {veth} scope link"),
    ];
    lines
        .iter()
        .map(|line| line.split(' ').map(str::to_owned).collect())
        .collect()
}

/// A Pod's network namespace wired to its node; removed by [`Self::delete`]
/// or when dropped.
#[derive(Debug)]
pub struct PodNetwork {
    node_netns: String,
    pod_netns: String,
    pod_ip: Ipv4Addr,
    gateway: Ipv4Addr,
    deleted: bool,
}

impl PodNetwork {
    /// Creates namespace `pod_netns` with address `pod_ip`, wired to
    /// `node_netns` through `gateway` (the pod CIDR's
    /// [`Ipv4Cidr::gateway`]). On failure nothing is left behind. It runs
    /// `ip` a few times and blocks meanwhile (milliseconds); async callers
    /// that must not block may use `spawn_blocking`.
    pub fn create(
        node_netns: &str,
        pod_netns: &str,
        pod_ip: Ipv4Addr,
        gateway: Ipv4Addr,
    ) -> Result<Self, KubeletError> {
        let ip = require("ip", "iproute2")?;
        if !netns_path(node_netns).exists() {
            return Err(KubeletError::Netns {
                netns: node_netns.to_owned(),
                message: "the node namespace does not exist".to_owned(),
            });
        }
        let mut network = Self {
            node_netns: node_netns.to_owned(),
            pod_netns: pod_netns.to_owned(),
            pod_ip,
            gateway,
            deleted: true,
        };
        for (step, args) in setup_commands(node_netns, pod_netns, pod_ip, gateway)
            .iter()
            .enumerate()
        {
            let args: Vec<&str> = args.iter().map(String::as_str).collect();
            if let Err(error) = run(&ip, &args, IP_TIMEOUT) {
                // The namespace exists from the first step on, and is ours.
                if step > 0 {
                    network.deleted = false;
                    let _ = network.delete();
                }
                return Err(error);
            }
        }
        network.deleted = false;
        Ok(network)
    }

    /// The Pod's namespace.
    pub fn pod_netns(&self) -> &str {
        &self.pod_netns
    }

    /// The node's namespace.
    pub fn node_netns(&self) -> &str {
        &self.node_netns
    }

    /// The Pod's address.
    pub fn pod_ip(&self) -> Ipv4Addr {
        self.pod_ip
    }

    /// The gateway on the node side.
    pub fn gateway(&self) -> Ipv4Addr {
        self.gateway
    }

    /// Removes the node side of the veth (with its route) and the Pod
    /// namespace. Removing what is already gone is not an error.
    pub fn delete(&mut self) -> Result<(), KubeletError> {
        if self.deleted {
            return Ok(());
        }
        let ip = require("ip", "iproute2")?;
        let veth = host_veth_name(&self.pod_netns);
        if netns_path(&self.node_netns).exists() {
            let link = run(&ip, &["-n", &self.node_netns, "link", "del", &veth], IP_TIMEOUT);
            if let Err(error) = link
                && !error.to_string().contains("Cannot find device")
            {
                return Err(error);
            }
        }
        if netns_path(&self.pod_netns).exists() {
            run(&ip, &["netns", "del", &self.pod_netns], IP_TIMEOUT)?;
        }
        self.deleted = true;
        Ok(())
    }
}

impl Drop for PodNetwork {
    fn drop(&mut self) {
        if let Err(error) = self.delete() {
            tracing::warn!(%error, netns = %self.pod_netns, "cannot remove a pod network namespace");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cidrs_parse_and_allocate_past_the_gateway() {
        let cidr: Ipv4Cidr = "10.244.1.77/24".parse().expect("cidr");
        assert_eq!(cidr.to_string(), "10.244.1.0/24");
        assert_eq!(cidr.gateway(), Ipv4Addr::new(10, 244, 1, 1));
        assert_eq!(cidr.allocate(&[]), Some(Ipv4Addr::new(10, 244, 1, 2)));
        assert_eq!(
            cidr.allocate(&[Ipv4Addr::new(10, 244, 1, 2), Ipv4Addr::new(10, 244, 1, 3)]),
            Some(Ipv4Addr::new(10, 244, 1, 4))
        );
        assert!(cidr.contains(Ipv4Addr::new(10, 244, 1, 255)));
        assert!(!cidr.contains(Ipv4Addr::new(10, 244, 2, 1)));
        let tiny: Ipv4Cidr = "10.0.0.0/30".parse().expect("cidr");
        assert_eq!(
            tiny.allocate(&[Ipv4Addr::new(10, 0, 0, 2)]),
            None,
            "no broadcast address"
        );
        assert!("10.0.0.0".parse::<Ipv4Cidr>().is_err());
        assert!("10.0.0.0/33".parse::<Ipv4Cidr>().is_err());
    }

    #[test]
    fn veth_names_fit_the_kernel_limit_and_differ_per_pod() {
        let a = host_veth_name("drmysql-e2e-1-kosmos-member-a-shop-orders-cloud-a");
        let b = host_veth_name("drmysql-e2e-1-kosmos-member-a-shop-orders-tencent");
        assert!(a.len() <= 15 && a.starts_with("veth"), "{a}");
        assert_ne!(a, b);
    }

    #[test]
    fn setup_routes_the_pod_through_the_gateway() {
        let commands: Vec<String> = setup_commands(
            "node",
            "pod",
            Ipv4Addr::new(10, 244, 1, 2),
            Ipv4Addr::new(10, 244, 1, 1),
        )
        .into_iter()
        .map(|args| args.join(" "))
        .collect();
        let veth = host_veth_name("pod");
        assert_eq!(commands[0], "netns add pod");
        assert!(commands.contains(&format!("-n node addr add 10.244.1.1/32 dev {veth}")));
        assert!(commands.contains(&"-n pod route add default via 10.244.1.1 dev eth0".to_owned()));
        assert_eq!(
            commands.last().map(String::as_str),
            Some(format!("-n node route add 10.244.1.2/32 dev {veth} scope link").as_str())
        );
    }
}
