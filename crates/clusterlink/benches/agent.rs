//! Benchmarks of the node agent against real network namespaces:
//!
//! - apply at scale: one `vx-bridge` device bound to a veth underlay, 5,000
//!   table-200 onlink routes through it, 1,000 FDB and 1,000 permanent ARP
//!   entries, applied into a fresh namespace (target: under 1 s);
//! - no-op resync: a second `apply` of the same spec on the same namespace,
//!   which must create and delete nothing (target: under 20 ms);
//! - throughput: `iperf3` between pods of two clusters over the VXLAN path the
//!   network manager computes and the agent builds, against the same two pods
//!   over the same veths and underlay bridge without VXLAN (target: VXLAN at
//!   least 0.9 of plain). As a control, the same pods also go over a VXLAN
//!   device made by hand with `ip link add ... type vxlan`, which tells the
//!   cost of VXLAN itself on this kernel from anything the agent adds. An ip
//!   rule ahead of the agent's switches between the paths; the runs rotate
//!   through them.
//!
//! Every figure is given as median, minimum and maximum over the runs; the
//! bench prints a table and one JSON line. All traffic stays inside the
//! bench's own namespaces, which are removed when it ends.
//!
//! Run as root with `cargo bench -p drmysql-clusterlink --bench agent`;
//! `DRMYSQL_BENCH_RUNS` sets the number of runs (default 11),
//! `DRMYSQL_BENCH_IPERF_SECONDS` the length of one iperf3 run (default 3), and
//! `DRMYSQL_BENCH_ONLY=apply` or `=throughput` runs one part.

#[path = "../tests/support/mod.rs"]
mod support;

use std::net::Ipv4Addr;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use drmysql_api::clusterlink::{Arp, Device, Fdb, NetworkType, NodeConfigSpec, Route};
use drmysql_clusterlink::agent::{Agent, ApplyReport};
use support::{Netns, Node, World, assert_clean, ping};

/// The VXLAN device of the scale spec.
const VX: &str = "vx-bridge";
/// Peers of the scale spec: one FDB and one ARP entry each.
const PEERS: u16 = 1_000;
/// Routes of the scale spec, spread over the peers.
const ROUTES: u16 = 5_000;
/// The port iperf3 listens on, inside the server pod's namespace only.
const IPERF_PORT: u16 = 5201;

const APPLY_TARGET: Duration = Duration::from_secs(1);
const NOOP_TARGET: Duration = Duration::from_millis(20);
const RATIO_TARGET: f64 = 0.9;

