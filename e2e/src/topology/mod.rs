//! The sandbox's network: real Linux network namespaces standing in for the
//! nodes of several Kubernetes clusters and the network between them, so that
//! the clusterlink agent builds its VXLAN tunnel between real kernels and a
//! scenario can break that network the way a data-centre failure would.
//!
//! One [`Topology`] is an underlay bridge (its own namespace) with the root
//! namespace on it at [`Topology::api_address`], where the sandbox binds its
//! API simulators, and one namespace per node with `eth0` on the bridge and
//! plain routes to its cluster's other pod CIDRs (what a CNI would provide).
//! Faults: [`Topology::partition_cluster`] cuts a cluster off the underlay,
//! [`Topology::block_tunnel`] drops only a node's VXLAN traffic.
//!
//! Several topologies coexist on one machine (parallel tests, a test beside
//! the demo): each reserves its underlay id by creating the root-namespace
//! link `drm-ul<id>`, which the kernel refuses when another holds it. Names
//! carry the creating pid, so what a killed run left is recognised and
//! removed ([`Topology::remove_stale`]).
//!
//! The address plan, names and command lists ([`plan`], [`commands`],
//! [`tunnel`], [`stale`]) are pure and unit-tested; the namespace layer
//! ([`namespaces`], [`faults`]) is tested for real in `e2e/tests/topology.rs`
//! (root, `ip` and `iptables` required).

pub mod commands;
pub mod error;
pub mod faults;
pub mod namespaces;
pub mod plan;
pub mod stale;
pub mod tools;
pub mod tunnel;

pub use error::TopologyError;
pub use namespaces::{NodeNet, Topology};
pub use tunnel::{TUNNEL_CHAIN, TUNNEL_PORTS};
