//! IPsec policies and states of the agent's request id, through `ip xfrm`.
//!
//! **Why `ip xfrm` fed on stdin.** Three ways to program xfrm were weighed:
//!
//! - The Rust xfrm crates (`netlink-packet-xfrm`, `xfrmnetlink`) had their last
//!   release in 2023 and pin an older netlink stack (`netlink-packet-core`,
//!   `netlink-proto`, `netlink-sys`) than rtnetlink 0.24 uses, so the agent
//!   would carry two copies of the netlink layer, one of them unmaintained, for
//!   its most security-sensitive part.
//! - A private netlink xfrm layer would be a few hundred lines of
//!   hand-encoded `xfrm_userpolicy_info`/`xfrm_usersa_info` structs and
//!   attributes, with alignment and padding rules to get right and nothing to
//!   test them against on machines whose kernel lacks ESP.
//! - `iproute2`'s `ip xfrm` is maintained with the kernel, is already on every
//!   node, and speaks exactly the commands Kosmos and operators use.
//!
//! The agent therefore drives `ip`, but only through `ip -batch -`: commands,
//! including the ESP keys, are written to the child's stdin. Keys never appear
//! in a process's arguments, which `/proc/<pid>/cmdline` shows to every user.
//! Script buffers and the tool's stdout (`ip xfrm state list` prints keys) are
//! zeroed after use, keys are compared without an early exit, and any long hex
//! string in a tool's stderr is blanked before it becomes an error message.
//!
//! **Reading back.** `ip -s xfrm policy list` and `ip xfrm state list` list
//! every entry of the namespace; the parsers keep only entries with the
//! agent's request id ([`crate::ipsec::REQID`]) and never panic: a policy with
//! no template, several templates or a socket direction, or a state without
//! AEAD (Kosmos's agent panicked on both) is simply not a match, and is left
//! alone unless it carries the agent's request id.
//!
//! `ip xfrm` exits at its first kernel error even with `-force`, so when a
//! batch fails the state is read again and what is still missing is run one
//! command per `ip` process, each still on stdin: one failing entry (a kernel
//! without ESP refuses every state) fails alone and the rest are applied.

use std::collections::HashSet;
use std::fmt::Write as _;
use std::net::IpAddr;
use std::time::Duration;

use drmysql_api::clusterlink::XfrmDirection;
use ipnet::IpNet;

use super::command::{self, Tools};
use super::error::AgentError;
use super::model::{Phase, PolicyEntry, StateEntry, direction_word};
use crate::ipsec::{self, Direction};

/// The request id as `ip` prints it.
const OWN_REQID: u32 = ipsec::REQID.unsigned_abs();

/// The AEAD algorithm of every state.
pub const AEAD_ALGORITHM: &str = "rfc4106(gcm(aes))";

/// The ICV length in bits.
pub const ICV_BITS: u32 = 128;

/// Text that may contain key material: zeroed when dropped, never printed.
#[derive(Default)]
pub(crate) struct Secret(Vec<u8>);

impl Secret {
    fn push_line(&mut self, line: &str) {
        self.0.extend_from_slice(line.as_bytes());
        self.0.push(b'\n');
    }

    fn from_string(text: String) -> Self {
        Secret(text.into_bytes())
    }

    fn as_bytes(&self) -> &[u8] {
        &self.0
    }
}

impl Drop for Secret {
    fn drop(&mut self) {
        self.0.fill(0);
        std::hint::black_box(&self.0);
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(<redacted>)")
    }
}

fn equal_in_constant_time(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0_u8, |diff, (x, y)| diff | (x ^ y)) == 0
}

/// Blanks every `0x` followed by 16 or more hex digits: key material never
/// reaches an error message, SPIs (8 digits) stay readable.
pub(crate) fn scrub(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(position) = rest.find("0x") {
        out.push_str(&rest[..position]);
        let after = &rest[position + 2..];
        let digits = after.bytes().take_while(u8::is_ascii_hexdigit).count();
        if digits >= 16 {
            out.push_str("0x<redacted>");
        } else {
            out.push_str("0x");
            out.push_str(&after[..digits]);
        }
        rest = &after[digits..];
    }
    out.push_str(rest);
    out
}