fn main() {
    require_root_and_tools();
    let runs = env_number("DRMYSQL_BENCH_RUNS", 11);
    let seconds = env_number("DRMYSQL_BENCH_IPERF_SECONDS", 3);
    let only = std::env::var("DRMYSQL_BENCH_ONLY").unwrap_or_default();
    if !["", "apply", "throughput"].contains(&only.as_str()) {
        eprintln!("DRMYSQL_BENCH_ONLY is `apply`, `throughput` or unset, not `{only}`");
        std::process::exit(2);
    }
    println!(
        "drmysql-clusterlink agent benchmark, {runs} runs each ({ROUTES} routes, {PEERS} FDB and {PEERS} ARP entries; iperf3 -t {seconds})"
    );
    let mut table = Table::default();
    let mut json = serde_json::json!({
        "bench": "drmysql-clusterlink agent",
        "runs": runs,
        "entries": { "routes": ROUTES, "fdbs": PEERS, "arps": PEERS },
        "iperf_seconds": seconds,
    });

    if only.is_empty() || only == "apply" {
        let times = bench_apply(runs);
        let apply = Summary::of(times.apply.iter().map(|d| millis(*d)).collect());
        let noop = Summary::of(times.noop.iter().map(|d| millis(*d)).collect());
        let empty = Summary::of(times.empty_noop.iter().map(|d| millis(*d)).collect());
        let apply_met = apply.median < millis(APPLY_TARGET);
        let noop_met = noop.median < millis(NOOP_TARGET);
        table.row(
            "apply 5k routes + 1k FDB + 1k ARP, fresh netns (ms)",
            &apply,
            "< 1000",
            Some(apply_met),
        );
        table.row(
            "no-op resync of the same spec (ms)",
            &noop,
            "< 20",
            Some(noop_met),
        );
        table.row("no-op resync of an empty spec (ms)", &empty, "", None);
        json["apply_ms"] = apply.json();
        json["noop_resync_ms"] = noop.json();
        json["empty_noop_resync_ms"] = empty.json();
        json["targets_met"]["apply"] = apply_met.into();
        json["targets_met"]["noop_resync"] = noop_met.into();
    }
    if only.is_empty() || only == "throughput" {
        let rates = bench_throughput(runs, seconds);
        let plain = Summary::of(rates.plain);
        let vxlan = Summary::of(rates.vxlan);
        let hand = Summary::of(rates.hand_vxlan);
        let paired = Summary::of(rates.ratios);
        let hand_paired = Summary::of(rates.hand_ratios);
        let ratio = vxlan.median / plain.median;
        let hand_ratio = hand.median / plain.median;
        let ratio_met = ratio >= RATIO_TARGET;
        table.row("iperf3 pod -> pod, plain veth/bridge (Mbit/s)", &plain, "", None);
        table.row("iperf3 pod -> pod, agent's VXLAN (Mbit/s)", &vxlan, "", None);
        table.row("iperf3 pod -> pod, hand-made VXLAN (Mbit/s)", &hand, "", None);
        table.row("agent's VXLAN / plain, paired per run", &paired, "", None);
        table.row("hand-made VXLAN / plain, paired per run", &hand_paired, "", None);
        table.single(
            "agent's VXLAN / plain, ratio of medians",
            ratio,
            ">= 0.9",
            Some(ratio_met),
        );
        table.single("hand-made VXLAN / plain, ratio of medians", hand_ratio, "", None);
        json["plain_mbit_s"] = plain.json();
        json["vxlan_mbit_s"] = vxlan.json();
        json["hand_vxlan_mbit_s"] = hand.json();
        json["paired_ratio"] = paired.json();
        json["hand_paired_ratio"] = hand_paired.json();
        json["ratio_of_medians"] = round(ratio, 3).into();
        json["hand_ratio_of_medians"] = round(hand_ratio, 3).into();
        json["targets_met"]["ratio"] = ratio_met.into();
    }
    table.print();
    println!("{json}");
}

fn met_text(met: Option<bool>) -> &'static str {
    match met {
        Some(true) => "yes",
        Some(false) => "NO",
        None => "",
    }
}

/// The human table.
#[derive(Default)]
struct Table {
    rows: Vec<[String; 7]>,
}

impl Table {
    fn row(&mut self, measure: &str, summary: &Summary, target: &str, met: Option<bool>) {
        self.rows.push([
            measure.to_string(),
            summary.runs.to_string(),
            format!("{:.2}", summary.min),
            format!("{:.2}", summary.median),
            format!("{:.2}", summary.max),
            target.to_string(),
            met_text(met).to_string(),
        ]);
    }

    fn single(&mut self, measure: &str, value: f64, target: &str, met: Option<bool>) {
        self.rows.push([
            measure.to_string(),
            String::new(),
            String::new(),
            format!("{value:.3}"),
            String::new(),
            target.to_string(),
            met_text(met).to_string(),
        ]);
    }

    fn print(&self) {
        let header = ["measure", "runs", "min", "median", "max", "target", "met"].map(String::from);
        let widths: Vec<usize> = (0..7)
            .map(|column| {
                std::iter::once(&header)
                    .chain(&self.rows)
                    .map(|row| row[column].len())
                    .max()
                    .unwrap_or(0)
            })
            .collect();
        let line = |row: &[String; 7]| {
            let cells: Vec<String> = row
                .iter()
                .zip(&widths)
                .enumerate()
                .map(|(column, (cell, width))| {
                    if (1..=4).contains(&column) {
                        format!("{cell:>width$}")
                    } else {
                        format!("{cell:<width$}")
                    }
                })
                .collect();
            println!("| {} |", cells.join(" | "));
        };
        println!();
        line(&header);
        let rule: Vec<String> = widths.iter().map(|width| "-".repeat(*width)).collect();
        println!("|-{}-|", rule.join("-|-"));
        for row in &self.rows {
            line(row);
        }
    }
}

