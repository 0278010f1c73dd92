//! The container list's rows, kept rendered: a list of a thousand containers built each row's
//! summary from its record and networks and encoded it, ~13 ms of berthd's CPU per list
//! (SPECIFICATION DN1), though between two lists few rows change. A row is rendered again
//! when what it was made from changed: the record (a new `Arc` at each change), or one of its
//! networks' requests or endpoints. Its networks are not even looked up while no network,
//! endpoint or attachment was written since (`Networks::version`). What changes with the
//! clock alone (the status text) is not part of a row; the caller adds it.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};

use super::types::ContainerRecord;
use crate::network::engine_ops::ContainerNetwork;
use crate::network::types::{EndpointRecord, EndpointRequest};

/// How many removed containers' rows are kept before they are looked for.
const SLACK: usize = 64;

/// Rendered rows by container id.
#[derive(Default)]
pub struct ListRows {
    rows: Mutex<HashMap<String, Row>>,
}

/// One rendered row and what it was rendered from. The `Arc`s are held so that their
/// addresses, compared, cannot be reused by a newer value.
struct Row {
    rec: Arc<ContainerRecord>,
    /// The networks' version its networks were looked up after.
    version: u64,
    nets: Vec<NetInput>,
    rendered: Arc<[u8]>,
}

/// What a row shows of one of the container's networks. A network's id names it for good:
/// its name and kind never change.
struct NetInput {
    network: String,
    request: EndpointRequest,
    endpoint: Option<Arc<EndpointRecord>>,
}

impl NetInput {
    fn of(n: &ContainerNetwork) -> Self {
        NetInput {
            network: n.network.id.clone(),
            request: n.request.clone(),
            endpoint: n.endpoint.clone(),
        }
    }

    fn is(&self, n: &ContainerNetwork) -> bool {
        self.network == n.network.id
            && self.request == n.request
            && match (&self.endpoint, &n.endpoint) {
                (None, None) => true,
                (Some(a), Some(b)) => Arc::ptr_eq(a, b),
                _ => false,
            }
    }
}

impl Row {
    fn is_for(&self, rec: &Arc<ContainerRecord>, nets: &[ContainerNetwork]) -> bool {
        Arc::ptr_eq(&self.rec, rec)
            && self.nets.len() == nets.len()
            && self.nets.iter().zip(nets).all(|(a, b)| a.is(b))
    }
}

impl ListRows {
    /// Container `rec`'s row: the one rendered before if the record and its networks are as
    /// they were, else `render`'s, kept for the next list. `version` is the networks' version
    /// read before anything of them for this list (`Networks::version`); `nets` looks the
    /// container's networks up.
    pub fn row<E>(
        &self,
        rec: &Arc<ContainerRecord>,
        version: u64,
        nets: impl FnOnce() -> Vec<ContainerNetwork>,
        render: impl FnOnce(&[ContainerNetwork]) -> Result<Vec<u8>, E>,
    ) -> Result<Arc<[u8]>, E> {
        let kept = |r: &Row| Arc::ptr_eq(&r.rec, rec) && r.version == version;
        if let Some(row) = self.lock().get(&rec.id).filter(|r| kept(r)) {
            return Ok(Arc::clone(&row.rendered));
        }
        let nets = nets();
        if let Some(row) = self
            .lock()
            .get_mut(&rec.id)
            .filter(|r| r.is_for(rec, &nets))
        {
            row.version = version;
            return Ok(Arc::clone(&row.rendered));
        }
        let rendered: Arc<[u8]> = render(&nets)?.into();
        let row = Row {
            rec: Arc::clone(rec),
            version,
            nets: nets.iter().map(NetInput::of).collect(),
            rendered: Arc::clone(&rendered),
        };
        self.lock().insert(rec.id.clone(), row);
        Ok(rendered)
    }

