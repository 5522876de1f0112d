//! The node agent's kernel layer: it makes one node's kernel match its
//! NodeConfig, level-triggered, touching only what the agent owns.
//!
//! Each [`Agent::apply`] reads the live state the agent owns (its VXLAN
//! devices, the table-200 routes through them, their FDB and permanent ARP
//! entries, its iptables chains, its ipset and the xfrm entries of its request
//! id), compares it with the valid entries of the NodeConfig and converges, in
//! Kosmos's order: delete what is unwanted (ARP, FDB, iptables, routes, xfrm,
//! devices), then create what is missing (devices, ARP, FDB, iptables, routes,
//! xfrm). Nothing is updated in place: a changed entry is deleted and created.
//! The agent keeps no memory between passes, so a restarted agent, or one
//! that finds an entry removed by hand, converges the same way.
//!
//! Bad input and kernel failures stay local (design principle 5): an invalid
//! entry, or one the kernel refuses, becomes an `EntryError` in the
//! [`ApplyReport`], and every other entry is applied all the same.
//! [`Agent::cleanup`] removes everything the agent owns and nothing else
//! (principle 7), for when the NodeConfig goes away.
//!
//! Module map: [`mod@validate`] and [`rule`] decide (pure); [`model`] is the
//! vocabulary; `netlink`, `device`, `route` and `neigh` speak rtnetlink;
//! `iptables`, `ipset` and `xfrm` drive the tools through `command`;
//! `sysctl` writes `/proc/sys`.

mod command;
mod device;
mod error;
mod ipset;
mod iptables;
pub mod model;
mod neigh;
mod netlink;
mod route;
pub mod rule;
mod sysctl;
pub mod validate;
mod xfrm;

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::fmt;
use std::time::Duration;

use drmysql_api::clusterlink::{EntryError, EntryKind, NodeConfigSpec};

pub use command::Tools;
pub use error::AgentError;
pub use iptables::FORWARD_CHAIN;
pub use validate::{Validated, validate};
pub use xfrm::{AEAD_ALGORITHM, ICV_BITS};

use model::{ArpEntry, Family, FdbEntry, NatChain, Phase, TableRoute, VxlanDevice};
use netlink::{ActualDevice, Links, Netlink};

/// How long one netlink request or one tool may take before it counts as
/// failed, unless set with [`Agent::with_timeout`].
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);

/// The IPsec pre-shared key, from which every pair's ESP keys are derived.
///
/// `Debug` prints `PreSharedKey(<redacted>)` and the bytes are zeroed when it
/// is dropped, so it cannot end up in a log line by accident.
pub struct PreSharedKey(Vec<u8>);

impl PreSharedKey {
    /// Wraps the key bytes (the content of the PSK Secret).
    pub fn new(bytes: Vec<u8>) -> Self {
        Self(bytes)
    }

    fn bytes(&self) -> &[u8] {
        &self.0
    }
}

impl fmt::Debug for PreSharedKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("PreSharedKey(<redacted>)")
    }
}

impl Drop for PreSharedKey {
    fn drop(&mut self) {
        self.0.fill(0);
        std::hint::black_box(&self.0);
    }
}

/// What one [`Agent::apply`] did.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ApplyReport {
    /// NodeConfig entries that are in place after the pass.
    pub applied: usize,
    /// NodeConfig entries that are not: invalid ones and those the kernel
    /// refused.
    pub failed: usize,
    /// Kernel entries created in this pass.
    pub created: usize,
    /// Kernel entries the agent owned but the NodeConfig no longer wants (or
    /// wants changed), deleted in this pass.
    pub deleted: usize,
    /// Why each failed entry failed, plus owned entries that could not be
    /// deleted.
    pub errors: Vec<EntryError>,
}

/// The node agent's kernel layer for the network namespace it was created in.
pub struct Agent {
    netlink: Netlink,
    connection: tokio::task::JoinHandle<()>,
    node_name: String,
    psk: Option<PreSharedKey>,
    tools: Tools,
    timeout: Duration,
}