/// Exits with a message naming everything missing: root, and each tool the
/// agent and the bench run.
fn require_root_and_tools() {
    let mut missing = Vec::new();
    let uid = Command::new("id")
        .arg("-u")
        .output()
        .map(|output| String::from_utf8_lossy(&output.stdout).trim().to_string());
    let root = uid.ok().as_deref() == Some("0");
    if !root {
        missing.push("root (it creates network namespaces)".to_string());
    }
    let tools: Vec<String> = [
        "ip",
        "bridge",
        "ss",
        "iptables",
        "ip6tables",
        "iptables-restore",
        "iptables-save",
        "ip6tables-restore",
        "ip6tables-save",
        "ipset",
        "iperf3",
    ]
    .into_iter()
    .filter(|tool| support::which(tool).is_none())
    .map(|tool| format!("`{tool}` in PATH"))
    .collect();
    let tools_missing = !tools.is_empty();
    missing.extend(tools);
    if !missing.is_empty() {
        let hint = if tools_missing {
            "; scripts/install-deps installs the tools (packages iproute2, iptables, ipset, iperf3)"
        } else {
            ""
        };
        eprintln!("the agent benchmark needs {}{hint}", missing.join(", "));
        std::process::exit(2);
    }
}

fn env_number<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name)
        .ok()
        .and_then(|value| value.parse().ok())
        .unwrap_or(default)
}

fn millis(duration: Duration) -> f64 {
    duration.as_secs_f64() * 1000.0
}

fn round(value: f64, places: i32) -> f64 {
    let scale = 10_f64.powi(places);
    (value * scale).round() / scale
}

/// Median, minimum and maximum of a set of runs.
struct Summary {
    runs: usize,
    min: f64,
    median: f64,
    max: f64,
}

impl Summary {
    fn of(mut values: Vec<f64>) -> Self {
        assert!(!values.is_empty(), "at least one run");
        values.sort_by(f64::total_cmp);
        let middle = values.len() / 2;
        let median = if values.len() % 2 == 1 {
            values[middle]
        } else {
            f64::midpoint(values[middle - 1], values[middle])
        };
        Self {
            runs: values.len(),
            min: values[0],
            median,
            max: values[values.len() - 1],
        }
    }

    fn json(&self) -> serde_json::Value {
        serde_json::json!({
            "median": round(self.median, 3),
            "min": round(self.min, 3),
            "max": round(self.max, 3),
        })
    }
}

// ---------------------------------------------------------------------------
// Apply at scale and no-op resync.

/// Peer `p`'s underlay address, in the node's 10.0.0.0/16.
fn peer_underlay(p: u16) -> Ipv4Addr {
    let third = u8::try_from(1 + p / 250).expect("fewer than 63,750 peers");
    let fourth = u8::try_from(1 + p % 250).expect("below 251");
    Ipv4Addr::new(10, 0, third, fourth)
}

/// Peer `p`'s `vx-bridge` address, the gateway of its routes.
fn peer_vxlan(p: u16) -> Ipv4Addr {
    let underlay = peer_underlay(p).octets();
    Ipv4Addr::new(220, 0, underlay[2], underlay[3])
}

/// Peer `p`'s `vx-bridge` MAC: unicast, locally administered.
fn peer_mac(p: u16) -> String {
    let [high, low] = p.to_be_bytes();
    format!("0e:00:00:00:{high:02x}:{low:02x}")
}

/// The scale NodeConfig of node `a-n1` (underlay 10.0.0.11/16 on `eth0`).
fn scale_spec() -> NodeConfigSpec {
    let devices = vec![Device {
        type_: "vxlan".into(),
        name: VX.into(),
        addr: "220.0.0.11/8".into(),
        mac: "0a:00:00:00:00:0b".into(),
        bind_dev: "eth0".into(),
        id: 54,
        port: 4876,
    }];
    let routes = (0..ROUTES)
        .map(|r| {
            let [high, low] = r.to_be_bytes();
            Route {
                cidr: format!("10.{}.{low}.0/24", 100 + high),
                gw: peer_vxlan(r % PEERS).to_string(),
                dev: VX.into(),
            }
        })
        .collect();
    let fdbs = (0..PEERS)
        .map(|p| Fdb {
            ip: peer_underlay(p).to_string(),
            mac: peer_mac(p),
            dev: VX.into(),
        })
        .collect();
    let arps = (0..PEERS)
        .map(|p| Arp {
            ip: peer_vxlan(p).to_string(),
            mac: peer_mac(p),
            dev: VX.into(),
        })
        .collect();
    NodeConfigSpec {
        devices,
        routes,
        fdbs,
        arps,
        ..NodeConfigSpec::default()
    }
}

