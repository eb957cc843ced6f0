//! YAML with locations.
//!
//! A file is parsed once into a tree of [`Node`]s that remember their line
//! and column (serde-saphyr's `Spanned`). Typed configuration is then decoded
//! from that tree with a serde `Deserializer` of our own, which knows where it
//! is at every step. That gives every error a location and a path such as
//! `policies[1].filters[0].days`, including errors deep inside tagged enums,
//! which serde's buffering would otherwise strip of their position.
//!
//! Tagged enums are written the way Cloud Custodian users know them:
//! `{type: age, days: 30}`, or a single-key map such as `{or: [...]}`.

use std::fmt;
use std::marker::PhantomData;

use serde::de::{self, DeserializeOwned, DeserializeSeed, IntoDeserializer, Visitor};
use serde::{Deserialize, Deserializer, Serialize};
use serde_saphyr::Spanned;

/// A 1-based line and column in a YAML file.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub struct Loc {
    pub line: u64,
    pub column: u64,
}

impl fmt::Display for Loc {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.line, self.column)
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct Node {
    pub value: Value,
    pub loc: Loc,
}

#[derive(Clone, Debug, PartialEq)]
pub enum Value {
    Null,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(String),
    Seq(Vec<Node>),
    Map(Vec<(Node, Node)>),
}

impl Value {
    /// For messages: what kind of value the user wrote.
    pub fn kind(&self) -> &'static str {
        match self {
            Value::Null => "nothing (null)",
            Value::Bool(_) => "a boolean",
            Value::Int(_) => "an integer",
            Value::Float(_) => "a number",
            Value::Str(_) => "a string",
            Value::Seq(_) => "a list",
            Value::Map(_) => "a map",
        }
    }
}

impl Node {
    pub fn as_str(&self) -> Option<&str> {
        match &self.value {
            Value::Str(s) => Some(s),
            _ => None,
        }
    }

    /// The value under `key`, when this node is a map that has it.
    pub fn get(&self, key: &str) -> Option<&Node> {
        match &self.value {
            Value::Map(entries) => entries.iter().find(|(k, _)| k.as_str() == Some(key)).map(|(_, v)| v),
            _ => None,
        }
    }
}

/// A decoding error: where, along which path, and what was expected.
#[derive(Clone, Debug, PartialEq)]
pub struct DecodeError {
    pub loc: Option<Loc>,
    pub path: String,
    pub message: String,
}

impl DecodeError {
    pub fn new(loc: Loc, path: impl Into<String>, message: impl Into<String>) -> Self {
        Self { loc: Some(loc), path: path.into(), message: message.into() }
    }

    /// Fills in the location and path if a deeper step has not already.
    fn locate(mut self, loc: Loc, path: &str) -> Self {
        if self.loc.is_none() {
            self.loc = Some(loc);
            self.path = path.to_string();
        }
        self
    }
}

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for DecodeError {}

impl de::Error for DecodeError {
    fn custom<T: fmt::Display>(msg: T) -> Self {
        Self { loc: None, path: String::new(), message: msg.to_string() }
    }
}

/// Parses YAML text into a located tree. Never panics; deep nesting, huge
/// inputs and alias bombs are refused by serde-saphyr's default budget.
pub fn parse(text: &str) -> Result<Node, DecodeError> {
    let options = serde_saphyr::options! {
        // YAML 1.1's `yes`/`no`/`on`/`off` booleans surprise people (`n: 3`).
        strict_booleans: true,
        with_snippet: false,
    };
    match serde_saphyr::from_str_with_options::<Node>(text, options) {
        Ok(node) => Ok(node),
        Err(e) => {
            let loc = e.location().map(|l| Loc { line: l.line(), column: l.column() });
            Err(DecodeError { loc: loc.or(Some(Loc { line: 1, column: 1 })), path: String::new(), message: clean_yaml_message(&e.to_string()) })
        }
    }
}

