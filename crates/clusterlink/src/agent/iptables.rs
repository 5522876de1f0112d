//! The agent's iptables rules, in chains of its own.
//!
//! The agent only ever writes inside its own chains: `DRMYSQL-PREROUTING`,
//! `DRMYSQL-POSTROUTING` and `DRMYSQL-OUTPUT` in table nat, jumped to from
//! position 1 of the built-in chain of the same name, and `DRMYSQL-FORWARD` in
//! table filter, jumped to from `FORWARD`, holding Kosmos's
//! `-o <vx> -j ACCEPT` per device (Kosmos prepends those to `FORWARD` itself;
//! an own chain lets cleanup remove them without touching anyone's rules).
//! The built-in chains only ever get the one jump rule each.
//!
//! State is read with `iptables -w -t <table> -S`, and changes are written with
//! one `iptables-restore -w --noflush` per family and phase, so a NodeConfig
//! with hundreds of rules costs a handful of processes instead of one per rule.
//! A restore is all-or-nothing, so when one fails the state is read again and
//! the remaining lines are run one by one: one bad rule then fails alone, with
//! its own stderr, and the others are applied.
//!
//! Nothing in a restore input comes from a NodeConfig verbatim: NodeConfig
//! rules are re-rendered from their parsed, allow-listed form, so a rule cannot
//! smuggle a newline, a `COMMIT` or a second table into the input.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::time::Duration;

use super::command::{self, Tools};
use super::error::AgentError;
use super::model::{Family, NatChain, NatRule, Phase, set_for};
use super::rule;

/// The agent's chain in table filter, jumped to from `FORWARD`.
pub const FORWARD_CHAIN: &str = "DRMYSQL-FORWARD";

/// The RETURN rule that exempts the avoid-masquerade set, first in
/// `DRMYSQL-POSTROUTING`.
pub(crate) fn avoid_masq_rule(family: Family) -> String {
    format!("-m set --match-set {} dst -j RETURN", set_for(family))
}

fn forward_rule(device: &str) -> String {
    format!("-o {device} -j ACCEPT")
}

fn jump_rule(own: &str) -> String {
    format!("-j {own}")
}

/// An iptables table the agent writes to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Table {
    Nat,
    Filter,
}

impl Table {
    fn name(self) -> &'static str {
        match self {
            Self::Nat => "nat",
            Self::Filter => "filter",
        }
    }
}

/// The chains and rules of one table, from `iptables -S`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct TableState {
    /// User-defined chains.
    pub chains: BTreeSet<String>,
    /// Each chain's rules, in order, as printed after `-A <chain> `.
    pub rules: BTreeMap<String, Vec<String>>,
}

impl TableState {
    /// Parses `iptables -S` output.
    pub fn parse(text: &str) -> Self {
        let mut state = Self::default();
        for line in text.lines() {
            let mut words = line.splitn(3, ' ');
            match (words.next(), words.next(), words.next()) {
                (Some("-N"), Some(chain), None) => {
                    state.chains.insert(chain.to_string());
                }
                (Some("-A"), Some(chain), Some(rest)) => {
                    state
                        .rules
                        .entry(chain.to_string())
                        .or_default()
                        .push(rest.to_string());
                }
                _ => {}
            }
        }
        state
    }

    fn rules_of(&self, chain: &str) -> &[String] {
        self.rules.get(chain).map(Vec::as_slice).unwrap_or_default()
    }
}

/// The nat and filter state of one family.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct FamilyState {
    pub nat: TableState,
    pub filter: TableState,
}

