//! The drill's write load: several writer connections, each on a thread of
//! its own inside the host node's network namespace (where an application
//! in the host cluster stands), inserting rows with unique ids into
//! `drill.writes` at a steady pace through the writer Service's current
//! ready endpoint, and logging every insert the server acknowledged.
//!
//! A writer keeps its connection while the endpoint stays the same, and
//! reconnects when it moves or the connection fails, as a pooled client
//! does. Each statement is bounded: an insert that waits longer (a Lossless
//! primary that lost its replicas waits for an acknowledgement) counts as a
//! failed attempt, and its id is never reused, since it may have committed.

use std::net::IpAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use mysql_async::OptsBuilder;
use mysql_async::prelude::Queryable;

use crate::kubelet::netns::within;

/// Bound on one connect or insert.
const STATEMENT_TIMEOUT: Duration = Duration::from_secs(2);

/// One acknowledged insert, with when it was acknowledged.
#[derive(Clone, Debug)]
pub struct Acked {
    /// The row's id.
    pub id: u64,
    /// The server that acknowledged it.
    pub on: IpAddr,
    /// When the acknowledgement arrived.
    pub at: Instant,
}

/// Where the writers connect: their namespace and account, and the writer
/// Service's current ready endpoint (kept up to date by the drill).
#[derive(Clone, Debug)]
pub struct WriterTarget {
    /// The network namespace the writers stand in.
    pub netns: String,
    /// The application account (`INSERT` on `drill.*`).
    pub user: String,
    /// Its password.
    pub password: String,
    /// The writer Service's current ready endpoint, if it has exactly one.
    pub endpoint: Arc<RwLock<Option<IpAddr>>>,
}

/// Running writers; [`Self::stop`] ends them and returns what they did.
pub struct Writers {
    stop: Arc<AtomicBool>,
    threads: Vec<std::thread::JoinHandle<()>>,
    acks: Arc<Mutex<Vec<Acked>>>,
    failures: Arc<Mutex<Vec<(Instant, String)>>>,
    attempts: Arc<AtomicU64>,
}

/// What the writers did.
#[derive(Clone, Debug, Default)]
pub struct Written {
    /// Every acknowledged insert, in acknowledgement order.
    pub acks: Vec<Acked>,
    /// Insert attempts, acknowledged or not.
    pub attempts: u64,
    /// Each failed attempt or connect: when, and why.
    pub failures: Vec<(Instant, String)>,
}

impl Writers {
    /// Starts `count` writers, each inserting every `pause`, taking ids from
    /// `ids` (shared, so ids stay unique across writers and trials).
    pub fn start(target: &WriterTarget, count: usize, pause: Duration, ids: Arc<AtomicU64>) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let acks = Arc::new(Mutex::new(Vec::new()));
        let failures = Arc::new(Mutex::new(Vec::new()));
        let attempts = Arc::new(AtomicU64::new(0));
        let threads = (0..count)
            .map(|_| {
                let target = target.clone();
                let stop = Arc::clone(&stop);
                let acks = Arc::clone(&acks);
                let failures = Arc::clone(&failures);
                let attempts = Arc::clone(&attempts);
                let ids = Arc::clone(&ids);
                std::thread::spawn(move || {
                    let netns = target.netns.clone();
                    let outcome = within(&netns, move || {
                        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build();
                        match runtime {
                            Ok(runtime) => {
                                let log = Log {
                                    acks: &acks,
                                    failures: &failures,
                                    attempts: &attempts,
                                };
                                runtime.block_on(write(&target, pause, &stop, &ids, &log));
                            }
                            Err(error) => tracing::warn!(%error, "a writer has no runtime"),
                        }
                    });
                    if let Err(error) = outcome {
                        tracing::warn!(%error, "a writer could not enter its namespace");
                    }
                })
            })
            .collect();
        Self {
            stop,
            threads,
            acks,
            failures,
            attempts,
        }
    }

    /// The acknowledgements so far.
    pub fn acks(&self) -> Vec<Acked> {
        self.acks.lock().map(|acks| acks.clone()).unwrap_or_default()
    }

    /// Stops the writers and waits for them.
    pub fn stop(self) -> Written {
        self.stop.store(true, Ordering::SeqCst);
        for thread in self.threads {
            let _ = thread.join();
        }
        let mut acks = self.acks.lock().map(|acks| acks.clone()).unwrap_or_default();
        acks.sort_by_key(|ack| ack.at);
        let mut failures = self
            .failures
            .lock()
            .map(|failures| failures.clone())
            .unwrap_or_default();
        failures.sort_by_key(|(at, _)| *at);
        Written {
            acks,
            attempts: self.attempts.load(Ordering::SeqCst),
            failures,
        }
    }
}

/// Where a writer logs.
struct Log<'a> {
    acks: &'a Mutex<Vec<Acked>>,
    failures: &'a Mutex<Vec<(Instant, String)>>,
    attempts: &'a AtomicU64,
}

impl Log<'_> {
    fn failed(&self, why: String) {
        if let Ok(mut failures) = self.failures.lock() {
            failures.push((Instant::now(), why));
        }
    }
}

async fn connect(target: &WriterTarget, address: IpAddr) -> Result<mysql_async::Conn, String> {
    let options = OptsBuilder::default()
        .ip_or_hostname(address.to_string())
        .tcp_port(3306)
        .user(Some(target.user.clone()))
        .pass(Some(target.password.clone()))
        .prefer_socket(false);
    tokio::time::timeout(STATEMENT_TIMEOUT, mysql_async::Conn::new(options))
        .await
        .map_err(|_| format!("connect to {address}: no answer within {STATEMENT_TIMEOUT:?}"))?
        .map_err(|error| format!("connect to {address}: {error}"))
}

async fn write(target: &WriterTarget, pause: Duration, stop: &AtomicBool, ids: &AtomicU64, log: &Log<'_>) {
    let mut connection: Option<(IpAddr, mysql_async::Conn)> = None;
    while !stop.load(Ordering::SeqCst) {
        tokio::time::sleep(pause).await;
        let endpoint = target.endpoint.read().ok().and_then(|endpoint| *endpoint);
        let Some(address) = endpoint else {
            connection = None;
            continue;
        };
        if connection.as_ref().is_some_and(|(on, _)| *on != address) {
            connection = None;
        }
        if connection.is_none() {
            match connect(target, address).await {
                Ok(conn) => connection = Some((address, conn)),
                Err(why) => log.failed(why),
            }
        }
        let Some((on, conn)) = connection.as_mut() else {
            continue;
        };
        let id = ids.fetch_add(1, Ordering::SeqCst);
        log.attempts.fetch_add(1, Ordering::SeqCst);
        let insert = format!("INSERT INTO drill.writes (id, note) VALUES ({id}, 'drill')");
        match tokio::time::timeout(STATEMENT_TIMEOUT, conn.query_drop(insert)).await {
            Ok(Ok(())) => {
                let ack = Acked {
                    id,
                    on: *on,
                    at: Instant::now(),
                };
                if let Ok(mut acks) = log.acks.lock() {
                    acks.push(ack);
                }
            }
            Ok(Err(error)) => {
                log.failed(format!("insert on {on}: {error}"));
                connection = None;
            }
            Err(_) => {
                log.failed(format!("insert on {on}: no answer within {STATEMENT_TIMEOUT:?}"));
                connection = None;
            }
        }
    }
}