impl fmt::Debug for Agent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Agent")
            .field("node_name", &self.node_name)
            .field("psk", &self.psk)
            .field("tools", &self.tools)
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

impl Drop for Agent {
    fn drop(&mut self) {
        self.connection.abort();
    }
}

impl Agent {
    /// An agent for the node whose ClusterNode is `node_name`, in the network
    /// namespace of the calling thread. It must be called inside a tokio
    /// runtime, which runs its netlink connection. Without `psk`, xfrm states
    /// are reported as errors and existing ones are left alone.
    pub fn new(node_name: impl Into<String>, psk: Option<PreSharedKey>) -> Result<Self, AgentError> {
        let runtime =
            tokio::runtime::Handle::try_current().map_err(|e| AgentError::NoRuntime(e.to_string()))?;
        let (connection, handle, _messages) = rtnetlink::new_connection().map_err(AgentError::Connection)?;
        let connection = runtime.spawn(connection);
        Ok(Self {
            netlink: Netlink {
                handle,
                timeout: DEFAULT_TIMEOUT,
            },
            connection,
            node_name: node_name.into(),
            psk,
            tools: Tools::default(),
            timeout: DEFAULT_TIMEOUT,
        })
    }

    /// Uses these programs instead of the ones found in `PATH`.
    pub fn with_tools(mut self, tools: Tools) -> Self {
        self.tools = tools;
        self
    }

