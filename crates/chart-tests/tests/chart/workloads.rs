//! The rendered workloads: every flag the chart passes exists in the
//! `drmysql` binary's argument structs; the controller runs hardened with
//! leader election and the sidecar image; the agent DaemonSet has what a
//! node datapath needs; the IPsec PSK is generated and never printed.

use std::collections::BTreeSet;

use drmysql_chart_tests::render::{NAMESPACE, RELEASE, of_kind};
use drmysql_chart_tests::{chart_dir, repo_root, tools};
use serde_json::Value;

/// The long flags a subcommand accepts, read from its clap argument struct
/// in `crates/drmysql/src/<file>` plus the global ones in `main.rs`.
fn flags(file: &str) -> BTreeSet<String> {
    let mut flags = BTreeSet::new();
    for source in [file, "main.rs"] {
        let text = std::fs::read_to_string(repo_root().join("crates/drmysql/src").join(source))
            .expect("a source file");
        let mut long = false;
        for line in text.lines().map(str::trim) {
            if line.starts_with("#[arg(") && line.contains("long") {
                long = true;
            } else if long && !line.starts_with("///") && !line.starts_with("#[") {
                let field = line
                    .trim_start_matches("pub ")
                    .split(':')
                    .next()
                    .unwrap_or_default()
                    .trim();
                flags.insert(format!("--{}", field.replace('_', "-")));
                long = false;
            }
        }
    }
    flags
}

fn containers(objects: &[Value]) -> Vec<&Value> {
    objects
        .iter()
        .filter(|object| matches!(object["kind"].as_str(), Some("Deployment" | "DaemonSet")))
        .flat_map(|workload| {
            workload["spec"]["template"]["spec"]["containers"]
                .as_array()
                .into_iter()
                .flatten()
        })
        .collect()
}

#[test]
fn every_flag_the_chart_passes_exists() {
    let mut checked = 0;
    for (_, objects) in crate::rendered() {
        for container in containers(objects) {
            let args: Vec<&str> = container["args"]
                .as_array()
                .expect("args")
                .iter()
                .filter_map(Value::as_str)
                .collect();
            let known = match args[0] {
                "controller" => flags("controller.rs"),
                "agent" => flags("agent.rs"),
                "network-manager" => flags("network_manager.rs"),
                "discovery" => flags("discovery.rs"),
                other => panic!("unknown subcommand {other}"),
            };
            assert!(known.len() > 3, "{known:?}");
            for arg in &args[1..] {
                let flag = arg.split('=').next().unwrap_or_default();
                assert!(
                    known.contains(flag),
                    "drmysql {} has no flag {flag} ({known:?})",
                    args[0]
                );
                checked += 1;
            }
        }
    }
    assert!(checked > 20, "{checked} flags checked");
}

#[test]
fn the_controller_runs_hardened_with_leader_election_and_the_sidecar_image() {
    let objects = crate::rendered_default();
    let deployment = crate::object(objects, "Deployment", "drmysql-controller");
    assert_eq!(deployment["spec"]["replicas"], 2);
    let pod = &deployment["spec"]["template"]["spec"];
    assert_eq!(pod["securityContext"]["runAsNonRoot"], true);
    let container = &pod["containers"][0];
    let security = &container["securityContext"];
    assert_eq!(security["readOnlyRootFilesystem"], true);
    assert_eq!(security["allowPrivilegeEscalation"], false);
    assert_eq!(security["capabilities"]["drop"], serde_json::json!(["ALL"]));
    let args: Vec<&str> = container["args"]
        .as_array()
        .expect("args")
        .iter()
        .filter_map(Value::as_str)
        .collect();
    assert!(args.contains(&"--leader-election=true"), "{args:?}");
    assert!(
        args.contains(&"--sidecar-image=drmysql/drmysql:0.1.0"),
        "{args:?}"
    );
    assert_eq!(container["livenessProbe"]["httpGet"]["path"], "/healthz");
    assert!(container["resources"]["limits"]["memory"].is_string());
    let env: Vec<&str> = container["env"]
        .as_array()
        .expect("env")
        .iter()
        .filter_map(|e| e["name"].as_str())
        .collect();
    assert!(
        env.contains(&"POD_NAMESPACE") && env.contains(&"POD_NAME"),
        "{env:?}"
    );
    let budget = crate::object(objects, "PodDisruptionBudget", "drmysql-controller");
    assert_eq!(budget["spec"]["minAvailable"], 1);

    let single = crate::rendered_with("single-replica-values.yaml");
    let args = &crate::object(single, "Deployment", "drmysql-controller")["spec"]["template"]["spec"]["containers"]
        [0]["args"];
    assert!(
        args.as_array()
            .expect("args")
            .iter()
            .any(|a| a == "--leader-election=false")
    );
    assert!(
        args.as_array()
            .expect("args")
            .iter()
            .any(|a| a == "--sidecar-image=mirror/drmysql-sidecar:0.1.0-sidecar")
    );
    assert!(
        of_kind(single, "PodDisruptionBudget").is_empty(),
        "no PDB for one replica"
    );
}

