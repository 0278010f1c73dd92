//! Several `-c` files, merged in order as Compose merges them: mappings key by key (a later
//! file wins), `environment`, `labels` and `extra_hosts` as mappings whichever form each file
//! used, a service's `volumes` by target path and `ports` appended without repeats; any other
//! list (command, entrypoint, constraints…) is replaced whole.

use serde_yaml::{Mapping, Value};

/// Keys whose list form (`KEY=VALUE`) is turned into a mapping before merging.
const MAP_LISTS: &[&str] = &["environment", "labels", "extra_hosts", "sysctls"];

/// `over` merged onto `base`.
pub fn merge(base: Value, over: Value) -> Value {
    merge_at(base, over, &[])
}

fn merge_at(base: Value, over: Value, path: &[&str]) -> Value {
    match (base, over) {
        (Value::Mapping(mut b), Value::Mapping(o)) => {
            for (k, v) in o {
                let key = k.as_str().unwrap_or("").to_string();
                let mut sub: Vec<&str> = path.to_vec();
                sub.push(&key);
                let merged = match b.remove(&k) {
                    Some(old) => merge_key(old, v, &sub),
                    None => v,
                };
                b.insert(k, merged);
            }
            Value::Mapping(b)
        }
        (_, over) => over,
    }
}

fn merge_key(old: Value, new: Value, path: &[&str]) -> Value {
    let in_service = path.len() == 3 && path[0] == "services";
    let last = path.last().copied().unwrap_or("");
    if MAP_LISTS.contains(&last) {
        return merge_at(as_mapping(old), as_mapping(new), path);
    }
    match (in_service, last, old, new) {
        (true, "volumes", Value::Sequence(a), Value::Sequence(b)) => {
            let mut out: Vec<Value> = Vec::new();
            for v in a.into_iter().chain(b) {
                let target = volume_target(&v);
                out.retain(|x| target.is_none() || volume_target(x) != target);
                out.push(v);
            }
            Value::Sequence(out)
        }
        (true, "ports", Value::Sequence(mut a), Value::Sequence(b)) => {
            for v in b {
                if !a.contains(&v) {
                    a.push(v);
                }
            }
            Value::Sequence(a)
        }
        (_, _, old @ Value::Mapping(_), new @ Value::Mapping(_)) => merge_at(old, new, path),
        (_, _, _, new) => new,
    }
}

/// `[A=1, B]` as `{A: "1", B: null}`; a mapping as it is.
pub fn as_mapping(v: Value) -> Value {
    let Value::Sequence(items) = v else {
        return v;
    };
    let mut m = Mapping::new();
    for item in items {
        let Some(s) = item.as_str() else { continue };
        match s.split_once('=') {
            Some((k, val)) => m.insert(Value::from(k), Value::from(val)),
            None => m.insert(Value::from(s), Value::Null),
        };
    }
    Value::Mapping(m)
}

/// A volume entry's target path: `src:/target[:mode]` or the long form's `target`.
fn volume_target(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => {
            let parts: Vec<&str> = s.split(':').collect();
            Some(match parts.as_slice() {
                [one] => (*one).to_string(),
                [_, target, ..] => (*target).to_string(),
                [] => return None,
            })
        }
        Value::Mapping(m) => m.get("target")?.as_str().map(str::to_string),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn y(s: &str) -> Value {
        serde_yaml::from_str(s).unwrap()
    }

    #[test]
    fn a_later_file_overrides_keys_and_merges_services() {
        let base = y("services:\n  web:\n    image: a\n    command: [x, y]\n    environment: [A=1, B=2]\n    ports: ['80:80']\n    volumes: ['d:/data', '/l:/logs']\n  db: {image: pg}\n");
        let over = y("services:\n  web:\n    image: b\n    command: [z]\n    environment: {B: '3', C: '4'}\n    ports: ['80:80', '443:443']\n    volumes: ['e:/data']\n");
        let m = merge(base, over);
        let want = y("services:\n  web:\n    image: b\n    command: [z]\n    environment: {A: '1', B: '3', C: '4'}\n    ports: ['80:80', '443:443']\n    volumes: ['/l:/logs', 'e:/data']\n  db: {image: pg}\n");
        assert_eq!(m, want);
    }
}