    /// Bounds every netlink request and every tool run by `timeout`.
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self.netlink.timeout = timeout;
        self
    }

    /// The ClusterNode name the agent derives IPsec keys for.
    pub fn node_name(&self) -> &str {
        &self.node_name
    }

    /// Makes the kernel match the valid entries of `spec`. Never fails as a
    /// whole: what could not be done is in [`ApplyReport::errors`].
    pub async fn apply(&mut self, spec: &NodeConfigSpec) -> ApplyReport {
        let valid = validate(spec, &self.node_name);
        let mut pass = Pass::new(&valid);
        self.converge(&valid, &mut pass).await;
        let report = pass.finish(&valid);
        tracing::info!(
            applied = report.applied,
            failed = report.failed,
            created = report.created,
            deleted = report.deleted,
            "applied NodeConfig"
        );
        report
    }

    /// Removes everything the agent owns: its iptables chains and the jumps
    /// to them, its ipsets, the xfrm policies and states of its request id,
    /// its devices (with their routes and neighbours) and its ip rules.
    /// Nothing else is touched. Returns how many objects were removed; when
    /// some part fails the rest is still removed and the error lists every
    /// failure.
    pub async fn cleanup(&mut self) -> Result<usize, AgentError> {
        let mut removed = 0;
        let mut failures = Vec::new();
        for family in [Family::V4, Family::V6] {
            match iptables::cleanup(&self.tools, family, self.timeout).await {
                Ok(chains) => removed += chains,
                Err(AgentError::Spawn { source, .. }) if source.kind() == std::io::ErrorKind::NotFound => {}
                Err(error) => failures.push(error),
            }
        }
        match ipset::read(&self.tools, self.timeout).await {
            Ok(sets) => {
                for (family, members) in sets {
                    match ipset::destroy(&self.tools, model::set_for(family), self.timeout).await {
                        Ok(()) => removed += members.len(),
                        Err(error) => failures.push(error),
                    }
                }
            }
            Err(AgentError::Spawn { source, .. }) if source.kind() == std::io::ErrorKind::NotFound => {}
            Err(error) => failures.push(error),
        }
        match xfrm::cleanup(&self.tools, self.timeout).await {
            Ok(count) => removed += count,
            Err(error) => failures.push(error),
        }
        match self.netlink.snapshot().await {
            Ok(links) => {
                for device in links.owned_devices() {
                    match device::delete(&self.netlink, device.index, &device.name).await {
                        Ok(()) => removed += 1,
                        Err(error) => failures.push(error),
                    }
                }
            }
            Err(error) => failures.push(error),
        }
        match device::read_rules(&self.netlink).await {
            Ok(rules) => {
                for rule in rules {
                    match device::delete_rule(&self.netlink, &rule).await {
                        Ok(()) => removed += 1,
                        Err(error) => failures.push(error),
                    }
                }
            }
            Err(error) => failures.push(error),
        }
        tracing::info!(
            removed,
            failures = failures.len(),
            "cleaned up everything the agent owns"
        );
        if failures.is_empty() {
            Ok(removed)
        } else {
            Err(AgentError::Incomplete(failures))
        }
    }

    async fn converge(&self, valid: &Validated, pass: &mut Pass) {
        let nl = &self.netlink;
        let net = NetPlan::read(nl, valid).await;
        if let Some(error) = &net.read_error {
            for device in &valid.devices {
                pass.fail(EntryKind::Device, device.to_string(), error);
            }
            self.fail_netlink_creates(valid, error, pass);
        }

        // Deletes, in Kosmos's order.
        for entry in &net.arp_deletes {
            match neigh::delete_arp(nl, entry).await {
                Ok(()) => pass.deleted += 1,
                Err(error) => pass.delete_failed(EntryKind::Arp, neigh::describe_arp(entry), &error),
            }
        }
        for entry in &net.fdb_deletes {
            match neigh::delete_fdb(nl, entry).await {
                Ok(()) => pass.deleted += 1,
                Err(error) => pass.delete_failed(EntryKind::Fdb, neigh::describe_fdb(entry), &error),
            }
        }
        let ipset_state = ipset::read(&self.tools, self.timeout).await;
        let set_plan = ipset_state
            .as_ref()
            .ok()
            .map(|state| ipset::plan(&valid.avoid_masq, state));
        // A table or xfrm listing that the delete phase read and left as it
        // was is planned from again in the create phase instead of being
        // read again: in a pass with nothing to delete that saves six tool
        // runs, most of the cost of a no-op resync.
        let families = Self::iptables_desired(valid);
        let mut iptables_unchanged = BTreeMap::new();
        for desired in &families {
            let mut outcome =
                iptables::run_phase(&self.tools, desired, Phase::Delete, None, self.timeout).await;
            if let Some(state) = outcome.unchanged.take() {
                iptables_unchanged.insert(desired.family, state);
            }
            self.record_iptables(desired, outcome, Phase::Delete, pass);
        }
        if let Some(plan) = &set_plan {
            let outcomes = ipset::execute(&self.tools, &plan.deletes, self.timeout).await;
            for (line, outcome) in plan.deletes.iter().zip(outcomes) {
                match outcome {
                    None => pass.deleted += 1,
                    Some(error) => pass.delete_failed(EntryKind::IpsetAvoidMasq, line.text.clone(), &error),
                }
            }
            for set in &plan.destroys {
                let members = ipset_state.as_ref().ok().and_then(|state| {
                    state
                        .iter()
                        .find(|(family, _)| model::set_for(**family) == *set)
                        .map(|(_, m)| m.len())
                });
                match ipset::destroy(&self.tools, set, self.timeout).await {
                    Ok(()) => pass.deleted += members.unwrap_or(0),
                    Err(error) => {
                        pass.delete_failed(EntryKind::IpsetAvoidMasq, format!("ipset {set}"), &error)
                    }
                }
            }
        }
        for route in &net.route_deletes {
            match route::delete(nl, route).await {
                Ok(()) => pass.deleted += 1,
                Err(error) => pass.delete_failed(EntryKind::Route, route.describe(), &error),
            }
        }
        // Without a PSK no state is written, but the states in place that
        // match wanted ones are kept (see `xfrm::plan`).
        let psk = self.psk.as_ref().map(PreSharedKey::bytes);
        let wanted_xfrm = xfrm::Wanted {
            policies: &valid.xfrm_policies,
            states: &valid.xfrm_states,
            own_node: &self.node_name,
            psk,
        };
        let mut outcome = xfrm::run_phase(&self.tools, &wanted_xfrm, Phase::Delete, None, self.timeout).await;
        let xfrm_unchanged = outcome.unchanged.take();
        Self::record_xfrm(valid, outcome, Phase::Delete, pass);
        for device in &net.device_deletes {
            match device::delete(nl, device.index, &device.name).await {
                Ok(()) => pass.deleted += 1,
                Err(error) => pass.delete_failed(EntryKind::Device, device.name.clone(), &error),
            }
        }
        let rule_families: BTreeSet<Family> = valid.devices.iter().map(VxlanDevice::family).collect();
        match &net.rules {
            _ if net.read_error.is_some() => {}
            Ok(rules) => {
                let mut seen = BTreeSet::new();
                for rule in rules {
                    if rule_families.contains(&rule.family) && seen.insert(rule.family) {
                        continue;
                    }
                    if let Err(error) = device::delete_rule(nl, rule).await {
                        let what = format!("{} rule pref 200 lookup 200", rule.family.label());
                        pass.delete_failed(EntryKind::Device, what, &error);
                    }
                }
            }
            Err(error) => {
                for device in &valid.devices {
                    pass.fail(EntryKind::Device, device.to_string(), error);
                }
            }
        }

        // Creates, in Kosmos's order.
        let links_before = net.links.clone();
        for device in &net.device_creates {
            match device::create(nl, &links_before, device).await {
                Ok(()) => pass.created += 1,
                Err(error) => pass.fail(EntryKind::Device, device.to_string(), &error),
            }
        }
        let links = if net.device_creates.is_empty() {
            Ok(links_before)
        } else {
            nl.snapshot().await
        };
        let links = match links {
            Ok(links) => links,
            Err(error) => {
                self.fail_netlink_creates(valid, &error, pass);
                Links::default()
            }
        };
        if let (Ok(rules), None) = (&net.rules, &net.read_error) {
            let present: BTreeSet<Family> = rules.iter().map(|rule| rule.family).collect();
            for family in rule_families.difference(&present) {
                if let Err(error) = device::add_rule(nl, *family).await {
                    for device in valid.devices.iter().filter(|device| device.family() == *family) {
                        pass.fail(EntryKind::Device, device.to_string(), &error);
                    }
                }
            }
        }
        for device in &valid.devices {
            if links.index_of(&device.name).is_some()
                && let Err(error) = sysctl::ensure(&sysctl::for_device(device))
            {
                pass.fail(EntryKind::Device, device.to_string(), &error);
            }
        }
        for entry in &net.arp_creates {
            if let Err(error) = neigh::add_arp(nl, &links, entry).await {
                pass.fail(EntryKind::Arp, entry.to_string(), &error);
            } else {
                pass.created += 1;
            }
        }
        for entry in &net.fdb_creates {
            if let Err(error) = neigh::add_fdb(nl, &links, entry).await {
                pass.fail(EntryKind::Fdb, entry.to_string(), &error);
            } else {
                pass.created += 1;
            }
        }
        let mut failed_sets = BTreeSet::new();
        match (&ipset_state, &set_plan) {
            (Err(error), _) => {
                for entry in &valid.avoid_masq {
                    pass.fail(EntryKind::IpsetAvoidMasq, entry.to_string(), error);
                    failed_sets.insert(entry.set_name());
                }
            }
            (Ok(_), Some(plan)) => {
                let outcomes = ipset::execute(&self.tools, &plan.creates, self.timeout).await;
                for (line, outcome) in plan.creates.iter().zip(outcomes) {
                    match (outcome, line.cidr) {
                        (None, Some(_)) => pass.created += 1,
                        (None, None) => {}
                        (Some(error), Some(cidr)) => {
                            let entry = model::AvoidMasqEntry { cidr };
                            pass.fail(EntryKind::IpsetAvoidMasq, entry.to_string(), &error);
                        }
                        (Some(error), None) => {
                            failed_sets.insert(line.set);
                            for entry in valid
                                .avoid_masq
                                .iter()
                                .filter(|entry| entry.set_name() == line.set)
                            {
                                pass.fail(EntryKind::IpsetAvoidMasq, entry.to_string(), &error);
                            }
                        }
                    }
                }
            }
            (Ok(_), None) => {}
        }
        let mut families = Self::iptables_desired(valid);
        for desired in &mut families {
            desired.avoid_masq = desired.avoid_masq && !failed_sets.contains(model::set_for(desired.family));
            let known = iptables_unchanged.remove(&desired.family);
            let outcome = iptables::run_phase(&self.tools, desired, Phase::Create, known, self.timeout).await;
            self.record_iptables(desired, outcome, Phase::Create, pass);
        }
        for entry in &net.route_creates {
            if let Err(error) = route::add(nl, &links, entry).await {
                pass.fail(EntryKind::Route, entry.to_string(), &error);
            } else {
                pass.created += 1;
            }
        }
        if psk.is_none() {
            let error = AgentError::Precondition("no IPsec PSK configured".into());
            for state in &valid.xfrm_states {
                pass.fail(EntryKind::XfrmState, state.to_string(), &error);
            }
        }
        let outcome = xfrm::run_phase(
            &self.tools,
            &wanted_xfrm,
            Phase::Create,
            xfrm_unchanged,
            self.timeout,
        )
        .await;
        Self::record_xfrm(valid, outcome, Phase::Create, pass);
    }

    fn fail_netlink_creates(&self, valid: &Validated, error: &AgentError, pass: &mut Pass) {
        for route in &valid.routes {
            pass.fail(EntryKind::Route, route.to_string(), error);
        }
        for fdb in &valid.fdbs {
            pass.fail(EntryKind::Fdb, fdb.to_string(), error);
        }
        for arp in &valid.arps {
            pass.fail(EntryKind::Arp, arp.to_string(), error);
        }
    }

    /// What each family's tables should hold. The avoid-masquerade rule is
    /// wanted whenever CIDRs of the family are; before the create phase the
    /// caller also requires the set to exist.
    fn iptables_desired(valid: &Validated) -> Vec<iptables::FamilyDesired> {
        [Family::V4, Family::V6]
            .into_iter()
            .map(|family| iptables::FamilyDesired {
                family,
                rules: valid
                    .iptables
                    .iter()
                    .filter(|rule| rule.family == family)
                    .cloned()
                    .collect(),
                avoid_masq: valid
                    .avoid_masq
                    .iter()
                    .any(|entry| model::set_for(family) == entry.set_name()),
                forward_devices: valid
                    .devices
                    .iter()
                    .filter(|device| device.family() == family)
                    .map(|device| device.name.clone())
                    .collect(),
            })
            .collect()
    }

    fn record_iptables(
        &self,
        desired: &iptables::FamilyDesired,
        outcome: iptables::PhaseOutcome,
        phase: Phase,
        pass: &mut Pass,
    ) {
        let family = desired.family;
        let devices_of = |pass: &mut Pass, error: &AgentError| {
            for device in &desired.forward_devices {
                pass.fail_device(device, error);
            }
        };
        if let Some(error) = outcome.read_error {
            // A node without IPv6 iptables is normal while nothing of IPv6 is
            // wanted; IPv4 iptables is always expected.
            let wanted =
                !desired.rules.is_empty() || desired.avoid_masq || !desired.forward_devices.is_empty();
            match phase {
                _ if !wanted && family == Family::V6 => {
                    tracing::debug!(%error, "ip6tables not readable; nothing of IPv6 is wanted");
                }
                Phase::Delete => {
                    let what = format!("the agent's {} iptables chains", family.label());
                    pass.delete_failed(EntryKind::Iptables, what, &error);
                }
                Phase::Create => {
                    for rule in &desired.rules {
                        pass.fail(EntryKind::Iptables, rule.to_string(), &error);
                    }
                    pass.fail_avoid_masq(family, &error);
                    devices_of(pass, &error);
                }
            }
            return;
        }
        for (line, error) in outcome.lines {
            match (line.origin, error) {
                (iptables::Origin::StaleRule(_), None) => pass.deleted += 1,
                (iptables::Origin::StaleRule(rule), Some(error)) => {
                    pass.delete_failed(EntryKind::Iptables, rule, &error);
                }
                (iptables::Origin::Rule(_), None) => pass.created += 1,
                (iptables::Origin::Rule(rule), Some(error)) => {
                    pass.fail(EntryKind::Iptables, rule.to_string(), &error);
                }
                (
                    iptables::Origin::Chain { .. }
                    | iptables::Origin::AvoidMasq
                    | iptables::Origin::Forward(_),
                    None,
                ) => {}
                (iptables::Origin::Chain { own, .. }, Some(error)) => {
                    if phase == Phase::Delete {
                        pass.delete_failed(EntryKind::Iptables, own.to_string(), &error);
                    } else if own == iptables::FORWARD_CHAIN {
                        devices_of(pass, &error);
                    } else {
                        for rule in desired.rules.iter().filter(|rule| rule.chain.own() == own) {
                            pass.fail(EntryKind::Iptables, rule.to_string(), &error);
                        }
                        if own == NatChain::Postrouting.own() {
                            pass.fail_avoid_masq(family, &error);
                        }
                    }
                }
                (iptables::Origin::AvoidMasq, Some(error)) => {
                    if phase == Phase::Delete {
                        let what = iptables::avoid_masq_rule(family);
                        pass.delete_failed(EntryKind::IpsetAvoidMasq, what, &error);
                    } else {
                        pass.fail_avoid_masq(family, &error);
                    }
                }
                (iptables::Origin::Forward(device), Some(error)) => {
                    if phase == Phase::Delete {
                        pass.delete_failed(EntryKind::Device, format!("{FORWARD_CHAIN}: {device}"), &error);
                    } else {
                        pass.fail_device(&device, &error);
                    }
                }
            }
        }
    }

    /// Records an xfrm phase. When the entries cannot be listed, the delete
    /// phase reports that stale entries may remain, and the create phase
    /// fails every wanted entry.
    fn record_xfrm(valid: &Validated, outcome: xfrm::PhaseOutcome, phase: Phase, pass: &mut Pass) {
        if let Some(error) = outcome.read_error {
            if phase == Phase::Delete {
                let what = "xfrm policies and states of the agent's reqid".to_string();
                pass.delete_failed(EntryKind::XfrmPolicy, what, &error);
            } else {
                for policy in &valid.xfrm_policies {
                    pass.fail(EntryKind::XfrmPolicy, policy.to_string(), &error);
                }
                for state in &valid.xfrm_states {
                    pass.fail(EntryKind::XfrmState, state.to_string(), &error);
                }
            }
            return;
        }
        for (origin, error) in outcome.commands {
            match (origin, error) {
                (xfrm::Origin::Policy(_) | xfrm::Origin::State(_), None) => pass.created += 1,
                (xfrm::Origin::StalePolicy(_) | xfrm::Origin::StaleState(_), None) => pass.deleted += 1,
                (xfrm::Origin::Policy(policy), Some(error)) => {
                    pass.fail(EntryKind::XfrmPolicy, policy.to_string(), &error);
                }
                (xfrm::Origin::State(state), Some(error)) => {
                    pass.fail(EntryKind::XfrmState, state.to_string(), &error)
                }
                (xfrm::Origin::StalePolicy(policy), Some(error)) => {
                    pass.delete_failed(EntryKind::XfrmPolicy, policy, &error);
                }
                (xfrm::Origin::StaleState(state), Some(error)) => {
                    pass.delete_failed(EntryKind::XfrmState, state, &error);
                }
            }
        }
    }
}

