//! The agent against real kernels: network namespaces joined by veth and a
//! bridge, VXLAN devices, routes, FDB and ARP entries, iptables, ipset and
//! xfrm, with NodeConfigs computed by the network manager.
//!
//! These tests need root, `ip`, `bridge`, `iptables`, `ip6tables` and `ipset`;
//! without them they fail and say what is missing.

mod support;

use std::io::Write as _;
use std::os::unix::fs::PermissionsExt as _;
use std::time::Duration;

use drmysql_api::clusterlink::{
    Arp, Device, EntryKind, Fdb, IpsetAvoidMasq, Iptables, NetworkType, NodeConfigSpec, Route, XfrmPolicy,
    XfrmState,
};
use drmysql_clusterlink::agent::Tools;
use drmysql_clusterlink::ipsec;
use support::{
    Netns, World, apply, assert_clean, assert_same_dump, cleanup, ping, require_root_and_tools, tcp_exchange,
};

const PING_DEADLINE: Duration = Duration::from_secs(3);

fn p2p_world(layout: &[(&str, &str, bool)]) -> World {
    World::build(&[("a", NetworkType::P2p), ("b", NetworkType::P2p)], layout)
}

fn reach(world: &World, from: (&str, &str), to: (&str, &str), port: u16) {
    let source = world.node(from.0, from.1);
    let target = world.node(to.0, to.1);
    ping(&source.pod, target.pod_ip, PING_DEADLINE).unwrap_or_else(|e| {
        panic!(
            "ping {}/{} pod -> {}/{} pod ({}): {e}",
            from.0, from.1, to.0, to.1, target.pod_ip
        )
    });
    tcp_exchange(&source.pod, &target.pod, target.pod_ip, port).unwrap_or_else(|e| {
        panic!(
            "tcp {}/{} pod -> {}/{} pod ({}:{port}): {e}",
            from.0, from.1, to.0, to.1, target.pod_ip
        )
    });
}

#[test]
fn p2p_pods_reach_pods_of_the_other_cluster() {
    require_root_and_tools();
    let world = p2p_world(&[("a", "n1", false), ("a", "n2", false), ("b", "n1", false)]);
    let configs = world.configs();
    world.apply_all(&configs);
    reach(&world, ("a", "n1"), ("b", "n1"), 3306);
    reach(&world, ("b", "n1"), ("a", "n2"), 3307);
}

#[test]
fn gateway_mode_carries_pod_traffic_through_both_gateways() {
    require_root_and_tools();
    let world = World::build(
        &[("a", NetworkType::Gateway), ("b", NetworkType::Gateway)],
        &[
            ("a", "gw", true),
            ("a", "n1", false),
            ("b", "gw", true),
            ("b", "n1", false),
        ],
    );
    let configs = world.configs();
    world.apply_all(&configs);

    let a_n1 = world.node("a", "n1");
    let routes = a_n1.netns.ip(&["route", "show", "table", "200"]);
    assert!(
        routes.contains("10.20.0.0/16") && routes.contains("dev vx-local"),
        "a/n1 goes via its gateway: {routes}"
    );
    let (has_bridge, _, _) = a_n1.netns.try_exec("ip", &["link", "show", "vx-bridge"]);
    assert!(
        !has_bridge,
        "a non-gateway node of a gateway cluster has no vx-bridge"
    );
    let gateway_routes = world.node("a", "gw").netns.ip(&["route", "show", "table", "200"]);
    assert!(
        gateway_routes.contains("dev vx-bridge"),
        "the gateway crosses over vx-bridge: {gateway_routes}"
    );

    reach(&world, ("a", "n1"), ("b", "n1"), 3306);
    reach(&world, ("b", "n1"), ("a", "n1"), 3306);
}

