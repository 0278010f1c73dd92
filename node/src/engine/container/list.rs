//! `ps`: list containers, newest first, with Docker's filters.

use std::sync::Arc;

use super::list_filter;
use super::types::ContainerRecord;
use crate::engine::req::{ListContainers, ListFilters};
use crate::engine::Engine;
use crate::error::Result;
use crate::network::engine_ops::ContainerNetwork;

impl Engine {
    /// Lists containers matching `req`: their records as they are now, shared (see `Handle`).
    pub async fn list_containers(&self, req: &ListContainers) -> Result<Vec<Arc<ContainerRecord>>> {
        let f = &req.filters;
        let ports: Vec<&String> = f.publish.iter().chain(&f.expose).collect();
        list_filter::validate(&f.status, &f.health, &ports)?;
        // Docker orders by creation; `before`/`since` name a container to compare with.
        let before = match &f.before {
            Some(key) => Some(self.lookup(key)?.snapshot().await.created),
            None => None,
        };
        let since = match &f.since {
            Some(key) => Some(self.lookup(key)?.snapshot().await.created),
            None => None,
        };
        let handles = self.handles();
        let mut out = Vec::with_capacity(handles.len());
        for h in &handles {
            out.push(h.shared().await);
        }
        self.list_rows.prune(&out);
        out.sort_by(|a, b| b.created.cmp(&a.created));
        // Docker: without `all`, only running ones, unless a status filter asks for others.
        let show_all = req.all || !f.status.is_empty() || !f.exited.is_empty();
        let mut out: Vec<Arc<ContainerRecord>> = out
            .into_iter()
            .filter(|r| show_all || r.state.status.is_running())
            .filter(|r| before.as_ref().is_none_or(|b| r.created < *b))
            .filter(|r| since.as_ref().is_none_or(|s| r.created > *s))
            .filter(|r| self.matches(r, f) && list_filter::matches_settings(r, f))
            .collect();
        if !f.network.is_empty() {
            let index = self.network_index()?;
            out.retain(|r| self.on_network(r, &f.network, &index));
        }
        if let Some(n) = req.limit.filter(|n| *n > 0) {
            out.truncate(n);
        }
        Ok(out)
    }

    /// Container `rec`'s list row: `render`'s (given its networks), or the one it gave before
    /// if neither the record nor its networks changed since (`list_rows`). `version` is the
    /// networks' version read before `index` (`Networks::version`).
    pub fn list_row<E>(
        &self,
        rec: &Arc<ContainerRecord>,
        version: u64,
        index: &crate::network::NetworkIndex,
        render: impl FnOnce(&[ContainerNetwork]) -> std::result::Result<Vec<u8>, E>,
    ) -> std::result::Result<Arc<[u8]>, E> {
        let nets = || self.container_networks_in(rec, index);
        self.list_rows.row(rec, version, nets, render)
    }

    fn matches(&self, r: &ContainerRecord, f: &ListFilters) -> bool {
        let any = |vals: &[String], pred: &dyn Fn(&str) -> bool| {
            vals.is_empty() || vals.iter().any(|v| pred(v))
        };
        any(&f.status, &|s| r.state.status.as_str() == s)
            && any(&f.name, &|n| r.name.contains(n.trim_start_matches('/')))
            && any(&f.id, &|i| r.id.starts_with(i))
            && (f.exited.is_empty()
                || (r.state.status == super::ContainerStatus::Exited
                    && f.exited.contains(&r.state.exit_code)))
            && f.label.iter().all(|l| match l.split_once('=') {
                Some((k, v)) => r.config.labels.get(k).is_some_and(|x| x == v),
                None => r.config.labels.contains_key(l.as_str()),
            })
            && any(&f.ancestor, &|a| self.is_ancestor(r, a))
    }

    /// Whether the container is attached to one of `networks` (name, or id or its prefix).
    fn on_network(
        &self,
        r: &ContainerRecord,
        networks: &[String],
        index: &crate::network::NetworkIndex,
    ) -> bool {
        self.container_networks_in(r, index).iter().any(|n| {
            networks
                .iter()
                .any(|f| n.network.name == *f || n.network.id.starts_with(f.as_str()))
        })
    }

    fn is_ancestor(&self, r: &ContainerRecord, image: &str) -> bool {
        if r.config.image == image || r.config.image_id == image {
            return true;
        }
        self.images
            .resolve(image)
            .map(|i| i.id == r.config.image_id)
            .unwrap_or(false)
    }
}
