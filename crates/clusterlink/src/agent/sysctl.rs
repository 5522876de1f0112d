//! The sysctls Kosmos sets for a VXLAN device, written under `/proc/sys`.
//!
//! - `net.ipv4.ip_forward = 1`: the node routes pod traffic into the tunnel.
//! - `rp_filter = 2` (loose) on the VXLAN device and its underlay: in gateway
//!   mode the path is asymmetric (a reply leaves through `vx-local` while the
//!   request came in from the CNI), and strict reverse-path filtering drops it.
//! - `disable_ipv6 = 0` on both, for the IPv6 devices.
//!
//! They are asserted on every pass, as Kosmos's watchdog does every 30 s, and
//! only written when they differ. They are not reverted on cleanup (Kosmos does
//! not either): other components on the node may rely on forwarding.
//!
//! The files are written with `std::fs` on the calling thread on purpose:
//! `/proc/sys/net` shows the network namespace of the thread that opens it,
//! and `tokio::fs` would open it on a blocking-pool thread, which may sit in
//! another namespace. The writes are a few bytes to procfs and do not block.

use std::path::PathBuf;

use super::error::AgentError;
use super::model::{Family, VxlanDevice};

/// One sysctl file and the value it must hold.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Sysctl {
    path: PathBuf,
    value: &'static str,
}

/// The sysctls a device needs (the device and bind-device names are validated
/// interface names, so they are safe path components).
pub(crate) fn for_device(device: &VxlanDevice) -> Vec<Sysctl> {
    let conf = |family: &str, dev: &str, key: &str, value| Sysctl {
        path: ["/proc/sys/net", family, "conf", dev, key].iter().collect(),
        value,
    };
    match device.family() {
        Family::V4 => vec![
            Sysctl {
                path: "/proc/sys/net/ipv4/ip_forward".into(),
                value: "1",
            },
            conf("ipv4", &device.name, "rp_filter", "2"),
            conf("ipv4", &device.bind_dev, "rp_filter", "2"),
        ],
        Family::V6 => vec![
            conf("ipv6", &device.name, "disable_ipv6", "0"),
            conf("ipv6", &device.bind_dev, "disable_ipv6", "0"),
        ],
    }
}

/// Writes each sysctl whose current value differs.
pub(crate) fn ensure(sysctls: &[Sysctl]) -> Result<(), AgentError> {
    for sysctl in sysctls {
        let error = |source| AgentError::Sysctl {
            path: sysctl.path.display().to_string(),
            source,
        };
        let current = std::fs::read_to_string(&sysctl.path).map_err(error)?;
        if current.trim() != sysctl.value {
            std::fs::write(&sysctl.path, sysctl.value).map_err(error)?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::agent::model::Mac;

    #[test]
    fn an_ipv4_device_gets_forwarding_and_loose_rp_filter_on_both_ends() {
        let device = VxlanDevice {
            name: "vx-bridge".into(),
            addr: "220.0.0.1/8".parse().expect("cidr"),
            mac: Mac([2, 0, 0, 0, 0, 1]),
            bind_dev: "eth0".into(),
            vni: 54,
            port: 4876,
        };
        let paths: Vec<String> = for_device(&device)
            .iter()
            .map(|s| format!("{}={}", s.path.display(), s.value))
            .collect();
        assert_eq!(
            paths,
            [
                "/proc/sys/net/ipv4/ip_forward=1",
                "/proc/sys/net/ipv4/conf/vx-bridge/rp_filter=2",
                "/proc/sys/net/ipv4/conf/eth0/rp_filter=2",
            ]
        );
    }
}
