//! The command line: subcommands, their flags and the parsers of flag values.
//!
//! Kept apart from `main` so that the entry point stays a short dispatch and
//! the help texts, which are what a person reads first, sit together.

use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand, ValueEnum};

/// Shows DRMySQL objects (instances, replication lag, tunnel checks,
/// conditions, failovers) and asks the drmysql controller to switch over,
/// fail over, check the tunnel or rebuild an instance.
#[derive(Parser, Debug)]
#[command(name = "kubectl drmysql", bin_name = "kubectl drmysql", version, about)]
pub struct Cli {
    /// Namespace of the DRMySQL [default: the context's namespace, else `default`].
    #[arg(short = 'n', long, global = true, value_name = "NAMESPACE")]
    pub namespace: Option<String>,

    /// kubeconfig context to use [default: the kubeconfig's current-context].
    #[arg(long, global = true, value_name = "CONTEXT")]
    pub context: Option<String>,

    /// kubeconfig file [default: the files in KUBECONFIG, else ~/.kube/config].
    #[arg(long, global = true, value_name = "FILE")]
    pub kubeconfig: Option<PathBuf>,

    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Subcommand, Debug)]
pub enum Command {
    /// Instances (role, node, pod IP, readiness, lag, replication threads), tunnel
    /// checks with round-trip times, conditions, the last request, the failover in
    /// progress and the last failovers.
    Status(StatusArgs),
    /// Each replica's lag against spec.lag.alertThresholdSeconds, those above it marked.
    Lag(LagArgs),
    /// Planned, zero-loss move of the primary to a replica; waits for the outcome.
    Switchover(SwitchoverArgs),
    /// Promotes INSTANCE once the primary is declared failed (with policy Manual,
    /// this is the approval); waits for the outcome.
    Failover(FailoverArgs),
    /// Runs the tunnel probes now and prints the round-trip matrix; exits 1 when a
    /// pair is unreachable.
    CheckTunnel(CheckTunnelArgs),
    /// Re-creates INSTANCE's Pod and volume empty; it then re-replicates from the
    /// primary. Destructive: needs --yes.
    Rebuild(RebuildArgs),
}

/// Arguments of `status`.
#[derive(Args, Debug)]
pub struct StatusArgs {
    /// Name of the DRMySQL.
    pub name: String,

    /// Output format: a table, or the DRMySQL's status as JSON or YAML.
    #[arg(short = 'o', long, value_enum, default_value_t = Output::Table)]
    pub output: Output,
}

/// The `-o` choices.
#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum Output {
    /// Aligned text for people.
    Table,
    /// As JSON, with the API's field names.
    Json,
    /// As YAML, with the API's field names.
    Yaml,
}

/// Arguments of `lag`.
#[derive(Args, Debug)]
pub struct LagArgs {
    /// Name of the DRMySQL.
    pub name: String,

    /// Keep running and print the table again whenever it changes; Ctrl-C stops.
    #[arg(short = 'w', long)]
    pub watch: bool,

    /// With --watch: read the DRMySQL every SECONDS instead of watching it
    /// (for users allowed `get` but not `watch`).
    #[arg(long, value_name = "SECONDS", requires = "watch", value_parser = positive_seconds)]
    pub interval: Option<f64>,
}

/// How long to wait for the controller, shared by the requests that move or
/// re-create instances.
#[derive(Args, Debug, Clone, Copy)]
pub struct WaitArgs {
    /// How long to wait for the controller's answer and, for a switchover or
    /// failover, its outcome (`90s`, `2m`, `1m30s`).
    #[arg(long, value_name = "DURATION", default_value = "120s", value_parser = duration)]
    pub timeout: Duration,

    /// Only write the request; `kubectl drmysql status NAME` shows the answer later.
    #[arg(long)]
    pub no_wait: bool,
}

/// Arguments of `switchover`.
#[derive(Args, Debug)]
pub struct SwitchoverArgs {
    /// Name of the DRMySQL.
    pub name: String,

    /// Instance to promote (`<drmysql>-<instance>`, or just `<instance>`)
    /// [default: drmysql chooses the best replica].
    #[arg(long, value_name = "INSTANCE")]
    pub to: Option<String>,

    #[command(flatten)]
    pub wait: WaitArgs,
}

/// Arguments of `failover`.
#[derive(Args, Debug)]
pub struct FailoverArgs {
    /// Name of the DRMySQL.
    pub name: String,

    /// Instance to promote (`<drmysql>-<instance>`, or just `<instance>`).
    #[arg(long, value_name = "INSTANCE", required = true)]
    pub to: String,

    /// Bypass the data-loss guards (the lag limit and the most-advanced-replica
    /// rule): transactions INSTANCE has not received are lost. Recorded in
    /// status.history. Never bypasses the errant-transaction check.
    #[arg(long)]
    pub force: bool,