    /// Forgets the rows of removed containers once there are a few (`SLACK`): `live` is every
    /// container there is.
    pub fn prune(&self, live: &[Arc<ContainerRecord>]) {
        let mut rows = self.lock();
        if rows.len() > live.len() + SLACK {
            let ids: HashSet<&str> = live.iter().map(|r| r.id.as_str()).collect();
            rows.retain(|id, _| ids.contains(id.as_str()));
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Row>> {
        // A panic while holding it leaves at worst a stale row's absence: rows are rebuilt.
        self.rows.lock().unwrap_or_else(|p| p.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::network::types::NetworkRecord;

    fn net(id: &str, ep: Option<Arc<EndpointRecord>>) -> ContainerNetwork {
        ContainerNetwork {
            network: Arc::new(NetworkRecord {
                id: id.into(),
                ..Default::default()
            }),
            request: EndpointRequest::default(),
            endpoint: ep,
        }
    }

    /// Whether a list at `version` rendered `rec`'s row again; `looked` counts the networks'
    /// lookups.
    fn rendered_at(
        rows: &ListRows,
        rec: &Arc<ContainerRecord>,
        version: u64,
        nets: &[ContainerNetwork],
        looked: &mut usize,
    ) -> bool {
        let mut rendered = false;
        rows.row::<()>(
            rec,
            version,
            || {
                *looked += 1;
                nets.to_vec()
            },
            |_| {
                rendered = true;
                Ok(b"{}".to_vec())
            },
        )
        .unwrap();
        rendered
    }

    fn rendered(rows: &ListRows, rec: &Arc<ContainerRecord>, nets: &[ContainerNetwork]) -> bool {
        // A new version each time: the networks are always looked up.
        static VERSION: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        let v = VERSION.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        rendered_at(rows, rec, v, nets, &mut 0)
    }

    #[test]
    fn a_row_is_rendered_again_only_when_its_record_or_networks_change() {
        let rows = ListRows::default();
        let rec = Arc::new(ContainerRecord {
            id: "c1".into(),
            ..Default::default()
        });
        let ep = Arc::new(EndpointRecord::default());
        let nets = vec![net("n1", Some(Arc::clone(&ep)))];
        assert!(rendered(&rows, &rec, &nets));
        assert!(!rendered(&rows, &rec, &nets));

        // A record that changed is a new Arc, even with the same contents.
        let changed = Arc::new(ContainerRecord::clone(&rec));
        assert!(rendered(&rows, &changed, &nets));
        assert!(!rendered(&rows, &changed, &nets));

        // A new endpoint (a restart), a lost one, another network, another request.
        let new_ep = vec![net("n1", Some(Arc::new(EndpointRecord::default())))];
        assert!(rendered(&rows, &changed, &new_ep));
        assert!(rendered(&rows, &changed, &[net("n1", None)]));
        assert!(rendered(&rows, &changed, &[net("n2", None)]));
        let mut asked = net("n2", None);
        asked.request.aliases.push("web".into());
        assert!(rendered(&rows, &changed, std::slice::from_ref(&asked)));
        assert!(rendered(&rows, &changed, &[]));
        assert!(!rendered(&rows, &changed, &[]));
    }

    #[test]
    fn networks_are_looked_up_only_after_a_write_of_them() {
        let rows = ListRows::default();
        let rec = Arc::new(ContainerRecord {
            id: "c1".into(),
            ..Default::default()
        });
        let nets = vec![net("n1", Some(Arc::new(EndpointRecord::default())))];
        let mut looked = 0;
        assert!(rendered_at(&rows, &rec, 7, &nets, &mut looked));
        assert!(!rendered_at(&rows, &rec, 7, &nets, &mut looked));
        assert_eq!(looked, 1, "version 7 again: no lookup");
        // Another version: looked up, the same, and not looked up again at that version.
        assert!(!rendered_at(&rows, &rec, 8, &nets, &mut looked));
        assert!(!rendered_at(&rows, &rec, 8, &nets, &mut looked));
        assert_eq!(looked, 2);
        // A changed record is always rendered again.
        let changed = Arc::new(ContainerRecord::clone(&rec));
        assert!(rendered_at(&rows, &changed, 8, &nets, &mut looked));
        assert_eq!(looked, 3);
    }

    #[test]
    fn rows_of_removed_containers_are_pruned_past_the_slack() {
        let rows = ListRows::default();
        let recs: Vec<Arc<ContainerRecord>> = (0..=SLACK + 1)
            .map(|i| {
                Arc::new(ContainerRecord {
                    id: format!("c{i}"),
                    ..Default::default()
                })
            })
            .collect();
        for rec in &recs {
            rendered(&rows, rec, &[]);
        }
        rows.prune(&recs[..2]);
        assert_eq!(rows.lock().len(), SLACK + 2, "within the slack");
        rows.prune(&recs[..1]);
        assert_eq!(rows.lock().keys().collect::<Vec<_>>(), ["c0"]);
        assert!(!rendered(&rows, &recs[0], &[]));
    }
}