/// serde-saphyr prefixes its messages with "error: line N column M: "; we
/// print the location ourselves.
fn clean_yaml_message(message: &str) -> String {
    let first_line = message.lines().next().unwrap_or(message);
    let trimmed = first_line.trim_start_matches("error: ");
    let trimmed = match trimmed.rfind(" at line ") {
        Some(at) if trimmed[at..].contains("column") => &trimmed[..at],
        _ => trimmed,
    };
    match trimmed.strip_prefix("line ").and_then(|rest| rest.split_once(": ")) {
        Some((position, rest)) if position.contains("column") => rest.to_string(),
        _ => trimmed.to_string(),
    }
}

impl<'de> Deserialize<'de> for Node {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let spanned = Spanned::<Value>::deserialize(deserializer)?;
        // `referenced` is where this use of the value stands (for an alias, the
        // alias itself), which is where the user should look.
        let loc = Loc { line: spanned.referenced.line(), column: spanned.referenced.column() };
        Ok(Node { value: spanned.value, loc })
    }
}

impl<'de> Deserialize<'de> for Value {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct ValueVisitor;
        impl<'de> Visitor<'de> for ValueVisitor {
            type Value = Value;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("any YAML value")
            }
            fn visit_unit<E>(self) -> Result<Value, E> {
                Ok(Value::Null)
            }
            fn visit_none<E>(self) -> Result<Value, E> {
                Ok(Value::Null)
            }
            fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
                Value::deserialize(d)
            }
            fn visit_bool<E>(self, v: bool) -> Result<Value, E> {
                Ok(Value::Bool(v))
            }
            fn visit_i64<E>(self, v: i64) -> Result<Value, E> {
                Ok(Value::Int(v))
            }
            fn visit_u64<E>(self, v: u64) -> Result<Value, E> {
                Ok(i64::try_from(v).map(Value::Int).unwrap_or(Value::Float(v as f64)))
            }
            fn visit_i128<E>(self, v: i128) -> Result<Value, E> {
                Ok(i64::try_from(v).map(Value::Int).unwrap_or(Value::Float(v as f64)))
            }
            fn visit_u128<E>(self, v: u128) -> Result<Value, E> {
                Ok(i64::try_from(v).map(Value::Int).unwrap_or(Value::Float(v as f64)))
            }
            fn visit_f64<E>(self, v: f64) -> Result<Value, E> {
                Ok(Value::Float(v))
            }
            fn visit_str<E>(self, v: &str) -> Result<Value, E> {
                Ok(Value::Str(v.to_string()))
            }
            fn visit_string<E>(self, v: String) -> Result<Value, E> {
                Ok(Value::Str(v))
            }
            fn visit_bytes<E: de::Error>(self, v: &[u8]) -> Result<Value, E> {
                Ok(Value::Str(String::from_utf8_lossy(v).into_owned()))
            }
            fn visit_seq<A: de::SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
                let mut items = Vec::new();
                while let Some(node) = seq.next_element::<Node>()? {
                    items.push(node);
                }
                Ok(Value::Seq(items))
            }
            fn visit_map<A: de::MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
                let mut entries = Vec::new();
                while let Some(entry) = map.next_entry::<Node, Node>()? {
                    entries.push(entry);
                }
                Ok(Value::Map(entries))
            }
        }
        deserializer.deserialize_any(ValueVisitor)
    }
}

/// A decoded value with the place it was written, for errors found after
/// decoding (a negative day count, a duplicate name).
#[derive(Clone, Debug, PartialEq)]
pub struct Located<T> {
    pub value: T,
    pub loc: Loc,
}

const LOCATED_TOKEN: &str = "$costguard::Located";

