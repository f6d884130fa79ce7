//! Counting a request body's `messages` straight from its text: the common message shape
//! (string role, name and tool call id; string or null content) is read borrowed, without
//! building a JSON tree, and counts exactly as [`Counter::messages`] counts the tree. Anything
//! else (content parts, tool calls) is read into a tree for that member only; a `messages` that
//! is not an array of such objects is counted from its whole tree.

use std::borrow::Cow;

use serde::de::{self, IgnoredAny, MapAccess, Visitor};
use serde::{Deserialize, Deserializer};
use serde_json::value::RawValue;
use serde_json::Value;

use super::{Counter, REPLY_PRIMING_TOKENS};

/// One message as far as counting reads it.
#[derive(Default)]
struct Message<'a> {
    role: Option<Cow<'a, str>>,
    name: Option<Cow<'a, str>>,
    tool_call_id: Option<Cow<'a, str>>,
    content: Option<&'a RawValue>,
    tool_calls: Option<&'a RawValue>,
    function_call: Option<&'a RawValue>,
}

/// Sets a member once: a duplicated one is an error (the caller then counts the tree).
fn once<'de, T: Deserialize<'de>, A: MapAccess<'de>>(
    slot: &mut Option<T>,
    map: &mut A,
    key: &'static str,
) -> Result<(), A::Error> {
    if slot.is_some() {
        return Err(de::Error::duplicate_field(key));
    }
    *slot = map.next_value()?;
    Ok(())
}

impl<'de> Deserialize<'de> for Message<'de> {
    /// Only from an object (a derived struct would also take an array, member by position).
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Visit;
        impl<'de> Visitor<'de> for Visit {
            type Value = Message<'de>;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a chat message object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Message<'de>, A::Error> {
                let mut m = Message::default();
                while let Some(key) = map.next_key::<Cow<'de, str>>()? {
                    match key.as_ref() {
                        "role" => once(&mut m.role, &mut map, "role")?,
                        "name" => once(&mut m.name, &mut map, "name")?,
                        "tool_call_id" => once(&mut m.tool_call_id, &mut map, "tool_call_id")?,
                        "content" => once(&mut m.content, &mut map, "content")?,
                        "tool_calls" => once(&mut m.tool_calls, &mut map, "tool_calls")?,
                        "function_call" => once(&mut m.function_call, &mut map, "function_call")?,
                        _ => {
                            map.next_value::<IgnoredAny>()?;
                        }
                    }
                }
                Ok(m)
            }
        }
        d.deserialize_map(Visit)
    }
}

impl Counter {
    /// [`Counter::prompt`] with the messages given as their JSON text.
    pub fn prompt_raw(&self, messages: Option<&RawValue>, tools: [Option<&Value>; 2]) -> u64 {
        self.with_tools(messages.map_or(0, |m| self.messages_raw(m)), tools)
    }

    /// [`Counter::messages`] of a `messages` member given as its JSON text.
    pub fn messages_raw(&self, messages: &RawValue) -> u64 {
        match serde_json::from_str::<Vec<Message<'_>>>(messages.get()) {
            Ok(list) => list.iter().map(|m| self.message_of(m)).sum::<u64>() + REPLY_PRIMING_TOKENS,
            Err(_) => serde_json::from_str::<Value>(messages.get()).map_or(0, |tree| self.messages(&tree)),
        }
    }

    fn message_of(&self, m: &Message<'_>) -> u64 {
        let tree = |raw: &RawValue| serde_json::from_str::<Value>(raw.get()).unwrap_or(Value::Null);
        let mut n = self.per_message;
        for text in [&m.role, &m.tool_call_id].into_iter().flatten() {
            n += self.text(text);
        }
        if let Some(name) = &m.name {
            n = (n + self.text(name)).saturating_add_signed(self.per_name);
        }
        if let Some(content) = m.content {
            n += match serde_json::from_str::<Option<Cow<'_, str>>>(content.get()) {
                Ok(Some(text)) => self.text(&text),
                Ok(None) => 0,
                Err(_) => self.content(&tree(content)),
            };
        }
        if let Some(Value::Array(calls)) = m.tool_calls.map(tree) {
            for call in &calls {
                n += 3 + self.function(call.get("function").unwrap_or(call));
            }
        }
        if let Some(call) = m.function_call {
            n += 3 + self.function(&tree(call));
        }
        n
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn text_counts_match_the_tree_counts_for_every_shape() {
        let shapes = [
            json!([{"role": "system", "content": "Be brief."}, {"role": "user", "content": "héllo \"world\"\n"}]),
            json!([{"role": "user", "name": "ann", "content": null}]),
            json!([{"role": "user", "content": [{"type": "text", "text": "look"}, {"type": "image_url", "image_url": {"url": "x", "detail": "low"}}]}]),
            json!([{"role": "assistant", "content": null, "tool_calls": [{"id": "c1", "type": "function", "function": {"name": "f", "arguments": "{\"a\":1}"}}]}]),
            json!([{"role": "tool", "tool_call_id": "c1", "content": "42"}]),
            json!([{"role": "assistant", "function_call": {"name": "g", "arguments": "{}"}}]),
            json!([{"role": 7, "content": "odd role"}]),
            json!([{"role": "user", "content": {"unexpected": true}}]),
            json!([{"role": "user", "content": "x", "extra": [1, 2]}]),
            json!([["not", "an", "object"]]),
            json!({"role": "user", "content": "not a list"}),
            json!([]),
            json!(null),
        ];
        for model in ["gpt-4o", "gpt-3.5-turbo-0301", "claude-sonnet-4-5"] {
            let counter = Counter::for_model(model);
            for shape in &shapes {
                let text = serde_json::to_string(shape).unwrap();
                let raw = RawValue::from_string(text).unwrap();
                assert_eq!(counter.messages_raw(&raw), counter.messages(shape), "{model}: {shape}");
            }
        }
        // A duplicated member: both paths read the text alike (the tree keeps the last).
        let raw = RawValue::from_string(r#"[{"role":"user","content":"a","content":"bb bb"}]"#.into()).unwrap();
        let tree: Value = serde_json::from_str(raw.get()).unwrap();
        let counter = Counter::for_model("gpt-4o");
        assert_eq!(counter.messages_raw(&raw), counter.messages(&tree));
    }
}
