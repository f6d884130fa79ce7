//! The `FromJson` / `ToJson` traits and the `model!` macro that derives both for a struct.

use std::fmt;

use serde_json::{Map, Value};

/// A JSON value did not have the shape a model expects.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JsonError {
    /// Dotted path of the offending field, e.g. `choices.message.content`.
    pub path: String,
    /// What was expected there.
    pub expected: &'static str,
}

impl JsonError {
    pub(crate) fn new(expected: &'static str) -> Self {
        JsonError {
            path: String::new(),
            expected,
        }
    }

    /// Prefixes the path with the enclosing field name.
    #[must_use]
    pub(crate) fn at(mut self, field: &str) -> Self {
        if self.path.is_empty() {
            self.path = field.to_owned();
        } else {
            self.path = format!("{field}.{}", self.path);
        }
        self
    }
}

impl fmt::Display for JsonError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.path.is_empty() {
            write!(f, "expected {}", self.expected)
        } else {
            write!(f, "field `{}`: expected {}", self.path, self.expected)
        }
    }
}

impl std::error::Error for JsonError {}

/// Builds a value from parsed JSON, taking ownership to avoid copies.
pub trait FromJson: Sized {
    /// Converts `value`; `null` is accepted wherever a default exists.
    fn from_json(value: Value) -> Result<Self, JsonError>;
}

/// Turns a model back into JSON.
pub trait ToJson {
    /// The JSON form, including unmodeled fields.
    fn to_json(&self) -> Value;
}

impl FromJson for String {
    fn from_json(value: Value) -> Result<Self, JsonError> {
        match value {
            Value::String(s) => Ok(s),
            Value::Null => Ok(String::new()),
            _ => Err(JsonError::new("a string")),
        }
    }
}

impl FromJson for i64 {
    fn from_json(value: Value) -> Result<Self, JsonError> {
        match value {
            Value::Number(n) => n
                .as_i64()
                // Truncation is intended: some servers send float timestamps.
                .or_else(|| n.as_f64().map(|f| f as i64))
                .ok_or_else(|| JsonError::new("an integer")),
            Value::Null => Ok(0),
            _ => Err(JsonError::new("an integer")),
        }
    }
}

impl FromJson for u64 {
    fn from_json(value: Value) -> Result<Self, JsonError> {
        let n = i64::from_json(value)?;
        u64::try_from(n).map_err(|_| JsonError::new("a non-negative integer"))
    }
}

impl FromJson for u32 {
    fn from_json(value: Value) -> Result<Self, JsonError> {
        let n = i64::from_json(value)?;
        u32::try_from(n).map_err(|_| JsonError::new("a small non-negative integer"))
    }
}

impl FromJson for Value {
    fn from_json(value: Value) -> Result<Self, JsonError> {
        Ok(value)
    }
}

impl<T: FromJson> FromJson for Option<T> {
    fn from_json(value: Value) -> Result<Self, JsonError> {
        match value {
            Value::Null => Ok(None),
            v => T::from_json(v).map(Some),
        }
    }
}

impl<T: FromJson> FromJson for Vec<T> {
    fn from_json(value: Value) -> Result<Self, JsonError> {
        match value {
            Value::Array(items) => items.into_iter().map(T::from_json).collect(),
            Value::Null => Ok(Vec::new()),
            _ => Err(JsonError::new("a list")),
        }
    }
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
number_to_json!(i64, u64, u32);

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

/// Removes `key` from `map` and converts it, tagging errors with the key.
pub(crate) fn take<T: FromJson>(map: &mut Map<String, Value>, key: &str) -> Result<T, JsonError> {
    T::from_json(map.remove(key).unwrap_or(Value::Null)).map_err(|e| e.at(key))
}

/// Declares a model struct with `extra` and derives `FromJson`, `ToJson`, `Default`, `PartialEq`.
macro_rules! model {
    (
        $(#[$meta:meta])*
        pub struct $name:ident {
            $( $(#[$fmeta:meta])* $field:ident : $ty:ty = $key:literal ),* $(,)?
        }
    ) => {
        $(#[$meta])*
        #[derive(Clone, Debug, Default, PartialEq)]
        pub struct $name {
            $( $(#[$fmeta])* pub $field: $ty, )*
            /// Fields the provider sent that this model does not name, kept as sent.
            pub extra: serde_json::Map<String, serde_json::Value>,
        }

        impl $crate::types::FromJson for $name {
            fn from_json(value: serde_json::Value) -> Result<Self, $crate::types::JsonError> {
                let serde_json::Value::Object(mut map) = value else {
                    return Err($crate::types::JsonError::new("an object"));
                };
                Ok($name {
                    $( $field: $crate::types::json::take(&mut map, $key)?, )*
                    extra: map,
                })
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

        impl $name {
            /// Field names in JSON order, as exposed to Python.
            pub const FIELDS: &'static [&'static str] = &[$($key),*];
        }
    };
}
pub(crate) use model;
