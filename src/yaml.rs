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
    /// A number as written in the file (`1e3`, `99999999999999999999`), so
    /// messages show what the person wrote, not what it parsed to.
    pub raw: Option<String>,
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
        Ok(mut node) => {
            let lines: Vec<&str> = text.lines().collect();
            attach_raw_numbers(&mut node, &lines);
            Ok(node)
        }
        Err(e) => {
            let loc = e.location().map(|l| Loc { line: l.line(), column: l.column() });
            let message = clean_yaml_message(&e.to_string());
            Err(DecodeError { loc: loc.or(Some(Loc { line: 1, column: 1 })), path: String::new(), message: with_indentation_hint(message) })
        }
    }
}

/// The YAML parser's words for a block that does not line up.
fn with_indentation_hint(message: String) -> String {
    let about_blocks = ["did not find expected key", "did not find expected '-'", "mapping values are not allowed", "block indentation", "tabs"];
    if about_blocks.iter().any(|m| message.contains(m)) {
        format!("{message} (check the indentation here and on the line above: keys of one map start in the same column, list items start with `- ` in the same column, and only spaces indent, never tabs)")
    } else {
        message
    }
}

/// Fills in `raw` for every number: the scalar's text at its location.
fn attach_raw_numbers(node: &mut Node, lines: &[&str]) {
    match &mut node.value {
        Value::Int(_) | Value::Float(_) => node.raw = scalar_at(lines, node.loc),
        Value::Seq(items) => items.iter_mut().for_each(|n| attach_raw_numbers(n, lines)),
        Value::Map(entries) => entries.iter_mut().for_each(|(k, v)| {
            attach_raw_numbers(k, lines);
            attach_raw_numbers(v, lines);
        }),
        Value::Null | Value::Bool(_) | Value::Str(_) => {}
    }
}

/// The plain scalar starting at `loc` (1-based line and character column).
fn scalar_at(lines: &[&str], loc: Loc) -> Option<String> {
    let line = lines.get(usize::try_from(loc.line).ok()?.checked_sub(1)?)?;
    let rest: String = line.chars().skip(usize::try_from(loc.column).ok()?.saturating_sub(1)).collect();
    let token: String = rest.chars().take_while(|c| !c.is_whitespace() && !matches!(c, ',' | ']' | '}' | '#')).collect();
    (!token.is_empty()).then_some(token)
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
        Ok(Node { value: spanned.value, loc, raw: None })
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
    /// How a number was written in the file, for messages (`Display` shows it).
    pub written: Option<String>,
}

impl<T> Located<T> {
    pub fn new(value: T, loc: Loc) -> Self {
        Located { value, loc, written: None }
    }
}

/// The value as the person wrote it when known (`1e3`, not `1000`).
impl<T: fmt::Display> fmt::Display for Located<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.written {
            Some(text) => f.write_str(text),
            None => self.value.fmt(f),
        }
    }
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
                let written: String = seq.next_element()?.ok_or_else(|| de::Error::custom("missing text"))?;
                let value: T = seq.next_element()?.ok_or_else(|| de::Error::custom("missing value"))?;
                Ok(Located { value, loc: Loc { line, column }, written: (!written.is_empty()).then_some(written) })
            }
            // Any other deserializer: the value, without a known place.
            fn visit_newtype_struct<D: Deserializer<'de>>(self, d: D) -> Result<Located<T>, D::Error> {
                Ok(Located::new(T::deserialize(d)?, Loc::default()))
            }
        }
        deserializer.deserialize_newtype_struct(LOCATED_TOKEN, LocatedVisitor(PhantomData))
    }
}

/// Decodes a typed value from a node; `path` names the node in messages.
pub fn decode<T: DeserializeOwned>(node: &Node, path: &str) -> Result<T, DecodeError> {
    T::deserialize(NodeDe::new(node, path.to_string())).map_err(|e| humanize(e.locate(node.loc, path)))
}