/// A fresh node namespace with its underlay veth `eth0` up at 10.0.0.11/16.
fn fresh_node() -> Netns {
    let netns = Netns::new("scale");
    netns.ip(&["link", "add", "eth0", "type", "veth", "peer", "name", "peer0"]);
    netns.ip(&["addr", "add", "10.0.0.11/16", "dev", "eth0"]);
    netns.ip(&["link", "set", "eth0", "up"]);
    netns.ip(&["link", "set", "peer0", "up"]);
    netns
}

/// The times of the apply benchmark, one per run.
struct ApplyTimes {
    /// The first apply of the scale spec, into a fresh namespace.
    apply: Vec<Duration>,
    /// The second apply of the same spec by the same agent.
    noop: Vec<Duration>,
    /// The second apply of an empty spec into another fresh namespace: the
    /// fixed cost of a pass (the tools it runs, the dumps of a bare node).
    empty_noop: Vec<Duration>,
}

fn bench_apply(runs: usize) -> ApplyTimes {
    let spec = scale_spec();
    let empty = NodeConfigSpec::default();
    let entries = spec.devices.len() + spec.routes.len() + spec.fdbs.len() + spec.arps.len();
    let mut times = ApplyTimes {
        apply: Vec::new(),
        noop: Vec::new(),
        empty_noop: Vec::new(),
    };
    for run in 0..runs {
        let netns = fresh_node();
        let (took, report, again_took, again) = netns.block_on(|| async {
            let mut agent = Agent::new("a-n1", None).expect("agent starts");
            let started = Instant::now();
            let report = agent.apply(&spec).await;
            let took = started.elapsed();
            let started = Instant::now();
            let again = agent.apply(&spec).await;
            (took, report, started.elapsed(), again)
        });
        check_first(&report, entries);
        assert_clean(&again, "no-op resync");
        assert_eq!(
            (again.created, again.deleted, again.applied),
            (0, 0, entries),
            "the no-op resync changed something: {again:#?}"
        );
        if run == 0 {
            check_kernel(&netns);
        }
        drop(netns);
        settle();

        let bare = fresh_node();
        let (empty_took, empty_again) = bare.block_on(|| async {
            let mut agent = Agent::new("a-n1", None).expect("agent starts");
            let first = agent.apply(&empty).await;
            assert_clean(&first, "apply of an empty spec");
            let started = Instant::now();
            let again = agent.apply(&empty).await;
            (started.elapsed(), again)
        });
        assert_clean(&empty_again, "no-op resync of an empty spec");
        assert_eq!(
            (empty_again.created, empty_again.deleted),
            (0, 0),
            "{empty_again:#?}"
        );
        eprintln!(
            "run {:>2}: apply {:>7.1} ms, no-op resync {:>5.1} ms, empty no-op resync {:>5.1} ms",
            run + 1,
            millis(took),
            millis(again_took),
            millis(empty_took)
        );
        times.apply.push(took);
        times.noop.push(again_took);
        times.empty_noop.push(empty_took);
        drop(bare);
        settle();
    }
    times
}

/// Waits for the kernel's background teardown of a deleted namespace (its
/// devices, routes and neighbours), so that it does not overlap what is
/// measured next.
fn settle() {
    std::thread::sleep(Duration::from_secs(1));
}

fn check_first(report: &ApplyReport, entries: usize) {
    assert_clean(report, "apply at scale");
    assert_eq!(
        (report.created, report.deleted, report.applied),
        (entries, 0, entries),
        "apply at scale: {report:#?}"
    );
}

/// The kernel holds what the report says, counted with the tools.
fn check_kernel(netns: &Netns) {
    let lines = |text: String| text.lines().filter(|line| !line.trim().is_empty()).count();
    let routes = lines(netns.ip(&["route", "show", "table", "200", "dev", VX]));
    let fdbs = lines(netns.exec("bridge", &["fdb", "show", "dev", VX]));
    let arps = lines(netns.ip(&["neigh", "show", "dev", VX, "nud", "permanent"]));
    assert_eq!(routes, usize::from(ROUTES), "routes in table 200");
    assert!(fdbs >= usize::from(PEERS), "fdb entries of {VX}: {fdbs}");
    assert_eq!(arps, usize::from(PEERS), "permanent neighbours");
}

