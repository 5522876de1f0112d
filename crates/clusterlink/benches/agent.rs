//! Benchmarks of the node agent against real network namespaces:
//!
//! - apply at scale: one `vx-bridge` device bound to a veth underlay, 5,000
//!   table-200 onlink routes through it, 1,000 FDB and 1,000 permanent ARP
//!   entries, applied into a fresh namespace (target: under 1 s);
//! - no-op resync: a second `apply` of the same spec on the same namespace,
//!   which must create and delete nothing (target: under 20 ms);
//! - throughput: `iperf3` between pods of two clusters over the VXLAN path the
//!   network manager computes and the agent builds, against two pods of one
//!   cluster in the same world, routed over the same underlay bridge without
//!   VXLAN (target: VXLAN at least 0.9 of plain).
//!
//! Every figure is given as median, minimum and maximum over the runs; the
//! bench prints a table and one JSON line. All traffic stays inside the
//! bench's own namespaces, which are removed when it ends.
//!
//! Run as root with `cargo bench -p drmysql-clusterlink --bench agent`;
//! `DRMYSQL_BENCH_RUNS` sets the number of runs (default 11) and
//! `DRMYSQL_BENCH_IPERF_SECONDS` the length of one iperf3 run (default 3).

#[path = "../tests/support/mod.rs"]
mod support;

use std::net::Ipv4Addr;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use drmysql_api::clusterlink::{Arp, Device, Fdb, NetworkType, NodeConfigSpec, Route};
use drmysql_clusterlink::agent::{Agent, ApplyReport};
use support::{Netns, World, assert_clean, ping};

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
    println!(
        "drmysql-clusterlink agent benchmark, {runs} runs each ({ROUTES} routes, {PEERS} FDB and {PEERS} ARP entries; iperf3 -t {seconds})"
    );

    let (apply, noop) = bench_apply(runs);
    let (plain, vxlan, paired) = bench_throughput(runs, seconds);

    let apply_ms = Summary::of(apply.iter().map(|d| millis(*d)).collect());
    let noop_ms = Summary::of(noop.iter().map(|d| millis(*d)).collect());
    let plain_mbps = Summary::of(plain);
    let vxlan_mbps = Summary::of(vxlan);
    let paired_ratio = Summary::of(paired);
    let ratio = vxlan_mbps.median / plain_mbps.median;
    let apply_met = apply_ms.median < millis(APPLY_TARGET);
    let noop_met = noop_ms.median < millis(NOOP_TARGET);
    let ratio_met = ratio >= RATIO_TARGET;

    println!();
    println!(
        "| {:<44} | {:>4} | {:>9} | {:>9} | {:>9} | {:<10} | {:<4} |",
        "measure", "runs", "min", "median", "max", "target", "met"
    );
    println!("|{}|", "-".repeat(113));
    let row = |name: &str, summary: &Summary, target: &str, met: Option<bool>| {
        let met = match met {
            Some(true) => "yes",
            Some(false) => "NO",
            None => "",
        };
        println!(
            "| {name:<44} | {:>4} | {:>9.2} | {:>9.2} | {:>9.2} | {target:<10} | {met:<4} |",
            summary.runs, summary.min, summary.median, summary.max
        );
    };
    row(
        "apply 5k routes + 1k FDB + 1k ARP (ms)",
        &apply_ms,
        "< 1000",
        Some(apply_met),
    );
    row("no-op resync, same spec (ms)", &noop_ms, "< 20", Some(noop_met));
    row(
        "iperf3 pod -> pod, plain veth/bridge (Mbit/s)",
        &plain_mbps,
        "",
        None,
    );
    row("iperf3 pod -> pod, VXLAN (Mbit/s)", &vxlan_mbps, "", None);
    row("VXLAN / plain, paired per run", &paired_ratio, "", None);
    println!(
        "VXLAN / plain, ratio of medians: {ratio:.3} (target >= {RATIO_TARGET}: {})",
        if ratio_met { "met" } else { "NOT met" }
    );

    let json = serde_json::json!({
        "bench": "drmysql-clusterlink agent",
        "runs": runs,
        "iperf_seconds": seconds,
        "entries": { "routes": ROUTES, "fdbs": PEERS, "arps": PEERS },
        "apply_ms": apply_ms.json(),
        "noop_resync_ms": noop_ms.json(),
        "plain_mbit_s": plain_mbps.json(),
        "vxlan_mbit_s": vxlan_mbps.json(),
        "paired_ratio": paired_ratio.json(),
        "ratio_of_medians": round(ratio, 3),
        "targets_met": { "apply": apply_met, "noop_resync": noop_met, "ratio": ratio_met },
    });
    println!("{json}");
}

