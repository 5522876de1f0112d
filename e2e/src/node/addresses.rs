//! A node's bookkeeping of Pod addresses and Pod namespace names, kept apart
//! from the loops so that it can be tested without a machine: every Pod gets
//! the lowest free address of the node's pod CIDR (never the network, the
//! gateway or the broadcast address, never one another Pod holds), and a
//! network namespace name derived from the node's namespace and the Pod's
//! uid, unique per node and Pod and the same every time it is derived.

use std::collections::BTreeMap;
use std::net::Ipv4Addr;

use crate::kubelet::Ipv4Cidr;

/// The addresses of a node's pod CIDR that its Pods hold.
#[derive(Clone, Debug)]
pub struct PodAddresses {
    cidr: Ipv4Cidr,
    holders: BTreeMap<Ipv4Addr, String>,
}

impl PodAddresses {
    /// No address held yet.
    pub fn new(cidr: Ipv4Cidr) -> Self {
        Self {
            cidr,
            holders: BTreeMap::new(),
        }
    }

    /// The pod CIDR.
    pub fn cidr(&self) -> Ipv4Cidr {
        self.cidr
    }

    /// The lowest free address, now held by `holder` (a Pod uid); the
    /// address `holder` already holds, if any; `None` when the CIDR is full.
    pub fn allocate(&mut self, holder: &str) -> Option<Ipv4Addr> {
        if let Some(address) = self.held_by(holder) {
            return Some(address);
        }
        let in_use: Vec<Ipv4Addr> = self.holders.keys().copied().collect();
        let address = self.cidr.allocate(&in_use)?;
        self.holders.insert(address, holder.to_owned());
        Some(address)
    }

    /// The address `holder` holds.
    pub fn held_by(&self, holder: &str) -> Option<Ipv4Addr> {
        self.holders
            .iter()
            .find(|(_, owner)| owner.as_str() == holder)
            .map(|(address, _)| *address)
    }

    /// Frees `address` if `holder` holds it.
    pub fn release(&mut self, address: Ipv4Addr, holder: &str) {
        if self.holders.get(&address).map(String::as_str) == Some(holder) {
            self.holders.remove(&address);
        }
    }

    /// How many addresses are held.
    pub fn held(&self) -> usize {
        self.holders.len()
    }
}

/// 64-bit FNV-1a of `bytes`.
fn fnv1a64(bytes: impl Iterator<Item = u8>) -> u64 {
    bytes.fold(0xcbf2_9ce4_8422_2325, |hash, byte| {
        (hash ^ u64::from(byte)).wrapping_mul(0x0100_0000_01b3)
    })
}

/// The network namespace of Pod `pod_uid` on the node whose namespace is
/// `node_netns`: the node's namespace name, `-p` and 16 hex digits of a
/// hash of the uid. Unique wherever node namespaces are unique (equal Pod
/// names on other nodes or in other simulated clusters never collide),
/// recognisably the node's (whoever removes a dead run's node namespaces by
/// prefix removes its Pods' too), and the veth name
/// [`crate::kubelet::netns::host_veth_name`] derives from it stays short.
pub fn pod_netns_name(node_netns: &str, pod_uid: &str) -> String {
    format!("{node_netns}-p{:016x}", fnv1a64(pod_uid.bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_skip_the_gateway_and_are_never_shared() {
        let cidr: Ipv4Cidr = "10.244.3.0/29".parse().expect("cidr");
        let mut addresses = PodAddresses::new(cidr);
        let a = addresses.allocate("uid-a").expect("a");
        let b = addresses.allocate("uid-b").expect("b");
        assert_eq!(a, Ipv4Addr::new(10, 244, 3, 2), "the gateway .1 is skipped");
        assert_eq!(b, Ipv4Addr::new(10, 244, 3, 3));
        assert_eq!(addresses.allocate("uid-a"), Some(a), "a holder keeps its address");
        assert_eq!(addresses.held(), 2);
        // Another holder cannot release a's address.
        addresses.release(a, "uid-b");
        assert_eq!(addresses.held_by("uid-a"), Some(a));
        addresses.release(a, "uid-a");
        assert_eq!(addresses.allocate("uid-c"), Some(a), "a freed address is reused");
        // .4, .5, .6 remain; .7 is the broadcast address.
        for holder in ["d", "e", "f"] {
            assert!(addresses.allocate(holder).is_some());
        }
        assert_eq!(addresses.allocate("g"), None, "the CIDR is full");
        assert!(addresses.held_by("g").is_none());
    }

    #[test]
    fn namespace_names_are_short_stable_and_distinct() {
        let uid = "0f0e2c1a-0000-4000-8000-00000000e2e0";
        let name = pod_netns_name("drm-e2e-4242-0-member-a-n0", uid);
        assert!(name.starts_with("drm-e2e-4242-0-member-a-n0-p"), "{name}");
        assert_eq!(name.len(), "drm-e2e-4242-0-member-a-n0".len() + 18);
        assert_eq!(name, pod_netns_name("drm-e2e-4242-0-member-a-n0", uid));
        assert_ne!(name, pod_netns_name("drm-e2e-4242-0-member-b-n0", uid));
        assert_ne!(
            name,
            pod_netns_name(
                "drm-e2e-4242-0-member-a-n0",
                "0f0e2c1a-0000-4000-8000-00000000e2e1"
            )
        );
    }
}
