//! drmysql's end-to-end sandbox. No real Kubernetes API server can run on the
//! machines drmysql is built on, so the sandbox brings its own:
//!
//! - [`apiserver`] is a Kubernetes API simulator on loopback, honest about what
//!   it does not implement (501 naming the verb and path), for the controller,
//!   the clusterlink components, the scenarios and `kubectl`;
//! - [`scheduler`] decides where a pending Pod may run, as kube-scheduler
//!   would, so that the controller's placement is proven for real.

pub mod apiserver;
pub mod scheduler;
