//! Go's JSON decoding matches a key to a struct field whatever its case (`"detachKeys"` fills
//! `DetachKeys`, docker-py's `{"order": …}` fills `Order`); maps keep their keys as sent. Docker
//! clients rely on it, so berthd folds a body to the API's spelling before anything reads it,
//! and berth's CLI folds what it reads back where moby's Go fields and the API document spell a
//! key apart (a service's `Healthcheck`, bollard's `HealthCheck`):
//! [`fold_keys`] walks the JSON along a typed model's shape (the serde field names of
//! `bollard_stubs`' structs) and renames a key that matches a field only when case is ignored.
//! Labels, options and other maps are left alone, because serde asks for a map there, not a
//! struct.

use serde::de::value::BorrowedStrDeserializer;
use serde::de::{self, DeserializeOwned, DeserializeSeed, MapAccess, SeqAccess, Visitor};
use serde::Deserializer;
use serde_json::{Map, Value};

/// Renames the keys of `value` that match a field of `T` (at any depth) but for case to the
/// field's name. An exact key wins over a folded one.
pub fn fold_keys<T: DeserializeOwned>(value: &mut Value) {
    // The walk stops at the first value that does not fit; the real parse says why.
    let _ = T::deserialize(Folder(value));
}

/// Gives each key of `map` that is not a field of `fields` but matches one ignoring ASCII case
/// that field's name, unless the field is already there.
fn fold_object(map: &mut Map<String, Value>, fields: &[&str]) {
    let misspelt: Vec<(String, &str)> = map
        .keys()
        .filter(|k| !fields.contains(&k.as_str()))
        .filter_map(|k| {
            let field = fields.iter().find(|f| f.eq_ignore_ascii_case(k))?;
            Some((k.clone(), *field))
        })
        .collect();
    for (key, field) in misspelt {
        if map.contains_key(field) {
            continue;
        }
        if let Some(v) = map.remove(&key) {
            map.insert(field.to_string(), v);
        }
    }
}

/// A deserializer over a JSON value that folds the keys of every struct it is asked for. Only
/// the shape is walked: what it yields is thrown away, so a leaf gets a stand-in its visitor
/// takes (a time-shaped string, zero, false, the first variant), and a value that does not fit
/// its field stops nothing; the real parse reports it.
struct Folder<'a>(&'a mut Value);

/// The stand-in of a string: a time, as some fields parse their text into one.
const STAND_IN_TEXT: &str = "1970-01-01T00:00:00Z";

macro_rules! stand_in {
    ($($method:ident => $visit:ident($($value:expr)?))*) => {
        $(fn $method<V: Visitor<'a>>(self, visitor: V) -> Result<V::Value, Self::Error> {
            visitor.$visit($($value)?)
        })*
    };
}