/// The rtnetlink part of a pass: what is there, and what to delete and create.
struct NetPlan {
    links: Links,
    read_error: Option<AgentError>,
    device_deletes: Vec<ActualDevice>,
    device_creates: Vec<VxlanDevice>,
    route_deletes: Vec<route::ActualRoute>,
    route_creates: Vec<TableRoute>,
    fdb_deletes: Vec<neigh::ActualNeighbour<FdbEntry>>,
    fdb_creates: Vec<FdbEntry>,
    arp_deletes: Vec<neigh::ActualNeighbour<ArpEntry>>,
    arp_creates: Vec<ArpEntry>,
    rules: Result<Vec<device::ActualRule>, AgentError>,
}

impl NetPlan {
    async fn read(nl: &Netlink, valid: &Validated) -> Self {
        let links = match nl.snapshot().await {
            Ok(links) => links,
            Err(error) => {
                return Self {
                    links: Links::default(),
                    read_error: Some(error),
                    device_deletes: Vec::new(),
                    device_creates: Vec::new(),
                    route_deletes: Vec::new(),
                    route_creates: Vec::new(),
                    fdb_deletes: Vec::new(),
                    fdb_creates: Vec::new(),
                    arp_deletes: Vec::new(),
                    arp_creates: Vec::new(),
                    rules: Ok(Vec::new()),
                };
            }
        };
        let wanted: BTreeMap<&str, &VxlanDevice> = valid
            .devices
            .iter()
            .map(|device| (device.name.as_str(), device))
            .collect();
        let mut device_deletes = Vec::new();
        let mut kept = HashSet::new();
        for device in links.owned_devices() {
            let matches = device
                .key
                .as_ref()
                .is_some_and(|key| wanted.get(device.name.as_str()) == Some(&key));
            if matches {
                kept.insert(device.name.clone());
            } else {
                device_deletes.push(device);
            }
        }
        let doomed: HashSet<String> = device_deletes.iter().map(|device| device.name.clone()).collect();
        let device_creates = valid
            .devices
            .iter()
            .filter(|device| !kept.contains(&device.name))
            .cloned()
            .collect::<Vec<_>>();

        let (route_deletes, route_creates) = match route::read(nl, &links).await {
            Ok(actual) => diff(actual, &valid.routes, &doomed, |r| &r.dev, |r| r.key.as_ref()),
            Err(error) => (Vec::new(), Self::failed(&valid.routes, error)),
        };
        let (fdb_deletes, fdb_creates) = match neigh::read_fdbs(nl, &links).await {
            Ok(actual) => diff(actual, &valid.fdbs, &doomed, |n| &n.dev, |n| n.key.as_ref()),
            Err(error) => (Vec::new(), Self::failed(&valid.fdbs, error)),
        };
        let (arp_deletes, arp_creates) = match neigh::read_arps(nl, &links).await {
            Ok(actual) => diff(actual, &valid.arps, &doomed, |n| &n.dev, |n| n.key.as_ref()),
            Err(error) => (Vec::new(), Self::failed(&valid.arps, error)),
        };
        let rules = device::read_rules(nl).await;
        Self {
            links,
            read_error: None,
            device_deletes,
            device_creates,
            route_deletes,
            route_creates,
            fdb_deletes,
            fdb_creates,
            arp_deletes,
            arp_creates,
            rules,
        }
    }

