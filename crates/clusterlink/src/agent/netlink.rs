//! The rtnetlink side of the agent: a bounded wrapper around the rtnetlink
//! handle, and a snapshot of the node's links and addresses.
//!
//! Every request is bounded by the agent's timeout, so a wedged kernel or a
//! dead connection task turns into an error on the entry instead of a hung
//! agent. The snapshot is read once per pass and re-read after devices change,
//! because interface indexes change when a device is recreated.

use std::future::Future;
use std::net::IpAddr;
use std::time::Duration;

use futures::{Stream, TryStreamExt};
use ipnet::IpNet;
use rtnetlink::Handle;
use rtnetlink::packet_route::address::{AddressAttribute, AddressScope};
use rtnetlink::packet_route::link::{InfoData, InfoKind, InfoVxlan, LinkAttribute, LinkInfo};

use super::error::AgentError;
use super::model::{Family, Mac, VxlanDevice, is_owned_device};

/// An rtnetlink handle whose every request is bounded by a timeout.
#[derive(Clone, Debug)]
pub(crate) struct Netlink {
    pub handle: Handle,
    pub timeout: Duration,
}

impl Netlink {
    /// Runs one request that answers with an acknowledgement.
    pub async fn exec(
        &self,
        operation: impl FnOnce() -> String,
        request: impl Future<Output = Result<(), rtnetlink::Error>>,
    ) -> Result<(), AgentError> {
        match tokio::time::timeout(self.timeout, request).await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(source)) => Err(AgentError::Netlink {
                operation: operation(),
                source,
            }),
            Err(_) => Err(AgentError::Timeout {
                operation: operation(),
                timeout: self.timeout,
            }),
        }
    }

    /// Runs one dump request and collects its answers.
    pub async fn dump<T>(
        &self,
        operation: &str,
        stream: impl Stream<Item = Result<T, rtnetlink::Error>>,
    ) -> Result<Vec<T>, AgentError> {
        match tokio::time::timeout(self.timeout, stream.try_collect::<Vec<T>>()).await {
            Ok(Ok(items)) => Ok(items),
            Ok(Err(source)) => Err(AgentError::Netlink {
                operation: operation.to_string(),
                source,
            }),
            Err(_) => Err(AgentError::Timeout {
                operation: operation.to_string(),
                timeout: self.timeout,
            }),
        }
    }

    /// Reads every link and address of the namespace.
    pub async fn snapshot(&self) -> Result<Links, AgentError> {
        let links = self
            .dump("list links", self.handle.link().get().execute())
            .await?;
        let addresses = self
            .dump("list addresses", self.handle.address().get().execute())
            .await?;
        let rows = links
            .into_iter()
            .map(|message| {
                let mut row = LinkRow {
                    index: message.header.index,
                    ..LinkRow::default()
                };
                for attribute in message.attributes {
                    match attribute {
                        LinkAttribute::IfName(name) => row.name = name,
                        LinkAttribute::Mtu(mtu) => row.mtu = Some(mtu),
                        LinkAttribute::Address(bytes) => row.mac = Mac::from_bytes(&bytes),
                        LinkAttribute::LinkInfo(infos) => read_link_info(&mut row, infos),
                        _ => {}
                    }
                }
                row
            })
            .collect();
        let addresses = addresses
            .into_iter()
            .filter_map(|message| {
                let ip = message.attributes.iter().find_map(|attribute| match attribute {
                    AddressAttribute::Address(ip) => Some(*ip),
                    _ => None,
                })?;
                Some(AddressRow {
                    index: message.header.index,
                    ip,
                    prefix_len: message.header.prefix_len,
                    global: message.header.scope == AddressScope::Universe,
                })
            })
            .collect();
        Ok(Links { rows, addresses })
    }
}

fn read_link_info(row: &mut LinkRow, infos: Vec<LinkInfo>) {
    for info in infos {
        match info {
            LinkInfo::Kind(kind) => row.is_vxlan = kind == InfoKind::Vxlan,
            LinkInfo::Data(InfoData::Vxlan(vxlan)) => {
                for item in vxlan {
                    match item {
                        InfoVxlan::Id(id) => row.vni = Some(id),
                        InfoVxlan::Port(port) => row.port = Some(port),
                        InfoVxlan::Link(index) => row.vtep_index = Some(index),
                        _ => {}
                    }
                }
            }
            _ => {}
        }
    }
}

/// One link as the kernel reported it.
#[derive(Clone, Debug, Default)]
pub(crate) struct LinkRow {
    pub index: u32,
    pub name: String,
    pub mtu: Option<u32>,
    pub mac: Option<Mac>,
    pub is_vxlan: bool,
    pub vni: Option<u32>,
    pub port: Option<u16>,
    pub vtep_index: Option<u32>,
}

/// One interface address.
#[derive(Clone, Debug)]
pub(crate) struct AddressRow {
    pub index: u32,
    pub ip: IpAddr,
    pub prefix_len: u8,
    pub global: bool,
}

/// The links and addresses of the namespace at one moment.
#[derive(Clone, Debug, Default)]
pub(crate) struct Links {
    pub rows: Vec<LinkRow>,
    pub addresses: Vec<AddressRow>,
}

/// An owned device as found in the kernel.
#[derive(Clone, Debug)]
pub(crate) struct ActualDevice {
    pub index: u32,
    pub name: String,
    /// `None` when it is not a VXLAN device or lacks an attribute the agent
    /// sets, so it can only be replaced.
    pub key: Option<VxlanDevice>,
}

impl Links {
    /// The link named `name`.
    pub fn by_name(&self, name: &str) -> Option<&LinkRow> {
        self.rows.iter().find(|row| row.name == name)
    }

    /// The interface index of `name`.
    pub fn index_of(&self, name: &str) -> Option<u32> {
        self.by_name(name).map(|row| row.index)
    }

    /// The name of interface `index`.
    pub fn name_of(&self, index: u32) -> Option<&str> {
        self.rows
            .iter()
            .find(|row| row.index == index)
            .map(|row| row.name.as_str())
    }

    /// The first global (universe-scope) address of interface `index` in
    /// `family`, with its prefix length.
    pub fn first_global(&self, index: u32, family: Family) -> Option<IpNet> {
        self.addresses
            .iter()
            .filter(|address| address.index == index && address.global && Family::of(address.ip) == family)
            .find_map(|address| IpNet::new(address.ip, address.prefix_len).ok())
    }

    /// The owned devices present, with what the agent compares.
    pub fn owned_devices(&self) -> Vec<ActualDevice> {
        self.rows
            .iter()
            .filter(|row| is_owned_device(&row.name))
            .map(|row| ActualDevice {
                index: row.index,
                name: row.name.clone(),
                key: self.device_key(row),
            })
            .collect()
    }

    fn device_key(&self, row: &LinkRow) -> Option<VxlanDevice> {
        if !row.is_vxlan {
            return None;
        }
        let bind_dev = self.name_of(row.vtep_index?)?.to_string();
        Some(VxlanDevice {
            name: row.name.clone(),
            addr: self.first_global(row.index, Family::of_device(&row.name))?,
            mac: row.mac?,
            bind_dev,
            vni: row.vni?,
            port: row.port?,
        })
    }
}
