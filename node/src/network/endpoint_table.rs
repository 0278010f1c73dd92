//! The endpoint records (`<container id>/<network id>` → `EndpointRecord`), in sled and in
//! memory (`store::Cached`). Every start, stop and inspect asks for one container's endpoints
//! and every rule-set render and DNS answer for all of them; decoding the whole sled tree for
//! each made those cost grow with the number of running containers (a thousand records
//! decoded per start).

use std::sync::Arc;

use super::types::EndpointRecord;
use crate::error::Result;
use crate::store::{Cached, Records};

/// The endpoint records, on disk and in memory. Clones share the memory copy.
#[derive(Clone)]
pub struct EndpointTable {
    records: Cached<EndpointRecord>,
}

/// The key of container `id`'s endpoint on network `net`.
pub fn key(id: &str, net: &str) -> String {
    format!("{id}/{net}")
}

impl EndpointTable {
    /// Reads every record of `records` into memory.
    pub fn open(records: Records) -> Result<Self> {
        Ok(EndpointTable {
            // Every start renders the rule set from the publishing endpoints: a few among a
            // thousand, found without reading the rest.
            records: Cached::open_marking(records, |e: &EndpointRecord| !e.ports.is_empty())?,
        })
    }

    /// Writes one record (flushed) and keeps it in memory.
    pub fn put(&self, key: &str, ep: &EndpointRecord) -> Result<()> {
        self.records.put(key, ep)
    }

    /// Removes one record.
    pub fn remove(&self, key: &str) -> Result<()> {
        self.records.remove(key)
    }

    /// Grows with every write (`Cached::version`).
    pub fn version(&self) -> u64 {
        self.records.version()
    }

    /// Every record, in key order.
    pub fn all(&self) -> Result<Vec<EndpointRecord>> {
        self.records
            .read(|m| m.values().map(|e| (**e).clone()).collect())
    }

    /// Container `id`'s endpoint on network `net`.
    pub fn get(&self, id: &str, net: &str) -> Result<Option<Arc<EndpointRecord>>> {
        self.records.get(&key(id, net))
    }

    /// Container `id`'s endpoints, in network id order: one range of the ordered keys.
    pub fn of_container(&self, id: &str) -> Result<Vec<EndpointRecord>> {
        // Keys are `<id>/<net>`; '0' follows '/', so the range ends before any other id's.
        let (from, to) = (format!("{id}/"), format!("{id}0"));
        self.records
            .read(|m| m.range(from..to).map(|(_, e)| (**e).clone()).collect())
    }

    /// The endpoints on network `net`.
    pub fn on_network(&self, net: &str) -> Result<Vec<EndpointRecord>> {
        self.records.read(|m| {
            m.values()
                .filter(|e| e.network_id == net)
                .map(|e| (**e).clone())
                .collect()
        })
    }

    /// The endpoints on network `net` of the container named `container` (its name, its id or
    /// an id prefix), whatever became of the container.
    pub fn named_on(&self, net: &str, container: &str) -> Result<Vec<EndpointRecord>> {
        let name = container.trim_start_matches('/');
        if name.is_empty() {
            return Ok(Vec::new());
        }
        Ok(self
            .on_network(net)?
            .into_iter()
            .filter(|e| {
                e.container_name.trim_start_matches('/') == name || e.container_id.starts_with(name)
            })
            .collect())
    }

    /// The endpoints that publish ports (the rule set's DNAT entries).
    pub fn publishing(&self) -> Result<Vec<EndpointRecord>> {
        Ok(self
            .records
            .marked()?
            .iter()
            .map(|e| (**e).clone())
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::Store;

    fn ep(container: &str, net: &str) -> EndpointRecord {
        EndpointRecord {
            id: format!("ep-{container}-{net}"),
            network_id: net.into(),
            container_id: container.into(),
            ..Default::default()
        }
    }

    #[test]
    fn a_containers_endpoints_are_its_own_not_those_of_an_id_it_prefixes() {
        let store = Store::temporary().unwrap();
        let t = EndpointTable::open(store.records("endpoints").unwrap()).unwrap();
        for (c, n) in [
            ("ab", "n1"),
            ("ab", "n2"),
            ("abc", "n1"),
            ("ab0", "n1"),
            ("a", "n1"),
        ] {
            t.put(&key(c, n), &ep(c, n)).unwrap();
        }
        let nets = |c: &str| -> Vec<String> {
            t.of_container(c)
                .unwrap()
                .into_iter()
                .map(|e| e.network_id)
                .collect()
        };
        assert_eq!(nets("ab"), ["n1", "n2"]);
        assert_eq!(nets("abc"), ["n1"]);
        assert_eq!(nets("a"), ["n1"]);
        assert!(nets("b").is_empty());
        assert_eq!(t.on_network("n1").unwrap().len(), 4);
    }

    #[test]
    fn a_containers_endpoints_on_a_network_are_found_by_name_id_or_id_prefix() {
        let store = Store::temporary().unwrap();
        let t = EndpointTable::open(store.records("endpoints").unwrap()).unwrap();
        let mut web = ep("abc123", "n1");
        web.container_name = "/web".into();
        t.put(&key("abc123", "n1"), &web).unwrap();
        let mut elsewhere = ep("abc123", "n2");
        elsewhere.container_name = "/web".into();
        t.put(&key("abc123", "n2"), &elsewhere).unwrap();
        t.put(&key("def", "n1"), &ep("def", "n1")).unwrap();
        for name in ["web", "/web", "abc", "abc123"] {
            let found = t.named_on("n1", name).unwrap();
            assert_eq!(found.len(), 1, "{name}");
            assert_eq!(found[0].network_id, "n1", "{name}");
        }
        assert!(t.named_on("n1", "nope").unwrap().is_empty());
        assert!(t.named_on("n1", "").unwrap().is_empty());
    }

    #[test]
    fn the_table_reopens_with_what_was_written_and_not_what_was_removed() {
        let store = Store::temporary().unwrap();
        let records = store.records("endpoints").unwrap();
        let t = EndpointTable::open(records.clone()).unwrap();
        let mut published = ep("c1", "n1");
        published.ports.push(super::super::types::PortMapping {
            container_port: 80,
            proto: "tcp".into(),
            host_ip: String::new(),
            host_port: 8080,
            ipv6: true,
        });
        t.put(&key("c1", "n1"), &published).unwrap();
        t.put(&key("c2", "n1"), &ep("c2", "n1")).unwrap();
        t.put(&key("c3", "n1"), &ep("c3", "n1")).unwrap();
        t.remove(&key("c3", "n1")).unwrap();
        let again = EndpointTable::open(records).unwrap();
        assert_eq!(again.all().unwrap(), t.all().unwrap());
        assert_eq!(again.all().unwrap().len(), 2);
        assert_eq!(again.publishing().unwrap(), vec![published]);
    }
}