    /// When a kind cannot be read, its entries are still attempted: a create
    /// of an entry already present fails with "exists" and is reported, which
    /// is better than silently skipping it.
    fn failed<T: Clone>(wanted: &[T], error: AgentError) -> Vec<T> {
        tracing::warn!(%error, "could not read kernel state; creating without comparing");
        wanted.to_vec()
    }
}

/// Splits what is found into what to delete, and what is wanted into what to
/// create. Entries on devices about to be deleted are neither deleted (they go
/// with the device) nor counted as present (they must be created again).
fn diff<A, K: Clone + Eq + std::hash::Hash>(
    actual: Vec<A>,
    wanted: &[K],
    doomed: &HashSet<String>,
    dev_of: impl Fn(&A) -> &String,
    key_of: impl Fn(&A) -> Option<&K>,
) -> (Vec<A>, Vec<K>) {
    let mut remaining: HashSet<&K> = wanted.iter().collect();
    let mut deletes = Vec::new();
    for item in actual {
        if doomed.contains(dev_of(&item)) {
            continue;
        }
        match key_of(&item) {
            Some(key) if remaining.remove(key) => {}
            _ => deletes.push(item),
        }
    }
    let creates = wanted
        .iter()
        .filter(|key| remaining.contains(key))
        .cloned()
        .collect();
    (deletes, creates)
}

