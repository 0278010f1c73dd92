//! The field names of a serde struct (a bollard-stubs API type), as its `Deserialize` asks
//! for them: what the support tables of the API and of the swarm are checked against, so a
//! field a new API version adds fails a test until someone decides what berth does with it.

use std::collections::BTreeSet;

use serde::de::{self, DeserializeOwned, Visitor};

/// A deserializer that only records the field names `deserialize_struct` is asked for.
struct Fields<'a>(&'a mut Vec<&'static str>);

impl<'de> de::Deserializer<'de> for Fields<'_> {
    type Error = de::value::Error;

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        fields: &'static [&'static str],
        _visitor: V,
    ) -> Result<V::Value, Self::Error> {
        self.0.extend_from_slice(fields);
        Err(de::Error::custom("fields recorded"))
    }

    fn deserialize_any<V: Visitor<'de>>(self, _visitor: V) -> Result<V::Value, Self::Error> {
        Err(de::Error::custom("not a struct"))
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes byte_buf
        option unit unit_struct newtype_struct seq tuple tuple_struct map enum identifier
        ignored_any
    }
}

/// The serialized field names of struct `T`; panics when `T` is not a struct with fields.
pub fn struct_fields<T: DeserializeOwned>() -> BTreeSet<&'static str> {
    let mut names = Vec::new();
    let _ = T::deserialize(Fields(&mut names));
    assert!(
        !names.is_empty(),
        "{} has no fields",
        std::any::type_name::<T>()
    );
    names.into_iter().collect()
}

/// Asserts that `table` names every field of `T` and nothing else.
pub fn assert_table_covers<T: DeserializeOwned, D>(table: &[(&str, D)]) {
    let want = struct_fields::<T>();
    let have: BTreeSet<&str> = table.iter().map(|(n, _)| *n).collect();
    let missing: Vec<_> = want.difference(&have).collect();
    let extra: Vec<_> = have.difference(&want).collect();
    assert!(
        missing.is_empty() && extra.is_empty(),
        "{}: fields without a decision {missing:?}, table entries for no field {extra:?}",
        std::any::type_name::<T>()
    );
}
