//! The privileges and programs the topology needs, and running them with a
//! time bound (through the kubelet's [`run`](crate::kubelet::command::run)).

use std::path::PathBuf;

use super::error::TopologyError;
use crate::kubelet::command::{IP_TIMEOUT, run, which};
use crate::kubelet::netns::within;

/// `ip` and `iptables`, found once.
#[derive(Clone, Debug)]
pub struct Tools {
    ip: PathBuf,
    iptables: PathBuf,
}

/// The effective uid, from `/proc/self/status`.
fn effective_uid() -> Option<u32> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let ids = status.lines().find_map(|line| line.strip_prefix("Uid:"))?;
    ids.split_whitespace().nth(1)?.parse().ok()
}

impl Tools {
    /// Checks for root, `ip` and `iptables`, naming everything missing at
    /// once.
    pub fn find() -> Result<Self, TopologyError> {
        let mut missing = Vec::new();
        if effective_uid() != Some(0) {
            missing.push("root (it creates network namespaces, links and iptables rules)".to_owned());
        }
        let ip = which("ip");
        if ip.is_none() {
            missing.push("`ip` in PATH (Debian package iproute2)".to_owned());
        }
        let iptables = which("iptables");
        if iptables.is_none() {
            missing.push("`iptables` in PATH (Debian package iptables)".to_owned());
        }
        match (ip, iptables) {
            (Some(ip), Some(iptables)) if missing.is_empty() => Ok(Self { ip, iptables }),
            _ => Err(TopologyError::Missing(missing)),
        }
    }

    /// Runs `ip args`, returning its stdout.
    pub fn ip(&self, args: &[String]) -> Result<String, TopologyError> {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        Ok(run(&self.ip, &args, IP_TIMEOUT)?)
    }

    /// Runs `iptables -w args` inside `netns`.
    pub fn iptables_in(&self, netns: &str, args: &[String]) -> Result<(), TopologyError> {
        let mut full = vec!["-w"];
        full.extend(args.iter().map(String::as_str));
        within(netns, || run(&self.iptables, &full, IP_TIMEOUT))??;
        Ok(())
    }

    /// `iptables -w -S` (table filter) inside `netns`.
    pub fn iptables_rules(&self, netns: &str) -> Result<String, TopologyError> {
        Ok(within(netns, || run(&self.iptables, &["-w", "-S"], IP_TIMEOUT))??)
    }
}

/// Sets `net.ipv4.ip_forward` to 1 inside `netns`: `/proc/sys/net` shows the
/// namespace of the thread that opens it.
pub fn enable_forwarding(netns: &str) -> Result<(), TopologyError> {
    let path = "/proc/sys/net/ipv4/ip_forward";
    within(netns, || std::fs::write(path, "1"))?.map_err(|error| {
        TopologyError::Netns(format!("network namespace {netns}: cannot write {path}: {error}"))
    })
}
