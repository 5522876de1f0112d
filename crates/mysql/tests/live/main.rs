//! drmysql-mysql against real `mariadbd` servers started by the `testing`
//! feature. One binary, so the template data directory is built once.

mod errors;
mod failover;
mod lag;
mod replication;
mod support;
