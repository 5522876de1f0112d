//! kubectl against the API simulator: `apply` of the CRDs and of the example
//! DRMySQL, `get` with the CRD's printer columns, `get pods -o wide`, an
//! invalid manifest refused with its CEL message, and `delete` (which waits
//! for the object to go, through a watch). kubectl must be installed: when it
//! is not found, these tests fail and say so.

mod apiserver_support;

use apiserver_support::{examples, repo_root};
use drmysql_e2e::apiserver::{ApiServer, ApiServerHandle};
use k8s_openapi::api::core::v1::Pod;
use kube::api::{Api, Patch, PatchParams, PostParams};
use serde_json::json;
use std::path::PathBuf;

/// kubectl: `$KUBECTL`, or the first `kubectl` on `PATH`.
fn kubectl_binary() -> PathBuf {
    if let Some(explicit) = std::env::var_os("KUBECTL") {
        return PathBuf::from(explicit);
    }
    std::env::var_os("PATH")
        .iter()
        .flat_map(std::env::split_paths)
        .map(|dir| dir.join("kubectl"))
        .find(|candidate| candidate.is_file())
        .unwrap_or_else(|| {
            panic!(
                "kubectl was not found on PATH (or in $KUBECTL): the kubectl tests of the API simulator need it; \
                 install kubectl"
            )
        })
}

struct Kubectl {
    binary: PathBuf,
    kubeconfig: PathBuf,
    home: tempfile::TempDir,
}

struct Run {
    success: bool,
    stdout: String,
    stderr: String,
}

impl Kubectl {
    fn new(server: &ApiServerHandle) -> Self {
        let home = tempfile::tempdir().expect("a temporary HOME");
        let kubeconfig = home.path().join("kubeconfig");
        server
            .write_kubeconfig(&kubeconfig)
            .expect("write the kubeconfig");
        Self {
            binary: kubectl_binary(),
            kubeconfig,
            home,
        }
    }

    async fn run(&self, args: &[&str]) -> Run {
        let output = tokio::process::Command::new(&self.binary)
            .arg("--kubeconfig")
            .arg(&self.kubeconfig)
            .arg("--cache-dir")
            .arg(self.home.path().join("cache"))
            .args(args)
            .env("HOME", self.home.path())
            .env_remove("KUBECONFIG")
            .output()
            .await
            .unwrap_or_else(|error| panic!("kubectl ({}) could not be run: {error}", self.binary.display()));
        let run = Run {
            success: output.status.success(),
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        };
        eprintln!("$ kubectl {}\n{}{}", args.join(" "), run.stdout, run.stderr);
        run
    }

    async fn ok(&self, args: &[&str]) -> String {
        let run = self.run(args).await;
        assert!(run.success, "kubectl {} failed: {}", args.join(" "), run.stderr);
        run.stdout
    }
}

fn path(relative: &str) -> String {
    repo_root().join(relative).display().to_string()
}

