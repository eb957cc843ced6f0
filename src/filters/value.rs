//! `value`: compare a resource attribute (as the AWS API names it) or a tag.
//!
//! ```yaml
//! - type: value
//!   key: retentionInDays      # or "tag:owner"
//!   value: absent             # absent | present | a literal
//! - type: value
//!   key: storedBytes
//!   op: gt                    # eq ne gt ge lt le in not-in regex
//!   value: 1000000000
//! ```

use std::fmt;

use regex::Regex;
use serde::de::{self, Deserializer, Visitor};
use serde::Deserialize;

use crate::resources::{AttrKind, AttrValue, Resource, ResourceType};
use crate::yaml::closest_name as closest;
use crate::yaml::{DecodeError, Located};

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ValueSpec {
    pub key: Located<String>,
    #[serde(default)]
    pub op: Option<Located<Op>>,
    pub value: Located<Literal>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Op {
    #[serde(alias = "equal")]
    Eq,
    #[serde(alias = "not-equal")]
    Ne,
    #[serde(alias = "greater-than")]
    Gt,
    #[serde(alias = "gte")]
    Ge,
    #[serde(alias = "less-than")]
    Lt,
    #[serde(alias = "lte")]
    Le,
    In,
    #[serde(alias = "ni")]
    NotIn,
    Regex,
}

impl Op {
    pub fn symbol(self) -> &'static str {
        match self {
            Op::Eq => "==",
            Op::Ne => "!=",
            Op::Gt => ">",
            Op::Ge => ">=",
            Op::Lt => "<",
            Op::Le => "<=",
            Op::In => "in",
            Op::NotIn => "not in",
            Op::Regex => "matches",
        }
    }
}

/// A value written in a policy.
#[derive(Clone, Debug, PartialEq)]
pub enum Literal {
    Null,
    Bool(bool),
    Num(f64),
    Str(String),
    List(Vec<Literal>),
}

impl Literal {
    fn kind(&self) -> &'static str {
        match self {
            Literal::Null => "nothing",
            Literal::Bool(_) => "a boolean",
            Literal::Num(_) => "a number",
            Literal::Str(_) => "a string",
            Literal::List(_) => "a list",
        }
    }

    fn fits(&self, kind: AttrKind) -> bool {
        matches!((self, kind), (Literal::Str(_), AttrKind::String) | (Literal::Num(_), AttrKind::Number) | (Literal::Bool(_), AttrKind::Bool))
    }
}

impl fmt::Display for Literal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Literal::Null => f.write_str("null"),
            Literal::Bool(b) => write!(f, "{b}"),
            Literal::Num(n) => write!(f, "{n}"),
            Literal::Str(s) => write!(f, "{s:?}"),
            Literal::List(items) => {
                let parts: Vec<String> = items.iter().map(ToString::to_string).collect();
                write!(f, "[{}]", parts.join(", "))
            }
        }
    }
}

impl<'de> Deserialize<'de> for Literal {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct LiteralVisitor;
        impl<'de> Visitor<'de> for LiteralVisitor {
            type Value = Literal;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a string, number, boolean or list of them")
            }
            fn visit_unit<E>(self) -> Result<Literal, E> {
                Ok(Literal::Null)
            }
            fn visit_bool<E>(self, v: bool) -> Result<Literal, E> {
                Ok(Literal::Bool(v))
            }
            fn visit_i64<E>(self, v: i64) -> Result<Literal, E> {
                Ok(Literal::Num(v as f64))
            }
            fn visit_u64<E>(self, v: u64) -> Result<Literal, E> {
                Ok(Literal::Num(v as f64))
            }
            fn visit_f64<E>(self, v: f64) -> Result<Literal, E> {
                Ok(Literal::Num(v))
            }
            fn visit_str<E>(self, v: &str) -> Result<Literal, E> {
                Ok(Literal::Str(v.to_string()))
            }
            fn visit_seq<A: de::SeqAccess<'de>>(self, mut seq: A) -> Result<Literal, A::Error> {
                let mut items = Vec::new();
                while let Some(item) = seq.next_element::<Literal>()? {
                    if let Literal::List(_) = item {
                        return Err(de::Error::custom("lists inside lists are not comparable"));
                    }
                    items.push(item);
                }
                Ok(Literal::List(items))
            }
        }
        deserializer.deserialize_any(LiteralVisitor)
    }
}

