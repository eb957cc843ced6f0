//! `tag`: test one tag. Evaluates exactly like a `value` filter on `tag:KEY`.
//!
//! ```yaml
//! - type: tag
//!   key: owner
//!   value: absent       # absent | present (the default) | a literal
//! - type: tag
//!   key: env
//!   op: in
//!   value: [dev, test]
//! ```

use serde::Deserialize;

use super::value::{compile_test, Key, Literal, Op, ValueFilter};
use crate::resources::AttrKind;
use crate::yaml::{DecodeError, Located};

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TagSpec {
    pub key: Located<String>,
    #[serde(default)]
    pub op: Option<Located<Op>>,
    #[serde(default)]
    pub value: Option<Located<Literal>>,
}

pub type TagFilter = ValueFilter;

impl TagSpec {
    pub fn compile(&self, path: &str, errors: &mut Vec<DecodeError>) -> Option<TagFilter> {
        if self.key.value.is_empty() {
            errors.push(DecodeError::new(self.key.loc, format!("{path}.key"), "tag key must not be empty"));
            return None;
        }
        let key = Key::Tag(self.key.value.clone());
        let present = Located::new(Literal::Str("present".to_string()), self.key.loc);
        let value = self.value.as_ref().unwrap_or(&present);
        let test = compile_test(self.op.as_ref(), value, AttrKind::String, &key.to_string(), path, errors)?;
        Some(ValueFilter { key, test })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::resources::log_group::fixture;
    use crate::yaml::{decode, parse};

    fn compile(yaml: &str) -> TagFilter {
        let spec: TagSpec = decode(&parse(yaml).unwrap(), "f").unwrap();
        spec.compile("f", &mut Vec::new()).unwrap()
    }

    #[test]
    fn tags_are_tested_by_key_and_value() {
        let mut r = fixture("/a", None);
        r.tags.insert("env".into(), "dev".into());
        assert!(compile("key: env\n").evaluate(&r).is_some());
        assert!(compile("key: env\nvalue: dev\n").evaluate(&r).is_some());
        assert!(compile("key: env\nvalue: prod\n").evaluate(&r).is_none());
        assert!(compile("key: env\nop: in\nvalue: [dev, test]\n").evaluate(&r).is_some());
        assert!(compile("key: owner\nvalue: absent\n").evaluate(&r).is_some());
        assert!(compile("key: owner\n").evaluate(&r).is_none());
    }
}