impl FamilyState {
    /// Parses `iptables-save` output: its `*table` sections, rewritten into
    /// `iptables -S` form (`:CHAIN - [..]` declares a user chain, `-N`; a
    /// built-in chain carries a policy instead) and parsed per table. A table
    /// the kernel does not have yet is absent from the output, and empty here.
    pub fn parse_save(text: &str) -> Self {
        let mut sections: [(Table, String); 2] =
            [(Table::Nat, String::new()), (Table::Filter, String::new())];
        let mut current: Option<usize> = None;
        for line in text.lines() {
            if let Some(table) = line.strip_prefix('*') {
                current = sections
                    .iter()
                    .position(|(known, _)| known.name() == table.trim());
                continue;
            }
            let Some(index) = current else { continue };
            let section = &mut sections[index].1;
            if let Some(declaration) = line.strip_prefix(':') {
                let mut words = declaration.split(' ');
                if let (Some(chain), Some("-")) = (words.next(), words.next()) {
                    section.push_str("-N ");
                    section.push_str(chain);
                    section.push('\n');
                }
            } else if line.starts_with("-A ") {
                section.push_str(line);
                section.push('\n');
            }
        }
        let [(_, nat), (_, filter)] = sections;
        Self {
            nat: TableState::parse(&nat),
            filter: TableState::parse(&filter),
        }
    }
}

/// What the agent wants in one family's tables.
#[derive(Clone, Debug)]
pub(crate) struct FamilyDesired {
    /// The family.
    pub family: Family,
    /// NodeConfig rules of this family.
    pub rules: Vec<NatRule>,
    /// Whether the avoid-masquerade RETURN rule must be first in
    /// `DRMYSQL-POSTROUTING`.
    pub avoid_masq: bool,
    /// Devices that get `-o <dev> -j ACCEPT` in `DRMYSQL-FORWARD`.
    pub forward_devices: BTreeSet<String>,
}

impl FamilyDesired {
    fn needs_chains(&self) -> bool {
        !self.rules.is_empty() || self.avoid_masq || !self.forward_devices.is_empty()
    }
}

/// Why a restore line exists, which decides how its outcome is reported.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Origin {
    /// An own chain or the jump to it.
    Chain {
        /// The own chain.
        own: &'static str,
        /// What the line does, for messages.
        what: String,
    },
    /// A NodeConfig rule to add.
    Rule(NatRule),
    /// A rule in an own nat chain that no NodeConfig entry wants.
    StaleRule(String),
    /// The avoid-masquerade RETURN rule (added, or removed when unwanted or
    /// misplaced).
    AvoidMasq,
    /// A `FORWARD` accept for a device (added or removed).
    Forward(String),
}

/// One line of an `iptables-restore` input.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Line {
    pub table: Table,
    pub text: String,
    pub origin: Origin,
}

/// The changes that bring one family's state to what is wanted.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct Plan {
    /// Removals of unwanted rules.
    pub deletes: Vec<Line>,
    /// Chains, jumps and rules to add.
    pub creates: Vec<Line>,
}

/// Computes the changes for one family. Rules are compared by their canonical
/// text; a rule in an own chain that cannot be parsed is unwanted.
pub(crate) fn plan(desired: &FamilyDesired, state: &FamilyState) -> Plan {
    let mut plan = Plan::default();
    let needed = desired.needs_chains();
    for chain in NatChain::ALL {
        let own = chain.own();
        if needed {
            ensure_chain(&mut plan, Table::Nat, &state.nat, chain.builtin(), own);
        }
        let mut wanted: Vec<(String, Origin)> = desired
            .rules
            .iter()
            .filter(|rule| rule.chain == chain)
            .map(|rule| (rule.rule.clone(), Origin::Rule(rule.clone())))
            .collect();
        wanted.dedup();
        let mut actual: &[String] = state.nat.rules_of(own);
        if chain == NatChain::Postrouting && desired.avoid_masq {
            let rule = avoid_masq_rule(desired.family);
            if actual.first() == Some(&rule) {
                actual = &actual[1..];
            } else {
                plan.creates.push(Line {
                    table: Table::Nat,
                    text: format!("-I {own} 1 {rule}"),
                    origin: Origin::AvoidMasq,
                });
            }
        }
        diff_chain(&mut plan, Table::Nat, own, actual, wanted, |raw| {
            let canonical = rule::parse(chain, raw)
                .map(|parsed| parsed.render())
                .unwrap_or_else(|_| raw.to_string());
            if canonical == avoid_masq_rule(desired.family) {
                Origin::AvoidMasq
            } else {
                Origin::StaleRule(format!("-t nat {}: {raw}", chain.builtin()))
            }
        });
    }
    if needed {
        ensure_chain(&mut plan, Table::Filter, &state.filter, "FORWARD", FORWARD_CHAIN);
    }
    let wanted = desired
        .forward_devices
        .iter()
        .map(|device| (forward_rule(device), Origin::Forward(device.clone())))
        .collect();
    diff_chain(
        &mut plan,
        Table::Filter,
        FORWARD_CHAIN,
        state.filter.rules_of(FORWARD_CHAIN),
        wanted,
        |raw| Origin::Forward(raw.to_string()),
    );
    plan
}