/// Bookkeeping of one pass.
struct Pass {
    invalid: usize,
    failed_entries: HashSet<(EntryKind, String)>,
    created: usize,
    deleted: usize,
    errors: Vec<EntryError>,
    avoid_masq: Vec<model::AvoidMasqEntry>,
    /// Each wanted device's description by name, so that every error about a
    /// device names it the same way and counts it once.
    devices: BTreeMap<String, String>,
}

impl Pass {
    fn new(valid: &Validated) -> Self {
        Self {
            invalid: valid.errors.len(),
            failed_entries: HashSet::new(),
            created: 0,
            deleted: 0,
            errors: valid.errors.clone(),
            avoid_masq: valid.avoid_masq.clone(),
            devices: valid
                .devices
                .iter()
                .map(|device| (device.name.clone(), device.to_string()))
                .collect(),
        }
    }

    /// A wanted device, named by its name, is not fully in place.
    fn fail_device(&mut self, name: &str, error: &AgentError) {
        let entry = self
            .devices
            .get(name)
            .cloned()
            .unwrap_or_else(|| name.to_string());
        self.fail(EntryKind::Device, entry, error);
    }

    /// The avoid-masquerade entries of `family` are not in place.
    fn fail_avoid_masq(&mut self, family: Family, error: &AgentError) {
        let entries: Vec<String> = self
            .avoid_masq
            .iter()
            .filter(|entry| entry.set_name() == model::set_for(family))
            .map(ToString::to_string)
            .collect();
        for entry in entries {
            self.fail(EntryKind::IpsetAvoidMasq, entry, error);
        }
    }

