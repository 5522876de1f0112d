//! Scenario: the primary's whole member cluster is cut off. drmysql fails
//! over to the replica in the host cluster on soft evidence; the old
//! primary, which took a write while it was cut off, is quarantined after
//! the heal and comes back as a replica through `kubectl drmysql rebuild`.
//!
//! The primary runs on the virtual node `kosmos-member-a` (its Pods live in
//! the member's network), the replica on the host's node. The partition takes
//! the member's nodes off the underlay (their links show NO-CARRIER: the
//! controller, the replica and the member lose each other) and pauses the
//! virtual node's heartbeats (clustertree no longer hears from the member, so
//! the node turns NotReady). Every signal is soft: timeouts, a reconnecting
//! IO thread, a NotReady node. So the failover waits `detectionSeconds`.
//!
//! The write on the cut-off primary comes from a client inside the member's
//! network, as root (an application user would be refused once the server is
//! read-only; root is not, and nothing reaches a cut-off server to make it
//! read-only anyway). In the sandbox, the role label the controller moves
//! reaches the cut-off Pod's files, so its sidecar stops writing heartbeats
//! there; in a real partition it would not, and those heartbeats would be
//! errant transactions too, with the same outcome: quarantine.
//!
//! 1. The example, placed as above, with policy Automatic, Async and
//!    `detectionSeconds` 6, is Ready; a row replicates.
//! 2. The member is partitioned. Within 60 s the writer Service's one ready
//!    endpoint is the replica's IP and a write is accepted there, no sooner
//!    than `detectionSeconds` after the cut; `status.history` records a
//!    succeeded Failover from the old primary.
//! 3. A row is written on the cut-off old primary from inside the member.
//! 4. Healed: the old primary is `quarantined`, its errant GTIDs are listed
//!    in `status.instances` and the `ErrantTransactions` condition, an
//!    `ErrantTransactionsFound` Event is published, `drmysql_errant_transactions`
//!    is 1 for it, and it is no endpoint of the writer Service.
//! 5. `kubectl drmysql rebuild orders orders-cloud-a --yes` (or the
//!    annotation, when the plugin cannot be built) re-creates its Pod and
//!    volume; it rejoins as a replica of the new primary, holding the rows
//!    written before and after the failover and not the errant one, which
//!    the new primary never had either; the DRMySQL is Ready.
//!
//! Root and MariaDB are required (the test fails naming what is missing).

#[path = "scenario_support/mod.rs"]
mod support;

use std::net::IpAddr;
use std::time::{Duration, Instant};

use drmysql_api::drmysql::{DRMySQL, InstanceRole, TransitionKind, TransitionOutcome};
use drmysql_api::names::{condition, request};
use drmysql_e2e::sandbox::error::SandboxError;
use drmysql_e2e::sandbox::mysql::run_sql;
use drmysql_e2e::sandbox::{Sandbox, wait};

const NAMESPACE: &str = "shop";
const NAME: &str = "orders";
const MEMBER: &str = "member-a";
const DETECTION_SECONDS: u64 = 6;

/// The example with its primary on the member's virtual node and its
/// replica on the host's node.
fn primary_in_the_member(sandbox: &Sandbox) -> serde_json::Value {
    let mut example = support::check(sandbox, sandbox.example(NAMESPACE, NAME));
    let virtual_node = example["spec"]["replicas"][0]["node"].clone();
    example["spec"]["replicas"][0]["node"] = serde_json::json!(sandbox.host_node());
    example["spec"]["primary"]["node"] = virtual_node;
    example["spec"]["failover"]["detectionSeconds"] = serde_json::json!(DETECTION_SECONDS);
    example
}

/// The ids in `sandbox.rows` on the server at `address`.
async fn ids(sandbox: &Sandbox, address: IpAddr) -> Result<Vec<String>, String> {
    let rows = sandbox
        .sql(
            NAMESPACE,
            NAME,
            address,
            &["SELECT id FROM sandbox.rows ORDER BY id"],
        )
        .await
        .map_err(|error| error.to_string())?;
    Ok(rows
        .into_iter()
        .filter_map(|row| row.into_iter().next().flatten())
        .collect())
}