fn ensure_chain(plan: &mut Plan, table: Table, state: &TableState, builtin: &str, own: &'static str) {
    if !state.chains.contains(own) {
        plan.creates.push(Line {
            table,
            text: format!(":{own} - [0:0]"),
            origin: Origin::Chain {
                own,
                what: format!("create chain {own}"),
            },
        });
    }
    if !state.rules_of(builtin).iter().any(|rule| *rule == jump_rule(own)) {
        plan.creates.push(Line {
            table,
            text: format!("-I {builtin} 1 {}", jump_rule(own)),
            origin: Origin::Chain {
                own,
                what: format!("jump from {builtin} to {own}"),
            },
        });
    }
}

/// Keeps each actual rule that is wanted (once per wanted copy), deletes the
/// rest, and appends what is still missing.
fn diff_chain(
    plan: &mut Plan,
    table: Table,
    chain: &str,
    actual: &[String],
    mut wanted: Vec<(String, Origin)>,
    unwanted_origin: impl Fn(&str) -> Origin,
) {
    for raw in actual {
        let canonical = canonical_in(table, chain, raw);
        if let Some(position) = wanted.iter().position(|(text, _)| *text == canonical) {
            wanted.remove(position);
        } else {
            plan.deletes.push(Line {
                table,
                text: format!("-D {chain} {raw}"),
                origin: unwanted_origin(raw),
            });
        }
    }
    for (text, origin) in wanted {
        plan.creates.push(Line {
            table,
            text: format!("-A {chain} {text}"),
            origin,
        });
    }
}

fn canonical_in(table: Table, chain: &str, raw: &str) -> String {
    let logical = NatChain::ALL.into_iter().find(|c| c.own() == chain);
    match (table, logical) {
        (Table::Nat, Some(logical)) => rule::parse(logical, raw)
            .map(|parsed| parsed.render())
            .unwrap_or_else(|_| raw.to_string()),
        _ => raw.to_string(),
    }
}

fn save_tool(tools: &Tools, family: Family) -> &Path {
    match family {
        Family::V4 => &tools.iptables_save,
        Family::V6 => &tools.ip6tables_save,
    }
}

fn restore_tool(tools: &Tools, family: Family) -> &Path {
    match family {
        Family::V4 => &tools.iptables_restore,
        Family::V6 => &tools.ip6tables_restore,
    }
}

/// Reads the nat and filter tables of `family` with one `iptables-save` (one
/// process instead of one `iptables -S` per table: a no-op resync is mostly
/// process start-up).
pub(crate) async fn read(
    tools: &Tools,
    family: Family,
    timeout: Duration,
) -> Result<FamilyState, AgentError> {
    let saved = command::run(save_tool(tools, family), &[], None, timeout).await?;
    Ok(FamilyState::parse_save(&saved.stdout_text()))
}

fn restore_input(lines: &[&Line]) -> String {
    let mut input = String::new();
    for table in [Table::Nat, Table::Filter] {
        let of_table: Vec<&&Line> = lines.iter().filter(|line| line.table == table).collect();
        if of_table.is_empty() {
            continue;
        }
        input.push('*');
        input.push_str(table.name());
        input.push('\n');
        for line in of_table {
            input.push_str(&line.text);
            input.push('\n');
        }
        input.push_str("COMMIT\n");
    }
    input
}