/// Where a value filter reads from.
#[derive(Clone, Debug, PartialEq)]
pub enum Key {
    Attribute(&'static str, AttrKind),
    Tag(String),
}

impl Key {
    pub(crate) fn read<'a>(&self, resource: &'a Resource) -> Option<AttrValue<'a>> {
        match self {
            Key::Attribute(name, _) => resource.attribute(name),
            Key::Tag(tag) => resource.tags.get(tag).map(|v| AttrValue::Str(v)),
        }
    }

    fn kind(&self) -> AttrKind {
        match self {
            Key::Attribute(_, kind) => *kind,
            Key::Tag(_) => AttrKind::String,
        }
    }
}

impl fmt::Display for Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Key::Attribute(name, _) => f.write_str(name),
            Key::Tag(tag) => write!(f, "tag {tag:?}"),
        }
    }
}

#[derive(Clone, Debug)]
pub enum Test {
    Absent,
    Present,
    Compare(Op, Literal),
    Within {
        items: Vec<Literal>,
        negate: bool,
    },
    /// A pattern, compiled within [`REGEX_SIZE_LIMIT`], and where it was written.
    Regex(Regex, crate::yaml::Loc),
}

/// The most memory one compiled regular expression may take (the regex
/// crate's default is 10 MiB: 160 Unicode `\w{200}` took 1.8 GB). A
/// pattern past it is refused by `validate` with its place.
pub const REGEX_SIZE_LIMIT: usize = 256 * 1024;
/// The most the lazy DFA of one regular expression may cache while matching.
pub const REGEX_DFA_LIMIT: usize = 256 * 1024;
/// The most regular expressions one config may hold: with the limits
/// above, at most 128 MiB for all of them.
pub const MAX_REGEXES: usize = 256;

#[derive(Clone, Debug)]
pub struct ValueFilter {
    pub key: Key,
    pub test: Test,
}

impl ValueFilter {
    #[cfg(test)]
    pub fn absent(attribute: &'static str) -> Self {
        ValueFilter { key: Key::Attribute(attribute, AttrKind::Number), test: Test::Absent }
    }

    pub fn needs_tags(&self) -> bool {
        matches!(self.key, Key::Tag(_))
    }

    /// Whether the key is read from data the resource's listing lacks.
    pub fn needs_description(&self, resource: &Resource) -> bool {
        match &self.key {
            Key::Tag(_) => !resource.tags_listed,
            Key::Attribute(name, _) => resource.resource_type().attribute(name).is_some_and(|a| a.described),
        }
    }

    pub fn evaluate(&self, resource: &Resource) -> Option<String> {
        let observed = self.key.read(resource);
        let matched = match (&self.test, observed) {
            (Test::Absent, value) => value.is_none(),
            (Test::Present, value) => value.is_some(),
            (_, None) => false,
            (Test::Compare(op, literal), Some(value)) => compare(value, *op, literal),
            (Test::Within { items, negate }, Some(value)) => items.iter().any(|l| equals(value, l)) != *negate,
            (Test::Regex(re, _), Some(value)) => match value {
                AttrValue::Str(s) => re.is_match(s),
                _ => false,
            },
        };
        if !matched {
            return None;
        }
        Some(match (&self.test, observed) {
            (Test::Absent, _) => format!("{} is not set", self.key),
            (_, Some(value)) => format!("{} is {value} ({})", self.key, self.describe()),
            (_, None) => self.describe(),
        })
    }

    pub fn describe(&self) -> String {
        match &self.test {
            Test::Absent => format!("{} is absent", self.key),
            Test::Present => format!("{} is present", self.key),
            Test::Compare(op, literal) => format!("{} {} {literal}", self.key, op.symbol()),
            Test::Within { items, negate } => {
                format!("{} {} {}", self.key, if *negate { "not in" } else { "in" }, Literal::List(items.clone()))
            }
            Test::Regex(re, _) => format!("{} matches /{}/", self.key, re.as_str()),
        }
    }
}

