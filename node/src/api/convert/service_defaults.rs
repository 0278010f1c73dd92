//! `GET /services/{id}?insertDefaults=true`: the service's spec with what it leaves unset filled
//! in with the values the swarm uses (swarmkit's `defaults.InterpolateService`), as `docker
//! service inspect` asks for it. The stored spec stays as sent: an update sends it back whole,
//! and the defaults must not become settings.

use serde_json::{json, Map, Value};

/// Ten seconds, five seconds: swarmkit's stop grace period, restart delay and update monitor.
const STOP_GRACE_NS: i64 = 10_000_000_000;
const FIVE_SECONDS_NS: i64 = 5_000_000_000;

/// `spec` with swarmkit's defaults where it has nothing (a key absent or null).
pub fn insert_defaults(spec: &Value) -> Value {
    let mut spec = spec.clone();
    let Some(s) = spec.as_object_mut() else {
        return spec;
    };
    // A task template that is not an object was refused at create; nothing to fill there.
    if let Some(task) = s
        .entry("TaskTemplate")
        .or_insert_with(|| json!({}))
        .as_object_mut()
    {
        // A plugin or network-attachment runtime has no container spec to fill.
        if let Some(container) = task.get_mut("ContainerSpec").and_then(Value::as_object_mut) {
            set_if_unset(container, "StopGracePeriod", json!(STOP_GRACE_NS));
            set_if_unset(container, "DNSConfig", json!({}));
        }
        set_if_unset(task, "Resources", json!({}));
        match task.get_mut("RestartPolicy").and_then(Value::as_object_mut) {
            Some(restart) => set_if_unset(restart, "Delay", json!(FIVE_SECONDS_NS)),
            None => {
                task.insert(
                    "RestartPolicy".into(),
                    json!({"Condition": "any", "Delay": FIVE_SECONDS_NS, "MaxAttempts": 0}),
                );
            }
        }
        set_if_unset(task, "Placement", json!({}));
    }
    for key in ["UpdateConfig", "RollbackConfig"] {
        match s.get_mut(key).and_then(Value::as_object_mut) {
            Some(update) => set_if_unset(update, "Monitor", json!(FIVE_SECONDS_NS)),
            None => {
                s.insert(
                    key.into(),
                    json!({"Parallelism": 1, "FailureAction": "pause", "Monitor": FIVE_SECONDS_NS,
                           "MaxFailureRatio": 0, "Order": "stop-first"}),
                );
            }
        }
    }
    spec
}

/// A service spec as moby shows it: every task template has its `ForceUpdate` counter (0 when
/// never forced), and a container service its runtime and isolation, whose only values here
/// are `container` and `default`. A spec is stored without them (`without_shown_fields`), so
/// that one sent back with them, as clients send what they read, is the same spec and restarts
/// no task.
pub fn with_shown_fields(spec: &mut Value) {
    if let Some(endpoint) = spec.get_mut("EndpointSpec") {
        shown_endpoint_spec(endpoint);
    }
    let Some(task) = spec.get_mut("TaskTemplate").and_then(Value::as_object_mut) else {
        return;
    };
    shown_task_spec(task);
    if task.get("ContainerSpec").is_some_and(Value::is_object) {
        set_if_unset(task, "Runtime", json!("container"));
    }
}

/// A task spec's fields as moby shows them: `ForceUpdate` always, the container's isolation,
/// and its health check under moby's Go field name, `Healthcheck` (docker-py's users index it).
/// It is stored as the API document spells it, `HealthCheck`, which a body sent either way is
/// folded to; bollard reads only that spelling, so berth's CLI folds what it reads back.
pub fn shown_task_spec(task: &mut Map<String, Value>) {
    set_if_unset(task, "ForceUpdate", json!(0));
    let Some(container) = task.get_mut("ContainerSpec").and_then(Value::as_object_mut) else {
        return;
    };
    set_if_unset(container, "Isolation", json!("default"));
    if let Some(check) = container.remove("HealthCheck") {
        container.insert("Healthcheck".into(), check);
    }
}

/// An endpoint spec as moby shows it, from swarmkit's protobuf where an unset enum is its
/// first value: the mode (`vip`), and each port's protocol (`tcp`) and publish mode
/// (`ingress`), whether the client sent them or not.
pub fn shown_endpoint_spec(endpoint: &mut Value) {
    let Some(e) = endpoint.as_object_mut() else {
        return;
    };
    set_if_blank(e, "Mode", "vip");
    for port in e
        .get_mut("Ports")
        .and_then(Value::as_array_mut)
        .into_iter()
        .flatten()
        .filter_map(Value::as_object_mut)
    {
        set_if_blank(port, "Protocol", "tcp");
        set_if_blank(port, "PublishMode", "ingress");
    }
}

fn set_if_blank(map: &mut Map<String, Value>, key: &str, value: &str) {
    if map
        .get(key)
        .is_none_or(|v| v.is_null() || v.as_str() == Some(""))
    {
        map.insert(key.into(), json!(value));
    }
}

/// A spec as it is stored: without the fields every spec shows unasked.
pub fn without_shown_fields(spec: &mut Value) {
    let Some(task) = spec.get_mut("TaskTemplate").and_then(Value::as_object_mut) else {
        return;
    };
    if task.get("Runtime").and_then(Value::as_str) == Some("container") {
        task.remove("Runtime");
    }
    if task.get("ForceUpdate").and_then(Value::as_u64) == Some(0) {
        task.remove("ForceUpdate");
    }
    if let Some(container) = task.get_mut("ContainerSpec").and_then(Value::as_object_mut) {
        if container.get("Isolation").and_then(Value::as_str) == Some("default") {
            container.remove("Isolation");
        }
        if !container.contains_key("HealthCheck") {
            if let Some(check) = container.remove("Healthcheck") {
                container.insert("HealthCheck".into(), check);
            }
        }
    }
}