/// Runs `lines` in one `iptables-restore --noflush`.
pub(crate) async fn restore(
    tools: &Tools,
    family: Family,
    lines: &[&Line],
    timeout: Duration,
) -> Result<(), AgentError> {
    if lines.is_empty() {
        return Ok(());
    }
    let input = restore_input(lines);
    command::run(
        restore_tool(tools, family),
        &["-w", "--noflush"],
        Some(input.as_bytes()),
        timeout,
    )
    .await
    .map(drop)
}

/// Runs each line in its own restore, in order, and returns each outcome.
pub(crate) async fn restore_each<'a>(
    tools: &Tools,
    family: Family,
    lines: &'a [Line],
    timeout: Duration,
) -> Vec<(&'a Line, Result<(), AgentError>)> {
    let mut outcomes = Vec::with_capacity(lines.len());
    for line in lines {
        let outcome = restore(tools, family, &[line], timeout).await;
        outcomes.push((line, outcome));
    }
    outcomes
}

/// The outcome of one phase for one family.
#[derive(Debug, Default)]
pub(crate) struct PhaseOutcome {
    /// Each line run, and whether it failed.
    pub lines: Vec<(Line, Option<AgentError>)>,
    /// Set when the state could not be read, in which case nothing was run.
    pub read_error: Option<AgentError>,
    /// The state the phase planned from, when it had nothing to run: the
    /// tables are as read, so the next phase can plan from it without
    /// running the tools again.
    pub unchanged: Option<FamilyState>,
}

/// Reads the state (unless `known` is a state read earlier in the same pass
/// and not changed since), plans, and runs one phase's lines: all in one
/// restore, and when that fails, one by one against the state read again.
pub(crate) async fn run_phase(
    tools: &Tools,
    desired: &FamilyDesired,
    phase: Phase,
    known: Option<FamilyState>,
    timeout: Duration,
) -> PhaseOutcome {
    let family = desired.family;
    let select = |plan: Plan| match phase {
        Phase::Delete => plan.deletes,
        Phase::Create => plan.creates,
    };
    let state = match known {
        Some(state) => state,
        None => match read(tools, family, timeout).await {
            Ok(state) => state,
            Err(error) => {
                return PhaseOutcome {
                    read_error: Some(error),
                    ..PhaseOutcome::default()
                };
            }
        },
    };
    let lines = select(plan(desired, &state));
    if lines.is_empty() {
        return PhaseOutcome {
            unchanged: Some(state),
            ..PhaseOutcome::default()
        };
    }
    let all: Vec<&Line> = lines.iter().collect();
    match restore(tools, family, &all, timeout).await {
        Ok(()) => PhaseOutcome {
            lines: lines.into_iter().map(|line| (line, None)).collect(),
            ..PhaseOutcome::default()
        },
        Err(batch_error) => {
            tracing::debug!(family = family.label(), error = %batch_error, "iptables-restore batch failed; retrying line by line");
            let state = match read(tools, family, timeout).await {
                Ok(state) => state,
                Err(error) => {
                    return PhaseOutcome {
                        read_error: Some(error),
                        ..PhaseOutcome::default()
                    };
                }
            };
            let lines = select(plan(desired, &state));
            let outcomes = restore_each(tools, family, &lines, timeout).await;
            PhaseOutcome {
                lines: outcomes
                    .into_iter()
                    .map(|(line, outcome)| (line.clone(), outcome.err()))
                    .collect(),
                ..PhaseOutcome::default()
            }
        }
    }
}

/// Removes the jumps to the agent's chains and the chains themselves.
/// Returns how many chains were removed.
pub(crate) async fn cleanup(tools: &Tools, family: Family, timeout: Duration) -> Result<usize, AgentError> {
    let state = read(tools, family, timeout).await?;
    let lines = cleanup_lines(&state);
    let chains = lines.iter().filter(|line| line.text.starts_with("-X")).count();
    let all: Vec<&Line> = lines.iter().collect();
    if restore(tools, family, &all, timeout).await.is_ok() {
        return Ok(chains);
    }
    let state = read(tools, family, timeout).await?;
    let lines = cleanup_lines(&state);
    let mut failures = Vec::new();
    for (_, outcome) in restore_each(tools, family, &lines, timeout).await {
        if let Err(error) = outcome {
            failures.push(error);
        }
    }
    if failures.is_empty() {
        Ok(chains)
    } else {
        Err(AgentError::Incomplete(failures))
    }
}

