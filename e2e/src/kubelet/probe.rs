//! Container probes, evaluated as the kubelet evaluates them: the probes the
//! Pod spec defines (never a hard-coded check), from the node's network
//! namespace to the Pod's address, with the spec's delays, periods,
//! timeouts and thresholds and Kubernetes' defaults for what is unset.
//!
//! [`ProbeSpec`] and [`ProbeTracker`] are pure; [`ProbeAction::run`] is the
//! only part that touches the network. `httpGet` (HTTP only) and `tcpSocket`
//! are supported; an `exec` or `grpc` probe, or HTTPS, is refused when the
//! Pod starts, because the sandbox cannot run it faithfully.

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use http_body_util::{BodyExt, Empty};
use hyper::body::Bytes;
use hyper_util::rt::TokioIo;
use k8s_openapi::api::core::v1::{Container, Probe};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

use super::netns::tcp_socket_in;

/// Which probe.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ProbeKind {
    /// `startupProbe`: gates the others; failing it restarts the container.
    Startup,
    /// `readinessProbe`: decides `ready`.
    Readiness,
    /// `livenessProbe`: failing it restarts the container.
    Liveness,
}

impl ProbeKind {
    /// As the kubelet names it in events (`Readiness probe failed: ...`).
    pub fn title(self) -> &'static str {
        match self {
            Self::Startup => "Startup",
            Self::Readiness => "Readiness",
            Self::Liveness => "Liveness",
        }
    }

    /// The probe of this kind that `container` defines.
    pub fn of(self, container: &Container) -> Option<&Probe> {
        match self {
            Self::Startup => container.startup_probe.as_ref(),
            Self::Readiness => container.readiness_probe.as_ref(),
            Self::Liveness => container.liveness_probe.as_ref(),
        }
    }
}

/// What a probe does.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ProbeAction {
    /// Connect to the port.
    Tcp {
        /// Host to connect to; the Pod's address when `None`.
        host: Option<String>,
        /// Port.
        port: u16,
    },
    /// `GET` the path; 200–399 is success.
    Http {
        /// Host to connect to; the Pod's address when `None`.
        host: Option<String>,
        /// Port.
        port: u16,
        /// Path and query.
        path: String,
        /// Extra headers.
        headers: Vec<(String, String)>,
    },
}

/// A probe with Kubernetes' defaults applied.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProbeSpec {
    /// Which probe.
    pub kind: ProbeKind,
    /// What it does.
    pub action: ProbeAction,
    /// Delay after the container started before the first probe.
    pub initial_delay: Duration,
    /// Interval between probes.
    pub period: Duration,
    /// Bound on one probe.
    pub timeout: Duration,
    /// Consecutive successes that make the result success.
    pub success_threshold: u32,
    /// Consecutive failures that make the result failure.
    pub failure_threshold: u32,
}

fn seconds(value: Option<i32>, default: u64) -> Duration {
    Duration::from_secs(
        value
            .and_then(|value| u64::try_from(value).ok())
            .unwrap_or(default),
    )
}

fn count(value: Option<i32>, default: u32) -> u32 {
    value
        .and_then(|value| u32::try_from(value).ok())
        .filter(|value| *value > 0)
        .unwrap_or(default)
}

/// A port number, or a named port of `container`.
fn port(port: &IntOrString, container: &Container) -> Result<u16, String> {
    match port {
        IntOrString::Int(number) => {
            u16::try_from(*number).map_err(|_| format!("port {number} is out of range"))
        }
        IntOrString::String(name) => container
            .ports
            .iter()
            .flatten()
            .find(|candidate| candidate.name.as_deref() == Some(name.as_str()))
            .and_then(|candidate| u16::try_from(candidate.container_port).ok())
            .ok_or_else(|| format!("container {} has no port named {name}", container.name)),
    }
}