/// Entries beyond what the manager computes, in a spelling that differs from
/// how the kernel prints them, covering iptables (both families), the ipset
/// and xfrm policies.
fn with_extras(mut spec: NodeConfigSpec) -> NodeConfigSpec {
    let rule = |chain: &str, rule: &str| Iptables {
        table: "nat".into(),
        chain: chain.into(),
        rule: rule.into(),
    };
    spec.iptables.push(rule(
        "POSTROUTING",
        "-o eth0 -s 10.10.1.7/24 -p tcp --dport 3306 -j MASQUERADE",
    ));
    spec.iptables.push(rule(
        "PREROUTING",
        "-i vx-bridge -d 10.100.0.0/16 -j NETMAP --to 10.10.0.0/16",
    ));
    spec.iptables
        .push(rule("OUTPUT", "-d 10.0.0.99 -j DNAT --to-destination 10.0.0.12"));
    spec.iptables
        .push(rule("POSTROUTING", "-s fd10::/64 -o eth0 -j MASQUERADE"));
    for cidr in ["10.20.0.0/16", "10.30.0.1/32", "fd20::/64"] {
        spec.ipsets_avoid_masq.push(IpsetAvoidMasq {
            cidr: cidr.into(),
            name: "drmysql-avoid-masq".into(),
        });
    }
    spec.xfrm_policies.extend(policies());
    spec
}

fn policies() -> Vec<XfrmPolicy> {
    let policy = |left_ip: &str, left_net: &str, right_ip: &str, right_net: &str, dir: i32| XfrmPolicy {
        left_ip: left_ip.into(),
        left_net: left_net.into(),
        right_ip: right_ip.into(),
        right_net: right_net.into(),
        req_id: ipsec::REQID,
        dir,
    };
    vec![
        policy("10.0.0.11", "10.10.1.0/24", "198.51.100.12", "10.20.0.0/16", 1),
        policy("198.51.100.12", "10.20.0.0/16", "10.0.0.11", "10.10.1.0/24", 0),
        policy("198.51.100.12", "10.20.0.0/16", "10.0.0.11", "10.10.1.0/24", 2),
    ]
}

#[test]
fn a_second_apply_changes_nothing() {
    require_root_and_tools();
    let world = p2p_world(&[("a", "n1", false), ("b", "n1", false)]);
    let configs = world.configs();
    let node = world.node("a", "n1");
    let name = node.object_name();
    let spec = with_extras(configs[&name].clone());

    let first = apply(&node.netns, &name, &spec, None, None);
    assert_clean(&first, "first apply");
    assert!(
        first.created >= spec.devices.len() + spec.routes.len() + spec.fdbs.len() + 4,
        "{first:#?}"
    );
    let before = node.netns.dump();

    for (key, value) in [
        ("net.ipv4.ip_forward", "1"),
        ("net.ipv4.conf.vx-bridge.rp_filter", "2"),
        ("net.ipv4.conf.eth0.rp_filter", "2"),
    ] {
        assert_eq!(node.netns.exec("sysctl", &["-n", key]).trim(), value, "{key}");
    }

    let second = apply(&node.netns, &name, &spec, None, None);
    assert_clean(&second, "second apply");
    assert_eq!((second.created, second.deleted), (0, 0), "{second:#?}");
    assert_eq!(second.applied, first.applied);
    assert_same_dump(&before, &node.netns.dump(), "the second apply changed the kernel");
}

#[test]
fn hand_made_drift_is_repaired() {
    require_root_and_tools();
    let world = p2p_world(&[("a", "n1", false), ("b", "n1", false)]);
    let configs = world.configs();
    world.apply_all(&configs);
    let node = world.node("a", "n1");
    let name = node.object_name();
    let spec = &configs[&name];
    let route = spec.routes.first().expect("a route to cluster b");
    let fdb = spec
        .fdbs
        .iter()
        .find(|fdb| fdb.mac != "00:00:00:00:00:00")
        .expect("a unicast fdb entry");

    node.netns.ip(&["route", "del", &route.cidr, "table", "200"]);
    node.netns.exec(
        "bridge",
        &["fdb", "del", &fdb.mac, "dev", &fdb.dev, "dst", &fdb.ip, "self"],
    );
    let repaired = apply(&node.netns, &name, spec, None, None);
    assert_clean(&repaired, "repairing drift");
    assert_eq!((repaired.created, repaired.deleted), (2, 0), "{repaired:#?}");
    reach(&world, ("a", "n1"), ("b", "n1"), 3306);

    // A device whose settings changed is replaced, and what hung on it is
    // created again.
    let mut changed = spec.clone();
    changed.devices[0].mac = "0a:bc:de:00:00:01".into();
    let replaced = apply(&node.netns, &name, &changed, None, None);
    assert_clean(&replaced, "replacing a changed device");
    // In p2p everything hangs on the one vx-bridge.
    let expected_created = 1 + changed.routes.len() + changed.fdbs.len() + changed.arps.len();
    assert_eq!(
        (replaced.created, replaced.deleted),
        (expected_created, 1),
        "{replaced:#?}"
    );
    let link = node.netns.ip(&["link", "show", "vx-bridge"]);
    assert!(link.contains("0a:bc:de:00:00:01"), "{link}");
    let restored = apply(&node.netns, &name, spec, None, None);
    assert_clean(&restored, "restoring the device");
    reach(&world, ("a", "n1"), ("b", "n1"), 3307);
}