fn set_if_unset(map: &mut Map<String, Value>, key: &str, value: Value) {
    if map.get(key).is_none_or(Value::is_null) {
        map.insert(key.into(), value);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bare_spec_gets_dockers_defaults() {
        // What docker 20.10 answers `docker service inspect` for `service create busybox`.
        let sent = json!({"Name": "s", "TaskTemplate": {"ContainerSpec": {"Image": "busybox"}},
                          "Mode": {"Replicated": {}}});
        let filled = insert_defaults(&sent);
        assert_eq!(
            filled,
            json!({"Name": "s",
                   "TaskTemplate": {
                       "ContainerSpec": {"Image": "busybox", "StopGracePeriod": 10_000_000_000i64,
                                         "DNSConfig": {}},
                       "Resources": {}, "Placement": {},
                       "RestartPolicy": {"Condition": "any", "Delay": 5_000_000_000i64, "MaxAttempts": 0}},
                   "Mode": {"Replicated": {}},
                   "UpdateConfig": {"Parallelism": 1, "FailureAction": "pause",
                                    "Monitor": 5_000_000_000i64, "MaxFailureRatio": 0, "Order": "stop-first"},
                   "RollbackConfig": {"Parallelism": 1, "FailureAction": "pause",
                                      "Monitor": 5_000_000_000i64, "MaxFailureRatio": 0, "Order": "stop-first"}})
        );
    }

    #[test]
    fn what_the_spec_sets_stays_and_only_its_gaps_are_filled() {
        let sent = json!({"TaskTemplate": {
                              "ContainerSpec": {"StopGracePeriod": 3, "DNSConfig": {"Nameservers": ["1.1.1.1"]}},
                              "RestartPolicy": {"Condition": "none", "Delay": null},
                              "Resources": {"Limits": {"MemoryBytes": 1}}},
                          "UpdateConfig": {"Parallelism": 4, "Order": "start-first"},
                          "RollbackConfig": {"Monitor": 7}});
        let filled = insert_defaults(&sent);
        let task = &filled["TaskTemplate"];
        assert_eq!(task["ContainerSpec"]["StopGracePeriod"], 3);
        assert_eq!(
            task["ContainerSpec"]["DNSConfig"]["Nameservers"][0],
            "1.1.1.1"
        );
        assert_eq!(
            task["RestartPolicy"],
            json!({"Condition": "none", "Delay": 5_000_000_000i64})
        );
        assert_eq!(task["Resources"]["Limits"]["MemoryBytes"], 1);
        assert_eq!(
            filled["UpdateConfig"],
            json!({"Parallelism": 4, "Order": "start-first", "Monitor": 5_000_000_000i64})
        );
        assert_eq!(filled["RollbackConfig"], json!({"Monitor": 7}));
    }

    #[test]
    fn container_services_show_runtime_isolation_force_counter_and_mobys_healthcheck() {
        let mut spec = json!({"TaskTemplate": {"ContainerSpec": {"Image": "b",
            "HealthCheck": {"Test": ["NONE"]}}}});
        with_shown_fields(&mut spec);
        assert_eq!(spec["TaskTemplate"]["Runtime"], "container");
        assert_eq!(spec["TaskTemplate"]["ForceUpdate"], 0);
        let container = &spec["TaskTemplate"]["ContainerSpec"];
        assert_eq!(container["Isolation"], "default");
        assert_eq!(
            container["Healthcheck"]["Test"][0], "NONE",
            "moby's spelling"
        );
        assert!(container.get("HealthCheck").is_none());
        let mut sent_back = spec.clone();
        without_shown_fields(&mut sent_back);
        assert_eq!(
            sent_back,
            json!({"TaskTemplate": {"ContainerSpec": {"Image": "b",
                "HealthCheck": {"Test": ["NONE"]}}}})
        );
        let mut plugin = json!({"TaskTemplate": {"PluginSpec": {}, "ForceUpdate": 2}});
        with_shown_fields(&mut plugin);
        assert!(plugin["TaskTemplate"].get("Runtime").is_none());
        assert_eq!(plugin["TaskTemplate"]["ForceUpdate"], 2);
    }

    #[test]
    fn an_endpoint_spec_shows_swarmkits_first_enum_values_where_unset() {
        let mut spec = json!({"EndpointSpec": {"Ports": [{"TargetPort": 80, "PublishedPort": 8080},
            {"TargetPort": 53, "Protocol": "udp", "PublishMode": "host"}]}});
        with_shown_fields(&mut spec);
        assert_eq!(
            spec["EndpointSpec"],
            json!({"Mode": "vip", "Ports": [
                {"TargetPort": 80, "PublishedPort": 8080, "Protocol": "tcp", "PublishMode": "ingress"},
                {"TargetPort": 53, "Protocol": "udp", "PublishMode": "host"}]})
        );
        let mut dnsrr = json!({"EndpointSpec": {"Mode": "dnsrr"}});
        with_shown_fields(&mut dnsrr);
        assert_eq!(dnsrr["EndpointSpec"], json!({"Mode": "dnsrr"}));
        let mut none = json!({"Name": "s"});
        with_shown_fields(&mut none);
        assert!(none.get("EndpointSpec").is_none(), "none sent, none shown");
    }

    #[test]
    fn a_task_without_a_container_spec_gets_no_container_defaults() {
        let filled = insert_defaults(&json!({"TaskTemplate": {"PluginSpec": {"Name": "p"}}}));
        assert!(filled["TaskTemplate"].get("ContainerSpec").is_none());
        assert_eq!(filled["TaskTemplate"]["Placement"], json!({}));
    }
}