// ---------------------------------------------------------------------------
// Throughput.

/// An iperf3 process the bench started, killed if still running when
/// dropped.
struct Spawned(Child);

impl Drop for Spawned {
    fn drop(&mut self) {
        if matches!(self.0.try_wait(), Ok(None)) {
            let _ = self.0.kill();
        }
        let _ = self.0.wait();
    }
}

/// Waits until `child` exits or `deadline` passes, then kills it.
fn wait_bounded(mut child: Spawned, deadline: Duration) -> Result<std::process::Output, String> {
    let started = Instant::now();
    loop {
        match child.0.try_wait() {
            Ok(Some(_)) => break,
            Ok(None) if started.elapsed() > deadline => {
                return Err(format!("still running after {deadline:?}; killed"));
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(20)),
            Err(e) => return Err(format!("wait: {e}")),
        }
    }
    let mut stdout = String::new();
    let mut stderr = String::new();
    if let Some(mut out) = child.0.stdout.take() {
        std::io::Read::read_to_string(&mut out, &mut stdout).map_err(|e| e.to_string())?;
    }
    if let Some(mut err) = child.0.stderr.take() {
        std::io::Read::read_to_string(&mut err, &mut stderr).map_err(|e| e.to_string())?;
    }
    let status = child.0.wait().map_err(|e| e.to_string())?;
    Ok(std::process::Output {
        status,
        stdout: stdout.into_bytes(),
        stderr: stderr.into_bytes(),
    })
}

/// Whether something listens on TCP `port` inside `netns`.
fn listening(netns: &Netns, port: u16) -> bool {
    let (_, out, _) = netns.try_exec("ss", &["-Hltn", &format!("sport = :{port}")]);
    !out.trim().is_empty()
}

/// One bounded iperf3 TCP run from the pod `from` to the pod `to` (address
/// `to_ip`), both test namespaces: the received rate in Mbit/s.
fn iperf(from: &Netns, to: &Netns, to_ip: Ipv4Addr, seconds: u32) -> Result<IperfRun, String> {
    let ip = to_ip.to_string();
    let port = IPERF_PORT.to_string();
    let server = Command::new("ip")
        .args([
            "netns", "exec", &to.name, "iperf3", "-s", "-1", "-B", &ip, "-p", &port,
        ])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| format!("iperf3 server: {e}"))?;
    let server = Spawned(server);
    let started = Instant::now();
    while !listening(to, IPERF_PORT) {
        if started.elapsed() > Duration::from_secs(5) {
            return Err("the iperf3 server did not listen within 5 s".into());
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let client = Command::new("ip")
        .args([
            "netns",
            "exec",
            &from.name,
            "iperf3",
            "-c",
            &ip,
            "-p",
            &port,
            "-t",
            &seconds.to_string(),
            "-J",
            "--connect-timeout",
            "3000",
        ])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("iperf3 client: {e}"))?;
    let output = wait_bounded(Spawned(client), Duration::from_secs(u64::from(seconds) + 10))?;
    drop(server);
    let text = String::from_utf8_lossy(&output.stdout);
    let json: serde_json::Value =
        serde_json::from_str(&text).map_err(|e| format!("iperf3 output is not JSON ({e}): {text}"))?;
    if let Some(error) = json.get("error") {
        return Err(format!("iperf3: {error}"));
    }
    let number = |pointer: &str| {
        json.pointer(pointer)
            .and_then(serde_json::Value::as_f64)
            .ok_or_else(|| format!("no {pointer} in the iperf3 output: {text}"))
    };
    Ok(IperfRun {
        mbit_s: number("/end/sum_received/bits_per_second")? / 1e6,
        retransmits: number("/end/sum_sent/retransmits")?,
        sender_cpu: number("/end/cpu_utilization_percent/host_total")?,
        receiver_cpu: number("/end/cpu_utilization_percent/remote_total")?,
    })
}