#[test]
fn bad_entries_are_reported_and_everything_else_applied() {
    require_root_and_tools();
    let world = p2p_world(&[("a", "n1", false), ("b", "n1", false)]);
    let configs = world.configs();
    world.apply_all(&configs);
    let node = world.node("a", "n1");
    let name = node.object_name();
    let mut spec = configs[&name].clone();
    let good = spec.devices.len() + spec.routes.len() + spec.fdbs.len() + spec.arps.len() + 1;
    spec.routes.push(Route {
        cidr: "10.99.0.0/33".into(),
        gw: "220.0.0.12".into(),
        dev: "vx-bridge".into(),
    });
    spec.iptables.push(Iptables {
        table: "nat".into(),
        chain: "POSTROUTING".into(),
        rule: "-s 10.0.0.0/8 -j DROP".into(),
    });
    spec.iptables.push(Iptables {
        table: "nat".into(),
        chain: "POSTROUTING".into(),
        rule: "-s 220.0.0.0/8 -j MASQUERADE".into(),
    });

    let report = apply(&node.netns, &name, &spec, None, None);
    let mut kinds: Vec<(EntryKind, &str)> = report
        .errors
        .iter()
        .map(|error| (error.kind, error.entry.as_str()))
        .collect();
    kinds.sort();
    assert_eq!(
        kinds,
        [
            (EntryKind::Route, "10.99.0.0/33 via 220.0.0.12 dev vx-bridge"),
            (EntryKind::Iptables, "-t nat POSTROUTING: -s 10.0.0.0/8 -j DROP")
        ],
        "{report:#?}"
    );
    assert!(
        report.errors.iter().any(|e| e.message.contains("`-j DROP`")),
        "{report:#?}"
    );
    assert_eq!((report.failed, report.applied), (2, good), "{report:#?}");
    assert_eq!(
        (report.created, report.deleted),
        (1, 0),
        "only the good rule was new: {report:#?}"
    );
    let rules = node
        .netns
        .exec("iptables", &["-w", "-t", "nat", "-S", "DRMYSQL-POSTROUTING"]);
    assert!(
        rules.contains("-s 220.0.0.0/8 -j MASQUERADE") && !rules.contains("DROP"),
        "{rules}"
    );
    reach(&world, ("a", "n1"), ("b", "n1"), 3306);
}

fn add_foreign_state(netns: &Netns) {
    netns.ip(&[
        "link", "add", "foreign0", "type", "veth", "peer", "name", "foreign1",
    ]);
    netns.ip(&["link", "set", "foreign1", "up"]);
    netns.ip(&["link", "set", "foreign0", "up"]);
    netns.ip(&["addr", "add", "192.0.2.1/24", "dev", "foreign0"]);
    netns.ip(&[
        "route",
        "add",
        "198.51.100.0/24",
        "via",
        "192.0.2.254",
        "dev",
        "foreign0",
    ]);
    netns.ip(&[
        "route",
        "add",
        "203.0.113.0/24",
        "dev",
        "foreign0",
        "table",
        "100",
    ]);
    netns.ip(&[
        "rule",
        "add",
        "pref",
        "300",
        "from",
        "192.0.2.0/24",
        "lookup",
        "100",
    ]);
    netns.ip(&["rule", "add", "pref", "200", "fwmark", "7", "lookup", "200"]);
    let iptables = |args: &[&str]| netns.exec("iptables", &[&["-w"], args].concat());
    iptables(&[
        "-t",
        "nat",
        "-A",
        "POSTROUTING",
        "-s",
        "10.10.0.0/16",
        "!",
        "-d",
        "10.10.0.0/16",
        "-j",
        "MASQUERADE",
    ]);
    iptables(&["-t", "nat", "-N", "FOREIGN-CHAIN"]);
    iptables(&[
        "-t",
        "nat",
        "-A",
        "FOREIGN-CHAIN",
        "-d",
        "10.96.0.0/12",
        "-j",
        "RETURN",
    ]);
    iptables(&["-t", "nat", "-A", "PREROUTING", "-j", "FOREIGN-CHAIN"]);
    iptables(&["-A", "FORWARD", "-i", "eth0", "-j", "ACCEPT"]);
    netns.exec(
        "ip6tables",
        &[
            "-w",
            "-t",
            "nat",
            "-A",
            "POSTROUTING",
            "-s",
            "fd10::/64",
            "-j",
            "MASQUERADE",
        ],
    );
    netns.exec(
        "ip6tables",
        &["-w", "-A", "FORWARD", "-i", "eth0", "-j", "ACCEPT"],
    );
    netns.exec("ipset", &["create", "foreign-set", "hash:ip"]);
    add_foreign_xfrm(netns);
}