/// The whitespace-separated cells of each line.
fn table(text: &str) -> Vec<Vec<String>> {
    text.lines()
        .map(|line| line.split_whitespace().map(str::to_owned).collect())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubectl_applies_gets_and_deletes() {
    let server = ApiServer::start("127.0.0.1:0".parse().expect("address"))
        .await
        .expect("the simulator starts");
    let client = server.client().await.expect("client");
    let kubectl = Kubectl::new(&server);

    let applied = kubectl.ok(&["apply", "-f", &path("crds")]).await;
    for crd in [
        "drmysqls.drmysql.io",
        "clusters.kosmos.io",
        "clusternodes.kosmos.io",
        "nodeconfigs.kosmos.io",
    ] {
        assert!(
            applied.contains(&format!(
                "customresourcedefinition.apiextensions.k8s.io/{crd} created"
            )),
            "{applied}"
        );
    }
    let again = kubectl.ok(&["apply", "-f", &path("crds")]).await;
    assert!(again.contains("drmysqls.drmysql.io unchanged"), "{again}");
    kubectl
        .ok(&[
            "wait",
            "--for=condition=Established",
            "crd/drmysqls.drmysql.io",
            "--timeout=10s",
        ])
        .await;

    let created = kubectl
        .ok(&["apply", "-f", &path("examples/mysql/drmysql-basic.yaml")])
        .await;
    assert!(created.contains("drmysql.drmysql.io/orders created"), "{created}");

    let drmysqls = Api::<drmysql_api::drmysql::DRMySQL>::namespaced(client.clone(), "default");
    drmysqls
        .patch_status(
            "orders",
            &PatchParams::default(),
            &Patch::Merge(json!({"status": {
                "currentPrimary": "orders-cloud-a", "primaryNode": "vm-0-7-rockylinux",
                "replicasReady": "1/1", "lag": "0.4s", "tunnelState": "Reachable", "phase": "Running"
            }})),
        )
        .await
        .expect("status");
    let listed = table(&kubectl.ok(&["get", "drm"]).await);
    assert_eq!(
        listed[0],
        [
            "NAME",
            "PRIMARY",
            "PRIMARY-NODE",
            "REPLICAS",
            "LAG",
            "TUNNEL",
            "PHASE",
            "AGE"
        ],
        "the CRD's printer columns"
    );
    assert_eq!(
        listed[1][..7],
        [
            "orders",
            "orders-cloud-a",
            "vm-0-7-rockylinux",
            "1/1",
            "0.4s",
            "Reachable",
            "Running"
        ]
    );

    let pods: Api<Pod> = Api::namespaced(client.clone(), "default");
    let pod: Pod = serde_json::from_value(json!({
        "metadata": {"name": "orders-cloud-a-0", "labels": {"app": "orders"}},
        "spec": {"nodeName": "vm-0-7-rockylinux", "containers": [{"name": "mysqld", "image": "mariadb:11.4"}]}
    }))
    .expect("pod");
    pods.create(&PostParams::default(), &pod).await.expect("pod");
    pods.patch_status(
        "orders-cloud-a-0",
        &PatchParams::default(),
        &Patch::Merge(json!({"status": {"phase": "Running", "podIP": "10.244.0.5",
            "containerStatuses": [{"name": "mysqld", "ready": true, "restartCount": 0, "image": "mariadb:11.4",
                                   "imageID": "", "state": {"running": {}}}]}})),
    )
    .await
    .expect("pod status");
    let wide = table(&kubectl.ok(&["get", "pods", "-o", "wide"]).await);
    assert_eq!(
        wide[0],
        [
            "NAME",
            "READY",
            "STATUS",
            "RESTARTS",
            "AGE",
            "IP",
            "NODE",
            "NOMINATED",
            "NODE",
            "READINESS",
            "GATES"
        ]
    );
    assert_eq!(wide[1][..4], ["orders-cloud-a-0", "1/1", "Running", "0"]);
    assert_eq!(
        wide[1][5..],
        ["10.244.0.5", "vm-0-7-rockylinux", "<none>", "<none>"]
    );

    let (invalid, text, _) = examples("invalid")
        .into_iter()
        .find(|(path, _, _)| path.ends_with("replica-on-primary-node.yaml"))
        .expect("the replica-on-primary-node example");
    let expected = text
        .lines()
        .find_map(|line| line.strip_prefix("# expect-error:"))
        .expect("header")
        .trim()
        .to_owned();
    let refused = kubectl
        .run(&["apply", "-f", &invalid.display().to_string()])
        .await;
    assert!(!refused.success, "the invalid manifest is refused");
    assert!(refused.stderr.contains(&expected), "{}", refused.stderr);

    let deleted = kubectl
        .ok(&["delete", "-f", &path("examples/mysql/drmysql-basic.yaml")])
        .await;
    assert!(
        deleted.contains("drmysql.drmysql.io \"orders\" deleted"),
        "{deleted}"
    );
    let gone = kubectl.run(&["get", "drm", "orders"]).await;
    assert!(
        !gone.success && gone.stderr.contains("NotFound"),
        "{}",
        gone.stderr
    );
    let deleted = kubectl.ok(&["delete", "pod", "orders-cloud-a-0"]).await;
    assert!(deleted.contains("pod \"orders-cloud-a-0\" deleted"), "{deleted}");
    let empty = kubectl.run(&["get", "pods"]).await;
    assert!(
        empty.success && empty.stderr.contains("No resources found"),
        "{}",
        empty.stderr
    );
}