impl ProbeSpec {
    /// The `kind` probe of `container`, if it defines one; an error for one
    /// the sandbox cannot run.
    pub fn of(kind: ProbeKind, container: &Container) -> Result<Option<Self>, String> {
        let Some(probe) = kind.of(container) else {
            return Ok(None);
        };
        let unsupported = |what: &str| {
            Err(format!(
                "{} probe of container {}: {what} probes are not supported by the sandbox kubelet",
                kind.title(),
                container.name
            ))
        };
        let action = if let Some(tcp) = &probe.tcp_socket {
            ProbeAction::Tcp {
                host: tcp.host.clone().filter(|host| !host.is_empty()),
                port: port(&tcp.port, container)?,
            }
        } else if let Some(http) = &probe.http_get {
            if http.scheme.as_deref().is_some_and(|scheme| scheme != "HTTP") {
                return unsupported("HTTPS");
            }
            let path = http.path.clone().unwrap_or_default();
            ProbeAction::Http {
                host: http.host.clone().filter(|host| !host.is_empty()),
                port: port(&http.port, container)?,
                path: if path.starts_with('/') {
                    path
                } else {
                    format!("/{path}")
                },
                headers: http
                    .http_headers
                    .iter()
                    .flatten()
                    .map(|header| (header.name.clone(), header.value.clone()))
                    .collect(),
            }
        } else if probe.exec.is_some() {
            return unsupported("exec");
        } else if probe.grpc.is_some() {
            return unsupported("grpc");
        } else {
            return Err(format!(
                "{} probe of container {} has no handler",
                kind.title(),
                container.name
            ));
        };
        Ok(Some(Self {
            kind,
            action,
            initial_delay: seconds(probe.initial_delay_seconds, 0),
            period: seconds(probe.period_seconds, 10).max(Duration::from_secs(1)),
            timeout: seconds(probe.timeout_seconds, 1).max(Duration::from_secs(1)),
            success_threshold: count(probe.success_threshold, 1),
            failure_threshold: count(probe.failure_threshold, 3),
        }))
    }
}

/// The result of a probe over time: it changes only after the threshold of
/// consecutive opposite outcomes. Readiness and startup start as failure,
/// liveness as success, as in the kubelet.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProbeTracker {
    success_threshold: u32,
    failure_threshold: u32,
    successes: u32,
    failures: u32,
    result: bool,
}

impl ProbeTracker {
    /// A tracker for `spec`.
    pub fn new(spec: &ProbeSpec) -> Self {
        Self {
            success_threshold: spec.success_threshold,
            failure_threshold: spec.failure_threshold,
            successes: 0,
            failures: 0,
            result: spec.kind == ProbeKind::Liveness,
        }
    }

    /// The current result.
    pub fn result(&self) -> bool {
        self.result
    }

    /// Consecutive failures so far.
    pub fn failures(&self) -> u32 {
        self.failures
    }

    /// Records one outcome; the new result when it changed.
    pub fn record(&mut self, success: bool) -> Option<bool> {
        if success {
            self.successes = self.successes.saturating_add(1);
            self.failures = 0;
        } else {
            self.failures = self.failures.saturating_add(1);
            self.successes = 0;
        }
        let next = if success && self.successes >= self.success_threshold {
            true
        } else if !success && self.failures >= self.failure_threshold {
            false
        } else {
            self.result
        };
        (next != self.result).then(|| {
            self.result = next;
            next
        })
    }
}

impl ProbeAction {
    fn address(host: Option<&str>, pod_ip: IpAddr, port: u16) -> Result<SocketAddr, String> {
        let ip = match host {
            None => pod_ip,
            Some(host) => host
                .parse()
                .map_err(|_| format!("probe host {host:?} is not an IP address (names are not resolved)"))?,
        };
        Ok(SocketAddr::new(ip, port))
    }

    /// Runs the probe once from network namespace `netns` against a Pod at
    /// `pod_ip`, within `timeout`; why it failed otherwise.
    pub async fn run(&self, netns: &str, pod_ip: IpAddr, timeout: Duration) -> Result<(), String> {
        match tokio::time::timeout(timeout, self.run_unbounded(netns, pod_ip)).await {
            Ok(result) => result,
            Err(_) => Err(format!("timeout after {timeout:?}")),
        }
    }

