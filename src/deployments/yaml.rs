//! A bounded YAML reader for routing configs: YAML (or JSON, which is YAML) text into a JSON
//! value for [`super::config::parse`].
//!
//! yaml-rust2's parser events are pulled one at a time into our own builder, which caps the
//! nesting, and what anchors expand to, before each copy (its own loader copies aliased data at
//! every use and recurses once per level).

use std::collections::HashMap;

use serde_json::{Map, Number, Value};
use yaml_rust2::parser::{Event, Parser, Tag};
use yaml_rust2::scanner::{Marker, ScanError, TScalarStyle};
use yaml_rust2::Yaml;

use super::config::shown;
use crate::error::{Error, Kind, Result};

/// The largest config text [`load_yaml`] reads.
pub const MAX_TEXT: usize = 16 << 20;
/// The most values a YAML document may expand to (aliases counted at each use).
const MAX_NODES: usize = 1_000_000;
/// The most text (keys and scalars) a YAML document may expand to.
const MAX_EXPANDED_BYTES: usize = 64 << 20;
/// The deepest nesting of lists and mappings [`load_yaml`] accepts.
const MAX_DEPTH: usize = 64;

/// Reads YAML (or JSON, which is YAML) text of one document into a value for [`super::config::parse`].
///
/// Mapping keys must be strings and appear once per mapping; merge keys (`<<`) are applied;
/// `.inf` and `.nan` are rejected (JSON has no such numbers).
///
/// # Errors
/// [`Kind::InvalidArgument`] for text over [`MAX_TEXT`], invalid YAML (with its line), more or
/// fewer than one document, nesting deeper than 64, or anchors that expand past 1,000,000 values
/// or 64 MiB of text.
pub fn load_yaml(text: &str) -> Result<Value> {
    if text.len() > MAX_TEXT {
        return Err(invalid(format!(
            "the config is {} bytes, over the limit of 16 MiB",
            text.len()
        )));
    }
    let mut parser = Parser::new_from_str(text.strip_prefix('\u{feff}').unwrap_or(text));
    let mut builder = Builder::default();
    loop {
        let (event, mark) = parser.next_token().map_err(|e| scan_error(&e))?;
        if event == Event::StreamEnd {
            break;
        }
        builder.push(event, mark)?;
    }
    builder
        .root
        .ok_or_else(|| invalid("the YAML holds no document".to_owned()))
}

fn scan_error(e: &ScanError) -> Error {
    yaml_error(e.info(), *e.marker())
}

fn yaml_error(what: impl std::fmt::Display, mark: Marker) -> Error {
    invalid(format!(
        "invalid YAML: {what} at line {} column {}",
        mark.line(),
        mark.col() + 1
    ))
}

/// Builds one document from the parser's events, without recursion, counting what aliases add.
#[derive(Default)]
struct Builder {
    open: Vec<Open>,
    /// Anchored values by anchor id, with their size.
    anchors: HashMap<usize, (Value, Size)>,
    total: Size,
    root: Option<Value>,
}

/// How much a value holds: values, and bytes of keys and strings.
#[derive(Clone, Copy, Default)]
struct Size {
    nodes: usize,
    bytes: usize,
}

/// A list or mapping being read.
struct Open {
    anchor: usize,
    /// `Builder::total` when it opened.
    start: Size,
    node: Node,
}

enum Node {
    List(Vec<Value>),
    Map {
        map: Map<String, Value>,
        /// The key read, waiting for its value.
        key: Option<String>,
        /// The value of `<<`.
        merge: Option<Value>,
    },
}

impl Builder {
    fn push(&mut self, event: Event, mark: Marker) -> Result<()> {
        match event {
            Event::DocumentStart if self.root.is_some() => Err(yaml_error("more than one document", mark)),
            Event::SequenceStart(anchor, _) => self.open(anchor, Node::List(Vec::new()), mark),
            Event::MappingStart(anchor, _) => self.open(
                anchor,
                Node::Map {
                    map: Map::new(),
                    key: None,
                    merge: None,
                },
                mark,
            ),
            Event::SequenceEnd | Event::MappingEnd => self.close(mark),
            Event::Scalar(text, style, anchor, tag) => {
                let size = Size {
                    nodes: 1,
                    bytes: text.len(),
                };
                self.count(size, mark)?;
                let value = scalar(text, style, tag.as_ref(), mark)?;
                self.add(anchor, value, size, mark)
            }
            Event::Alias(id) => {
                let Some(&(_, size)) = self.anchors.get(&id) else {
                    return Err(yaml_error("an alias refers to a node that contains it", mark));
                };
                self.count(size, mark)?;
                let value = self.anchors[&id].0.clone();
                self.add(0, value, size, mark)
            }
            _ => Ok(()),
        }
    }