fn assert_foreign_state(netns: &Netns, when: &str) {
    let has = |what: &str, text: String, needle: &str| {
        assert!(
            text.contains(needle),
            "{when}: the foreign {what} `{needle}` is gone:\n{text}"
        );
    };
    has("link", netns.ip(&["link", "show", "foreign0"]), "foreign0");
    has(
        "route",
        netns.ip(&["route", "show", "table", "main"]),
        "198.51.100.0/24 via 192.0.2.254",
    );
    has(
        "route",
        netns.ip(&["route", "show", "table", "100"]),
        "203.0.113.0/24 dev foreign0",
    );
    let rules = netns.ip(&["rule", "show"]);
    has("rule", rules.clone(), "300:\tfrom 192.0.2.0/24 lookup 100");
    has("rule", rules, "200:\tfrom all fwmark 0x7 lookup 200");
    let nat = netns.exec("iptables-save", &["-t", "nat"]);
    has(
        "nat rule",
        nat.clone(),
        "-A POSTROUTING -s 10.10.0.0/16 ! -d 10.10.0.0/16 -j MASQUERADE",
    );
    has(
        "nat rule",
        nat.clone(),
        "-A FOREIGN-CHAIN -d 10.96.0.0/12 -j RETURN",
    );
    has("nat rule", nat, "-A PREROUTING -j FOREIGN-CHAIN");
    has(
        "filter rule",
        netns.exec("iptables-save", &["-t", "filter"]),
        "-A FORWARD -i eth0 -j ACCEPT",
    );
    has(
        "ip6 nat rule",
        netns.exec("ip6tables-save", &["-t", "nat"]),
        "-A POSTROUTING -s fd10::/64 -j MASQUERADE",
    );
    has("ipset", netns.exec("ipset", &["list", "-n"]), "foreign-set");
    let xfrm = netns.ip(&["xfrm", "policy", "list"]);
    has(
        "xfrm policy",
        xfrm.clone(),
        "src 192.0.2.0/24 dst 198.51.100.0/24",
    );
    has("xfrm policy", xfrm.clone(), "reqid 336");
    has(
        "template-less xfrm policy",
        xfrm,
        "src 192.0.2.0/24 dst 203.0.113.0/24",
    );
}

#[test]
fn foreign_state_survives_apply_and_cleanup() {
    require_root_and_tools();
    let world = p2p_world(&[("a", "n1", false), ("b", "n1", false)]);
    let configs = world.configs();
    let node = world.node("a", "n1");
    let name = node.object_name();
    add_foreign_state(&node.netns);
    let spec = with_extras(configs[&name].clone());

    let report = apply(&node.netns, &name, &spec, None, None);
    assert_clean(&report, "apply beside foreign state");
    assert_foreign_state(&node.netns, "after apply");
    let postrouting = node
        .netns
        .exec("iptables", &["-w", "-t", "nat", "-S", "POSTROUTING"]);
    let first = postrouting
        .lines()
        .find(|line| line.starts_with("-A"))
        .unwrap_or_default();
    assert_eq!(
        first, "-A POSTROUTING -j DRMYSQL-POSTROUTING",
        "the agent's chain precedes the CNI's masquerade"
    );
    let own = node
        .netns
        .exec("iptables", &["-w", "-t", "nat", "-S", "DRMYSQL-POSTROUTING"]);
    let first_own = own
        .lines()
        .find(|line| line.starts_with("-A"))
        .unwrap_or_default();
    assert_eq!(
        first_own,
        "-A DRMYSQL-POSTROUTING -m set --match-set drmysql-avoid-masq dst -j RETURN"
    );

    let removed = cleanup(&node.netns, &name).expect("cleanup succeeds");
    assert!(removed > 0);
    assert_foreign_state(&node.netns, "after cleanup");
}