impl<'a> Deserializer<'a> for Folder<'a> {
    type Error = serde_json::Error;

    fn deserialize_any<V: Visitor<'a>>(self, visitor: V) -> Result<V::Value, Self::Error> {
        match self.0 {
            Value::Object(map) => visitor.visit_map(Entries::new(map)),
            Value::Array(items) => visitor.visit_seq(Items(items.iter_mut())),
            other => {
                let value: &'a Value = other;
                value.deserialize_any(visitor)
            }
        }
    }

    fn deserialize_struct<V: Visitor<'a>>(
        self,
        _name: &'static str,
        fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, Self::Error> {
        match self.0 {
            Value::Object(map) => {
                fold_object(map, fields);
                visitor.visit_map(Entries::new(map))
            }
            _ => visitor.visit_map(Entries::empty()),
        }
    }

    fn deserialize_map<V: Visitor<'a>>(self, visitor: V) -> Result<V::Value, Self::Error> {
        match self.0 {
            Value::Object(map) => visitor.visit_map(Entries::new(map)),
            _ => visitor.visit_map(Entries::empty()),
        }
    }

    fn deserialize_seq<V: Visitor<'a>>(self, visitor: V) -> Result<V::Value, Self::Error> {
        match self.0 {
            Value::Array(items) => visitor.visit_seq(Items(items.iter_mut())),
            _ => visitor.visit_seq(Items([].iter_mut())),
        }
    }

    fn deserialize_tuple<V: Visitor<'a>>(
        self,
        _len: usize,
        visitor: V,
    ) -> Result<V::Value, Self::Error> {
        self.deserialize_seq(visitor)
    }

    fn deserialize_tuple_struct<V: Visitor<'a>>(
        self,
        _name: &'static str,
        _len: usize,
        visitor: V,
    ) -> Result<V::Value, Self::Error> {
        self.deserialize_seq(visitor)
    }

    fn deserialize_option<V: Visitor<'a>>(self, visitor: V) -> Result<V::Value, Self::Error> {
        if self.0.is_null() {
            visitor.visit_none()
        } else {
            visitor.visit_some(self)
        }
    }

    fn deserialize_newtype_struct<V: Visitor<'a>>(
        self,
        _name: &'static str,
        visitor: V,
    ) -> Result<V::Value, Self::Error> {
        visitor.visit_newtype_struct(self)
    }

    fn deserialize_enum<V: Visitor<'a>>(
        self,
        _name: &'static str,
        variants: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, Self::Error> {
        let first: &'a str = variants.first().copied().unwrap_or_default();
        visitor.visit_enum(de::IntoDeserializer::<serde_json::Error>::into_deserializer(first))
    }

    fn deserialize_unit_struct<V: Visitor<'a>>(
        self,
        _name: &'static str,
        visitor: V,
    ) -> Result<V::Value, Self::Error> {
        visitor.visit_unit()
    }

    stand_in! {
        deserialize_bool => visit_bool(false)
        deserialize_i8 => visit_i64(0)
        deserialize_i16 => visit_i64(0)
        deserialize_i32 => visit_i64(0)
        deserialize_i64 => visit_i64(0)
        deserialize_i128 => visit_i64(0)
        deserialize_u8 => visit_u64(0)
        deserialize_u16 => visit_u64(0)
        deserialize_u32 => visit_u64(0)
        deserialize_u64 => visit_u64(0)
        deserialize_u128 => visit_u64(0)
        deserialize_f32 => visit_f64(0.0)
        deserialize_f64 => visit_f64(0.0)
        deserialize_char => visit_char('a')
        deserialize_str => visit_str(STAND_IN_TEXT)
        deserialize_string => visit_str(STAND_IN_TEXT)
        deserialize_identifier => visit_str(STAND_IN_TEXT)
        deserialize_bytes => visit_bytes(&[])
        deserialize_byte_buf => visit_bytes(&[])
        deserialize_unit => visit_unit()
        deserialize_ignored_any => visit_unit()
    }
}

/// The entries of an object, each value folded in turn.
struct Entries<'a> {
    iter: Option<serde_json::map::IterMut<'a>>,
    value: Option<&'a mut Value>,
}

impl<'a> Entries<'a> {
    fn new(map: &'a mut Map<String, Value>) -> Self {
        Entries {
            iter: Some(map.iter_mut()),
            value: None,
        }
    }

    /// No entries: a struct or map where the JSON has something else.
    fn empty() -> Self {
        Entries {
            iter: None,
            value: None,
        }
    }
}

impl<'a> MapAccess<'a> for Entries<'a> {
    type Error = serde_json::Error;

    fn next_key_seed<K: DeserializeSeed<'a>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, Self::Error> {
        let Some((key, value)) = self.iter.as_mut().and_then(Iterator::next) else {
            return Ok(None);
        };
        self.value = Some(value);
        seed.deserialize(BorrowedStrDeserializer::new(key.as_str()))
            .map(Some)
    }

    fn next_value_seed<V: DeserializeSeed<'a>>(
        &mut self,
        seed: V,
    ) -> Result<V::Value, Self::Error> {
        let value = self
            .value
            .take()
            .ok_or_else(|| de::Error::custom("a value asked for before its key"))?;
        seed.deserialize(Folder(value))
    }
}