fn equals(value: AttrValue<'_>, literal: &Literal) -> bool {
    match (value, literal) {
        (AttrValue::Str(a), Literal::Str(b)) => a == b,
        (AttrValue::Num(a), Literal::Num(b)) => a == *b,
        (AttrValue::Bool(a), Literal::Bool(b)) => a == *b,
        _ => false,
    }
}

fn compare(value: AttrValue<'_>, op: Op, literal: &Literal) -> bool {
    let ordering = match (value, literal) {
        (AttrValue::Str(a), Literal::Str(b)) => a.partial_cmp(b.as_str()),
        (AttrValue::Num(a), Literal::Num(b)) => a.partial_cmp(b),
        (AttrValue::Bool(a), Literal::Bool(b)) => a.partial_cmp(b),
        _ => None,
    };
    let Some(ordering) = ordering else { return op == Op::Ne };
    match op {
        Op::Eq => ordering.is_eq(),
        Op::Ne => ordering.is_ne(),
        Op::Gt => ordering.is_gt(),
        Op::Ge => ordering.is_ge(),
        Op::Lt => ordering.is_lt(),
        Op::Le => ordering.is_le(),
        Op::In | Op::NotIn | Op::Regex => false,
    }
}

/// `absent` / `present` as Cloud Custodian writes them.
pub fn presence(literal: &Literal) -> Option<Test> {
    match literal {
        Literal::Str(s) if s == "absent" => Some(Test::Absent),
        Literal::Str(s) if s == "present" => Some(Test::Present),
        _ => None,
    }
}

/// Builds the test for `op` and `value`, checking the value fits `kind`.
pub fn compile_test(
    op: Option<&Located<Op>>,
    value: &Located<Literal>,
    kind: AttrKind,
    key_label: &str,
    path: &str,
    errors: &mut Vec<DecodeError>,
) -> Option<Test> {
    let value_path = format!("{path}.value");
    let mismatch = |literal: &Literal| {
        DecodeError::new(
            value.loc,
            value_path.clone(),
            format!("{key_label} is {}, so compare it with {}; found {}", kind.describe(), kind.describe(), literal.kind()),
        )
    };
    let op_value = op.map(|o| o.value);
    if op_value.is_none() {
        if let Some(test) = presence(&value.value) {
            return Some(test);
        }
    }
    match op_value.unwrap_or(Op::Eq) {
        op @ (Op::In | Op::NotIn) => match &value.value {
            Literal::List(items) => {
                if let Some(bad) = items.iter().find(|l| !l.fits(kind)) {
                    errors.push(mismatch(bad));
                    return None;
                }
                Some(Test::Within { items: items.clone(), negate: op == Op::NotIn })
            }
            other => {
                errors.push(DecodeError::new(value.loc, value_path, format!("`in` and `not-in` need a list, found {}", other.kind())));
                None
            }
        },
        Op::Regex => match &value.value {
            Literal::Str(pattern) if kind == AttrKind::String => {
                match regex::RegexBuilder::new(pattern).size_limit(REGEX_SIZE_LIMIT).dfa_size_limit(REGEX_DFA_LIMIT).build() {
                    Ok(re) => Some(Test::Regex(re, value.loc)),
                    Err(regex::Error::CompiledTooBig(_)) => {
                        errors.push(DecodeError::new(
                            value.loc,
                            value_path,
                            format!(
                                "regular expression too costly: compiled it would take more than {} KiB (a Unicode class such as \\w repeated many times; try (?-u)\\w for ASCII, or a shorter repetition)",
                                REGEX_SIZE_LIMIT / 1024
                            ),
                        ));
                        None
                    }
                    Err(e) => {
                        errors.push(DecodeError::new(value.loc, value_path, format!("invalid regular expression: {e}")));
                        None
                    }
                }
            }
            other => {
                errors.push(DecodeError::new(value.loc, value_path, format!("`regex` needs a string attribute and a string pattern, found {}", other.kind())));
                None
            }
        },
        op => {
            if kind == AttrKind::Time {
                errors.push(DecodeError::new(
                    value.loc,
                    value_path,
                    format!("{key_label} is a time: test it with `value: absent|present`, or use the `age` filter"),
                ));
                return None;
            }
            if !value.value.fits(kind) {
                errors.push(mismatch(&value.value));
                return None;
            }
            if kind == AttrKind::Bool && !matches!(op, Op::Eq | Op::Ne) {
                errors.push(DecodeError::new(value.loc, value_path, "booleans can only be compared with eq or ne"));
                return None;
            }
            Some(Test::Compare(op, value.value.clone()))
        }
    }
}