/// What one iperf3 run measured.
struct IperfRun {
    /// The rate the receiver saw.
    mbit_s: f64,
    /// TCP retransmissions of the sender.
    retransmits: f64,
    /// CPU use of the sending and the receiving iperf3 process (user and
    /// system, in percent of one CPU), as iperf3 reports it.
    sender_cpu: f64,
    receiver_cpu: f64,
}

impl std::fmt::Display for IperfRun {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{:>6.0} Mbit/s ({} retransmits, CPU sender {:.0}% receiver {:.0}%)",
            self.mbit_s, self.retransmits, self.sender_cpu, self.receiver_cpu
        )
    }
}

/// Which way pod traffic between the two nodes goes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Path {
    /// Over `vx-bridge`, as the agent set it up.
    Vxlan,
    /// Over the same veths and underlay bridge without VXLAN: plain routes in
    /// the main table.
    Plain,
    /// The control: over a VXLAN device made by hand with `ip link add ...
    /// type vxlan` with the agent's settings, in routing table 101.
    HandVxlan,
}

impl Path {
    const ALL: [Self; 3] = [Self::Plain, Self::Vxlan, Self::HandVxlan];

    /// The table an ip rule ahead of the agent's sends the other pod's
    /// traffic to; none for the agent's own path.
    fn table(self) -> Option<&'static str> {
        match self {
            Self::Vxlan => None,
            Self::Plain => Some("main"),
            Self::HandVxlan => Some(HAND_TABLE),
        }
    }

    /// The device the nodes forward pod traffic to.
    fn device(self) -> &'static str {
        match self {
            Self::Vxlan => VX,
            Self::Plain => "eth0",
            Self::HandVxlan => HAND_VX,
        }
    }
}

/// The preference of the bench's ip rules, ahead of the agent's 200.
const BENCH_RULE_PREF: &str = "100";
/// The control VXLAN device: not a name the agent owns, so it never touches
/// it.
const HAND_VX: &str = "vxh0";
/// The routing table of the control path.
const HAND_TABLE: &str = "101";

/// Two pods of different clusters, whose traffic can take any [`Path`].
struct PodPair {
    world: World,
    path: Path,
}

impl PodPair {
    /// Clusters `a` and `b` in p2p mode, one node each, with the NodeConfigs
    /// the network manager computes applied by the agent; besides, main-table
    /// routes and a hand-made VXLAN device towards the other node's pods,
    /// which only an ip rule makes the nodes use.
    fn build() -> Self {
        let world = World::build(
            &[("a", NetworkType::P2p), ("b", NetworkType::P2p)],
            &[("a", "n1", false), ("b", "n1", false)],
        );
        let configs = world.configs();
        world.apply_all(&configs);
        let (a, b) = (world.node("a", "n1"), world.node("b", "n1"));
        let hand_ip = |node: &Node| format!("192.168.99.{}", node.underlay.octets()[3]);
        let hand_mac = |node: &Node| format!("0a:00:00:99:00:{:02x}", node.underlay.octets()[3]);
        for node in [a, b] {
            node.netns.ip(&[
                "link",
                "add",
                HAND_VX,
                "type",
                "vxlan",
                "id",
                "99",
                "dev",
                "eth0",
                "local",
                &node.underlay.to_string(),
                "dstport",
                "4899",
                "nolearning",
            ]);
            node.netns.ip(&[
                "link",
                "set",
                HAND_VX,
                "address",
                &hand_mac(node),
                "mtu",
                "1450",
                "up",
            ]);
            node.netns
                .ip(&["addr", "add", &format!("{}/24", hand_ip(node)), "dev", HAND_VX]);
        }
        for (node, other) in [(a, b), (b, a)] {
            let underlay = other.underlay.to_string();
            node.netns
                .ip(&["route", "add", &other.pod_cidr, "via", &underlay, "dev", "eth0"]);
            node.netns.ip(&[
                "neigh",
                "replace",
                &hand_ip(other),
                "lladdr",
                &hand_mac(other),
                "dev",
                HAND_VX,
                "nud",
                "permanent",
            ]);
            node.netns.exec(
                "bridge",
                &[
                    "fdb",
                    "append",
                    &hand_mac(other),
                    "dev",
                    HAND_VX,
                    "dst",
                    &underlay,
                    "self",
                    "permanent",
                ],
            );
            node.netns.ip(&[
                "route",
                "add",
                &other.pod_cidr,
                "via",
                &hand_ip(other),
                "dev",
                HAND_VX,
                "onlink",
                "table",
                HAND_TABLE,
            ]);
        }
        let pair = Self {
            world,
            path: Path::Vxlan,
        };
        pair.check(Path::Vxlan);
        pair
    }

