//! Cutting a node's clusterlink tunnel: the `iptables` invocations, pure,
//! planned from the node's `iptables -S` (table filter).
//!
//! The drops live in a chain of the sandbox's own, [`TUNNEL_CHAIN`], jumped to
//! from position 1 of `INPUT` and `OUTPUT`. The clusterlink agent writes with
//! `iptables-restore --noflush` only inside its own `DRMYSQL-*` chains and the
//! jumps to them (nat chains and `FORWARD`), so neither its applies nor its
//! cleanup touch this chain or these jumps; and a restore that declared an
//! existing chain would flush only that chain, never this one.

/// The sandbox's chain of tunnel drops, in table filter.
pub const TUNNEL_CHAIN: &str = "DRMYSQL-E2E-TUNNEL";

/// The UDP ports of clusterlink's IPv4 VXLAN devices: `vx-bridge` (4876,
/// between clusters) and `vx-local` (4877, a gateway-mode cluster's nodes to
/// their gateway), as in `crates/clusterlink/src/manager/device.rs`.
pub const TUNNEL_PORTS: [u16; 2] = [4876, 4877];

/// The built-in chains that jump to [`TUNNEL_CHAIN`]: what the node receives
/// and what it sends.
pub const HOOKS: [&str; 2] = ["INPUT", "OUTPUT"];

fn jump() -> String {
    format!("-j {TUNNEL_CHAIN}")
}

fn words(line: &str) -> Vec<String> {
    line.split(' ').map(str::to_owned).collect()
}

/// The rules of `chain` in `iptables -S` output, as printed after `-A <chain> `.
fn rules_of<'a>(saved: &'a str, chain: &str) -> Vec<&'a str> {
    let start = format!("-A {chain} ");
    saved
        .lines()
        .filter_map(|line| line.strip_prefix(start.as_str()))
        .collect()
}

fn chain_exists(saved: &str) -> bool {
    saved.lines().any(|line| line == format!("-N {TUNNEL_CHAIN}"))
}

/// The `iptables` arguments (after `-w`) that drop UDP to [`TUNNEL_PORTS`]
/// both ways, whatever part of it `saved` already has; running them twice
/// leaves the same rules.
pub fn block_plan(saved: &str) -> Vec<Vec<String>> {
    let mut plan = Vec::new();
    let chain_action = if chain_exists(saved) { "-F" } else { "-N" };
    plan.push(words(&format!("{chain_action} {TUNNEL_CHAIN}")));
    for port in TUNNEL_PORTS {
        plan.push(words(&format!("-A {TUNNEL_CHAIN} -p udp --dport {port} -j DROP")));
    }
    let jump = jump();
    for hook in HOOKS {
        let rules = rules_of(saved, hook);
        let jumps = rules.iter().filter(|rule| **rule == jump).count();
        if rules.first() == Some(&jump.as_str()) && jumps == 1 {
            continue;
        }
        for _ in 0..jumps {
            plan.push(words(&format!("-D {hook} {jump}")));
        }
        plan.push(words(&format!("-I {hook} 1 {jump}")));
    }
    plan
}

/// The `iptables` arguments (after `-w`) that remove every jump to
/// [`TUNNEL_CHAIN`] and the chain; nothing when `saved` has neither.
pub fn unblock_plan(saved: &str) -> Vec<Vec<String>> {
    let mut plan = Vec::new();
    let jump = jump();
    for hook in HOOKS {
        for _ in rules_of(saved, hook).iter().filter(|rule| **rule == jump) {
            plan.push(words(&format!("-D {hook} {jump}")));
        }
    }
    if chain_exists(saved) {
        plan.push(words(&format!("-F {TUNNEL_CHAIN}")));
        plan.push(words(&format!("-X {TUNNEL_CHAIN}")));
    }
    plan
}

#[cfg(test)]
mod tests {
    use super::*;

    const FRESH: &str = "-P INPUT ACCEPT\n-P FORWARD ACCEPT\n-P OUTPUT ACCEPT\n";

    fn joined(plan: &[Vec<String>]) -> Vec<String> {
        plan.iter().map(|args| args.join(" ")).collect()
    }

    #[test]
    fn a_fresh_node_gets_the_chain_its_drops_and_two_first_jumps() {
        assert_eq!(
            joined(&block_plan(FRESH)),
            [
                "-N DRMYSQL-E2E-TUNNEL",
                "-A DRMYSQL-E2E-TUNNEL -p udp --dport 4876 -j DROP",
                "-A DRMYSQL-E2E-TUNNEL -p udp --dport 4877 -j DROP",
                "-I INPUT 1 -j DRMYSQL-E2E-TUNNEL",
                "-I OUTPUT 1 -j DRMYSQL-E2E-TUNNEL",
            ]
        );
    }

    #[test]
    fn blocking_again_refills_the_chain_and_moves_a_displaced_jump_back_first() {
        let saved = format!(
            "{FRESH}-N DRMYSQL-E2E-TUNNEL\n-N DRMYSQL-FORWARD\n\
             -A INPUT -j DRMYSQL-E2E-TUNNEL\n\
             -A OUTPUT -j KUBE-X\n-A OUTPUT -j DRMYSQL-E2E-TUNNEL\n\
             -A FORWARD -j DRMYSQL-FORWARD\n\
             -A DRMYSQL-E2E-TUNNEL -p udp -m udp --dport 4876 -j DROP\n"
        );
        assert_eq!(
            joined(&block_plan(&saved)),
            [
                "-F DRMYSQL-E2E-TUNNEL",
                "-A DRMYSQL-E2E-TUNNEL -p udp --dport 4876 -j DROP",
                "-A DRMYSQL-E2E-TUNNEL -p udp --dport 4877 -j DROP",
                "-D OUTPUT -j DRMYSQL-E2E-TUNNEL",
                "-I OUTPUT 1 -j DRMYSQL-E2E-TUNNEL",
            ]
        );
    }

    #[test]
    fn unblocking_removes_jumps_and_chain_and_nothing_else() {
        let saved = format!(
            "{FRESH}-N DRMYSQL-E2E-TUNNEL\n-N DRMYSQL-FORWARD\n\
             -A INPUT -j DRMYSQL-E2E-TUNNEL\n-A OUTPUT -j DRMYSQL-E2E-TUNNEL\n\
             -A FORWARD -j DRMYSQL-FORWARD\n"
        );
        assert_eq!(
            joined(&unblock_plan(&saved)),
            [
                "-D INPUT -j DRMYSQL-E2E-TUNNEL",
                "-D OUTPUT -j DRMYSQL-E2E-TUNNEL",
                "-F DRMYSQL-E2E-TUNNEL",
                "-X DRMYSQL-E2E-TUNNEL",
            ]
        );
        assert!(unblock_plan(FRESH).is_empty(), "nothing to undo");
    }
}
