//! The way out of the sandbox to a real host API server
//! (`DRMYSQL_E2E_KUBECONFIG`). Node namespaces only reach the underlay; the
//! components in them must reach the API server wherever it is, as they would
//! from a cluster's nodes. So each node gets a default route to the root
//! namespace's end of the underlay, and the root namespace forwards and
//! masquerades the underlay's traffic to anything outside it. Everything is
//! undone when the uplink is dropped (the node routes go with their
//! namespaces).

use std::net::Ipv4Addr;

use super::error::SandboxError;
use crate::kubelet::command::{IP_TIMEOUT, require, run};
use crate::kubelet::netns::Ipv4Cidr;

const IP_FORWARD: &str = "/proc/sys/net/ipv4/ip_forward";

/// The root namespace's NAT rule for `underlay`: `iptables -t nat` arguments
/// after the verb.
pub fn masquerade_rule(underlay: Ipv4Cidr) -> Vec<String> {
    [
        "POSTROUTING",
        "-s",
        &underlay.to_string(),
        "!",
        "-d",
        &underlay.to_string(),
        "-m",
        "comment",
        "--comment",
        "drmysql-e2e sandbox uplink",
        "-j",
        "MASQUERADE",
    ]
    .iter()
    .map(|word| (*word).to_owned())
    .collect()
}

/// Routes and NAT from the node namespaces to the outside; removed on drop.
#[derive(Debug)]
pub struct Uplink {
    rule: Vec<String>,
    previous_forwarding: String,
}

impl Uplink {
    /// Gives every namespace of `node_namespaces` a default route via
    /// `gateway` (the root namespace's underlay address) and lets the root
    /// namespace forward and masquerade traffic from `underlay`.
    pub fn open(
        node_namespaces: &[String],
        gateway: Ipv4Addr,
        underlay: Ipv4Cidr,
    ) -> Result<Self, SandboxError> {
        let ip = require("ip", "iproute2").map_err(SandboxError::part("the uplink"))?;
        let iptables = require("iptables", "iptables").map_err(SandboxError::part("the uplink"))?;
        for netns in node_namespaces {
            run(
                &ip,
                &[
                    "-n",
                    netns,
                    "route",
                    "replace",
                    "default",
                    "via",
                    &gateway.to_string(),
                ],
                IP_TIMEOUT,
            )
            .map_err(SandboxError::part(format!("a default route in {netns}")))?;
        }
        let previous_forwarding = std::fs::read_to_string(IP_FORWARD)
            .map_err(|error| SandboxError::Io {
                what: format!("cannot read {IP_FORWARD}"),
                error,
            })?
            .trim()
            .to_owned();
        let rule = masquerade_rule(underlay);
        let mut add = vec!["-w", "-t", "nat", "-A"];
        add.extend(rule.iter().map(String::as_str));
        run(&iptables, &add, IP_TIMEOUT).map_err(SandboxError::part("the uplink's MASQUERADE rule"))?;
        let uplink = Self {
            rule,
            previous_forwarding,
        };
        std::fs::write(IP_FORWARD, "1").map_err(|error| SandboxError::Io {
            what: format!("cannot enable forwarding in {IP_FORWARD}"),
            error,
        })?;
        Ok(uplink)
    }
}

impl Drop for Uplink {
    fn drop(&mut self) {
        if let Ok(iptables) = require("iptables", "iptables") {
            let mut delete = vec!["-w", "-t", "nat", "-D"];
            delete.extend(self.rule.iter().map(String::as_str));
            if let Err(error) = run(&iptables, &delete, IP_TIMEOUT) {
                tracing::warn!(%error, "cannot remove the sandbox uplink's MASQUERADE rule");
            }
        }
        if let Err(error) = std::fs::write(IP_FORWARD, &self.previous_forwarding) {
            tracing::warn!(%error, "cannot restore {IP_FORWARD}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_traffic_leaving_the_underlay_is_masqueraded() {
        let underlay: Ipv4Cidr = "198.18.7.0/24".parse().expect("cidr");
        assert_eq!(
            masquerade_rule(underlay).join(" "),
            "POSTROUTING -s 198.18.7.0/24 ! -d 198.18.7.0/24 -m comment --comment drmysql-e2e sandbox uplink -j MASQUERADE"
        );
    }
}
