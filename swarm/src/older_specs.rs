//! Service specs an older berth stored: networks named where ids are stored now, the ingress
//! network among them by its name. Their tasks were made from those templates, so an update
//! that asks for the same thing in today's form must keep the stored template, or every task
//! would restart once for a change of spelling.

use berth_raft::ClusterState;
use serde_json::{json, Value};

use crate::model::same_template;

/// Whether `stored` (a task template as an older berth stored it) asks for what `new` (as
/// stored now: networks by id, the ingress among them) asks for.
pub fn same_as_stored(s: &ClusterState, new: &Value, stored: &Value) -> bool {
    let mut today = json!({ "TaskTemplate": stored.clone() });
    if crate::network_ops::resolve_service_networks(s, &mut today).is_err() {
        return false;
    }
    same_template(new, &today["TaskTemplate"])
}

#[cfg(test)]
mod tests {
    use super::*;
    use berth_raft::{Attrs, Op};

    #[test]
    fn network_names_stored_earlier_ask_for_what_their_ids_do() {
        let mut s = ClusterState::default();
        crate::fixtures::apply(
            &mut s,
            vec![
                crate::ingress::create_default(),
                Op::Create {
                    id: "n1".into(),
                    attrs: Attrs::Network {
                        name: "front".into(),
                    },
                    spec: json!({ "Name": "front", "Driver": "overlay" }),
                    status: json!({}),
                },
            ],
        );
        let ingress = crate::ingress::network(&s).expect("made").id.clone();
        let stored = json!({ "ContainerSpec": { "Image": "busybox" },
            "Networks": [{ "Target": "front", "Aliases": ["a"] }, { "Target": "ingress" }] });
        let new = json!({ "ContainerSpec": { "Image": "busybox" },
            "Networks": [{ "Target": "n1", "Aliases": ["a"] }, { "Target": ingress }] });
        assert!(same_as_stored(&s, &new, &stored));
        let changed = json!({ "ContainerSpec": { "Image": "busybox:2" },
            "Networks": [{ "Target": "n1", "Aliases": ["a"] }, { "Target": ingress }] });
        assert!(!same_as_stored(&s, &changed, &stored));
        let gone = json!({ "ContainerSpec": {}, "Networks": [{ "Target": "removed" }] });
        assert!(!same_as_stored(&s, &new, &gone), "a network that is gone");
    }
}