fn scrubbed(error: AgentError) -> AgentError {
    match error {
        AgentError::CommandFailed {
            command,
            status,
            stderr,
        } => AgentError::CommandFailed {
            command,
            status,
            stderr: scrub(&stderr),
        },
        other => other,
    }
}

/// A policy with the agent's request id, as listed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct ActualPolicy {
    /// The kernel's index, which identifies it for deletion.
    pub index: u32,
    /// `in`, `out` or `fwd`.
    pub dir: String,
    /// The policy type when listed (`main` or `sub`).
    pub ptype: Option<String>,
    /// `None` when it has a shape the agent never makes.
    pub key: Option<PolicyEntry>,
    /// Its selector line, for messages.
    pub selector: String,
}

impl ActualPolicy {
    fn describe(&self) -> String {
        match &self.key {
            Some(key) => key.to_string(),
            None => format!("{} dir {} index {}", self.selector, self.dir, self.index),
        }
    }

    fn delete_command(&self) -> String {
        let mut line = format!("xfrm policy delete index {} dir {}", self.index, self.dir);
        if let Some(ptype) = &self.ptype {
            let _ = write!(line, " ptype {ptype}");
        }
        line
    }
}

#[derive(Default)]
struct PolicyBlock {
    selector: String,
    selector_src: Option<IpNet>,
    selector_dst: Option<IpNet>,
    extra: bool,
    dir: Option<String>,
    socket: bool,
    index: Option<u32>,
    ptype: Option<String>,
    templates: Vec<Template>,
}

#[derive(Default)]
struct Template {
    src: Option<IpAddr>,
    dst: Option<IpAddr>,
    proto: Option<String>,
    reqid: Option<u32>,
    mode: Option<String>,
}

fn value_after<'a>(words: &[&'a str], key: &str) -> Option<&'a str> {
    words
        .iter()
        .position(|word| *word == key)
        .and_then(|at| words.get(at + 1))
        .copied()
}

/// `5(0x00000005)` or `5` → 5.
fn leading_number(text: &str) -> Option<u32> {
    let number = text.split('(').next()?;
    match number.strip_prefix("0x") {
        Some(hex) => u32::from_str_radix(hex, 16).ok(),
        None => number.parse().ok(),
    }
}

fn parse_net(text: &str) -> Option<IpNet> {
    text.parse::<IpNet>()
        .ok()
        .or_else(|| text.parse::<IpAddr>().ok().map(IpNet::from))
        .map(|net| net.trunc())
}

/// Parses `ip -s xfrm policy list`, keeping the policies with a template of
/// the agent's request id.
pub(crate) fn parse_policies(text: &str) -> Vec<ActualPolicy> {
    let mut blocks: Vec<PolicyBlock> = Vec::new();
    for line in text.lines() {
        if line.trim().is_empty() {
            continue;
        }
        let indented = line.starts_with(char::is_whitespace);
        let words: Vec<&str> = line.split_whitespace().collect();
        if !indented {
            let mut block = PolicyBlock {
                selector: line.trim().to_string(),
                ..PolicyBlock::default()
            };
            if words.first() == Some(&"src") {
                block.selector_src = value_after(&words, "src").and_then(parse_net);
                block.selector_dst = value_after(&words, "dst").and_then(parse_net);
                let known = ["src", "dst", "uid"];
                block.extra = words.chunks(2).any(|pair| !known.contains(&pair[0]));
            } else {
                block.extra = true;
            }
            blocks.push(block);
            continue;
        }
        let Some(block) = blocks.last_mut() else { continue };
        match words.first().copied() {
            Some("dir") | Some("socket") => {
                block.socket = words.first() == Some(&"socket");
                block.dir = words.get(1).map(|dir| dir.to_string());
                block.index = value_after(&words, "index").and_then(leading_number);
                block.ptype = value_after(&words, "ptype").map(str::to_string);
                if value_after(&words, "action").is_some_and(|action| action != "allow")
                    || value_after(&words, "priority").is_some_and(|priority| priority != "0")
                {
                    block.extra = true;
                }
            }
            Some("tmpl") => block.templates.push(Template {
                src: value_after(&words, "src").and_then(|ip| ip.parse().ok()),
                dst: value_after(&words, "dst").and_then(|ip| ip.parse().ok()),
                ..Template::default()
            }),
            Some("proto") => {
                if let Some(template) = block.templates.last_mut() {
                    template.proto = words.get(1).map(|proto| proto.to_string());
                    template.reqid = value_after(&words, "reqid").and_then(leading_number);
                    template.mode = value_after(&words, "mode").map(str::to_string);
                }
            }
            Some("security") | Some("mark") | Some("if_id") => block.extra = true,
            _ => {}
        }
    }
    blocks
        .into_iter()
        .filter(|block| {
            block
                .templates
                .iter()
                .any(|template| template.reqid == Some(OWN_REQID))
        })
        .filter_map(|block| {
            let index = block.index?;
            let dir = block.dir.clone()?;
            let key = policy_key(&block);
            Some(ActualPolicy {
                index,
                dir,
                ptype: block.ptype,
                key,
                selector: block.selector,
            })
        })
        .collect()
}