impl<'de, T: Deserialize<'de>> Deserialize<'de> for Located<T> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct LocatedVisitor<T>(PhantomData<T>);
        impl<'de, T: Deserialize<'de>> Visitor<'de> for LocatedVisitor<T> {
            type Value = Located<T>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a located value")
            }
            fn visit_seq<A: de::SeqAccess<'de>>(self, mut seq: A) -> Result<Located<T>, A::Error> {
                let line: u64 = seq.next_element()?.ok_or_else(|| de::Error::custom("missing line"))?;
                let column: u64 = seq.next_element()?.ok_or_else(|| de::Error::custom("missing column"))?;
                let value: T = seq.next_element()?.ok_or_else(|| de::Error::custom("missing value"))?;
                Ok(Located { value, loc: Loc { line, column } })
            }
            // Any other deserializer: the value, without a known place.
            fn visit_newtype_struct<D: Deserializer<'de>>(self, d: D) -> Result<Located<T>, D::Error> {
                Ok(Located { value: T::deserialize(d)?, loc: Loc::default() })
            }
        }
        deserializer.deserialize_newtype_struct(LOCATED_TOKEN, LocatedVisitor(PhantomData))
    }
}

/// Decodes a typed value from a node; `path` names the node in messages.
pub fn decode<T: DeserializeOwned>(node: &Node, path: &str) -> Result<T, DecodeError> {
    T::deserialize(NodeDe::new(node, path.to_string())).map_err(|e| e.locate(node.loc, path))
}

fn child_path(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_string()
    } else {
        format!("{path}.{key}")
    }
}

struct NodeDe<'a> {
    node: &'a Node,
    path: String,
    /// The `type` key of a tagged enum, already consumed as the variant.
    skip_key: Option<&'static str>,
}

impl<'a> NodeDe<'a> {
    fn new(node: &'a Node, path: String) -> Self {
        Self { node, path, skip_key: None }
    }
}

impl<'de, 'a> Deserializer<'de> for NodeDe<'a> {
    type Error = DecodeError;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DecodeError> {
        match &self.node.value {
            Value::Null => visitor.visit_unit(),
            Value::Bool(b) => visitor.visit_bool(*b),
            Value::Int(i) => visitor.visit_i64(*i),
            Value::Float(f) => visitor.visit_f64(*f),
            Value::Str(s) => visitor.visit_str(s),
            Value::Seq(items) => visitor.visit_seq(SeqDe { items: items.iter(), index: 0, path: &self.path }),
            Value::Map(entries) => visitor.visit_map(MapDe {
                entries: entries.iter(),
                pending: None,
                path: &self.path,
                skip_key: self.skip_key,
            }),
        }
    }

    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DecodeError> {
        match self.node.value {
            Value::Null => visitor.visit_none(),
            _ => visitor.visit_some(self),
        }
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(self, name: &'static str, visitor: V) -> Result<V::Value, DecodeError> {
        if name == LOCATED_TOKEN {
            visitor.visit_seq(LocatedSeq { de: Some(self), step: 0 })
        } else {
            visitor.visit_newtype_struct(self)
        }
    }

    fn deserialize_enum<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _variants: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, DecodeError> {
        match &self.node.value {
            Value::Str(s) => visitor.visit_enum(ScalarEnum { name: s, loc: self.node.loc, path: self.path }),
            Value::Map(entries) => {
                if let Some(tag) = self.node.get("type") {
                    visitor.visit_enum(TaggedEnum { tag, body: self.node, path: self.path })
                } else if entries.len() == 1 {
                    let (key, body) = &entries[0];
                    visitor.visit_enum(KeyedEnum { key, body, path: self.path })
                } else {
                    Err(DecodeError::new(self.node.loc, self.path, "expected a map with a `type` key"))
                }
            }
            other => Err(DecodeError::new(
                self.node.loc,
                self.path,
                format!("expected a map with a `type` key, found {}", other.kind()),
            )),
        }
    }

    fn deserialize_ignored_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DecodeError> {
        visitor.visit_unit()
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string
        bytes byte_buf unit unit_struct seq tuple tuple_struct map struct identifier
    }
}

struct LocatedSeq<'a> {
    de: Option<NodeDe<'a>>,
    step: u8,
}