#[test]
fn cleanup_leaves_the_namespace_as_it_was() {
    require_root_and_tools();
    let world = p2p_world(&[("a", "n1", false), ("b", "n1", false)]);
    let configs = world.configs();
    let node = world.node("a", "n1");
    let name = node.object_name();
    add_foreign_state(&node.netns);
    let before = node.netns.dump();

    let spec = with_extras(configs[&name].clone());
    assert_clean(&apply(&node.netns, &name, &spec, None, None), "apply");
    let applied = node.netns.dump();
    for part in [
        "link",
        "route 200",
        "rule",
        "fdb",
        "neigh",
        "iptables nat",
        "iptables filter",
        "ip6tables nat",
        "ipset",
        "xfrm policy",
    ] {
        assert_ne!(before[part], applied[part], "apply should have changed {part}");
    }
    cleanup(&node.netns, &name).expect("cleanup succeeds");
    assert_same_dump(
        &before,
        &node.netns.dump(),
        "cleanup left something behind or removed something foreign",
    );
    assert_eq!(
        cleanup(&node.netns, &name),
        Ok(0),
        "a second cleanup finds nothing"
    );
}

#[test]
fn xfrm_policies_are_applied_and_read_back() {
    require_root_and_tools();
    let netns = Netns::new("xfrmpol");
    add_foreign_xfrm(&netns);
    let spec = NodeConfigSpec {
        xfrm_policies: policies(),
        ..NodeConfigSpec::default()
    };

    let first = apply(&netns, "a-n1", &spec, None, None);
    assert_clean(&first, "policies");
    assert_eq!(first.created, 3, "{first:#?}");
    let listed = netns.ip(&["xfrm", "policy", "list"]);
    for (selector, dir) in [
        ("src 10.10.1.0/24 dst 10.20.0.0/16", "dir out"),
        ("src 10.20.0.0/16 dst 10.10.1.0/24", "dir in"),
        ("src 10.20.0.0/16 dst 10.10.1.0/24", "dir fwd"),
    ] {
        let block = blocks(&listed)
            .into_iter()
            .find(|block| block.starts_with(selector) && block.contains(dir));
        let block = block.unwrap_or_else(|| panic!("{selector} {dir} missing:\n{listed}"));
        assert!(
            block.contains(&format!("reqid {}", ipsec::REQID)) && block.contains("mode tunnel"),
            "{block}"
        );
    }
    let second = apply(&netns, "a-n1", &spec, None, None);
    assert_eq!(
        (second.created, second.deleted, second.applied),
        (0, 0, 3),
        "read back as equal: {second:#?}"
    );

    let mut fewer = spec.clone();
    fewer.xfrm_policies.truncate(1);
    let third = apply(&netns, "a-n1", &fewer, None, None);
    assert_eq!((third.created, third.deleted), (0, 2), "{third:#?}");
    cleanup(&netns, "a-n1").expect("cleanup");
    let left = netns.ip(&["xfrm", "policy", "list"]);
    assert!(!left.contains(&ipsec::REQID.to_string()), "{left}");
    assert!(
        left.contains("reqid 336") && left.contains("dst 203.0.113.0/24"),
        "foreign policies stay: {left}"
    );
}

/// The entries of an `ip xfrm` listing: a line at the margin and the indented
/// lines after it.
fn blocks(listing: &str) -> Vec<String> {
    let mut blocks: Vec<String> = Vec::new();
    for line in listing.lines() {
        match blocks.last_mut() {
            Some(block) if line.starts_with(char::is_whitespace) => {
                block.push('\n');
                block.push_str(line);
            }
            _ => blocks.push(line.to_string()),
        }
    }
    blocks
}

fn add_foreign_xfrm(netns: &Netns) {
    netns.ip(&[
        "xfrm",
        "policy",
        "add",
        "src",
        "192.0.2.0/24",
        "dst",
        "198.51.100.0/24",
        "dir",
        "out",
        "tmpl",
        "src",
        "10.0.0.11",
        "dst",
        "10.0.0.99",
        "proto",
        "esp",
        "reqid",
        "336",
        "mode",
        "tunnel",
    ]);
    netns.ip(&[
        "xfrm",
        "policy",
        "add",
        "src",
        "192.0.2.0/24",
        "dst",
        "203.0.113.0/24",
        "dir",
        "fwd",
    ]);
}

