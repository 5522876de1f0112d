//! Table-driven tests of the network manager, one file per concern. The
//! fixtures build small Kosmos-shaped inputs; the expectations are written out
//! by hand from Kosmos's semantics, never computed by the code under test.

mod avoid_masq;
mod churn;
mod cross_vpc;
mod determinism;
mod excluded;
mod fixtures;
mod gateway;
mod global_map;
mod golden;
mod ipsec;
mod ipv6;
mod mac;
mod mixed;
mod p2p;