fn cleanup_lines(state: &FamilyState) -> Vec<Line> {
    let mut lines = Vec::new();
    let owned = NatChain::ALL
        .into_iter()
        .map(|chain| (Table::Nat, &state.nat, chain.builtin(), chain.own()))
        .chain([(Table::Filter, &state.filter, "FORWARD", FORWARD_CHAIN)]);
    for (table, table_state, builtin, own) in owned {
        let jump = jump_rule(own);
        for _ in table_state.rules_of(builtin).iter().filter(|rule| **rule == jump) {
            let what = format!("remove the jump from {builtin} to {own}");
            lines.push(Line {
                table,
                text: format!("-D {builtin} {jump}"),
                origin: Origin::Chain { own, what },
            });
        }
        if table_state.chains.contains(own) {
            let what = format!("remove chain {own}");
            lines.push(Line {
                table,
                text: format!("-F {own}"),
                origin: Origin::Chain {
                    own,
                    what: what.clone(),
                },
            });
            lines.push(Line {
                table,
                text: format!("-X {own}"),
                origin: Origin::Chain { own, what },
            });
        }
    }
    lines
}

#[cfg(test)]
mod tests {
    #[test]
    fn iptables_save_output_parses_into_both_tables() {
        let saved = "# Generated by iptables-save v1.8.9 (nf_tables)\n\
                     *filter\n:INPUT ACCEPT [0:0]\n:FORWARD ACCEPT [0:0]\n:DRMYSQL-FORWARD - [0:0]\n\
                     -A FORWARD -j DRMYSQL-FORWARD\n-A DRMYSQL-FORWARD -o vx-bridge -j ACCEPT\nCOMMIT\n\
                     *mangle\n:PREROUTING ACCEPT [0:0]\n-A PREROUTING -j MARK --set-mark 1\nCOMMIT\n\
                     *nat\n:POSTROUTING ACCEPT [0:0]\n:DRMYSQL-POSTROUTING - [0:0]\n:KUBE-X - [0:0]\n\
                     -A POSTROUTING -j DRMYSQL-POSTROUTING\n-A DRMYSQL-POSTROUTING -s 210.0.0.0/8 -j MASQUERADE\n\
                     COMMIT\n";
        let state = FamilyState::parse_save(saved);
        assert_eq!(
            state.nat.chains,
            ["DRMYSQL-POSTROUTING", "KUBE-X"]
                .map(str::to_owned)
                .into_iter()
                .collect()
        );
        assert_eq!(
            state.nat.rules_of("DRMYSQL-POSTROUTING"),
            ["-s 210.0.0.0/8 -j MASQUERADE"]
        );
        assert_eq!(state.nat.rules_of("POSTROUTING"), ["-j DRMYSQL-POSTROUTING"]);
        assert_eq!(
            state.filter.rules_of("DRMYSQL-FORWARD"),
            ["-o vx-bridge -j ACCEPT"]
        );
        assert!(
            state.filter.rules_of("PREROUTING").is_empty(),
            "mangle is not read into filter"
        );
        assert_eq!(
            FamilyState::parse_save(""),
            FamilyState::default(),
            "no tables yet"
        );
    }

    use super::*;

    fn nat_rule(chain: NatChain, rule: &str) -> NatRule {
        NatRule {
            family: Family::V4,
            chain,
            rule: rule.to_string(),
        }
    }

    fn texts(lines: &[Line]) -> Vec<&str> {
        lines.iter().map(|line| line.text.as_str()).collect()
    }

    const FRESH: &str = "-P PREROUTING ACCEPT\n-P INPUT ACCEPT\n-P OUTPUT ACCEPT\n-P POSTROUTING ACCEPT\n";