#[test]
fn the_agent_daemonset_has_what_a_node_datapath_needs() {
    let objects = crate::rendered_with("clusterlink-host-values.yaml");
    let daemonset = crate::object(objects, "DaemonSet", "drmysql-clusterlink-agent");
    let pod = &daemonset["spec"]["template"]["spec"];
    assert_eq!(pod["hostNetwork"], true);
    assert_eq!(pod["priorityClassName"], "system-node-critical");
    assert_eq!(pod["tolerations"], serde_json::json!([{"operator": "Exists"}]));
    assert_eq!(daemonset["spec"]["updateStrategy"]["type"], "RollingUpdate");
    let container = &pod["containers"][0];
    let added = &container["securityContext"]["capabilities"]["add"];
    assert_eq!(*added, serde_json::json!(["NET_ADMIN", "NET_RAW"]));
    let xtables = pod["volumes"]
        .as_array()
        .expect("volumes")
        .iter()
        .find(|volume| volume["hostPath"]["path"] == "/run/xtables.lock")
        .expect("the xtables lock from the host");
    assert_eq!(xtables["hostPath"]["type"], "FileOrCreate");
    assert!(
        container["volumeMounts"]
            .as_array()
            .expect("mounts")
            .iter()
            .any(|m| m["mountPath"] == "/run/xtables.lock")
    );
    let args = container["args"].as_array().expect("args");
    assert!(
        args.iter()
            .any(|a| a == "--ipsec-psk-file=/etc/drmysql/ipsec/psk"),
        "{args:?}"
    );

    let member = crate::rendered_with("clusterlink-member-values.yaml");
    let pod = &crate::object(member, "DaemonSet", "drmysql-clusterlink-agent")["spec"]["template"]["spec"];
    let args = pod["containers"][0]["args"].as_array().expect("args");
    assert!(
        args.iter()
            .any(|a| a == "--host-kubeconfig=/etc/drmysql/host/kubeconfig"),
        "{args:?}"
    );
    assert!(
        args.iter()
            .any(|a| a == "--ipsec-psk-secret=drmysql-system/drmysql-ipsec-psk:psk"),
        "{args:?}"
    );
    assert_eq!(pod["automountServiceAccountToken"], false);
    assert_eq!(pod["containers"][0]["securityContext"]["privileged"], false);
}

#[test]
fn the_ipsec_psk_is_generated_kept_and_never_printed() {
    let objects = crate::rendered_with("clusterlink-host-values.yaml");
    let secret = crate::object(objects, "Secret", "drmysql-ipsec-psk");
    assert_eq!(
        secret["metadata"]["annotations"]["helm.sh/resource-policy"],
        "keep"
    );
    let encoded = secret["data"]["psk"].as_str().expect("a psk");
    assert_eq!(encoded.len(), 88, "64 random characters, base64-encoded");
    assert!(
        of_kind(crate::rendered_with("kosmos-provided-values.yaml"), "Secret")
            .iter()
            .all(|s| s["metadata"]["name"] != "drmysql-ipsec-psk"),
        "an existing Secret is used as is"
    );

    // The same install as a client-side dry run prints the manifests and the
    // NOTES: the NOTES never contain the key.
    let chart = chart_dir();
    let values = chart.join("ci").join("clusterlink-host-values.yaml");
    let run = tools::run(
        "helm",
        &[
            "install",
            RELEASE,
            &chart.to_string_lossy(),
            "--dry-run=client",
            "--namespace",
            NAMESPACE,
            "--values",
            &values.to_string_lossy(),
        ],
        &repo_root(),
    );
    let output = run.expect_success("helm install --dry-run=client");
    let (manifests, notes) = output.split_once("NOTES:").expect("NOTES are printed");
    let printed_psk = manifests
        .lines()
        .find_map(|line| line.trim().strip_prefix("psk: "))
        .expect("the generated Secret");
    assert!(notes.contains("drmysql-ipsec-psk"), "the NOTES name the Secret");
    assert!(!notes.contains(printed_psk), "the NOTES print the PSK");
}
