//! A Kubernetes API simulator: an HTTP server that speaks the Kubernetes REST
//! API well enough for kube 4 clients (controllers, watchers, server-side
//! apply, the Events recorder, kube-lease-manager) and for `kubectl get`,
//! `apply` and `delete`, keeping objects in memory.
//!
//! No real API server can run on the machines drmysql is built on, so the
//! e2e sandbox brings this one. It is honest: whatever it does not implement
//! is answered 501 with a message naming the method and the path, never with
//! a plausible guess. `e2e/README.md` lists what it supports and how it
//! differs from a real API server.
//!
//! ```no_run
//! # async fn example() -> Result<(), Box<dyn std::error::Error>> {
//! use drmysql_e2e::apiserver::{ApiServer, Config};
//! let server = ApiServer::start_with(Config::new("127.0.0.1:0".parse()?).with_crd_dir("crds")).await?;
//! let client = server.client().await?;
//! server.write_kubeconfig(std::path::Path::new("kubeconfig"))?;
//! # drop(client);
//! server.shutdown();
//! # Ok(())
//! # }
//! ```

mod apply;
mod builtin;
mod controllers;
mod convert;
mod delete;
mod discovery;
mod endpointslices;
mod error;
mod fields;
mod http;
pub mod kubeconfig;
mod meta;
mod openapi;
mod patch;
mod registry;
mod selectors;
mod server;
mod store;
mod table;
mod validation;
mod watch;
mod write;

pub use error::ApiServerError;
pub use server::{ApiServer, ApiServerHandle, Config};