impl<'de, 'a> de::SeqAccess<'de> for LocatedSeq<'a> {
    type Error = DecodeError;
    fn next_element_seed<T: DeserializeSeed<'de>>(&mut self, seed: T) -> Result<Option<T::Value>, DecodeError> {
        self.step += 1;
        match self.step {
            1 | 2 => {
                let loc = self.de.as_ref().map(|d| d.node.loc).unwrap_or_default();
                let n = if self.step == 1 { loc.line } else { loc.column };
                seed.deserialize(n.into_deserializer()).map(Some)
            }
            3 => match self.de.take() {
                Some(de) => {
                    let (loc, path) = (de.node.loc, de.path.clone());
                    seed.deserialize(de).map(Some).map_err(|e| e.locate(loc, &path))
                }
                None => Ok(None),
            },
            _ => Ok(None),
        }
    }
}

struct SeqDe<'a, 'p> {
    items: std::slice::Iter<'a, Node>,
    index: usize,
    path: &'p str,
}

impl<'de, 'a, 'p> de::SeqAccess<'de> for SeqDe<'a, 'p> {
    type Error = DecodeError;
    fn next_element_seed<T: DeserializeSeed<'de>>(&mut self, seed: T) -> Result<Option<T::Value>, DecodeError> {
        let Some(node) = self.items.next() else { return Ok(None) };
        let path = format!("{}[{}]", self.path, self.index);
        self.index += 1;
        seed.deserialize(NodeDe::new(node, path.clone())).map(Some).map_err(|e| e.locate(node.loc, &path))
    }
    fn size_hint(&self) -> Option<usize> {
        Some(self.items.len())
    }
}

struct MapDe<'a, 'p> {
    entries: std::slice::Iter<'a, (Node, Node)>,
    pending: Option<(&'a Node, String)>,
    path: &'p str,
    skip_key: Option<&'static str>,
}

impl<'de, 'a, 'p> de::MapAccess<'de> for MapDe<'a, 'p> {
    type Error = DecodeError;
    fn next_key_seed<K: DeserializeSeed<'de>>(&mut self, seed: K) -> Result<Option<K::Value>, DecodeError> {
        loop {
            let Some((key, value)) = self.entries.next() else { return Ok(None) };
            let key_text = match &key.value {
                Value::Str(s) => s.clone(),
                other => {
                    return Err(DecodeError::new(key.loc, self.path, format!("keys must be strings, found {}", other.kind())))
                }
            };
            if self.skip_key == Some(key_text.as_str()) {
                continue;
            }
            let path = child_path(self.path, &key_text);
            let result = seed.deserialize(NodeDe::new(key, path.clone())).map_err(|e| e.locate(key.loc, &path));
            self.pending = Some((value, path));
            return result.map(Some);
        }
    }
    fn next_value_seed<V: DeserializeSeed<'de>>(&mut self, seed: V) -> Result<V::Value, DecodeError> {
        match self.pending.take() {
            Some((node, path)) => seed.deserialize(NodeDe::new(node, path.clone())).map_err(|e| e.locate(node.loc, &path)),
            None => Err(de::Error::custom("value without a key")),
        }
    }
}

/// `{type: age, days: 30}`: the variant is the `type` value, the fields are
/// the rest of the map.
struct TaggedEnum<'a> {
    tag: &'a Node,
    body: &'a Node,
    path: String,
}

impl<'de, 'a> de::EnumAccess<'de> for TaggedEnum<'a> {
    type Error = DecodeError;
    type Variant = TaggedBody<'a>;
    fn variant_seed<V: DeserializeSeed<'de>>(self, seed: V) -> Result<(V::Value, TaggedBody<'a>), DecodeError> {
        let tag_path = child_path(&self.path, "type");
        let variant = match &self.tag.value {
            Value::Str(_) => seed.deserialize(NodeDe::new(self.tag, tag_path.clone())).map_err(|e| e.locate(self.tag.loc, &tag_path))?,
            other => {
                return Err(DecodeError::new(self.tag.loc, tag_path, format!("`type` must be a string, found {}", other.kind())))
            }
        };
        Ok((variant, TaggedBody { body: self.body, path: self.path }))
    }
}

struct TaggedBody<'a> {
    body: &'a Node,
    path: String,
}