fn policy_key(block: &PolicyBlock) -> Option<PolicyEntry> {
    if block.extra || block.socket || block.ptype.as_deref().is_some_and(|ptype| ptype != "main") {
        return None;
    }
    let [template] = block.templates.as_slice() else {
        return None;
    };
    if template.proto.as_deref() != Some("esp") || template.mode.as_deref() != Some("tunnel") {
        return None;
    }
    let dir = match block.dir.as_deref()? {
        "in" => XfrmDirection::In,
        "out" => XfrmDirection::Out,
        "fwd" => XfrmDirection::Fwd,
        _ => return None,
    };
    Some(PolicyEntry {
        src_net: block.selector_src?,
        dst_net: block.selector_dst?,
        dir,
        tmpl_src: template.src?,
        tmpl_dst: template.dst?,
    })
}

/// A state with the agent's request id, as listed.
#[derive(Debug)]
pub(crate) struct ActualState {
    pub src: IpAddr,
    pub dst: IpAddr,
    pub spi: u32,
    /// Whether it is ESP in tunnel mode with exactly the agent's AEAD and ICV
    /// length, and no other algorithm or encapsulation.
    pub expected_shape: bool,
    /// The AEAD key as printed (`0x...`).
    pub key: Secret,
}

impl ActualState {
    fn describe(&self) -> String {
        format!("src {} dst {} spi 0x{:08x}", self.src, self.dst, self.spi)
    }

    fn delete_command(&self) -> String {
        format!(
            "xfrm state delete src {} dst {} proto esp spi 0x{:08x}",
            self.src, self.dst, self.spi
        )
    }
}

#[derive(Default)]
struct StateBlock {
    src: Option<IpAddr>,
    dst: Option<IpAddr>,
    esp: bool,
    spi: Option<u32>,
    reqid: Option<u32>,
    tunnel: bool,
    aead_ok: bool,
    aead_count: usize,
    other: bool,
    key: Secret,
}

/// Parses `ip xfrm state list` (with or without `-s`), keeping the ESP states
/// of the agent's request id.
pub(crate) fn parse_states(text: &str) -> Vec<ActualState> {
    let mut blocks: Vec<StateBlock> = Vec::new();
    for line in text.lines() {
        if line.trim().is_empty() {
            continue;
        }
        let words: Vec<&str> = line.split_whitespace().collect();
        if !line.starts_with(char::is_whitespace) {
            blocks.push(StateBlock {
                src: value_after(&words, "src").and_then(|ip| ip.parse().ok()),
                dst: value_after(&words, "dst").and_then(|ip| ip.parse().ok()),
                ..StateBlock::default()
            });
            continue;
        }
        let Some(block) = blocks.last_mut() else { continue };
        match words.first().copied() {
            Some("proto") => {
                block.esp = words.get(1) == Some(&"esp");
                block.spi = value_after(&words, "spi").and_then(leading_number);
                block.reqid = value_after(&words, "reqid").and_then(leading_number);
                block.tunnel = value_after(&words, "mode") == Some("tunnel");
            }
            Some("aead") => {
                block.aead_count += 1;
                let icv = words.last().and_then(|icv| icv.parse::<u32>().ok());
                block.aead_ok = words.get(1) == Some(&AEAD_ALGORITHM) && icv == Some(ICV_BITS);
                if let Some(key) = words.get(2).filter(|key| key.starts_with("0x")) {
                    block.key = Secret::from_string(key.to_string());
                }
            }
            Some("enc") | Some("auth") | Some("auth-trunc") | Some("comp") | Some("encap") => {
                block.other = true
            }
            _ => {}
        }
    }
    blocks
        .into_iter()
        .filter(|block| block.esp && block.reqid == Some(OWN_REQID))
        .filter_map(|mut block| {
            let expected_shape = block.tunnel && block.aead_ok && block.aead_count == 1 && !block.other;
            Some(ActualState {
                src: block.src?,
                dst: block.dst?,
                spi: block.spi?,
                expected_shape,
                key: std::mem::take(&mut block.key),
            })
        })
        .collect()
}

