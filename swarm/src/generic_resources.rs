//! Generic resources, as swarmkit has them: a node advertises kinds of things it has (berthd's
//! `node-generic-resources`: `gpu=GPU-3f2a` names one device, `ssd=2` counts two), a task
//! reserves a count of a kind (`--generic-resource gpu=1`), the scheduler places it only where
//! enough is free, the leader assigns named ones by name, and the container learns what it got
//! from `DOCKER_RESOURCE_<KIND>` (names joined by commas, or the count).

use std::collections::{BTreeMap, HashSet};

use bollard_stubs::models::{
    GenericResourcesInner as Resource, GenericResourcesInnerDiscreteResourceSpec as Discrete,
    GenericResourcesInnerNamedResourceSpec as Named,
};

/// The prefix of the variables that tell a container its resources (swarmkit's).
const ENV_PREFIX: &str = "DOCKER_RESOURCE";

/// One of a node's advertised resources, as `KIND=VALUE` (a number counts, anything else names
/// one). The kind must be a valid part of an environment variable's name.
pub fn parse_node_resource(text: &str) -> Result<Resource, String> {
    let (kind, value) = text
        .split_once('=')
        .filter(|(k, v)| !k.is_empty() && !v.is_empty())
        .ok_or_else(|| format!("invalid generic resource {text:?}: use KIND=NAME or KIND=COUNT"))?;
    if !kind
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
    {
        return Err(format!(
            "invalid generic resource kind {kind:?}: letters, digits, '-' and '_' only"
        ));
    }
    Ok(match value.parse::<i64>() {
        Ok(n) if n > 0 => discrete(kind, n),
        Ok(_) => return Err(format!("generic resource {kind}: count must be positive")),
        Err(_) => Resource {
            named_resource_spec: Some(Named {
                kind: Some(kind.to_string()),
                value: Some(value.to_string()),
            }),
            discrete_resource_spec: None,
        },
    })
}

/// A node's advertised resources from `KIND=VALUE` texts; a kind both counted and named is
/// refused (as dockerd refuses it), and a name given twice is one resource.
pub fn parse_node_resources(texts: &[String]) -> Result<Vec<Resource>, String> {
    let mut out: Vec<Resource> = Vec::new();
    for text in texts {
        let r = parse_node_resource(text)?;
        let kind = kind_of(&r);
        let clash = out
            .iter()
            .any(|o| kind_of(o) == kind && is_named(o) != is_named(&r));
        if clash {
            return Err(format!(
                "generic resource {kind}: a kind is either counted or named, not both"
            ));
        }
        if !out.contains(&r) {
            out.push(r);
        }
    }
    Ok(out)
}

fn discrete(kind: &str, n: i64) -> Resource {
    Resource {
        named_resource_spec: None,
        discrete_resource_spec: Some(Discrete {
            kind: Some(kind.to_string()),
            value: Some(n),
        }),
    }
}

fn kind_of(r: &Resource) -> &str {
    r.named_resource_spec
        .as_ref()
        .and_then(|n| n.kind.as_deref())
        .or_else(|| r.discrete_resource_spec.as_ref()?.kind.as_deref())
        .unwrap_or("")
}

fn is_named(r: &Resource) -> bool {
    r.named_resource_spec.is_some()
}

/// How much of each kind a node has: a count adds up, each name is one.
pub fn node_totals(resources: &[Resource]) -> BTreeMap<String, u64> {
    let mut totals = BTreeMap::new();
    for r in resources {
        let n = match &r.discrete_resource_spec {
            Some(d) => d.value.and_then(|v| u64::try_from(v).ok()).unwrap_or(0),
            None => 1,
        };
        *totals.entry(kind_of(r).to_string()).or_insert(0) += n;
    }
    totals
}

/// What a task template reserves of generic resources.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TaskReservation {
    /// Counts by kind (`--generic-resource gpu=2`).
    pub counts: BTreeMap<String, u64>,
    /// Kinds reserved by name, sorted. Only counts can be reserved (swarmkit's rule), but swarmkit's
    /// spec check discards its own error, so Docker stores such a spec and its tasks wait
    /// forever: berth stores it too and its tasks wait, saying why.
    pub named: Vec<String>,
}

const WITHOUT_KIND: &str = "Resources.Reservations.GenericResources: a resource without a kind";

/// What a task reserves. A missing kind or a count below one is refused with the field's name.
pub fn task_request(resources: &[Resource]) -> Result<TaskReservation, String> {
    let mut wants = TaskReservation::default();
    let mut named = std::collections::BTreeSet::new();
    for r in resources {
        let Some(d) = r.discrete_resource_spec.as_ref().filter(|_| !is_named(r)) else {
            let kind = kind_of(r);
            if kind.is_empty() {
                return Err(WITHOUT_KIND.to_string());
            }
            named.insert(kind.to_string());
            continue;
        };
        let kind = d
            .kind
            .as_deref()
            .filter(|k| !k.is_empty())
            .ok_or(WITHOUT_KIND.to_string())?;
        let n = d
            .value
            .and_then(|v| u64::try_from(v).ok())
            .filter(|n| *n > 0)
            .ok_or_else(|| {
                format!("Resources.Reservations.GenericResources: {kind}: count must be positive")
            })?;
        let count = wants.counts.entry(kind.to_string()).or_insert(0);
        *count = count.saturating_add(n);
    }
    wants.named = named.into_iter().collect();
    Ok(wants)
}