fn instance_role(drmysql: &DRMySQL, instance: &str) -> Option<InstanceRole> {
    drmysql
        .status
        .as_ref()?
        .instances
        .iter()
        .find(|listed| listed.name == instance)?
        .role
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_partitioned_primary_fails_over_and_is_quarantined_then_rebuilt() {
    let sandbox = support::start().await;
    let example = primary_in_the_member(&sandbox);
    let ready = support::apply_and_wait_ready(&sandbox, &example).await;
    let old_primary = ready
        .status
        .as_ref()
        .and_then(|status| status.current_primary.clone())
        .expect("a current primary");
    let replica = format!("{NAME}-tencent");
    let replica_ip = support::check(&sandbox, sandbox.pod_ip(NAMESPACE, &replica).await);
    let old_ip = support::check(&sandbox, sandbox.pod_ip(NAMESPACE, &old_primary).await);
    support::write_and_replicate(&sandbox, NAMESPACE, NAME, replica_ip, 1).await;
    let requester = support::Requester::for_subcommand("rebuild").await;
    let virtual_node = example["spec"]["primary"]["node"]
        .as_str()
        .expect("the primary's node")
        .to_owned();
    let member_netns = sandbox
        .topology()
        .nodes()
        .iter()
        .find(|node| node.cluster == MEMBER)
        .map(|node| node.netns.clone())
        .expect("the member's node");

    // 2. The member is cut off.
    let cut_at = Instant::now();
    support::check(
        &sandbox,
        sandbox
            .topology()
            .partition_cluster(MEMBER)
            .map_err(SandboxError::part("the partition")),
    );
    sandbox
        .node(&virtual_node)
        .expect("the virtual node")
        .pause_heartbeats();
    let written = wait::until(
        "a write accepted on the new primary",
        Duration::from_secs(60),
        || support::try_write(&sandbox, NAMESPACE, NAME, 2, Some(old_ip)),
    )
    .await;
    let writer = support::check(&sandbox, written);
    let cut_to_write = cut_at.elapsed();
    println!("partition to the first accepted write on the new primary: {cut_to_write:?}");
    assert_eq!(writer, replica_ip, "the write landed elsewhere");
    assert!(
        cut_to_write >= Duration::from_secs(DETECTION_SECONDS),
        "soft evidence must persist detectionSeconds, yet the failover came after {cut_to_write:?}"
    );
    let after = support::get(&sandbox, NAMESPACE, NAME)
        .await
        .expect("the DRMySQL");
    let status = after.status.clone().expect("a status");
    assert_eq!(status.current_primary.as_deref(), Some(replica.as_str()));
    let record = status.history.last().expect("a history record");
    assert_eq!(
        (record.kind, record.outcome, record.from.as_str()),
        (
            TransitionKind::Failover,
            TransitionOutcome::Succeeded,
            old_primary.as_str()
        ),
        "{}",
        support::describe(&after)
    );

    // 3. A write on the cut-off old primary, from inside the member.
    let mut inside = support::check(&sandbox, sandbox.sql_target(NAMESPACE, NAME, old_ip).await);
    inside.netns = member_netns;
    let errant = run_sql(
        &inside,
        &["INSERT INTO sandbox.rows (id, note) VALUES (100, 'written on the cut-off old primary')"],
    )
    .await;
    support::check(&sandbox, errant);

    // 4. Healed: the old primary is quarantined.
    support::check(
        &sandbox,
        sandbox
            .topology()
            .heal_cluster(MEMBER)
            .map_err(SandboxError::part("the heal")),
    );
    sandbox
        .node(&virtual_node)
        .expect("the virtual node")
        .resume_heartbeats();
    let quarantined = support::wait_for(
        &sandbox,
        NAMESPACE,
        NAME,
        &format!("{old_primary} quarantined"),
        Duration::from_secs(90),
        |drmysql| {
            instance_role(drmysql, &old_primary) == Some(InstanceRole::Quarantined)
                && support::has(drmysql, condition::ERRANT_TRANSACTIONS, "True")
        },
    )
    .await;
    let listed = quarantined
        .status
        .as_ref()
        .and_then(|status| status.instances.iter().find(|listed| listed.name == old_primary))
        .and_then(|listed| listed.errant_gtids.clone())
        .unwrap_or_default();
    assert!(!listed.is_empty(), "{}", support::describe(&quarantined));
    let message = support::condition(&quarantined, condition::ERRANT_TRANSACTIONS)
        .map(|condition| condition.message.clone())
        .unwrap_or_default();
    assert!(
        message.contains(&old_primary),
        "the condition names the instance: {message}"
    );
    support::assert_events(&sandbox, NAMESPACE, NAME, &["ErrantTransactionsFound"], &[]).await;
    let metrics = support::metrics(&sandbox).await;
    assert_eq!(
        support::series(
            &metrics,
            "drmysql_errant_transactions",
            &[
                ("namespace", NAMESPACE),
                ("name", NAME),
                ("instance", old_primary.as_str())
            ],
        ),
        Some(1.0)
    );
    let writers = support::endpoints(&sandbox, NAMESPACE, &format!("{NAME}-primary")).await;
    assert!(
        !writers.get(&old_ip).copied().unwrap_or(false),
        "the quarantined instance is no ready writer endpoint: {writers:?}"
    );
    assert_eq!(
        support::check(
            &sandbox,
            sandbox
                .ready_endpoint(NAMESPACE, &format!("{NAME}-primary"))
                .await
        ),
        replica_ip
    );
    println!("quarantined: {}", support::describe(&quarantined));

    // 5. Rebuilt, it rejoins without the errant row.
    let rebuild_args = ["rebuild", NAME, old_primary.as_str(), "--yes"];
    let requested = requester
        .request(
            &sandbox,
            NAMESPACE,
            NAME,
            &rebuild_args,
            &[(request::REBUILD, old_primary.as_str())],
        )
        .await;
    println!("rebuild: {}", requested.describe());
    if let support::Requested::Plugin { success, .. } = &requested {
        assert!(success, "{}", requested.describe());
    }
    let rejoined =
        support::wait_rejoined(&sandbox, NAMESPACE, NAME, &old_primary, Duration::from_secs(180)).await;
    let rebuilt_ip = support::check(&sandbox, sandbox.pod_ip(NAMESPACE, &old_primary).await);
    let caught_up = wait::until(
        "the rows on the rebuilt instance",
        Duration::from_secs(60),
        || async {
            let found = ids(&sandbox, rebuilt_ip).await?;
            if found == ["1", "2"] {
                Ok(found)
            } else {
                Err(format!("rows {found:?}"))
            }
        },
    )
    .await;
    support::check(&sandbox, caught_up);
    assert_eq!(
        ids(&sandbox, replica_ip).await,
        Ok(vec!["1".to_owned(), "2".to_owned()]),
        "the new primary never had the errant row"
    );
    support::wait_for(
        &sandbox,
        NAMESPACE,
        NAME,
        "Ready and no errant transactions after the rebuild",
        Duration::from_secs(60),
        |drmysql| {
            support::has(drmysql, condition::READY, "True")
                && !support::has(drmysql, condition::ERRANT_TRANSACTIONS, "True")
        },
    )
    .await;
    println!("after the rebuild: {}", support::describe(&rejoined));
    support::finish(sandbox).await;
}