/// Whether the kernel accepts an ESP state at all, probed with a throwaway
/// state of fixed, non-secret test keys and non-GCM algorithms.
fn kernel_has_esp(netns: &Netns) -> bool {
    let zeros = |bytes: usize| format!("0x{}", "00".repeat(bytes));
    let (added, _, stderr) = netns.try_exec(
        "ip",
        &[
            "xfrm",
            "state",
            "add",
            "src",
            "192.0.2.1",
            "dst",
            "192.0.2.2",
            "proto",
            "esp",
            "spi",
            "0x100",
            "mode",
            "tunnel",
            "enc",
            "cbc(aes)",
            &zeros(16),
            "auth",
            "hmac(sha1)",
            &zeros(20),
        ],
    );
    if added {
        netns.ip(&[
            "xfrm",
            "state",
            "delete",
            "src",
            "192.0.2.1",
            "dst",
            "192.0.2.2",
            "proto",
            "esp",
            "spi",
            "0x100",
        ]);
    }
    added || !stderr.contains("Requested type not found")
}

/// Tools that record their command lines before running the real ones: to
/// prove that no key ever reaches a command line, and to count processes.
struct Recording {
    _dir: tempfile::TempDir,
    log: std::path::PathBuf,
    tools: Tools,
}

impl Recording {
    fn new() -> Self {
        let dir = tempfile::tempdir().expect("temporary directory");
        let log = dir.path().join("argv.log");
        let wrap = |tool: &str| {
            let real = support::which(tool).unwrap_or_else(|| panic!("{tool} in PATH"));
            let script = dir.path().join(tool);
            let mut file = std::fs::File::create(&script).expect("wrapper script");
            writeln!(
                file,
                "#!/bin/sh\nprintf '%s %s\\n' '{tool}' \"$*\" >> '{}'\nexec '{}' \"$@\"",
                log.display(),
                real.display()
            )
            .expect("wrapper written");
            drop(file);
            std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755))
                .expect("wrapper executable");
            script
        };
        let tools = Tools {
            ip: wrap("ip"),
            iptables_save: wrap("iptables-save"),
            ip6tables_save: wrap("ip6tables-save"),
            iptables_restore: wrap("iptables-restore"),
            ip6tables_restore: wrap("ip6tables-restore"),
            ipset: wrap("ipset"),
        };
        Self {
            _dir: dir,
            log,
            tools,
        }
    }

    /// Every command line run so far, one per line, prefixed by the tool.
    fn argv(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// How many times `tool` ran.
    fn runs_of(&self, tool: &str) -> usize {
        let prefix = format!("{tool} ");
        self.argv()
            .lines()
            .filter(|line| line.starts_with(&prefix))
            .count()
    }

    fn clear(&self) {
        std::fs::write(&self.log, "").expect("log cleared");
    }
}