impl<'a> TaggedBody<'a> {
    fn de(&self) -> NodeDe<'a> {
        NodeDe { node: self.body, path: self.path.clone(), skip_key: Some("type") }
    }
}

impl<'de, 'a> de::VariantAccess<'de> for TaggedBody<'a> {
    type Error = DecodeError;
    fn unit_variant(self) -> Result<(), DecodeError> {
        match &self.body.value {
            Value::Map(entries) => match entries.iter().find(|(k, _)| k.as_str() != Some("type")) {
                Some((key, _)) => Err(DecodeError::new(
                    key.loc,
                    child_path(&self.path, key.as_str().unwrap_or("?")),
                    "this type takes no other fields",
                )),
                None => Ok(()),
            },
            _ => Ok(()),
        }
    }
    fn newtype_variant_seed<T: DeserializeSeed<'de>>(self, seed: T) -> Result<T::Value, DecodeError> {
        seed.deserialize(self.de())
    }
    fn tuple_variant<V: Visitor<'de>>(self, _len: usize, visitor: V) -> Result<V::Value, DecodeError> {
        self.de().deserialize_any(visitor)
    }
    fn struct_variant<V: Visitor<'de>>(self, _fields: &'static [&'static str], visitor: V) -> Result<V::Value, DecodeError> {
        self.de().deserialize_any(visitor)
    }
}

/// `{or: [...]}`: the variant is the only key, the content its value.
/// `- delete`: a type named alone, as Cloud Custodian allows, meaning the
/// type with every field at its default.
struct ScalarEnum<'a> {
    name: &'a str,
    loc: Loc,
    path: String,
}

impl<'de> de::EnumAccess<'de> for ScalarEnum<'_> {
    type Error = DecodeError;
    type Variant = Self;
    fn variant_seed<V: DeserializeSeed<'de>>(self, seed: V) -> Result<(V::Value, Self), DecodeError> {
        let name: de::value::StrDeserializer<'_, DecodeError> = self.name.into_deserializer();
        let value = seed.deserialize(name).map_err(|e| e.locate(self.loc, &self.path))?;
        Ok((value, self))
    }
}

impl<'de> de::VariantAccess<'de> for ScalarEnum<'_> {
    type Error = DecodeError;
    fn unit_variant(self) -> Result<(), DecodeError> {
        Ok(())
    }
    fn newtype_variant_seed<T: DeserializeSeed<'de>>(self, seed: T) -> Result<T::Value, DecodeError> {
        let empty = de::value::MapDeserializer::<_, DecodeError>::new(std::iter::empty::<(&str, &str)>());
        seed.deserialize(empty).map_err(|e| e.locate(self.loc, &self.path))
    }
    fn tuple_variant<V: Visitor<'de>>(self, _len: usize, _visitor: V) -> Result<V::Value, DecodeError> {
        Err(DecodeError::new(self.loc, self.path, format!("`{}` needs a value", self.name)))
    }
    fn struct_variant<V: Visitor<'de>>(self, _fields: &'static [&'static str], _visitor: V) -> Result<V::Value, DecodeError> {
        Err(DecodeError::new(self.loc, self.path, format!("`{}` needs fields: write it as a map with `type: {}`", self.name, self.name)))
    }
}

struct KeyedEnum<'a> {
    key: &'a Node,
    body: &'a Node,
    path: String,
}

impl<'de, 'a> de::EnumAccess<'de> for KeyedEnum<'a> {
    type Error = DecodeError;
    type Variant = NodeVariant<'a>;
    fn variant_seed<V: DeserializeSeed<'de>>(self, seed: V) -> Result<(V::Value, NodeVariant<'a>), DecodeError> {
        let key_text = self.key.as_str().unwrap_or("?").to_string();
        let path = child_path(&self.path, &key_text);
        let variant = seed.deserialize(NodeDe::new(self.key, path.clone())).map_err(|e| e.locate(self.key.loc, &path))?;
        Ok((variant, NodeVariant { node: self.body, path }))
    }
}

struct NodeVariant<'a> {
    node: &'a Node,
    path: String,
}