impl ValueSpec {
    pub fn compile(&self, resource_type: ResourceType, path: &str, errors: &mut Vec<DecodeError>) -> Option<ValueFilter> {
        let key_path = format!("{path}.key");
        let key = if let Some(tag) = self.key.value.strip_prefix("tag:") {
            if tag.is_empty() {
                errors.push(DecodeError::new(self.key.loc, key_path, "`tag:` needs a tag key after it"));
                return None;
            }
            Key::Tag(tag.to_string())
        } else {
            match resource_type.attribute(&self.key.value) {
                Some(attribute) => Key::Attribute(attribute.name, attribute.kind),
                None => {
                    let names = resource_type.attributes().iter().map(|a| a.name);
                    let hint = match closest(&self.key.value, names.clone()) {
                        Some(name) => format!("did you mean `{name}`?"),
                        None => format!("known: {}, or tag:KEY", names.collect::<Vec<_>>().join(", ")),
                    };
                    errors.push(DecodeError::new(self.key.loc, key_path, format!("{resource_type} has no attribute `{}`; {hint}", self.key.value)));
                    return None;
                }
            }
        };
        let test = compile_test(self.op.as_ref(), &self.value, key.kind(), &key.to_string(), path, errors)?;
        Some(ValueFilter { key, test })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::resources::log_group::fixture;
    use crate::yaml::{decode, parse};

    fn compile(yaml: &str) -> Result<ValueFilter, Vec<DecodeError>> {
        let spec: ValueSpec = decode(&parse(yaml).map_err(|e| vec![e])?, "f").map_err(|e| vec![e])?;
        let mut errors = Vec::new();
        spec.compile(ResourceType::LogGroup, "f", &mut errors).ok_or(errors)
    }

    #[test]
    fn comparisons_read_the_attribute() {
        let r = fixture("/app/api", Some(7));
        let eval = |y: &str| compile(y).unwrap().evaluate(&r).is_some();
        assert!(eval("key: retentionInDays\nvalue: 7\n"));
        assert!(!eval("key: retentionInDays\nop: gt\nvalue: 7\n"));
        assert!(eval("key: retentionInDays\nop: lt\nvalue: 30\n"));
        assert!(eval("key: retentionInDays\nop: in\nvalue: [1, 7]\n"));
        assert!(eval("key: logGroupName\nop: regex\nvalue: '^/app/'\n"));
        assert!(eval("key: retentionInDays\nvalue: present\n"));
        assert!(!eval("key: retentionInDays\nvalue: absent\n"));
        assert!(eval("key: tag:owner\nvalue: absent\n"));
    }

    #[test]
    fn a_missing_attribute_matches_only_absent_and_ne() {
        let r = fixture("/a", None);
        assert!(compile("key: retentionInDays\nvalue: absent\n").unwrap().evaluate(&r).is_some());
        assert!(compile("key: retentionInDays\nop: lt\nvalue: 30\n").unwrap().evaluate(&r).is_none());
    }

    #[test]
    fn bad_specs_are_rejected_with_a_hint() {
        let e = compile("key: retentionIndays\nvalue: 3\n").unwrap_err();
        assert!(e[0].message.contains("did you mean `retentionInDays`"), "{}", e[0].message);
        assert_eq!(e[0].path, "f.key");
        let e = compile("key: retentionInDays\nvalue: thirty\n").unwrap_err();
        assert!(e[0].message.contains("a number"), "{}", e[0].message);
        let e = compile("key: logGroupName\nop: regex\nvalue: '('\n").unwrap_err();
        assert!(e[0].message.contains("regular expression"), "{}", e[0].message);
        let e = compile("key: creationTime\nop: gt\nvalue: 3\n").unwrap_err();
        assert!(e[0].message.contains("age"), "{}", e[0].message);
    }
}