/// The agent's xfrm entries in the kernel.
#[derive(Debug, Default)]
pub(crate) struct XfrmActual {
    pub policies: Vec<ActualPolicy>,
    pub states: Vec<ActualState>,
}

/// Lists the agent's policies and states.
pub(crate) async fn read(tools: &Tools, timeout: Duration) -> Result<XfrmActual, AgentError> {
    let policies = command::run(&tools.ip, &["-s", "xfrm", "policy", "list"], None, timeout).await?;
    let states = command::run(&tools.ip, &["xfrm", "state", "list"], None, timeout)
        .await
        .map_err(scrubbed)?;
    let states_text = std::str::from_utf8(&states.stdout).map_err(|_| AgentError::Parse {
        tool: "ip xfrm state list".into(),
        detail: "output is not UTF-8".into(),
    })?;
    Ok(XfrmActual {
        policies: parse_policies(&policies.stdout_text()),
        states: parse_states(states_text),
    })
}

/// What an xfrm command is for, which decides how its outcome is reported.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Origin {
    /// Add a NodeConfig policy.
    Policy(PolicyEntry),
    /// Add a NodeConfig state.
    State(StateEntry),
    /// Remove an owned policy no entry wants.
    StalePolicy(String),
    /// Remove an owned state no entry wants, or one whose key or algorithm
    /// differs (it is then added again).
    StaleState(String),
}

/// One `ip -batch` command.
#[derive(Debug)]
pub(crate) struct Command {
    pub text: Secret,
    pub origin: Origin,
}

/// The commands that bring the kernel to what is wanted.
#[derive(Debug, Default)]
pub(crate) struct XfrmPlan {
    pub deletes: Vec<Command>,
    pub creates: Vec<Command>,
}

/// The key of the state `state` of node `own` (see [`ipsec::derive_key`]).
fn key_of(psk: &[u8], own: &str, state: &StateEntry) -> ipsec::EspKey {
    match state.direction {
        Direction::Outbound => ipsec::derive_key(psk, own, &state.peer),
        Direction::Inbound => ipsec::derive_key(psk, &state.peer, own),
    }
}

fn state_add(state: &StateEntry, key: &ipsec::EspKey) -> Secret {
    let hex = Secret::from_string(key.to_xfrm_hex());
    let mut line = Secret::default();
    line.0.extend_from_slice(
        format!(
            "xfrm state add src {} dst {} proto esp spi 0x{:08x} reqid {OWN_REQID} mode tunnel aead {AEAD_ALGORITHM} ",
            state.src, state.dst, state.spi
        )
        .as_bytes(),
    );
    line.0.extend_from_slice(hex.as_bytes());
    line.0.extend_from_slice(format!(" {ICV_BITS}").as_bytes());
    line
}

fn policy_add(policy: &PolicyEntry) -> String {
    format!(
        "xfrm policy add src {} dst {} dir {} tmpl src {} dst {} proto esp reqid {OWN_REQID} mode tunnel",
        policy.src_net,
        policy.dst_net,
        direction_word(policy.dir),
        policy.tmpl_src,
        policy.tmpl_dst
    )
}