    /// A state read earlier in the pass is planned from without running the
    /// tool, and a phase with nothing to run hands its state on.
    #[tokio::test]
    async fn a_known_state_saves_the_read_and_is_handed_on_when_unchanged() {
        let tools = Tools {
            iptables_save: "drmysql-no-such-iptables-save".into(),
            ..Tools::default()
        };
        let desired = FamilyDesired {
            family: Family::V4,
            rules: Vec::new(),
            avoid_masq: false,
            forward_devices: BTreeSet::new(),
        };
        let state = FamilyState {
            nat: TableState::parse(FRESH),
            filter: TableState::parse("-P FORWARD ACCEPT\n"),
        };
        let timeout = Duration::from_secs(5);
        for phase in [Phase::Delete, Phase::Create] {
            let outcome = run_phase(&tools, &desired, phase, Some(state.clone()), timeout).await;
            assert!(
                outcome.read_error.is_none() && outcome.lines.is_empty(),
                "{outcome:?}"
            );
            assert_eq!(outcome.unchanged.as_ref(), Some(&state));
        }
        let outcome = run_phase(&tools, &desired, Phase::Delete, None, timeout).await;
        assert!(
            outcome.read_error.is_some() && outcome.unchanged.is_none(),
            "without a known state the tool runs: {outcome:?}"
        );
    }

    #[test]
    fn a_fresh_table_gets_chains_jumps_and_rules() {
        let desired = FamilyDesired {
            family: Family::V4,
            rules: vec![nat_rule(NatChain::Postrouting, "-s 220.0.0.0/8 -j MASQUERADE")],
            avoid_masq: true,
            forward_devices: ["vx-bridge".to_string()].into(),
        };
        let state = FamilyState {
            nat: TableState::parse(FRESH),
            filter: TableState::parse("-P FORWARD ACCEPT\n"),
        };
        let plan = plan(&desired, &state);
        assert!(plan.deletes.is_empty());
        assert_eq!(
            texts(&plan.creates),
            [
                ":DRMYSQL-PREROUTING - [0:0]",
                "-I PREROUTING 1 -j DRMYSQL-PREROUTING",
                ":DRMYSQL-POSTROUTING - [0:0]",
                "-I POSTROUTING 1 -j DRMYSQL-POSTROUTING",
                "-I DRMYSQL-POSTROUTING 1 -m set --match-set drmysql-avoid-masq dst -j RETURN",
                "-A DRMYSQL-POSTROUTING -s 220.0.0.0/8 -j MASQUERADE",
                ":DRMYSQL-OUTPUT - [0:0]",
                "-I OUTPUT 1 -j DRMYSQL-OUTPUT",
                ":DRMYSQL-FORWARD - [0:0]",
                "-I FORWARD 1 -j DRMYSQL-FORWARD",
                "-A DRMYSQL-FORWARD -o vx-bridge -j ACCEPT",
            ]
        );
        let input = restore_input(&plan.creates.iter().collect::<Vec<_>>());
        assert!(input.starts_with("*nat\n:DRMYSQL-PREROUTING - [0:0]\n"));
        assert!(input.contains("COMMIT\n*filter\n"));
        assert!(input.ends_with("-A DRMYSQL-FORWARD -o vx-bridge -j ACCEPT\nCOMMIT\n"));
    }

    fn converged() -> (FamilyDesired, FamilyState) {
        let desired = FamilyDesired {
            family: Family::V4,
            rules: vec![nat_rule(NatChain::Postrouting, "-s 220.0.0.0/8 -j MASQUERADE")],
            avoid_masq: true,
            forward_devices: ["vx-bridge".to_string()].into(),
        };
        let nat = TableState::parse(
            "-P POSTROUTING ACCEPT\n-N DRMYSQL-OUTPUT\n-N DRMYSQL-POSTROUTING\n-N DRMYSQL-PREROUTING\n\
             -A PREROUTING -j DRMYSQL-PREROUTING\n-A OUTPUT -j DRMYSQL-OUTPUT\n\
             -A POSTROUTING -j DRMYSQL-POSTROUTING\n-A POSTROUTING -s 10.0.0.0/8 -j MASQUERADE\n\
             -A DRMYSQL-POSTROUTING -m set --match-set drmysql-avoid-masq dst -j RETURN\n\
             -A DRMYSQL-POSTROUTING -s 220.0.0.0/8 -j MASQUERADE\n",
        );
        let filter = TableState::parse(
            "-P FORWARD ACCEPT\n-N DRMYSQL-FORWARD\n-A FORWARD -j DRMYSQL-FORWARD\n\
             -A DRMYSQL-FORWARD -o vx-bridge -j ACCEPT\n",
        );
        (desired, FamilyState { nat, filter })
    }