impl<'de, 'a> de::VariantAccess<'de> for NodeVariant<'a> {
    type Error = DecodeError;
    fn unit_variant(self) -> Result<(), DecodeError> {
        match self.node.value {
            Value::Null => Ok(()),
            _ => Err(DecodeError::new(self.node.loc, self.path, "this type takes no value")),
        }
    }
    fn newtype_variant_seed<T: DeserializeSeed<'de>>(self, seed: T) -> Result<T::Value, DecodeError> {
        let (loc, path) = (self.node.loc, self.path.clone());
        seed.deserialize(NodeDe::new(self.node, self.path)).map_err(|e| e.locate(loc, &path))
    }
    fn tuple_variant<V: Visitor<'de>>(self, _len: usize, visitor: V) -> Result<V::Value, DecodeError> {
        NodeDe::new(self.node, self.path).deserialize_any(visitor)
    }
    fn struct_variant<V: Visitor<'de>>(self, _fields: &'static [&'static str], visitor: V) -> Result<V::Value, DecodeError> {
        NodeDe::new(self.node, self.path).deserialize_any(visitor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, Deserialize, PartialEq)]
    #[serde(rename_all = "kebab-case")]
    enum Shape {
        Circle(Circle),
        Square { side: Located<i64> },
        Dot,
        Group(Vec<Shape>),
    }

    #[derive(Debug, Deserialize, PartialEq)]
    #[serde(deny_unknown_fields)]
    struct Circle {
        radius: i64,
    }

    fn decode_str<T: DeserializeOwned>(text: &str) -> Result<T, DecodeError> {
        decode(&parse(text)?, "")
    }

    #[test]
    fn tagged_and_keyed_enums_decode() {
        let shapes: Vec<Shape> =
            decode_str("- type: circle\n  radius: 2\n- {type: square, side: 3}\n- type: dot\n- group:\n  - type: dot\n").unwrap();
        assert_eq!(shapes[0], Shape::Circle(Circle { radius: 2 }));
        match &shapes[1] {
            Shape::Square { side } => assert_eq!((side.value, side.loc), (3, Loc { line: 3, column: 24 })),
            other => panic!("{other:?}"),
        }
        assert_eq!(shapes[2], Shape::Dot);
        assert_eq!(shapes[3], Shape::Group(vec![Shape::Dot]));
    }

    #[test]
    fn errors_point_at_the_offending_key_or_value() {
        let e = decode_str::<Vec<Shape>>("- type: circle\n  radius: 2\n- type: circle\n  radios: 2\n").unwrap_err();
        assert_eq!((e.loc, e.path.as_str()), (Some(Loc { line: 4, column: 3 }), "[1].radios"));
        assert!(e.message.contains("unknown field `radios`"), "{}", e.message);

        let e = decode_str::<Vec<Shape>>("- type: circle\n  radius: big\n").unwrap_err();
        assert_eq!((e.loc, e.path.as_str()), (Some(Loc { line: 2, column: 11 }), "[0].radius"));

        let e = decode_str::<Vec<Shape>>("- type: triangle\n").unwrap_err();
        assert_eq!((e.loc, e.path.as_str()), (Some(Loc { line: 1, column: 9 }), "[0].type"));
        assert!(e.message.contains("unknown variant `triangle`"), "{}", e.message);

        let e = decode_str::<Vec<Shape>>("- type: dot\n  size: 1\n").unwrap_err();
        assert_eq!((e.loc, e.path.as_str()), (Some(Loc { line: 2, column: 3 }), "[0].size"));
    }

    #[test]
    fn yaml_syntax_errors_have_a_location() {
        let e = parse("a: [1, 2\nb: 3\n").unwrap_err();
        assert!(e.loc.is_some());
        assert!(!e.message.starts_with("error:"), "{}", e.message);
    }

    #[test]
    fn yaml_1_1_booleans_stay_strings() {
        let node = parse("n: yes\n").unwrap();
        assert_eq!(node.get("n").map(|n| n.value.clone()), Some(Value::Str("yes".into())));
    }
}
