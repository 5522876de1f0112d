//! Interface choice from the Cluster's options, and detection on this host's
//! loopback (read-only).

use drmysql_api::clusterlink::{ClusterLinkOptions, NicNodeNames};

use super::*;

fn options() -> ClusterLinkOptions {
    ClusterLinkOptions::default()
}

#[test]
fn a_per_node_interface_wins_over_the_default() {
    let options = ClusterLinkOptions {
        nic_node_names: vec![NicNodeNames {
            interface_name: "eth1".to_owned(),
            node_name: vec!["n1".to_owned(), "n2".to_owned()],
        }],
        default_nic_name: "eth0".to_owned(),
        ..options()
    };
    assert_eq!(
        choose(&options, "n2").expect("chosen"),
        InterfaceChoice::Named("eth1".to_owned())
    );
    assert_eq!(
        choose(&options, "n3").expect("chosen"),
        InterfaceChoice::Named("eth0".to_owned())
    );
}

#[test]
fn the_wildcard_falls_back_to_can_reach() {
    assert_eq!(
        choose(&options(), "n1").expect("chosen"),
        InterfaceChoice::CanReach(DEFAULT_CAN_REACH),
        "Kosmos's default is can-reach=8.8.8.8"
    );
    let options = ClusterLinkOptions {
        autodetection_method: "can-reach=10.0.0.1".to_owned(),
        ..options()
    };
    assert_eq!(
        choose(&options, "n1").expect("chosen"),
        InterfaceChoice::CanReach("10.0.0.1".parse().expect("ip"))
    );
}

#[test]
fn an_unknown_method_is_refused_naming_the_field() {
    for method in ["interface=eth.*", "can-reach=example.com", "can-reach="] {
        let options = ClusterLinkOptions {
            autodetection_method: method.to_owned(),
            ..options()
        };
        let error = choose(&options, "n1").expect_err("refused");
        assert!(
            error
                .to_string()
                .contains("spec.clusterLinkOptions.autodetectionMethod"),
            "{error}"
        );
    }
}

#[tokio::test]
async fn can_reach_loopback_finds_lo() {
    let (connection, handle, _) = rtnetlink::new_connection().expect("netlink socket");
    tokio::spawn(connection);
    let underlay = detect(
        &handle,
        &InterfaceChoice::CanReach("127.0.0.1".parse().expect("ip")),
    )
    .await
    .expect("detected");
    assert_eq!(underlay.interface, "lo");
    assert_eq!(underlay.ipv4, Some(std::net::Ipv4Addr::LOCALHOST));
}

#[tokio::test]
async fn a_missing_interface_is_named() {
    let (connection, handle, _) = rtnetlink::new_connection().expect("netlink socket");
    tokio::spawn(connection);
    for name in ["drm-absent0", "drmysql-nonexistent0"] {
        let error = detect(&handle, &InterfaceChoice::Named(name.to_owned()))
            .await
            .expect_err("missing");
        assert!(error.to_string().contains(name), "{error}");
    }
}