/// serde's "unknown variant `idle-for`, expected one of `value`, ..." in a
/// person's words: what kind of name it is, and the closest known one.
fn humanize(mut e: DecodeError) -> DecodeError {
    let message = e.message.clone();
    for (prefix, default_kind) in [("unknown variant `", "value"), ("unknown field `", "key")] {
        let Some(rest) = message.strip_prefix(prefix) else { continue };
        let Some((name, rest)) = rest.split_once('`') else { continue };
        // Cloud Custodian's `aws.` spellings are accepted, not worth listing.
        let candidates: Vec<&str> = rest.split('`').skip(1).step_by(2).filter(|c| !c.starts_with("aws.")).collect();
        let kind = if default_kind == "key" { "key" } else { kind_of(&e.path).unwrap_or(default_kind) };
        let hint = closest_name(name, candidates.iter().copied()).map(|c| format!("; did you mean `{c}`?")).unwrap_or_default();
        let choices = if candidates.is_empty() { String::new() } else { format!(" (expected one of: {})", candidates.join(", ")) };
        e.message = format!("unknown {kind} `{name}`{hint}{choices}");
    }
    e
}

/// Which kind of name a path points at: `policies[0].filters[1].type` is a filter type.
fn kind_of(path: &str) -> Option<&'static str> {
    let last = path.rsplit('.').next().unwrap_or(path);
    let within = |list: &str| path.rsplit_once('.').is_some_and(|(head, _)| head.rsplit('.').next().is_some_and(|p| p.starts_with(list)));
    if last == "resource" {
        Some("resource type")
    } else if within("filters") || within("and") || within("idle") || within("or") || within("not") {
        Some("filter type")
    } else if within("actions") {
        Some("action type")
    } else {
        None
    }
}

/// The closest name in `candidates`, for "did you mean" hints: a small
/// edit distance, or one name containing the other.
pub fn closest_name<'a>(name: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    let name = name.to_ascii_lowercase();
    candidates
        .into_iter()
        .map(|c| {
            let lower = c.to_ascii_lowercase();
            let distance = edit_distance(&name, &lower);
            // `metric` for `metrics`, `retention` for `retentionInDays`.
            let related = name.len().min(lower.len()) >= 4 && (lower.contains(&name) || name.contains(&lower));
            (if related { distance.min(2) } else { distance }, c)
        })
        .filter(|(d, c)| *d <= 3.max(c.len() / 3))
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c)
}

fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut prev = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let current = row[j + 1];
            row[j + 1] = (prev + usize::from(ca != *cb)).min(row[j] + 1).min(current + 1);
            prev = current;
        }
    }
    row[b.len()]
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
            Value::Map(entries) => visitor.visit_map(MapDe { entries: entries.iter(), pending: None, path: &self.path, skip_key: self.skip_key }),
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

    fn deserialize_enum<V: Visitor<'de>>(self, _name: &'static str, _variants: &'static [&'static str], visitor: V) -> Result<V::Value, DecodeError> {
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
            other => Err(DecodeError::new(self.node.loc, self.path, format!("expected a map with a `type` key, found {}", other.kind()))),
        }
    }

    fn deserialize_ignored_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DecodeError> {
        visitor.visit_unit()
    }

    whole_numbers! {
        deserialize_i8 i8, deserialize_i16 i16, deserialize_i32 i32, deserialize_i64 i64,
        deserialize_u8 u8, deserialize_u16 u16, deserialize_u32 u32, deserialize_u64 u64
    }

    serde::forward_to_deserialize_any! {
        bool i128 u128 f32 f64 char str string
        bytes byte_buf unit unit_struct seq tuple tuple_struct map struct identifier
    }
}

