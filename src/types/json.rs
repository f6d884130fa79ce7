//! Lenient decoding and re-encoding of models, and the `model!` macro that derives both.
//!
//! Decoding goes straight from JSON text to the typed struct through serde (no intermediate
//! tree): a missing or `null` field takes its default, integers may arrive as floats, and any key
//! the model does not name is kept in `extra`. A field of the wrong JSON type is an error.

use std::borrow::Cow;
use std::fmt;

use serde::de::{self, Deserializer, Visitor};
use serde::Deserialize;
use serde_json::Value;

/// A model field type that decodes leniently.
pub trait Field: Sized {
    /// Decodes the field from any serde deserializer.
    ///
    /// # Errors
    /// When the value has the wrong JSON type.
    fn decode<'de, D: Deserializer<'de>>(d: D) -> Result<Self, D::Error>;
}

/// Adapter giving every [`Field`] a `Deserialize` impl.
pub struct Lenient<T>(pub T);

impl<'de, T: Field> Deserialize<'de> for Lenient<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        T::decode(d).map(Lenient)
    }
}

impl Field for String {
    fn decode<'de, D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Option::<String>::deserialize(d).map(Option::unwrap_or_default)
    }
}

struct IntVisitor;

impl Visitor<'_> for IntVisitor {
    type Value = i64;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an integer")
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<i64, E> {
        Ok(v)
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<i64, E> {
        i64::try_from(v).map_err(|_| E::custom("integer out of range"))
    }
    #[allow(clippy::cast_possible_truncation)]
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<i64, E> {
        // Truncation is intended: some servers send float timestamps.
        if v.is_finite() {
            Ok(v as i64)
        } else {
            Err(E::custom("integer out of range"))
        }
    }
    fn visit_unit<E: de::Error>(self) -> Result<i64, E> {
        Ok(0)
    }
    fn visit_none<E: de::Error>(self) -> Result<i64, E> {
        Ok(0)
    }
}

impl Field for i64 {
    fn decode<'de, D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(IntVisitor)
    }
}

impl Field for u64 {
    fn decode<'de, D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        u64::try_from(i64::decode(d)?).map_err(|_| de::Error::custom("expected a non-negative integer"))
    }
}

impl Field for u32 {
    fn decode<'de, D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        u32::try_from(i64::decode(d)?).map_err(|_| de::Error::custom("expected a small non-negative integer"))
    }
}

impl Field for f64 {
    fn decode<'de, D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Option::<f64>::deserialize(d).map(Option::unwrap_or_default)
    }
}

impl Field for bool {
    fn decode<'de, D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Option::<bool>::deserialize(d).map(Option::unwrap_or_default)
    }
}

impl Field for Value {
    fn decode<'de, D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Value::deserialize(d)
    }
}

impl<T: Field> Field for Option<T> {
    fn decode<'de, D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Option::<Lenient<T>>::deserialize(d).map(|o| o.map(|l| l.0))
    }
}

impl<T: Field> Field for Vec<T> {
    fn decode<'de, D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let items = Option::<Vec<Lenient<T>>>::deserialize(d)?;
        Ok(items.map(|v| v.into_iter().map(|l| l.0).collect()).unwrap_or_default())
    }
}

/// An object key, borrowed from the input when it has no escapes.
pub struct Key<'de>(pub Cow<'de, str>);

impl<'de> Deserialize<'de> for Key<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct KeyVisitor;
        impl<'de> Visitor<'de> for KeyVisitor {
            type Value = Key<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string key")
            }
            fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Key<'de>, E> {
                Ok(Key(Cow::Borrowed(v)))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Key<'de>, E> {
                Ok(Key(Cow::Owned(v.to_owned())))
            }
            fn visit_string<E: de::Error>(self, v: String) -> Result<Key<'de>, E> {
                Ok(Key(Cow::Owned(v)))
            }
        }
        d.deserialize_str(KeyVisitor)
    }
}

/// Turns a model back into JSON.
pub trait ToJson {
    /// The JSON form, including unmodeled fields.
    fn to_json(&self) -> Value;
}

impl ToJson for String {
    fn to_json(&self) -> Value {
        Value::String(self.clone())
    }
}

macro_rules! number_to_json {
    ($($t:ty),*) => {$(
        impl ToJson for $t {
            fn to_json(&self) -> Value {
                Value::from(*self)
            }
        }
    )*};
}
number_to_json!(i64, u64, u32, bool);

impl ToJson for f64 {
    fn to_json(&self) -> Value {
        serde_json::Number::from_f64(*self).map_or(Value::Null, Value::Number)
    }
}

impl ToJson for Value {
    fn to_json(&self) -> Value {
        self.clone()
    }
}

impl<T: ToJson> ToJson for Option<T> {
    fn to_json(&self) -> Value {
        self.as_ref().map_or(Value::Null, ToJson::to_json)
    }
}

impl<T: ToJson> ToJson for Vec<T> {
    fn to_json(&self) -> Value {
        Value::Array(self.iter().map(ToJson::to_json).collect())
    }
}

/// The approximate heap bytes a value owns beyond its own size: what a cache that budgets memory
/// counts. Each allocation adds [`ALLOC_OVERHEAD`] for the allocator's bookkeeping.
pub trait Heap {
    /// Heap bytes owned.
    fn heap(&self) -> usize;
}