    async fn run_unbounded(&self, netns: &str, pod_ip: IpAddr) -> Result<(), String> {
        let (host, port) = match self {
            Self::Tcp { host, port } | Self::Http { host, port, .. } => (host.as_deref(), *port),
        };
        let address = Self::address(host, pod_ip, port)?;
        let socket = tcp_socket_in(netns, &address).map_err(|error| error.to_string())?;
        let stream = socket
            .connect(address)
            .await
            .map_err(|error| format!("dial tcp {address}: {error}"))?;
        let Self::Http { path, headers, .. } = self else {
            return Ok(());
        };
        let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .map_err(|error| format!("HTTP handshake with {address}: {error}"))?;
        let connection = tokio::spawn(connection);
        let mut request = hyper::Request::get(path.as_str())
            .header(hyper::header::HOST, address.to_string())
            .header(hyper::header::USER_AGENT, "kube-probe/1.36")
            .header(hyper::header::ACCEPT, "*/*");
        for (name, value) in headers {
            request = request.header(name.as_str(), value.as_str());
        }
        let request = request
            .body(Empty::<Bytes>::new())
            .map_err(|error| format!("invalid probe request: {error}"))?;
        let response = sender
            .send_request(request)
            .await
            .map_err(|error| format!("Get \"http://{address}{path}\": {error}"));
        let outcome = match response {
            Ok(response) => {
                let status = response.status();
                if (200..400).contains(&status.as_u16()) {
                    Ok(())
                } else {
                    let body = response
                        .into_body()
                        .collect()
                        .await
                        .map(|body| body.to_bytes())
                        .unwrap_or_default();
                    let text = String::from_utf8_lossy(&body[..body.len().min(1024)])
                        .trim()
                        .to_owned();
                    Err(format!(
                        "HTTP probe failed with statuscode: {}: {text}",
                        status.as_u16()
                    ))
                }
            }
            Err(error) => Err(error),
        };
        connection.abort();
        outcome
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::core::v1::{ContainerPort, ExecAction, HTTPGetAction, TCPSocketAction};

    fn container(probe: Probe) -> Container {
        Container {
            name: "sidecar".to_owned(),
            ports: Some(vec![ContainerPort {
                name: Some("sidecar".to_owned()),
                container_port: 9104,
                ..ContainerPort::default()
            }]),
            readiness_probe: Some(probe.clone()),
            liveness_probe: Some(probe),
            ..Container::default()
        }
    }

    #[test]
    fn specs_take_the_pods_values_and_kubernetes_defaults() {
        let probe = Probe {
            http_get: Some(HTTPGetAction {
                path: Some("/readyz".to_owned()),
                port: IntOrString::String("sidecar".to_owned()),
                ..HTTPGetAction::default()
            }),
            period_seconds: Some(2),
            timeout_seconds: Some(2),
            failure_threshold: Some(2),
            ..Probe::default()
        };
        let spec = ProbeSpec::of(ProbeKind::Readiness, &container(probe))
            .expect("supported")
            .expect("defined");
        assert_eq!(
            spec.action,
            ProbeAction::Http {
                host: None,
                port: 9104,
                path: "/readyz".to_owned(),
                headers: Vec::new()
            }
        );
        assert_eq!(spec.period, Duration::from_secs(2));
        assert_eq!(spec.initial_delay, Duration::ZERO);
        assert_eq!((spec.success_threshold, spec.failure_threshold), (1, 2));
        let tcp = Probe {
            tcp_socket: Some(TCPSocketAction {
                port: IntOrString::Int(3306),
                host: None,
            }),
            ..Probe::default()
        };
        let spec = ProbeSpec::of(ProbeKind::Liveness, &container(tcp))
            .expect("supported")
            .expect("defined");
        assert_eq!(
            spec.action,
            ProbeAction::Tcp {
                host: None,
                port: 3306
            }
        );
        assert_eq!(
            (spec.period, spec.timeout, spec.failure_threshold),
            (Duration::from_secs(10), Duration::from_secs(1), 3)
        );
        assert_eq!(
            ProbeSpec::of(ProbeKind::Startup, &container(Probe::default())),
            Ok(None)
        );
    }

    #[test]
    fn probes_the_sandbox_cannot_run_are_refused() {
        let exec = Probe {
            exec: Some(ExecAction {
                command: Some(vec!["true".to_owned()]),
            }),
            ..Probe::default()
        };
        let error = ProbeSpec::of(ProbeKind::Liveness, &container(exec)).expect_err("exec");
        assert!(error.contains("exec probes are not supported"), "{error}");
        let unknown_port = Probe {
            tcp_socket: Some(TCPSocketAction {
                port: IntOrString::String("nope".to_owned()),
                host: None,
            }),
            ..Probe::default()
        };
        let error = ProbeSpec::of(ProbeKind::Liveness, &container(unknown_port)).expect_err("port");
        assert!(error.contains("no port named nope"), "{error}");
    }

    #[test]
    fn results_flip_only_after_their_thresholds() {
        let spec = |kind| ProbeSpec {
            kind,
            action: ProbeAction::Tcp { host: None, port: 1 },
            initial_delay: Duration::ZERO,
            period: Duration::from_secs(1),
            timeout: Duration::from_secs(1),
            success_threshold: 2,
            failure_threshold: 3,
        };
        let mut readiness = ProbeTracker::new(&spec(ProbeKind::Readiness));
        assert!(!readiness.result());
        assert_eq!(readiness.record(true), None);
        assert_eq!(readiness.record(true), Some(true));
        assert_eq!(readiness.record(false), None);
        assert_eq!(readiness.record(true), None, "a success resets the failures");
        assert_eq!(readiness.record(false), None);
        assert_eq!(readiness.record(false), None);
        assert_eq!(readiness.record(false), Some(false));
        let mut liveness = ProbeTracker::new(&spec(ProbeKind::Liveness));
        assert!(liveness.result(), "liveness starts as success");
        assert_eq!(liveness.record(true), None);
    }
}
