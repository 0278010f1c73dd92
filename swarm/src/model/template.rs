//! Comparing task templates: two templates ask for the same thing when they differ only in
//! absent, null, empty-object and empty-list fields (clients re-send a spec with such fields
//! added or dropped, which must not start a rolling update). `TemplatePrint` is that
//! comparison as a value, made once per stored task: every leader pass compares each task's
//! template with its service's, and walking both trees was a tenth of the leader's CPU during
//! a rolling update of 10,000 tasks (perf, 1,000 simulated nodes).

use std::hash::{BuildHasher, Hash, Hasher};
use std::sync::OnceLock;

use serde_json::Value;

/// Whether `a` and `b` ask for the same thing (see the module); `TemplatePrint` is its
/// precomputed form.
pub fn same_template(a: &Value, b: &Value) -> bool {
    // Tasks keep the very template they were made from: equal without normalizing, mostly.
    a == b || equivalent(a, b)
}

/// Equal once empty members (null, `{}`, `[]`, and objects of only those) are left out of
/// every object, without building the normalized copies (an API update compares the new
/// template with the old; passes compare prints).
fn equivalent(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Object(x), Value::Object(y)) => {
            let side = |x: &serde_json::Map<String, Value>, y: &serde_json::Map<String, Value>| {
                x.iter().all(|(k, v)| match y.get(k) {
                    Some(w) => (is_blank(v) && is_blank(w)) || equivalent(v, w),
                    None => is_blank(v),
                })
            };
            side(x, y) && y.iter().all(|(k, w)| x.contains_key(k) || is_blank(w))
        }
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(v, w)| equivalent(v, w))
        }
        _ => a == b,
    }
}

/// Whether a value is left out of the object that holds it.
fn is_blank(v: &Value) -> bool {
    match v {
        Value::Null => true,
        Value::Object(m) => m.values().all(is_blank),
        Value::Array(a) => a.is_empty(),
        _ => false,
    }
}

/// A 128-bit hash of a template with the blank members left out, so equal prints are equal
/// templates as `same_template` sees them. The keys are random per process (prints are never
/// stored or sent), so a collision cannot be crafted, and by chance it is 2^-128 per pair.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct TemplatePrint(u64, u64);

impl TemplatePrint {
    /// The print of `template`.
    pub fn of(template: &Value) -> TemplatePrint {
        static KEYS: OnceLock<[std::collections::hash_map::RandomState; 2]> = OnceLock::new();
        let [a, b] = KEYS.get_or_init(Default::default);
        let (mut x, mut y) = (a.build_hasher(), b.build_hasher());
        feed(template, &mut x);
        feed(template, &mut y);
        TemplatePrint(x.finish(), y.finish())
    }
}

/// Writes `v` in a self-delimiting form (a tag per value, strings end in 0xff, which UTF-8
/// never holds, members and elements counted), leaving out blank object members as
/// `equivalent` does; array elements are kept, as it compares them in place.
fn feed(v: &Value, h: &mut impl Hasher) {
    match v {
        Value::Null => h.write_u8(0),
        Value::Bool(b) => h.write_u8(if *b { 2 } else { 1 }),
        Value::Number(n) => {
            // As `Number`'s equality: 1 and 1.0 differ.
            if let Some(u) = n.as_u64() {
                h.write_u8(3);
                h.write_u64(u);
            } else if let Some(i) = n.as_i64() {
                h.write_u8(4);
                h.write_i64(i);
            } else {
                h.write_u8(5);
                h.write_u64(n.as_f64().map_or(0, f64::to_bits));
            }
        }
        Value::String(s) => {
            h.write_u8(6);
            s.hash(h);
        }
        Value::Array(a) => {
            h.write_u8(7);
            h.write_usize(a.len());
            for x in a {
                feed(x, h);
            }
        }
        Value::Object(m) => {
            h.write_u8(8);
            for (k, x) in m.iter().filter(|(_, x)| !is_blank(x)) {
                h.write_u8(1);
                k.hash(h);
                feed(x, h);
            }
            h.write_u8(0);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn templates_differing_only_in_empty_fields_are_the_same() {
        let a = json!({ "ContainerSpec": { "Image": "busybox", "Env": ["A=1"] } });
        let b = json!({ "ContainerSpec": { "Image": "busybox", "Env": ["A=1"], "Mounts": [],
                        "Labels": {} }, "Placement": {}, "ForceUpdate": null });
        assert!(same_template(&a, &b));
        let c = json!({ "ContainerSpec": { "Image": "busybox", "Env": ["A=2"] } });
        assert!(!same_template(&a, &c));
        let forced =
            json!({ "ContainerSpec": { "Image": "busybox", "Env": ["A=1"] }, "ForceUpdate": 1 });
        assert!(!same_template(&a, &forced));
    }

    /// The comparison's meaning, by building the copies it avoids building.
    fn normalized(v: &Value) -> Value {
        match v {
            Value::Object(m) => Value::Object(
                m.iter()
                    .map(|(k, v)| (k.clone(), normalized(v)))
                    .filter(|(_, v)| {
                        !matches!(v, Value::Null) && v != &json!({}) && v != &json!([])
                    })
                    .collect(),
            ),
            Value::Array(a) => Value::Array(a.iter().map(normalized).collect()),
            other => other.clone(),
        }
    }

    /// Values with and without blank members, at every depth, of every JSON kind.
    fn samples() -> Vec<Value> {
        vec![
            json!(null),
            json!({}),
            json!([]),
            json!(1),
            json!(1.0),
            json!(-1),
            json!("1"),
            json!(true),
            json!(false),
            json!({ "A": null }),
            json!({ "A": {} }),
            json!({ "A": { "B": [] } }),
            json!({ "A": { "B": [1] } }),
            json!({ "A": { "B": [{}] } }),
            json!({ "A": { "B": [{ "C": null }] } }),
            json!({ "A": 1, "B": null }),
            json!({ "A": 1 }),
            json!({ "B": 1 }),
            json!({ "AB": 1 }),
            json!({ "A": "B1" }),
            json!([null]),
            json!([{}]),
            json!([{ "A": [] }]),
            json!([[1], 2]),
            json!([[1, 2]]),
            json!({ "ContainerSpec": { "Image": "busybox", "Env": ["A=1"] } }),
            json!({ "ContainerSpec": { "Image": "busybox", "Env": ["A=1"], "Mounts": [] },
                    "Placement": {}, "ForceUpdate": null }),
        ]
    }

    #[test]
    fn the_comparison_leaves_out_exactly_the_empty_members_at_every_depth() {
        let values = samples();
        for a in &values {
            for b in &values {
                assert_eq!(
                    same_template(a, b),
                    normalized(a) == normalized(b),
                    "{a} vs {b}"
                );
            }
        }
    }

    #[test]
    fn prints_are_equal_exactly_when_the_templates_are_the_same() {
        let values = samples();
        for a in &values {
            for b in &values {
                assert_eq!(
                    TemplatePrint::of(a) == TemplatePrint::of(b),
                    same_template(a, b),
                    "{a} vs {b}"
                );
            }
        }
    }
}
