//! The mock's tool-call convention, for agent loops without a real model: when a request has
//! tools, each line of its prompt text (the last user message, or the tool results that end the
//! conversation) of the form `call:NAME {json}` asks for a call of tool NAME with that JSON
//! object as its arguments (`{}` when none follows). A tool result that is itself such a line
//! makes the model call again, round after round.

use serde_json::{Map, Value};

/// One tool call the mock answers with.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Call {
    pub(crate) name: String,
    /// A JSON object.
    pub(crate) arguments: Value,
}

/// The calls `text` asks for, in order, of the request's `tools`.
///
/// # Errors
/// What is wrong with a `call:` line: a tool the request does not have, or arguments that are
/// not a JSON object.
pub(crate) fn calls(text: &str, tools: &[String]) -> Result<Vec<Call>, String> {
    let mut out = Vec::new();
    for line in text.lines() {
        let Some(rest) = line.trim_start().strip_prefix("call:") else {
            continue;
        };
        let rest = rest.trim();
        let (name, args) = rest.split_once(char::is_whitespace).unwrap_or((rest, ""));
        if !tools.iter().any(|t| t == name) {
            return Err(format!(
                "mock: `call:{name}` names no tool of the request (tools: {})",
                tools.join(", ")
            ));
        }
        let args = args.trim();
        let arguments = if args.is_empty() {
            Value::Object(Map::new())
        } else {
            match serde_json::from_str::<Value>(args) {
                Ok(value @ Value::Object(_)) => value,
                _ => return Err(format!("mock: the input after `call:{name}` must be a JSON object")),
            }
        };
        out.push(Call {
            name: name.to_owned(),
            arguments,
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn each_call_line_is_one_call_of_a_known_tool() {
        let tools = ["weather".to_owned(), "time".to_owned()];
        let text = "Please help.\ncall:weather {\"city\": \"Paris\"}\n  call:time\n";
        assert_eq!(
            calls(text, &tools).unwrap(),
            [
                Call {
                    name: "weather".into(),
                    arguments: json!({"city": "Paris"})
                },
                Call {
                    name: "time".into(),
                    arguments: json!({})
                },
            ]
        );
        assert!(calls("no calls here", &tools).unwrap().is_empty());
        assert!(calls("call:nope {}", &tools).unwrap_err().contains("names no tool"));
        assert!(calls("call:time [1]", &tools).unwrap_err().contains("JSON object"));
    }
}