    /// A wanted entry is not in place.
    fn fail(&mut self, kind: EntryKind, entry: String, error: &AgentError) {
        let message = error.to_string();
        if self
            .errors
            .iter()
            .any(|e| e.kind == kind && e.entry == entry && e.message == message)
        {
            return;
        }
        self.failed_entries.insert((kind, entry.clone()));
        self.errors.push(EntryError { kind, entry, message });
    }

    /// An owned entry that is not wanted could not be removed.
    fn delete_failed(&mut self, kind: EntryKind, entry: String, error: &AgentError) {
        self.errors.push(EntryError {
            kind,
            entry,
            message: format!("could not remove it: {error}"),
        });
    }

    fn finish(self, valid: &Validated) -> ApplyReport {
        let failed_valid = self.failed_entries.len().min(valid.valid_entries());
        ApplyReport {
            applied: valid.valid_entries() - failed_valid,
            failed: self.invalid + failed_valid,
            created: self.created,
            deleted: self.deleted,
            errors: self.errors,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn assert_send<T: Send>(_: &T) {}

    /// The agent process drives the agent from a multi-threaded runtime, so
    /// its futures must be `Send`.
    #[tokio::test]
    async fn apply_and_cleanup_futures_are_send() {
        let mut agent = Agent::new("a-node1", None).expect("netlink socket");
        let spec = NodeConfigSpec::default();
        assert_send(&agent.apply(&spec));
        assert_send(&agent.cleanup());
    }

    #[test]
    fn the_psk_never_prints() {
        let psk = PreSharedKey::new(b"very secret".to_vec());
        assert_eq!(format!("{psk:?}"), "PreSharedKey(<redacted>)");
    }

    #[test]
    fn outside_a_runtime_the_agent_is_an_error_not_a_panic() {
        let error = Agent::new("a-node1", None).expect_err("no runtime");
        assert!(matches!(error, AgentError::NoRuntime(_)), "{error}");
    }

    #[test]
    fn entries_on_a_recreated_device_are_created_again_not_deleted() {
        let wanted = vec!["a".to_string(), "b".to_string()];
        let actual = vec![
            ("vx-bridge".to_string(), Some("a".to_string())),
            ("vx-local".to_string(), Some("b".to_string())),
        ];
        let doomed: HashSet<String> = ["vx-local".to_string()].into();
        let (deletes, creates) = diff(actual, &wanted, &doomed, |(dev, _)| dev, |(_, key)| key.as_ref());
        assert!(deletes.is_empty());
        assert_eq!(creates, ["b"]);
    }
}