/// The named resources `assigned` holds, as (kind, name).
pub fn names_held(assigned: &[Resource]) -> impl Iterator<Item = (String, String)> + '_ {
    assigned.iter().filter_map(|r| {
        let n = r.named_resource_spec.as_ref()?;
        Some((n.kind.clone()?, n.value.clone()?))
    })
}

/// What a task placed on a node with `node` resources gets for `wants`: names of that kind
/// not in `taken` (which it then holds too), or the count itself for a counted kind. The
/// scheduler has checked there is enough; a shortfall assigns what is free.
pub fn assign(
    node: &[Resource],
    taken: &mut HashSet<(String, String)>,
    wants: &BTreeMap<String, u64>,
) -> Vec<Resource> {
    let mut out = Vec::new();
    for (kind, &count) in wants {
        let names: Vec<&str> = node
            .iter()
            .filter(|r| kind_of(r) == kind)
            .filter_map(|r| r.named_resource_spec.as_ref()?.value.as_deref())
            .collect();
        if names.is_empty() {
            out.push(discrete(kind, i64::try_from(count).unwrap_or(i64::MAX)));
            continue;
        }
        let free: Vec<&str> = names
            .into_iter()
            .filter(|name| !taken.contains(&(kind.clone(), name.to_string())))
            .take(usize::try_from(count).unwrap_or(usize::MAX))
            .collect();
        for name in free {
            taken.insert((kind.clone(), name.to_string()));
            out.push(Resource {
                named_resource_spec: Some(Named {
                    kind: Some(kind.clone()),
                    value: Some(name.to_string()),
                }),
                discrete_resource_spec: None,
            });
        }
    }
    out
}

/// The container's `DOCKER_RESOURCE_<KIND>=…` variables for what its task was assigned.
pub fn env(assigned: &[Resource]) -> Vec<String> {
    let mut by_kind: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for r in assigned {
        let value = match (&r.named_resource_spec, &r.discrete_resource_spec) {
            (Some(n), _) => n.value.clone().unwrap_or_default(),
            (None, Some(d)) => d.value.unwrap_or(0).to_string(),
            (None, None) => continue,
        };
        by_kind
            .entry(kind_of(r).to_string())
            .or_default()
            .push(value);
    }
    by_kind
        .into_iter()
        .map(|(kind, values)| {
            format!(
                "{}_{}={}",
                ENV_PREFIX,
                kind.to_uppercase(),
                values.join(",")
            )
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strings(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn a_node_counts_numbers_and_names_the_rest() {
        let r = parse_node_resources(&strings(&["gpu=GPU-a", "gpu=GPU-b", "ssd=2", "gpu=GPU-a"]))
            .unwrap();
        assert_eq!(r.len(), 3);
        let totals = node_totals(&r);
        assert_eq!(totals["gpu"], 2);
        assert_eq!(totals["ssd"], 2);
        for bad in ["gpu", "=1", "gpu=", "g pu=1", "ssd=0", "ssd=-1"] {
            assert!(parse_node_resource(bad).is_err(), "{bad}");
        }
        let mixed = parse_node_resources(&strings(&["gpu=GPU-a", "gpu=3"])).unwrap_err();
        assert!(mixed.contains("either counted or named"), "{mixed}");
    }

    #[test]
    fn a_task_reserves_counts_and_named_kinds_are_kept_apart() {
        let wants = task_request(&[discrete("gpu", 1), discrete("gpu", 1)]).unwrap();
        assert_eq!(wants.counts["gpu"], 2);
        assert!(wants.named.is_empty());
        let named = parse_node_resource("gpu=GPU-a").unwrap();
        let wants = task_request(&[named.clone(), named, discrete("ssd", 1)]).unwrap();
        assert_eq!(wants.named, vec!["gpu".to_string()]);
        assert_eq!(wants.counts.len(), 1);
        assert!(task_request(&[discrete("gpu", 0)]).is_err());
        // Counts from a client add up without overflowing (a debug build panicked).
        let huge = discrete("gpu", i64::MAX);
        let wants = task_request(&[huge.clone(), huge.clone(), huge]).unwrap();
        assert_eq!(wants.counts["gpu"], u64::MAX);
        let nameless = Resource::default();
        assert!(task_request(&[nameless])
            .unwrap_err()
            .contains("without a kind"));
    }

    #[test]
    fn names_are_assigned_once_and_counts_as_counts() {
        let node = parse_node_resources(&strings(&["gpu=A", "gpu=B", "gpu=C", "ssd=4"])).unwrap();
        let mut taken = HashSet::new();
        let wants: BTreeMap<String, u64> = [("gpu".into(), 2), ("ssd".into(), 3)].into();
        let first = assign(&node, &mut taken, &wants);
        assert_eq!(
            env(&first),
            vec!["DOCKER_RESOURCE_GPU=A,B", "DOCKER_RESOURCE_SSD=3"]
        );
        let second = assign(&node, &mut taken, &[("gpu".to_string(), 1)].into());
        assert_eq!(env(&second), vec!["DOCKER_RESOURCE_GPU=C"]);
        assert_eq!(names_held(&second).count(), 1);
    }
}