    /// Adds `size` to the document's total, failing past the limits.
    fn count(&mut self, size: Size, mark: Marker) -> Result<()> {
        self.total.nodes += size.nodes;
        self.total.bytes += size.bytes;
        if self.total.nodes > MAX_NODES || self.total.bytes > MAX_EXPANDED_BYTES {
            return Err(yaml_error(
                "the document expands to more than 1000000 values or 64 MiB (check its anchors and aliases)",
                mark,
            ));
        }
        Ok(())
    }

    fn open(&mut self, anchor: usize, node: Node, mark: Marker) -> Result<()> {
        if self.open.len() >= MAX_DEPTH {
            return Err(yaml_error(format!("nested deeper than {MAX_DEPTH} levels"), mark));
        }
        self.count(Size { nodes: 1, bytes: 0 }, mark)?;
        self.open.push(Open {
            anchor,
            start: self.total,
            node,
        });
        Ok(())
    }

    fn close(&mut self, mark: Marker) -> Result<()> {
        let Some(open) = self.open.pop() else { return Ok(()) };
        let value = match open.node {
            Node::List(items) => Value::Array(items),
            Node::Map {
                map,
                merge: Some(merge),
                ..
            } => Value::Object(merged(map, merge, mark)?),
            Node::Map { map, .. } => Value::Object(map),
        };
        let size = Size {
            nodes: self.total.nodes - open.start.nodes + 1,
            bytes: self.total.bytes - open.start.bytes,
        };
        self.add(open.anchor, value, size, mark)
    }

    /// Puts a finished value in its parent (or as the document), remembering it if anchored.
    fn add(&mut self, anchor: usize, value: Value, size: Size, mark: Marker) -> Result<()> {
        if anchor > 0 {
            self.anchors.insert(anchor, (value.clone(), size));
        }
        let Some(parent) = self.open.last_mut() else {
            self.root = Some(value);
            return Ok(());
        };
        match &mut parent.node {
            Node::List(items) => items.push(value),
            Node::Map { key: key @ None, .. } => match value {
                Value::String(text) => *key = Some(text),
                other => {
                    return Err(yaml_error(
                        format!("mapping keys must be strings, got {}", shown(&other)),
                        mark,
                    ))
                }
            },
            Node::Map { map, key, merge } => {
                let key = key.take().unwrap_or_default();
                if map.contains_key(&key) || (key == "<<" && merge.is_some()) {
                    return Err(yaml_error(format!("duplicate key {}", Value::from(key)), mark));
                }
                if key == "<<" {
                    *merge = Some(value);
                } else {
                    map.insert(key, value);
                }
            }
        }
        Ok(())
    }
}

/// A mapping with the mappings of its `<<` key merged in: its own keys win, then earlier merged
/// mappings over later ones.
fn merged(own: Map<String, Value>, merge: Value, mark: Marker) -> Result<Map<String, Value>> {
    let wrong = || yaml_error("`<<` takes a mapping or a list of mappings", mark);
    let sources = match merge {
        Value::Object(map) => vec![map],
        Value::Array(items) => items
            .into_iter()
            .map(|item| match item {
                Value::Object(map) => Ok(map),
                _ => Err(wrong()),
            })
            .collect::<Result<_>>()?,
        _ => return Err(wrong()),
    };
    let mut out = Map::new();
    for source in sources.into_iter().rev() {
        out.extend(source);
    }
    out.extend(own);
    Ok(out)
}

/// A scalar's value: quoted and block scalars and `!!str` are strings; plain ones are read as
/// YAML 1.2 core types (null, booleans, integers, floats), else strings.
fn scalar(text: String, style: TScalarStyle, tag: Option<&Tag>, mark: Marker) -> Result<Value> {
    let str_tag = tag.is_some_and(|t| t.handle == "tag:yaml.org,2002:" && t.suffix == "str");
    if style != TScalarStyle::Plain || str_tag {
        return Ok(Value::String(text));
    }
    Ok(match Yaml::from_str(&text) {
        Yaml::Null => Value::Null,
        Yaml::Boolean(b) => Value::Bool(b),
        Yaml::Integer(i) => Value::from(i),
        Yaml::Real(_) => match text.parse::<f64>().ok().and_then(Number::from_f64) {
            Some(n) => Value::Number(n),
            None => return Err(yaml_error(format!("{text} is not a finite number"), mark)),
        },
        _ => Value::String(text),
    })
}

fn invalid(message: String) -> Error {
    Error::new(Kind::InvalidArgument, message)
}