#[test]
fn xfrm_states_carry_derived_keys_over_stdin_only() {
    require_root_and_tools();
    let netns = Netns::new("xfrmsa");
    let recording = Recording::new();
    let psk = b"a pre-shared key for the kernel tests".as_slice();
    let (own, peer) = ("a-n1", "b-n1");
    let state = |left: &str, right: &str, spi: u32| XfrmState {
        left_ip: left.into(),
        right_ip: right.into(),
        req_id: ipsec::REQID,
        spi,
        peer: peer.into(),
    };
    let spec = NodeConfigSpec {
        xfrm_policies: policies(),
        xfrm_states: vec![
            state("10.0.0.11", "198.51.100.12", ipsec::spi(own, peer)),
            state("198.51.100.12", "10.0.0.11", ipsec::spi(peer, own)),
        ],
        ..NodeConfigSpec::default()
    };
    let keys = [
        ipsec::derive_key(psk, own, peer).to_xfrm_hex(),
        ipsec::derive_key(psk, peer, own).to_xfrm_hex(),
    ];

    let without_psk = apply(&netns, own, &spec, None, Some(&recording.tools));
    let messages: Vec<(EntryKind, &str)> = without_psk
        .errors
        .iter()
        .map(|error| (error.kind, error.message.as_str()))
        .collect();
    assert_eq!(
        messages,
        [
            (EntryKind::XfrmState, "no IPsec PSK configured"),
            (EntryKind::XfrmState, "no IPsec PSK configured")
        ],
        "{without_psk:#?}"
    );
    assert_eq!(without_psk.applied, 3, "the policies are applied without a PSK");

    let report = apply(&netns, own, &spec, Some(psk), Some(&recording.tools));
    let argv = recording.argv();
    assert!(
        argv.contains("-batch -"),
        "xfrm changes go through ip -batch:\n{argv}"
    );
    for key in &keys {
        assert!(
            !argv.contains(&key[2..]),
            "a key appeared in an ip command line:\n{argv}"
        );
        let errors = format!("{:?}", report.errors);
        assert!(
            !errors.contains(&key[2..]),
            "a key appeared in an error: {errors}"
        );
    }

    let state_errors: Vec<&str> = report
        .errors
        .iter()
        .filter(|error| error.kind == EntryKind::XfrmState)
        .map(|error| error.message.as_str())
        .collect();
    // The kernel checks the AEAD algorithm before the protocol, so a kernel
    // without GCM answers "AEAD algorithm not found" even when ESP is missing
    // too; a state with other algorithms tells whether ESP itself is there.
    let no_gcm = state_errors
        .iter()
        .all(|m| m.contains("Requested AEAD algorithm not found"));
    let no_esp = state_errors
        .iter()
        .all(|m| m.contains("Requested type not found"))
        || (no_gcm && !kernel_has_esp(&netns));
    if state_errors.len() == 2 && (no_gcm || no_esp) {
        assert_eq!(report.errors.len(), 2, "only the states may fail: {report:#?}");
        let missing = match (no_esp, no_gcm) {
            (true, true) => "ESP (CONFIG_INET_ESP) and rfc4106(gcm(aes)) (CONFIG_CRYPTO_GCM)",
            (true, false) => "ESP (CONFIG_INET_ESP)",
            _ => "rfc4106(gcm(aes)) (CONFIG_CRYPTO_GCM)",
        };
        println!(
            "SKIPPED the xfrm state part: this kernel lacks {missing}, so `ip xfrm state add` fails ({}). \
             Checked anyway: the policies were applied, and no key reached a command line or an error.",
            state_errors[0]
        );
        return;
    }
    assert_clean(&report, "xfrm states on a kernel with ESP");
    let listed = netns.ip(&["xfrm", "state", "list"]);
    for entry in &spec.xfrm_states {
        assert!(
            listed.contains(&format!("spi 0x{:08x} reqid {}", entry.spi, ipsec::REQID)),
            "{listed}"
        );
    }
    for key in &keys {
        assert!(listed.contains(key.as_str()), "the kernel holds the derived key");
    }
    let again = apply(&netns, own, &spec, Some(psk), Some(&recording.tools));
    assert_eq!((again.created, again.deleted), (0, 0), "{again:#?}");
    let rotated = apply(
        &netns,
        own,
        &spec,
        Some(b"another pre-shared key".as_slice()),
        Some(&recording.tools),
    );
    assert_eq!(
        (rotated.created, rotated.deleted),
        (2, 2),
        "a new PSK replaces both states: {rotated:#?}"
    );
    cleanup(&netns, own).expect("cleanup");
    assert!(
        !netns.ip(&["xfrm", "state", "list"]).contains("spi"),
        "states removed"
    );
}