/// Exits with a message naming everything missing: root, and each tool the
/// agent and the bench run.
fn require_root_and_tools() {
    let mut missing = Vec::new();
    let uid = Command::new("id")
        .arg("-u")
        .output()
        .map(|output| String::from_utf8_lossy(&output.stdout).trim().to_string());
    if uid.ok().as_deref() != Some("0") {
        missing.push("root (it creates network namespaces)".to_string());
    }
    for tool in [
        "ip",
        "bridge",
        "ss",
        "iptables",
        "ip6tables",
        "iptables-restore",
        "iptables-save",
        "ipset",
        "iperf3",
    ] {
        if support::which(tool).is_none() {
            missing.push(format!("`{tool}` in PATH"));
        }
    }
    if !missing.is_empty() {
        eprintln!(
            "the agent benchmark needs {}; run scripts/install-deps as root (packages iproute2, iptables, ipset, iperf3)",
            missing.join(", ")
        );
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

/// Per run: the first apply into a fresh namespace, and the second apply of
/// the same spec by the same agent.
fn bench_apply(runs: usize) -> (Vec<Duration>, Vec<Duration>) {
    let spec = scale_spec();
    let entries = spec.devices.len() + spec.routes.len() + spec.fdbs.len() + spec.arps.len();
    let mut first = Vec::new();
    let mut second = Vec::new();
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
        eprintln!(
            "run {:>2}: apply {:>8.1} ms, no-op resync {:>6.1} ms",
            run + 1,
            millis(took),
            millis(again_took)
        );
        first.push(took);
        second.push(again_took);
    }
    (first, second)
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
fn iperf(from: &Netns, to: &Netns, to_ip: Ipv4Addr, seconds: u32) -> Result<f64, String> {
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
    json.pointer("/end/sum_received/bits_per_second")
        .and_then(serde_json::Value::as_f64)
        .map(|bits| bits / 1e6)
        .ok_or_else(|| format!("no received rate in the iperf3 output: {text}"))
}

/// Per run, alternating which path goes first: plain and VXLAN Mbit/s, and
/// their ratio.
fn bench_throughput(runs: usize, seconds: u32) -> (Vec<f64>, Vec<f64>, Vec<f64>) {
    // a/n1 and a/n2 are one cluster, routed to each other over the underlay
    // bridge by plain routes; b/n1 is reached over vx-bridge.
    let world = World::build(
        &[("a", NetworkType::P2p), ("b", NetworkType::P2p)],
        &[("a", "n1", false), ("a", "n2", false), ("b", "n1", false)],
    );
    let configs = world.configs();
    world.apply_all(&configs);
    let source = world.node("a", "n1");
    let plain_peer = world.node("a", "n2");
    let vxlan_peer = world.node("b", "n1");
    for peer in [plain_peer, vxlan_peer] {
        ping(&source.pod, peer.pod_ip, Duration::from_secs(3))
            .unwrap_or_else(|e| panic!("{} pod -> {}: {e}", source.object_name(), peer.object_name()));
    }
    let routes = source.netns.ip(&[
        "route",
        "get",
        &vxlan_peer.pod_ip.to_string(),
        "from",
        &source.pod_ip.to_string(),
        "iif",
        "vp0",
    ]);
    assert!(
        routes.contains("dev vx-bridge"),
        "the cross-cluster path is VXLAN: {routes}"
    );
    let routes = source.netns.ip(&[
        "route",
        "get",
        &plain_peer.pod_ip.to_string(),
        "from",
        &source.pod_ip.to_string(),
        "iif",
        "vp0",
    ]);
    assert!(
        routes.contains("dev eth0"),
        "the in-cluster path is plain: {routes}"
    );

    let measure = |peer: &support::Node| {
        iperf(&source.pod, &peer.pod, peer.pod_ip, seconds)
            .unwrap_or_else(|e| panic!("iperf3 to {}: {e}", peer.object_name()))
    };
    let mut plain = Vec::new();
    let mut vxlan = Vec::new();
    let mut ratios = Vec::new();
    for run in 0..runs {
        let (p, v) = if run % 2 == 0 {
            let p = measure(plain_peer);
            (p, measure(vxlan_peer))
        } else {
            let v = measure(vxlan_peer);
            (measure(plain_peer), v)
        };
        eprintln!(
            "run {:>2}: plain {p:>8.0} Mbit/s, VXLAN {v:>8.0} Mbit/s, ratio {:.3}",
            run + 1,
            v / p
        );
        plain.push(p);
        vxlan.push(v);
        ratios.push(v / p);
    }
    (plain, vxlan, ratios)
}