/// Computes the commands. Without a PSK no state is added, and an existing
/// state that matches a wanted one by address and SPI is kept (its key cannot
/// be checked), so a missing Secret never tears down a working tunnel.
pub(crate) fn plan(
    policies: &[PolicyEntry],
    states: &[StateEntry],
    own: &str,
    psk: Option<&[u8]>,
    actual: &XfrmActual,
) -> XfrmPlan {
    let mut plan = XfrmPlan::default();
    let mut wanted: HashSet<&PolicyEntry> = policies.iter().collect();
    for policy in &actual.policies {
        match &policy.key {
            Some(key) if wanted.remove(key) => {}
            _ => plan.deletes.push(Command {
                text: Secret::from_string(policy.delete_command()),
                origin: Origin::StalePolicy(policy.describe()),
            }),
        }
    }
    for policy in policies.iter().filter(|policy| wanted.contains(policy)) {
        plan.creates.push(Command {
            text: Secret::from_string(policy_add(policy)),
            origin: Origin::Policy(policy.clone()),
        });
    }
    let mut present: HashSet<usize> = HashSet::new();
    for state in &actual.states {
        let wanted = states
            .iter()
            .position(|entry| entry.src == state.src && entry.dst == state.dst && entry.spi == state.spi);
        let keep = match (wanted, psk) {
            (Some(position), None) => Some(position),
            (Some(position), Some(psk)) if state.expected_shape => {
                let expected = Secret::from_string(key_of(psk, own, &states[position]).to_xfrm_hex());
                equal_in_constant_time(expected.as_bytes(), state.key.as_bytes()).then_some(position)
            }
            _ => None,
        };
        match keep {
            Some(position) if present.insert(position) => {}
            _ => plan.deletes.push(Command {
                text: Secret::from_string(state.delete_command()),
                origin: Origin::StaleState(state.describe()),
            }),
        }
    }
    if let Some(psk) = psk {
        for (position, state) in states.iter().enumerate() {
            if !present.contains(&position) {
                let key = key_of(psk, own, state);
                plan.creates.push(Command {
                    text: state_add(state, &key),
                    origin: Origin::State(state.clone()),
                });
            }
        }
    }
    plan
}

/// Runs `commands` in one `ip -force -batch -`.
async fn batch(tools: &Tools, commands: &[&Command], timeout: Duration) -> Result<(), AgentError> {
    let mut script = Secret::default();
    for command in commands {
        script.0.extend_from_slice(command.text.as_bytes());
        script.push_line("");
    }
    command::run(
        &tools.ip,
        &["-force", "-batch", "-"],
        Some(script.as_bytes()),
        timeout,
    )
    .await
    .map(drop)
    .map_err(scrubbed)
}

/// The outcome of one phase.
#[derive(Debug, Default)]
pub(crate) struct PhaseOutcome {
    /// Each command run, and whether it failed.
    pub commands: Vec<(Origin, Option<AgentError>)>,
    /// Set when the state could not be read, in which case nothing was run.
    pub read_error: Option<AgentError>,
    /// The entries the phase planned from, when it had nothing to run: the
    /// kernel's are as read, so the next phase can plan from them without
    /// listing again.
    pub unchanged: Option<XfrmActual>,
}

/// The inputs of a plan.
pub(crate) struct Wanted<'a> {
    pub policies: &'a [PolicyEntry],
    pub states: &'a [StateEntry],
    pub own_node: &'a str,
    pub psk: Option<&'a [u8]>,
}

/// Reads (unless `known` holds entries listed earlier in the same pass and
/// not changed since), plans and runs one phase: one batch, and when it
/// fails, the commands still needed one by one.
pub(crate) async fn run_phase(
    tools: &Tools,
    wanted: &Wanted<'_>,
    phase: Phase,
    known: Option<XfrmActual>,
    timeout: Duration,
) -> PhaseOutcome {
    let select = |plan: XfrmPlan| match phase {
        Phase::Delete => plan.deletes,
        Phase::Create => plan.creates,
    };
    let plan_now = |actual: &XfrmActual| {
        plan(
            wanted.policies,
            wanted.states,
            wanted.own_node,
            wanted.psk,
            actual,
        )
    };
    let actual = match known {
        Some(actual) => actual,
        None => match read(tools, timeout).await {
            Ok(actual) => actual,
            Err(error) => {
                return PhaseOutcome {
                    read_error: Some(error),
                    ..PhaseOutcome::default()
                };
            }
        },
    };
    let commands = select(plan_now(&actual));
    if commands.is_empty() {
        return PhaseOutcome {
            unchanged: Some(actual),
            ..PhaseOutcome::default()
        };
    }
    let all: Vec<&Command> = commands.iter().collect();
    if batch(tools, &all, timeout).await.is_ok() {
        return PhaseOutcome {
            commands: commands.into_iter().map(|c| (c.origin, None)).collect(),
            ..PhaseOutcome::default()
        };
    }
    let actual = match read(tools, timeout).await {
        Ok(actual) => actual,
        Err(error) => {
            return PhaseOutcome {
                read_error: Some(error),
                ..PhaseOutcome::default()
            };
        }
    };
    let done: Vec<Origin> = commands
        .iter()
        .map(|c| c.origin.clone())
        .filter(|origin| !select(plan_now(&actual)).iter().any(|c| c.origin == *origin))
        .collect();
    let mut outcome = PhaseOutcome::default();
    outcome
        .commands
        .extend(done.into_iter().map(|origin| (origin, None)));
    for command in select(plan_now(&actual)) {
        let result = batch(tools, &[&command], timeout).await.err();
        outcome.commands.push((command.origin, result));
    }
    outcome
}