#[test]
fn ipv6_devices_routes_and_neighbours() {
    require_root_and_tools();
    let netns = Netns::new("v6");
    netns.ip(&["link", "add", "eth0", "type", "veth", "peer", "name", "peer0"]);
    netns.ip(&["addr", "add", "fd00::11/64", "dev", "eth0", "nodad"]);
    netns.ip(&["link", "set", "eth0", "up"]);
    netns.ip(&["link", "set", "peer0", "up"]);
    netns.exec(
        "ip6tables",
        &["-w", "-A", "FORWARD", "-i", "eth0", "-j", "ACCEPT"],
    );
    netns.exec(
        "ip6tables",
        &[
            "-w",
            "-t",
            "nat",
            "-A",
            "POSTROUTING",
            "-s",
            "fd10::/64",
            "-j",
            "MASQUERADE",
        ],
    );
    let before = netns.dump();

    let spec = NodeConfigSpec {
        devices: vec![Device {
            type_: "vxlan".into(),
            name: "vx-bridge-6".into(),
            addr: "9480::11/16".into(),
            mac: "0a:00:00:00:06:11".into(),
            bind_dev: "eth0".into(),
            id: 64,
            port: 4866,
        }],
        routes: vec![Route {
            cidr: "fd20::/64".into(),
            gw: "9480::12".into(),
            dev: "vx-bridge-6".into(),
        }],
        fdbs: vec![
            Fdb {
                ip: "fd00::12".into(),
                mac: "00:00:00:00:00:00".into(),
                dev: "vx-bridge-6".into(),
            },
            Fdb {
                ip: "fd00::12".into(),
                mac: "0a:00:00:00:06:12".into(),
                dev: "vx-bridge-6".into(),
            },
        ],
        arps: vec![Arp {
            ip: "9480::12".into(),
            mac: "0a:00:00:00:06:12".into(),
            dev: "vx-bridge-6".into(),
        }],
        iptables: vec![Iptables {
            table: "nat".into(),
            chain: "POSTROUTING".into(),
            rule: "-s 9480::/16 -o vx-bridge-6 -j MASQUERADE".into(),
        }],
        ..NodeConfigSpec::default()
    };
    let first = apply(&netns, "a-n1", &spec, None, None);
    assert_clean(&first, "IPv6 entries");
    assert_eq!(first.created, 6, "{first:#?}");
    let link = netns.ip(&["-d", "link", "show", "vx-bridge-6"]);
    assert!(
        link.contains("mtu 1430") && link.contains("local fd00::11") && link.contains("nolearning"),
        "{link}"
    );
    assert!(
        netns
            .ip(&["-6", "rule", "show"])
            .contains("200:\tfrom all lookup 200 proto 200")
    );
    assert!(
        netns
            .ip(&["-6", "route", "show", "table", "200"])
            .contains("fd20::/64 via 9480::12 dev vx-bridge-6")
    );
    let forward = netns.exec("ip6tables", &["-w", "-S", "DRMYSQL-FORWARD"]);
    assert!(
        forward.contains("-A DRMYSQL-FORWARD -o vx-bridge-6 -j ACCEPT"),
        "{forward}"
    );

    let second = apply(&netns, "a-n1", &spec, None, None);
    assert_eq!(
        (second.created, second.deleted, second.failed),
        (0, 0, 0),
        "{second:#?}"
    );
    cleanup(&netns, "a-n1").expect("cleanup");
    assert_same_dump(&before, &netns.dump(), "IPv6 cleanup");
}

#[test]
fn many_rules_cost_one_restore_per_family() {
    require_root_and_tools();
    let netns = Netns::new("many");
    let recording = Recording::new();
    let rule = |third: usize, fourth: usize| Iptables {
        table: "nat".into(),
        chain: "POSTROUTING".into(),
        rule: format!("-s 10.{third}.{fourth}.0/24 -o eth0 -j MASQUERADE"),
    };
    let spec = NodeConfigSpec {
        iptables: (0..300).map(|n| rule(100 + n / 250, n % 250)).collect(),
        ipsets_avoid_masq: (0..300)
            .map(|n| IpsetAvoidMasq {
                cidr: format!("10.{}.{}.0/24", 200 + n / 250, n % 250),
                name: "drmysql-avoid-masq".into(),
            })
            .collect(),
        ..NodeConfigSpec::default()
    };
    let started = std::time::Instant::now();
    let report = apply(&netns, "a-n1", &spec, None, Some(&recording.tools));
    let took = started.elapsed();
    assert_clean(&report, "300 rules and 300 set members");
    assert_eq!(report.created, 600, "{report:#?}");
    assert_eq!(recording.runs_of("iptables-restore"), 1, "{}", recording.argv());
    assert_eq!(
        recording.runs_of("ipset"),
        2,
        "`list -n` and one restore: {}",
        recording.argv()
    );
    assert!(
        took < Duration::from_secs(10),
        "applying 600 entries took {took:?}"
    );

    recording.clear();
    let mut fewer = spec.clone();
    fewer.iptables.truncate(100);
    fewer.ipsets_avoid_masq.truncate(100);
    let report = apply(&netns, "a-n1", &fewer, None, Some(&recording.tools));
    assert_eq!((report.created, report.deleted), (0, 400), "{report:#?}");
    assert_eq!(recording.runs_of("iptables-restore"), 1, "{}", recording.argv());
    let rules = netns.exec("iptables", &["-w", "-t", "nat", "-S", "DRMYSQL-POSTROUTING"]);
    assert_eq!(
        rules.lines().filter(|line| line.starts_with("-A")).count(),
        101,
        "100 rules and the RETURN"
    );
}