    #[test]
    fn a_converged_state_needs_nothing() {
        let (desired, state) = converged();
        assert_eq!(plan(&desired, &state), Plan::default());
    }

    #[test]
    fn stale_rules_are_deleted_with_their_printed_text() {
        let (mut desired, state) = converged();
        desired.rules.clear();
        desired.avoid_masq = false;
        desired.forward_devices.clear();
        let plan = plan(&desired, &state);
        assert_eq!(
            texts(&plan.deletes),
            [
                "-D DRMYSQL-POSTROUTING -m set --match-set drmysql-avoid-masq dst -j RETURN",
                "-D DRMYSQL-POSTROUTING -s 220.0.0.0/8 -j MASQUERADE",
                "-D DRMYSQL-FORWARD -o vx-bridge -j ACCEPT",
            ]
        );
        assert_eq!(plan.deletes[0].origin, Origin::AvoidMasq);
        assert!(matches!(plan.deletes[1].origin, Origin::StaleRule(_)));
        assert!(plan.creates.is_empty(), "chains stay until cleanup");
    }

    #[test]
    fn a_misplaced_return_rule_is_moved_to_the_top() {
        let (desired, mut state) = converged();
        state.nat.rules.insert(
            "DRMYSQL-POSTROUTING".into(),
            vec!["-s 220.0.0.0/8 -j MASQUERADE".into(), avoid_masq_rule(Family::V4)],
        );
        let plan = plan(&desired, &state);
        assert_eq!(
            texts(&plan.deletes),
            ["-D DRMYSQL-POSTROUTING -m set --match-set drmysql-avoid-masq dst -j RETURN"]
        );
        assert_eq!(
            texts(&plan.creates),
            ["-I DRMYSQL-POSTROUTING 1 -m set --match-set drmysql-avoid-masq dst -j RETURN"]
        );
    }

    #[test]
    fn a_rule_printed_differently_from_the_spec_still_matches() {
        let (mut desired, mut state) = converged();
        desired.rules = vec![nat_rule(
            NatChain::Postrouting,
            "-s 10.1.0.0/16 -o vx -p tcp -m tcp --dport 80 -j MASQUERADE",
        )];
        state.nat.rules.insert(
            "DRMYSQL-POSTROUTING".into(),
            vec![
                avoid_masq_rule(Family::V4),
                "-s 10.1.0.0/16 -o vx -p tcp -m tcp --dport 80 -j MASQUERADE".into(),
            ],
        );
        assert_eq!(plan(&desired, &state), Plan::default());
    }

    #[test]
    fn cleanup_removes_jumps_then_chains() {
        let (_, state) = converged();
        let lines = cleanup_lines(&state);
        assert_eq!(
            texts(&lines),
            [
                "-D PREROUTING -j DRMYSQL-PREROUTING",
                "-F DRMYSQL-PREROUTING",
                "-X DRMYSQL-PREROUTING",
                "-D POSTROUTING -j DRMYSQL-POSTROUTING",
                "-F DRMYSQL-POSTROUTING",
                "-X DRMYSQL-POSTROUTING",
                "-D OUTPUT -j DRMYSQL-OUTPUT",
                "-F DRMYSQL-OUTPUT",
                "-X DRMYSQL-OUTPUT",
                "-D FORWARD -j DRMYSQL-FORWARD",
                "-F DRMYSQL-FORWARD",
                "-X DRMYSQL-FORWARD",
            ]
        );
    }
}