/// Deletes every policy and state with the agent's request id. Returns how
/// many were removed.
pub(crate) async fn cleanup(tools: &Tools, timeout: Duration) -> Result<usize, AgentError> {
    let actual = read(tools, timeout).await?;
    let commands = cleanup_commands(&actual);
    if commands.is_empty() {
        return Ok(0);
    }
    let all: Vec<&Command> = commands.iter().collect();
    if batch(tools, &all, timeout).await.is_ok() {
        return Ok(commands.len());
    }
    let actual = read(tools, timeout).await?;
    let mut removed = commands
        .len()
        .saturating_sub(actual.policies.len() + actual.states.len());
    let mut failures = Vec::new();
    for command in cleanup_commands(&actual) {
        match batch(tools, &[&command], timeout).await {
            Ok(()) => removed += 1,
            Err(error) => failures.push(error),
        }
    }
    if failures.is_empty() {
        Ok(removed)
    } else {
        Err(AgentError::Incomplete(failures))
    }
}

fn cleanup_commands(actual: &XfrmActual) -> Vec<Command> {
    let policies = actual.policies.iter().map(|policy| Command {
        text: Secret::from_string(policy.delete_command()),
        origin: Origin::StalePolicy(policy.describe()),
    });
    let states = actual.states.iter().map(|state| Command {
        text: Secret::from_string(state.delete_command()),
        origin: Origin::StaleState(state.describe()),
    });
    policies.chain(states).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Entries listed earlier in the pass are planned from without running
    /// `ip`, and a phase with nothing to run hands them on.
    #[tokio::test]
    async fn known_entries_save_the_listing_and_are_handed_on_when_unchanged() {
        let tools = Tools {
            ip: "drmysql-no-such-ip".into(),
            ..Tools::default()
        };
        let wanted = Wanted {
            policies: &[],
            states: &[],
            own_node: "a-n1",
            psk: None,
        };
        let timeout = Duration::from_secs(5);
        for phase in [Phase::Delete, Phase::Create] {
            let known = Some(XfrmActual::default());
            let outcome = run_phase(&tools, &wanted, phase, known, timeout).await;
            assert!(
                outcome.read_error.is_none() && outcome.commands.is_empty(),
                "{outcome:?}"
            );
            assert!(outcome.unchanged.is_some(), "{outcome:?}");
        }
        let outcome = run_phase(&tools, &wanted, Phase::Delete, None, timeout).await;
        assert!(
            outcome.read_error.is_some() && outcome.unchanged.is_none(),
            "without known entries `ip` runs: {outcome:?}"
        );
    }

    const POLICIES: &str = "\
src 10.0.0.0/24 dst 10.1.0.0/24 uid 0
\tdir out action allow index 1 priority 0 ptype main share any flag  (0x00000000)
\tlifetime config:
\t  limit: soft (INF)(bytes), hard (INF)(bytes)
\tlifetime current:
\t  0(bytes), 0(packets)
\t  add 2026-11-23 20:02:53 use -
\ttmpl src 1.1.1.1 dst 2.2.2.2
\t\tproto esp spi 0x00000000(0) reqid 5(0x00000005) mode tunnel
\t\tlevel required share any 
\t\tenc-mask ffffffff auth-mask ffffffff comp-mask ffffffff
src 10.5.0.0/24 dst 10.6.0.0/24 uid 0
\tdir fwd action allow index 10 priority 0 ptype main share any flag  (0x00000000)
\tlifetime config:
src 10.10.1.0/24 dst 10.20.0.0/16 uid 0
\tdir out action allow index 17 priority 0 ptype main share any flag  (0x00000000)
\ttmpl src 192.168.0.1 dst 203.0.113.7
\t\tproto esp spi 0x00000000(0) reqid 1685220729(0x64726d79) mode tunnel
\t\tlevel required share any 
src 10.10.2.0/24 dst 10.20.0.0/16 proto tcp uid 0
\tdir out action allow index 25 priority 0 ptype main share any flag  (0x00000000)
\ttmpl src 192.168.0.1 dst 203.0.113.7
\t\tproto esp spi 0x00000000(0) reqid 1685220729(0x64726d79) mode tunnel
src 0.0.0.0/0 dst 0.0.0.0/0 uid 0
\tsocket in action allow index 27 priority 0 ptype main share any flag  (0x00000000)
";

    #[test]
    fn only_policies_of_the_agents_reqid_are_read_and_foreign_shapes_do_not_panic() {
        let policies = parse_policies(POLICIES);
        assert_eq!(policies.len(), 2, "{policies:?}");
        let own = &policies[0];
        assert_eq!(own.index, 17);
        assert_eq!(
            own.key,
            Some(PolicyEntry {
                src_net: "10.10.1.0/24".parse().expect("cidr"),
                dst_net: "10.20.0.0/16".parse().expect("cidr"),
                dir: XfrmDirection::Out,
                tmpl_src: "192.168.0.1".parse().expect("ip"),
                tmpl_dst: "203.0.113.7".parse().expect("ip"),
            })
        );
        assert_eq!(
            own.delete_command(),
            "xfrm policy delete index 17 dir out ptype main"
        );
        assert_eq!(
            policies[1].key, None,
            "a port selector is not a shape the agent makes"
        );
    }

    #[test]
    fn garbage_and_truncated_listings_do_not_panic() {
        for text in [
            "",
            "\ttmpl",
            "src",
            "src 1.1.1.1\n\tdir",
            "\n\n\t\tproto esp reqid",
            "src x dst y z\n\tdir out index q",
        ] {
            assert!(parse_policies(text).is_empty());
            assert!(parse_states(text).is_empty());
        }
    }

    const KEY: &str = "0x0102030405060708090a0b0c0d0e0f1011121314";

    fn states_listing() -> String {
        format!(
            "src 192.168.0.1 dst 203.0.113.7\n\
             \tproto esp spi 0x12345679 reqid 1685220729 mode tunnel\n\
             \treplay-window 0 flag af-unspec\n\
             \taead rfc4106(gcm(aes)) {KEY} 128\n\
             \tanti-replay context: seq 0x0, oseq 0x0, bitmap 0x00000000\n\
             src 192.168.0.1 dst 203.0.113.9\n\
             \tproto esp spi 0x00001000 reqid 336 mode tunnel\n\
             \treplay-window 0 flag af-unspec\n\
             \tauth-trunc hmac(sha256) 0xaaaa 128\n\
             \tenc cbc(aes) 0xbbbb\n\
             src 192.168.0.1 dst 203.0.113.8\n\
             \tproto esp spi 0x00002000(8192) reqid 1685220729(0x64726d79) mode tunnel\n\
             \treplay-window 0 seq 0x00000000 flag af-unspec (0x00100000)\n\
             \tenc cbc(aes) 0xbbbb\n"
        )
    }

    #[test]
    fn states_of_the_agents_reqid_are_read_including_non_aead_ones() {
        let states = parse_states(&states_listing());
        assert_eq!(states.len(), 2);
        assert_eq!(states[0].spi, 0x1234_5679);
        assert!(states[0].expected_shape);
        assert_eq!(states[0].key.as_bytes(), KEY.as_bytes());
        assert_eq!(states[1].spi, 0x2000);
        assert!(
            !states[1].expected_shape,
            "a non-AEAD state is owned but never a match"
        );
        assert_eq!(
            states[1].delete_command(),
            "xfrm state delete src 192.168.0.1 dst 203.0.113.8 proto esp spi 0x00002000"
        );
    }

    fn state_entry(own: &str, peer: &str, direction: Direction) -> StateEntry {
        let spi = match direction {
            Direction::Outbound => ipsec::spi(own, peer),
            Direction::Inbound => ipsec::spi(peer, own),
        };
        StateEntry {
            src: "192.168.0.1".parse().expect("ip"),
            dst: "203.0.113.7".parse().expect("ip"),
            spi,
            peer: peer.into(),
            direction,
        }
    }

    #[test]
    fn states_are_added_with_the_derived_key_and_replaced_when_it_differs() {
        let psk = b"test psk".as_slice();
        let wanted = [state_entry("a-node1", "b-node1", Direction::Outbound)];
        let empty = XfrmActual::default();
        let fresh = plan(&[], &wanted, "a-node1", Some(psk), &empty);
        assert_eq!(fresh.creates.len(), 1);
        let line = String::from_utf8(fresh.creates[0].text.as_bytes().to_vec()).expect("utf-8");
        let key = ipsec::derive_key(psk, "a-node1", "b-node1").to_xfrm_hex();
        assert_eq!(
            line,
            format!(
                "xfrm state add src 192.168.0.1 dst 203.0.113.7 proto esp spi 0x{:08x} reqid 1685220729 mode tunnel aead rfc4106(gcm(aes)) {key} 128",
                wanted[0].spi
            )
        );
        assert!(
            !format!("{:?}", fresh.creates[0]).contains(&key[2..]),
            "Debug never shows the key"
        );

        let listed = |key: &str| XfrmActual {
            policies: Vec::new(),
            states: parse_states(&format!(
                "src 192.168.0.1 dst 203.0.113.7\n\tproto esp spi 0x{:08x} reqid 1685220729 mode tunnel\n\taead rfc4106(gcm(aes)) {key} 128\n",
                wanted[0].spi
            )),
        };
        let same = plan(&[], &wanted, "a-node1", Some(psk), &listed(&key));
        assert!(same.creates.is_empty() && same.deletes.is_empty());
        let rotated = plan(&[], &wanted, "a-node1", Some(psk), &listed(KEY));
        assert_eq!(
            (rotated.deletes.len(), rotated.creates.len()),
            (1, 1),
            "a changed PSK replaces the state"
        );
        let without_psk = plan(&[], &wanted, "a-node1", None, &listed(KEY));
        assert!(
            without_psk.creates.is_empty() && without_psk.deletes.is_empty(),
            "no PSK keeps what works"
        );
    }

    #[test]
    fn stale_policies_are_deleted_by_index() {
        let actual = XfrmActual {
            policies: parse_policies(POLICIES),
            states: Vec::new(),
        };
        let plan = plan(&[], &[], "a-node1", None, &actual);
        let texts: Vec<String> = plan
            .deletes
            .iter()
            .map(|c| String::from_utf8(c.text.as_bytes().to_vec()).expect("utf-8"))
            .collect();
        assert_eq!(
            texts,
            [
                "xfrm policy delete index 17 dir out ptype main",
                "xfrm policy delete index 25 dir out ptype main"
            ]
        );
    }

    #[test]
    fn long_hex_is_scrubbed_from_messages() {
        let message = format!("Error: argument \"{KEY}\" is wrong, spi 0x00001000");
        let clean = scrub(&message);
        assert!(!clean.contains("0102030405"), "{clean}");
        assert!(
            clean.contains("0x<redacted>") && clean.contains("spi 0x00001000"),
            "{clean}"
        );
    }

    #[test]
    fn keys_compare_in_full() {
        assert!(equal_in_constant_time(b"0xabcd", b"0xabcd"));
        assert!(!equal_in_constant_time(b"0xabcd", b"0xabce"));
        assert!(!equal_in_constant_time(b"0xabcd", b"0xabcdef"));
    }

    proptest::proptest! {
        #[test]
        fn listings_never_panic(text in "[a-z0-9 ./:()\t\n-]{0,400}") {
            let _ = parse_policies(&text);
            let _ = parse_states(&text);
            let _ = scrub(&text);
        }
    }
}