/// Whole-number fields: a number out of the type's range, or not whole,
/// says the range and shows the number as written.
macro_rules! whole_numbers {
    ($($method:ident $ty:ty),* $(,)?) => {$(
        fn $method<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DecodeError> {
            let written = || self.node.raw.clone().unwrap_or_else(|| match &self.node.value {
                Value::Int(i) => i.to_string(),
                Value::Float(f) => f.to_string(),
                _ => String::new(),
            });
            let out_of_range = || DecodeError::new(
                self.node.loc,
                self.path.clone(),
                format!("expected a whole number from {} to {}, found {}", <$ty>::MIN, <$ty>::MAX, written()),
            );
            match &self.node.value {
                Value::Int(i) => match <$ty>::try_from(*i) {
                    Ok(_) => visitor.visit_i64(*i),
                    Err(_) => Err(out_of_range()),
                },
                Value::Float(_) => Err(out_of_range()),
                _ => self.deserialize_any(visitor),
            }
        }
    )*};
}
use whole_numbers;

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
            3 => {
                let written = self.de.as_ref().and_then(|d| d.node.raw.clone()).unwrap_or_default();
                seed.deserialize(written.into_deserializer()).map(Some)
            }
            4 => match self.de.take() {
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
                other => return Err(DecodeError::new(key.loc, self.path, format!("keys must be strings, found {}", other.kind()))),
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
            other => return Err(DecodeError::new(self.tag.loc, tag_path, format!("`type` must be a string, found {}", other.kind()))),
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
                Some((key, _)) => Err(DecodeError::new(key.loc, child_path(&self.path, key.as_str().unwrap_or("?")), "this type takes no other fields")),
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
        let shapes: Vec<Shape> = decode_str("- type: circle\n  radius: 2\n- {type: square, side: 3}\n- type: dot\n- group:\n  - type: dot\n").unwrap();
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
        assert!(e.message.contains("unknown key `radios`; did you mean `radius`?"), "{}", e.message);

        let e = decode_str::<Vec<Shape>>("- type: circle\n  radius: big\n").unwrap_err();
        assert_eq!((e.loc, e.path.as_str()), (Some(Loc { line: 2, column: 11 }), "[0].radius"));

        let e = decode_str::<Vec<Shape>>("- type: triangle\n").unwrap_err();
        assert_eq!((e.loc, e.path.as_str()), (Some(Loc { line: 1, column: 9 }), "[0].type"));
        assert!(e.message.starts_with("unknown value `triangle` (expected one of: circle"), "{}", e.message);

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
    fn closest_names_suggest_a_fix_and_nothing_far_off() {
        assert_eq!(closest_name("retentionIndays", ["retentionInDays", "storedBytes"]), Some("retentionInDays"));
        assert_eq!(closest_name("zzz", ["retentionInDays"]), None);
        assert_eq!(closest_name("metric", ["value", "metrics", "age"]), Some("metrics"));
        assert_eq!(
            closest_name("idle-for", ["value", "tag", "age", "metrics", "rightsizing", "and", "or", "not"]),
            None,
            "`or` is inside it, but not what was meant"
        );
    }

    #[test]
    fn unknown_names_say_what_they_are_and_what_was_meant() {
        let e = decode_str::<Vec<Shape>>("- type: circel\n  radius: 2\n").unwrap_err();
        assert_eq!(e.message, "unknown value `circel`; did you mean `circle`? (expected one of: circle, square, dot, group)");
        let e = decode_str::<Vec<Shape>>("- type: circle\n  raduis: 2\n").unwrap_err();
        assert_eq!(e.message, "unknown key `raduis`; did you mean `radius`? (expected one of: radius)");
        assert_eq!(kind_of("policies[0].filters[1].type"), Some("filter type"));
        assert_eq!(kind_of("policies[0].filters[0].not[1].type"), Some("filter type"));
        assert_eq!(kind_of("policies[0].actions[2].type"), Some("action type"));
        assert_eq!(kind_of("policies[0].resource"), Some("resource type"));
    }

    #[test]
    fn numbers_keep_the_text_they_were_written_in() {
        #[derive(Debug, Deserialize)]
        struct Limits {
            small: Located<f64>,
            count: Option<Located<i64>>,
        }
        let node = parse("small: 1e3\n").unwrap();
        let limits: Limits = decode(&node, "").unwrap();
        assert_eq!((limits.small.value, limits.small.to_string(), limits.count), (1000.0, "1e3".to_string(), None));
        let e = decode_str::<Limits>("small: 1\ncount: 99999999999999999999\n").unwrap_err();
        assert_eq!(
            (e.path.as_str(), e.message.as_str()),
            ("count", "expected a whole number from -9223372036854775808 to 9223372036854775807, found 99999999999999999999")
        );
        let e = decode_str::<Limits>("small: 1\ncount: 2.5\n").unwrap_err();
        assert!(e.message.ends_with("found 2.5"), "{}", e.message);
    }

    #[test]
    fn misaligned_blocks_get_a_hint_about_indentation() {
        let e = parse("policies:\n  - name: x\n    resource: log-group\n   filters: []\n").unwrap_err();
        assert!(e.message.contains("check the indentation"), "{}", e.message);
        let e = parse("a: [1, 2\n").unwrap_err();
        assert!(!e.message.contains("indentation"), "a bracket is not an indentation problem: {}", e.message);
    }

    #[test]
    fn yaml_1_1_booleans_stay_strings() {
        let node = parse("n: yes\n").unwrap();
        assert_eq!(node.get("n").map(|n| n.value.clone()), Some(Value::Str("yes".into())));
    }
}