/// The items of an array, each folded in turn.
struct Items<'a>(std::slice::IterMut<'a, Value>);

impl<'a> SeqAccess<'a> for Items<'a> {
    type Error = serde_json::Error;

    fn next_element_seed<T: DeserializeSeed<'a>>(
        &mut self,
        seed: T,
    ) -> Result<Option<T::Value>, Self::Error> {
        self.0
            .next()
            .map(|v| seed.deserialize(Folder(v)))
            .transpose()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bollard_stubs::models::{ContainerCreateBody, ExecConfig, ServiceSpec};
    use serde_json::json;

    #[test]
    fn struct_keys_take_the_fields_spelling_at_any_depth() {
        let mut v = json!({"image": "busybox", "hostconfig": {"privileged": true,
            "restartpolicy": {"name": "always"}}, "env": ["A=1"]});
        fold_keys::<ContainerCreateBody>(&mut v);
        assert_eq!(
            v,
            json!({"Image": "busybox", "HostConfig": {"Privileged": true,
                "RestartPolicy": {"Name": "always"}}, "Env": ["A=1"]})
        );
        let mut e = json!({"Cmd": ["true"], "detachKeys": "ctrl-p"});
        fold_keys::<ExecConfig>(&mut e);
        assert_eq!(e, json!({"Cmd": ["true"], "DetachKeys": "ctrl-p"}));
    }

    #[test]
    fn maps_keep_their_keys_and_an_exact_key_wins() {
        let mut v = json!({"Image": "x", "image": "y",
            "Labels": {"image": "l", "Name": "n"},
            "HostConfig": {"LogConfig": {"type": "json-file", "config": {"max-file": "2"}},
                "Sysctls": {"net.ipv4.ip_forward": "1"}},
            "NetworkingConfig": {"EndpointsConfig": {"Aliases": {"aliases": ["a"]}}}});
        fold_keys::<ContainerCreateBody>(&mut v);
        assert_eq!(v["Image"], "x");
        assert_eq!(
            v["image"], "y",
            "left for the parse: Go would take the later one"
        );
        assert_eq!(v["Labels"], json!({"image": "l", "Name": "n"}));
        assert_eq!(
            v["HostConfig"]["LogConfig"],
            json!({"Type": "json-file", "Config": {"max-file": "2"}})
        );
        assert_eq!(
            v["NetworkingConfig"]["EndpointsConfig"],
            json!({"Aliases": {"Aliases": ["a"]}}),
            "a network named like a field keeps its name; its endpoint's fields fold"
        );
    }

    #[test]
    fn lists_of_structs_fold_and_a_misfit_stops_nothing() {
        let mut s = json!({"name": "web", "TaskTemplate": {"containerspec": {"image": "busybox",
            "healthcheck": {"test": ["NONE"]}}, "networks": [{"target": "n1", "aliases": ["a"]}]},
            "UpdateConfig": {"order": "start-first"}, "mode": {"replicated": {"replicas": 2}}});
        fold_keys::<ServiceSpec>(&mut s);
        assert_eq!(s["Name"], "web");
        assert_eq!(s["UpdateConfig"]["Order"], "start-first");
        assert_eq!(s["Mode"]["Replicated"]["Replicas"], 2);
        assert_eq!(
            s["TaskTemplate"]["ContainerSpec"]["HealthCheck"]["Test"][0],
            "NONE"
        );
        assert_eq!(s["TaskTemplate"]["Networks"][0]["Target"], "n1");
        let mut bad = json!({"name": 3, "mode": "x", "TaskTemplate": {"ForceUpdate": "one",
            "containerspec": {"Image": ["a"], "Env": "A=1", "user": "u"}},
            "updateconfig": {"order": "start-first"}});
        fold_keys::<ServiceSpec>(&mut bad);
        assert_eq!(bad["Name"], 3);
        assert_eq!(bad["Mode"], "x");
        assert_eq!(bad["TaskTemplate"]["ContainerSpec"]["User"], "u");
        assert_eq!(bad["UpdateConfig"]["Order"], "start-first");
    }
}