/// The allocator's bookkeeping per allocation, as counted by [`Heap`].
pub const ALLOC_OVERHEAD: usize = 16;

impl Heap for String {
    fn heap(&self) -> usize {
        if self.capacity() == 0 {
            0
        } else {
            self.capacity() + ALLOC_OVERHEAD
        }
    }
}

impl<T: Heap> Heap for Option<T> {
    fn heap(&self) -> usize {
        self.as_ref().map_or(0, Heap::heap)
    }
}

impl<T: Heap> Heap for Vec<T> {
    fn heap(&self) -> usize {
        if self.capacity() == 0 {
            return 0;
        }
        self.capacity() * std::mem::size_of::<T>() + ALLOC_OVERHEAD + self.iter().map(Heap::heap).sum::<usize>()
    }
}

macro_rules! no_heap {
    ($($t:ty),*) => {$(
        impl Heap for $t {
            fn heap(&self) -> usize {
                0
            }
        }
    )*};
}
no_heap!(i64, u64, u32, f64, bool);

impl Heap for Value {
    fn heap(&self) -> usize {
        match self {
            Value::String(s) => s.heap(),
            Value::Array(items) => items.heap(),
            Value::Object(map) => map.heap(),
            Value::Null | Value::Bool(_) | Value::Number(_) => 0,
        }
    }
}

impl Heap for serde_json::Map<String, Value> {
    fn heap(&self) -> usize {
        if self.is_empty() {
            return 0;
        }
        // An ordered map: its entries, and a hash table of indices.
        let entry = std::mem::size_of::<(String, Value)>() + 2 * std::mem::size_of::<usize>();
        self.len() * entry + 2 * ALLOC_OVERHEAD + self.iter().map(|(k, v)| k.heap() + v.heap()).sum::<usize>()
    }
}

/// Declares a model struct with `extra` (plus optional `local:` fields that we compute and never
/// read from or write to JSON) and derives `Deserialize` (lenient), `Serialize` (as `ToJson`
/// writes it), `Field`, `ToJson`, `Default` and `PartialEq`.
macro_rules! model {
    (
        $(#[$meta:meta])*
        pub struct $name:ident {
            $( $(#[$fmeta:meta])* $field:ident : $ty:ty = $key:literal ),* $(,)?
            $( ; local: $( $(#[$lmeta:meta])* $lfield:ident : $lty:ty ),* $(,)? )?
        }
    ) => {
        $(#[$meta])*
        #[derive(Clone, Debug, Default, PartialEq)]
        pub struct $name {
            $( $(#[$fmeta])* pub $field: $ty, )*
            $($( $(#[$lmeta])* pub $lfield: $lty, )*)?
            /// Fields the provider sent that this model does not name, kept as sent.
            pub extra: serde_json::Map<String, serde_json::Value>,
        }

        impl<'de> serde::Deserialize<'de> for $name {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                struct ModelVisitor;
                impl<'de> serde::de::Visitor<'de> for ModelVisitor {
                    type Value = $name;
                    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                        f.write_str(concat!("a ", stringify!($name), " object"))
                    }
                    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<$name, A::Error> {
                        let mut out = $name::default();
                        while let Some($crate::types::json::Key(key)) = map.next_key()? {
                            match key.as_ref() {
                                $( $key => {
                                    out.$field = map.next_value::<$crate::types::json::Lenient<$ty>>()?.0;
                                } )*
                                _ => {
                                    let value = map.next_value::<serde_json::Value>()?;
                                    out.extra.insert(key.into_owned(), value);
                                }
                            }
                        }
                        Ok(out)
                    }
                }
                d.deserialize_map(ModelVisitor)
            }
        }

        impl $crate::types::json::Field for $name {
            fn decode<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                <Option<$name> as serde::Deserialize>::deserialize(d).map(Option::unwrap_or_default)
            }
        }

        impl $crate::types::ToJson for $name {
            fn to_json(&self) -> serde_json::Value {
                let mut map = serde_json::Map::with_capacity(self.extra.len() + 8);
                $( map.insert($key.to_owned(), $crate::types::ToJson::to_json(&self.$field)); )*
                for (k, v) in &self.extra {
                    map.insert(k.clone(), v.clone());
                }
                serde_json::Value::Object(map)
            }
        }

        impl serde::Serialize for $name {
            /// Writes the same JSON as [`ToJson`], straight to the serializer (no `Value` tree).
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                use serde::ser::SerializeMap;
                let mut map = s.serialize_map(None)?;
                $( map.serialize_entry($key, &self.$field)?; )*
                for (k, v) in &self.extra {
                    map.serialize_entry(k, v)?;
                }
                map.end()
            }
        }

        impl $crate::types::json::Heap for $name {
            fn heap(&self) -> usize {
                use $crate::types::json::Heap;
                0 $( + Heap::heap(&self.$field) )* $($( + Heap::heap(&self.$lfield) )*)? + Heap::heap(&self.extra)
            }
        }

        impl $name {
            /// Field names in JSON order, as exposed to Python.
            pub const FIELDS: &'static [&'static str] = &[$($key),*];
        }
    };
}
pub(crate) use model;