    #[command(flatten)]
    pub wait: WaitArgs,
}

/// Arguments of `check-tunnel`.
#[derive(Args, Debug)]
pub struct CheckTunnelArgs {
    /// Name of the DRMySQL.
    pub name: String,

    /// How long to wait for the controller to run the probes.
    #[arg(long, value_name = "DURATION", default_value = "30s", value_parser = duration)]
    pub timeout: Duration,

    /// Output format: the round-trip matrix, or the checks (status.tunnel) as JSON or YAML.
    #[arg(short = 'o', long, value_enum, default_value_t = Output::Table)]
    pub output: Output,
}

/// Arguments of `rebuild`.
#[derive(Args, Debug)]
pub struct RebuildArgs {
    /// Name of the DRMySQL.
    pub name: String,

    /// Instance to rebuild (`<drmysql>-<instance>`, or just `<instance>`); not the primary.
    pub instance: String,

    /// Confirm that INSTANCE's data is thrown away and copied again from the primary.
    #[arg(long)]
    pub yes: bool,

    #[command(flatten)]
    pub wait: WaitArgs,
}

fn positive_seconds(text: &str) -> Result<f64, String> {
    match text.parse::<f64>() {
        Ok(seconds) if seconds.is_finite() && seconds > 0.0 => Ok(seconds),
        _ => Err(format!("{text:?} is not a positive number of seconds")),
    }
}

/// A positive duration as kubectl writes them: `500ms`, `30s`, `2m`, `1h`,
/// `1m30s`; a bare number is seconds.
pub fn duration(text: &str) -> Result<Duration, String> {
    let invalid = || format!("{text:?} is not a duration: write it like 30s, 2m or 1m30s");
    let mut total = 0.0_f64;
    let mut rest = text.trim();
    if rest.is_empty() {
        return Err(invalid());
    }
    if let Ok(seconds) = rest.parse::<f64>() {
        total = seconds;
        rest = "";
    }
    while !rest.is_empty() {
        let number_end = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .ok_or_else(invalid)?;
        let number: f64 = rest[..number_end].parse().map_err(|_| invalid())?;
        let unit_end = rest[number_end..]
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .map_or(rest.len(), |offset| number_end + offset);
        let scale = match &rest[number_end..unit_end] {
            "ms" => 0.001,
            "s" => 1.0,
            "m" => 60.0,
            "h" => 3600.0,
            _ => return Err(invalid()),
        };
        total += number * scale;
        rest = &rest[unit_end..];
    }
    if total.is_finite() && total > 0.0 {
        Ok(Duration::from_secs_f64(total))
    } else {
        Err(format!("{text:?} is not a positive duration"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_are_read_as_kubectl_writes_them() {
        assert_eq!(duration("120s"), Ok(Duration::from_secs(120)));
        assert_eq!(duration("2m"), Ok(Duration::from_secs(120)));
        assert_eq!(duration("1m30s"), Ok(Duration::from_secs(90)));
        assert_eq!(duration("1h"), Ok(Duration::from_secs(3600)));
        assert_eq!(duration("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(duration("1.5s"), Ok(Duration::from_millis(1500)));
        assert_eq!(duration("45"), Ok(Duration::from_secs(45)));
        for bad in ["", "0s", "0", "-3s", "2 minutes", "5d", "s", "1m30"] {
            assert!(duration(bad).is_err(), "{bad:?} is refused");
        }
        assert_eq!(
            duration("2 minutes").expect_err("refused"),
            "\"2 minutes\" is not a duration: write it like 30s, 2m or 1m30s"
        );
    }

    #[test]
    fn failover_needs_to_and_rebuild_needs_an_instance() {
        assert!(Cli::try_parse_from(["kubectl-drmysql", "failover", "orders"]).is_err());
        assert!(Cli::try_parse_from(["kubectl-drmysql", "rebuild", "orders"]).is_err());
        let cli = Cli::try_parse_from([
            "kubectl-drmysql",
            "failover",
            "orders",
            "--to",
            "tencent",
            "--force",
            "--timeout",
            "5m",
        ])
        .expect("valid");
        let Command::Failover(args) = cli.command else {
            panic!("a failover: {cli:?}");
        };
        assert!(args.force && !args.wait.no_wait);
        assert_eq!(args.wait.timeout, Duration::from_secs(300));
        let cli = Cli::try_parse_from(["kubectl-drmysql", "check-tunnel", "orders"]).expect("valid");
        let Command::CheckTunnel(args) = cli.command else {
            panic!("a tunnel check: {cli:?}");
        };
        assert_eq!(args.timeout, Duration::from_secs(30));
    }
}