    fn ends(&self) -> (&Node, &Node) {
        (self.world.node("a", "n1"), self.world.node("b", "n1"))
    }

    fn rules(&self, action: &str, table: &str) {
        let (a, b) = self.ends();
        for (node, other) in [(a, b), (b, a)] {
            node.netns.ip(&[
                "rule",
                action,
                "pref",
                BENCH_RULE_PREF,
                "to",
                &other.pod_cidr,
                "lookup",
                table,
            ]);
        }
    }

    /// Switches both nodes to `path`, and checks where packets go.
    fn switch(&mut self, path: Path) {
        if path != self.path {
            if let Some(table) = self.path.table() {
                self.rules("del", table);
            }
            if let Some(table) = path.table() {
                self.rules("add", table);
            }
            self.path = path;
        }
        let (a, b) = self.ends();
        // Forget path MTUs learned on another path.
        for netns in [&a.netns, &a.pod, &b.netns, &b.pod] {
            netns.ip(&["route", "flush", "cache"]);
        }
        self.check(path);
    }

    /// Both directions take `path`, and a ping crosses.
    fn check(&self, path: Path) {
        let (a, b) = self.ends();
        let device = format!("dev {}", path.device());
        for (node, other) in [(a, b), (b, a)] {
            let route = node.netns.ip(&[
                "route",
                "get",
                &other.pod_ip.to_string(),
                "from",
                &node.pod_ip.to_string(),
                "iif",
                "vp0",
            ]);
            assert!(
                route.contains(&device),
                "{path:?}: {} forwards to {} {device}: {route}",
                node.object_name(),
                other.pod_ip
            );
            ping(&node.pod, other.pod_ip, Duration::from_secs(3))
                .unwrap_or_else(|e| panic!("{path:?}: {} pod -> {}: {e}", node.object_name(), other.pod_ip));
        }
    }

    /// One iperf3 run from a's pod to b's pod on `path`.
    fn measure(&mut self, path: Path, seconds: u32) -> IperfRun {
        self.switch(path);
        let (a, b) = self.ends();
        iperf(&a.pod, &b.pod, b.pod_ip, seconds).unwrap_or_else(|e| panic!("iperf3 on {path:?}: {e}"))
    }
}

/// The rates of the throughput benchmark, one per run.
struct Rates {
    plain: Vec<f64>,
    vxlan: Vec<f64>,
    hand_vxlan: Vec<f64>,
    /// VXLAN over plain, of the same run.
    ratios: Vec<f64>,
    /// Hand-made VXLAN over plain, of the same run.
    hand_ratios: Vec<f64>,
}

/// Per run, the three paths in turn, each run starting with the next: Mbit/s
/// between the same two pods, and the ratios to plain.
fn bench_throughput(runs: usize, seconds: u32) -> Rates {
    let mut pair = PodPair::build();
    let mut rates = Rates {
        plain: Vec::new(),
        vxlan: Vec::new(),
        hand_vxlan: Vec::new(),
        ratios: Vec::new(),
        hand_ratios: Vec::new(),
    };
    for run in 0..runs {
        let mut measured = [0.0; 3];
        for turn in 0..Path::ALL.len() {
            let which = (run + turn) % Path::ALL.len();
            let path = Path::ALL[which];
            let result = pair.measure(path, seconds);
            eprintln!("run {:>2}: {:<9} {result}", run + 1, format!("{path:?}"));
            measured[which] = result.mbit_s;
        }
        let [plain, vxlan, hand] = measured;
        eprintln!(
            "        VXLAN / plain {:.3}, hand-made VXLAN / plain {:.3}",
            vxlan / plain,
            hand / plain
        );
        rates.plain.push(plain);
        rates.vxlan.push(vxlan);
        rates.hand_vxlan.push(hand);
        rates.ratios.push(vxlan / plain);
        rates.hand_ratios.push(hand / plain);
    }
    rates
}
