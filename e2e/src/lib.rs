//! drmysql's end-to-end sandbox. No real Kubernetes API server can run on the
//! machines drmysql is built on, so the sandbox brings its own:
//!
//! - [`apiserver`] is a Kubernetes API simulator on loopback, honest about what
//!   it does not implement (501 naming the verb and path), for the controller,
//!   the clusterlink components, the scenarios and `kubectl`;
//! - [`kubelet`] runs a Pod bound to a simulated node as real processes in a
//!   pod network namespace (`mariadbd` for mysqld, `drmysql sidecar`), with
//!   its volumes, env, probes, restarts and status as a kubelet has them;
//! - [`node`] registers simulated nodes (Node, heartbeats, Lease) and runs
//!   the Pods bound to them through the pod runtime, writing status and
//!   Events back; its scheduler binds pending Pods to the nodes that admit
//!   them;
//! - [`scheduler`] decides where a pending Pod may run, as kube-scheduler
//!   would, so that the controller's placement is proven for real;
//! - [`topology`] builds the clusters' node namespaces on an underlay bridge
//!   joined to the root namespace, and cuts it: a partitioned cluster, a
//!   node whose VXLAN tunnel is blocked;
//! - [`sandbox`] puts them together: a host cluster and member clusters with
//!   the real clusterlink components and the real controller as processes
//!   where they would run, for the scenarios and the [`demo`];
//! - [`drill`] runs DR drills on a sandbox: a fault under write load, again
//!   and again, with every acknowledged write checked.

pub mod apiserver;
pub mod demo;
pub mod drill;
pub mod kubelet;
pub mod node;
pub mod sandbox;
pub mod scheduler;
pub mod topology;
