//! The avoid-masquerade ipset: remote pod CIDRs whose traffic must keep its
//! pod source address.
//!
//! CNIs other than Calico masquerade traffic that leaves the pod network; for
//! traffic to another cluster's pods that would replace the pod IP MySQL sees.
//! Kosmos's IPsec pull request put the remote CIDRs into an ipset and a
//! `RETURN` rule into nat `POSTROUTING`; here the set is `drmysql-avoid-masq`
//! (`hash:net`, and `drmysql-avoid-masq-6` for IPv6, since a set holds one
//! family) and the rule is the first rule of `DRMYSQL-POSTROUTING`, which is
//! itself jumped to from position 1 of `POSTROUTING`, ahead of the CNI's
//! masquerade.
//!
//! Members are read with `ipset save <set>` and changed with one
//! `ipset restore -exist`; when that fails, line by line, so one bad member
//! fails alone.

use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;
use std::time::Duration;

use ipnet::IpNet;

use super::command::{self, Tools};
use super::error::AgentError;
use super::model::{AvoidMasqEntry, Family, set_for};

/// The members of the agent's sets that exist, by family.
pub(crate) type SetState = BTreeMap<Family, BTreeSet<IpNet>>;

/// Reads the agent's sets: a family is absent from the map when its set does
/// not exist.
pub(crate) async fn read(tools: &Tools, timeout: Duration) -> Result<SetState, AgentError> {
    let names = command::run(&tools.ipset, &["list", "-n"], None, timeout)
        .await?
        .stdout_text();
    let mut state = SetState::new();
    for family in [Family::V4, Family::V6] {
        let name = set_for(family);
        if !names.lines().any(|line| line.trim() == name) {
            continue;
        }
        let saved = command::run(&tools.ipset, &["save", name], None, timeout)
            .await?
            .stdout_text();
        state.insert(family, parse_members(&saved, name)?);
    }
    Ok(state)
}

fn parse_members(saved: &str, name: &str) -> Result<BTreeSet<IpNet>, AgentError> {
    let mut members = BTreeSet::new();
    for line in saved.lines() {
        let mut words = line.split_whitespace();
        if words.next() != Some("add") || words.next() != Some(name) {
            continue;
        }
        let member = words.next().unwrap_or_default();
        let net = member
            .parse::<IpNet>()
            .or_else(|_| member.parse::<IpAddr>().map(IpNet::from))
            .map_err(|_| AgentError::Parse {
                tool: "ipset save".into(),
                detail: format!("member `{member}` of {name}"),
            })?;
        members.insert(net);
    }
    Ok(members)
}

/// How a CIDR is written to a `hash:net` set: a host network without its
/// prefix length, as `ipset save` prints it.
fn member(cidr: &IpNet) -> String {
    if cidr.prefix_len() == cidr.max_prefix_len() {
        cidr.addr().to_string()
    } else {
        cidr.to_string()
    }
}

/// One `ipset restore` line and the entry it serves.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct SetLine {
    /// The restore command.
    pub text: String,
    /// The CIDR it adds or removes; `None` for creating a set.
    pub cidr: Option<IpNet>,
    /// The set.
    pub set: &'static str,
}

/// The set changes that bring the kernel to `desired`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct SetPlan {
    /// Members to remove.
    pub deletes: Vec<SetLine>,
    /// Sets that are no longer wanted at all; destroyed once the rule that
    /// references them is gone.
    pub destroys: Vec<&'static str>,
    /// Sets to create and members to add.
    pub creates: Vec<SetLine>,
}

/// Computes the changes.
pub(crate) fn plan(desired: &[AvoidMasqEntry], state: &SetState) -> SetPlan {
    let mut plan = SetPlan::default();
    for family in [Family::V4, Family::V6] {
        let set = set_for(family);
        let wanted: BTreeSet<IpNet> = desired
            .iter()
            .map(|entry| entry.cidr)
            .filter(|cidr| Family::of(cidr.addr()) == family)
            .collect();
        let actual = state.get(&family);
        match actual {
            Some(_) if wanted.is_empty() => plan.destroys.push(set),
            Some(members) => {
                for cidr in members.difference(&wanted) {
                    plan.deletes.push(SetLine {
                        text: format!("del {set} {}", member(cidr)),
                        cidr: Some(*cidr),
                        set,
                    });
                }
            }
            None if !wanted.is_empty() => {
                let inet = match family {
                    Family::V4 => "inet",
                    Family::V6 => "inet6",
                };
                plan.creates.push(SetLine {
                    text: format!("create {set} hash:net family {inet}"),
                    cidr: None,
                    set,
                });
            }
            None => {}
        }
        for cidr in &wanted {
            if actual.is_none_or(|members| !members.contains(cidr)) {
                plan.creates.push(SetLine {
                    text: format!("add {set} {}", member(cidr)),
                    cidr: Some(*cidr),
                    set,
                });
            }
        }
    }
    plan
}

/// Runs `lines` in one `ipset restore -exist`; when that fails, one by one.
/// Returns each line's failure.
pub(crate) async fn execute(tools: &Tools, lines: &[SetLine], timeout: Duration) -> Vec<Option<AgentError>> {
    if lines.is_empty() {
        return Vec::new();
    }
    let mut input = String::new();
    for line in lines {
        input.push_str(&line.text);
        input.push('\n');
    }
    match command::run(
        &tools.ipset,
        &["restore", "-exist"],
        Some(input.as_bytes()),
        timeout,
    )
    .await
    {
        Ok(_) => lines.iter().map(|_| None).collect(),
        Err(batch) => {
            tracing::debug!(error = %batch, "ipset restore batch failed; retrying line by line");
            let mut outcomes = Vec::with_capacity(lines.len());
            for line in lines {
                let args: Vec<&str> = std::iter::once("-exist").chain(line.text.split(' ')).collect();
                outcomes.push(command::run(&tools.ipset, &args, None, timeout).await.err());
            }
            outcomes
        }
    }
}

/// Destroys one of the agent's sets.
pub(crate) async fn destroy(tools: &Tools, set: &str, timeout: Duration) -> Result<(), AgentError> {
    command::run(&tools.ipset, &["destroy", set], None, timeout)
        .await
        .map(drop)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(cidr: &str) -> AvoidMasqEntry {
        AvoidMasqEntry {
            cidr: cidr.parse().expect("cidr"),
        }
    }

    #[test]
    fn members_parse_from_ipset_save() {
        let saved = "create drmysql-avoid-masq hash:net family inet hashsize 1024 maxelem 65536\n\
                     add drmysql-avoid-masq 10.20.0.0/16\nadd drmysql-avoid-masq 10.30.0.1\n";
        let members = parse_members(saved, "drmysql-avoid-masq").expect("parses");
        let printed: Vec<String> = members.iter().map(ToString::to_string).collect();
        assert_eq!(printed, ["10.20.0.0/16", "10.30.0.1/32"]);
    }

    #[test]
    fn a_missing_set_is_created_with_its_members() {
        let plan = plan(
            &[entry("10.20.0.0/16"), entry("fd20::/64"), entry("10.30.0.1/32")],
            &SetState::new(),
        );
        let texts: Vec<&str> = plan.creates.iter().map(|line| line.text.as_str()).collect();
        assert_eq!(
            texts,
            [
                "create drmysql-avoid-masq hash:net family inet",
                "add drmysql-avoid-masq 10.20.0.0/16",
                "add drmysql-avoid-masq 10.30.0.1",
                "create drmysql-avoid-masq-6 hash:net family inet6",
                "add drmysql-avoid-masq-6 fd20::/64",
            ]
        );
    }

    #[test]
    fn existing_sets_are_diffed_and_unwanted_sets_destroyed() {
        let mut state = SetState::new();
        state.insert(
            Family::V4,
            [
                "10.20.0.0/16".parse().expect("cidr"),
                "10.40.0.0/16".parse().expect("cidr"),
            ]
            .into(),
        );
        state.insert(Family::V6, ["fd20::/64".parse().expect("cidr")].into());
        let plan = plan(&[entry("10.20.0.0/16"), entry("10.50.0.0/16")], &state);
        let deletes: Vec<&str> = plan.deletes.iter().map(|line| line.text.as_str()).collect();
        let creates: Vec<&str> = plan.creates.iter().map(|line| line.text.as_str()).collect();
        assert_eq!(deletes, ["del drmysql-avoid-masq 10.40.0.0/16"]);
        assert_eq!(creates, ["add drmysql-avoid-masq 10.50.0.0/16"]);
        assert_eq!(plan.destroys, ["drmysql-avoid-masq-6"]);
    }
}
