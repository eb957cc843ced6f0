//! A map with string keys as a sorted vector: a `BTreeMap`'s API where
//! most maps hold a few entries. A `BTreeMap` allocates a 544-byte node
//! for even one entry, and every resource carries a few such maps (tags,
//! metrics, listed series): on a 10,000-resource estate that was megabytes.

use std::collections::BTreeMap;
use std::fmt;

/// Entries in key order, each key once.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct SmallMap<V>(Vec<(String, V)>);

/// What iterating gives: references, as a map's iterator does.
pub type Iter<'a, V> = std::iter::Map<std::slice::Iter<'a, (String, V)>, fn(&(String, V)) -> (&String, &V)>;

impl<V> Default for SmallMap<V> {
    fn default() -> Self {
        Self::new()
    }
}

impl<V> SmallMap<V> {
    pub const fn new() -> Self {
        SmallMap(Vec::new())
    }

    fn position(&self, key: &str) -> Result<usize, usize> {
        self.0.binary_search_by(|(k, _)| k.as_str().cmp(key))
    }

    pub fn get(&self, key: &str) -> Option<&V> {
        self.position(key).ok().map(|i| &self.0[i].1)
    }

    pub fn contains_key(&self, key: &str) -> bool {
        self.position(key).is_ok()
    }

    /// Sets `key`, answering the value it replaced.
    pub fn insert(&mut self, key: String, value: V) -> Option<V> {
        match self.position(&key) {
            Ok(i) => Some(std::mem::replace(&mut self.0[i].1, value)),
            Err(i) => {
                self.0.insert(i, (key, value));
                None
            }
        }
    }

    pub fn remove(&mut self, key: &str) -> Option<V> {
        self.position(key).ok().map(|i| self.0.remove(i).1)
    }

    /// Keeps the entries `keep` says yes to.
    pub fn retain(&mut self, mut keep: impl FnMut(&String, &mut V) -> bool) {
        self.0.retain_mut(|(k, v)| keep(k, v));
    }

    pub fn iter(&self) -> Iter<'_, V> {
        self.0.iter().map(|(k, v)| (k, v))
    }

    pub fn keys(&self) -> impl Iterator<Item = &String> {
        self.0.iter().map(|(k, _)| k)
    }

    pub fn values(&self) -> impl Iterator<Item = &V> {
        self.0.iter().map(|(_, v)| v)
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// As a map would: in key order, and a key given twice keeps its last value.
impl<V> FromIterator<(String, V)> for SmallMap<V> {
    fn from_iter<I: IntoIterator<Item = (String, V)>>(entries: I) -> Self {
        let mut entries: Vec<(String, V)> = entries.into_iter().collect();
        // Stable: of equal keys, the last given stays last, and is kept.
        entries.sort_by(|a, b| a.0.cmp(&b.0));
        let mut kept: Vec<(String, V)> = Vec::with_capacity(entries.len());
        for entry in entries {
            match kept.last_mut() {
                Some(last) if last.0 == entry.0 => *last = entry,
                _ => kept.push(entry),
            }
        }
        SmallMap(kept)
    }
}

impl<V, const N: usize> From<[(String, V); N]> for SmallMap<V> {
    fn from(entries: [(String, V); N]) -> Self {
        entries.into_iter().collect()
    }
}

impl<V> Extend<(String, V)> for SmallMap<V> {
    fn extend<I: IntoIterator<Item = (String, V)>>(&mut self, entries: I) {
        for (k, v) in entries {
            self.insert(k, v);
        }
    }
}

impl<V> IntoIterator for SmallMap<V> {
    type Item = (String, V);
    type IntoIter = std::vec::IntoIter<(String, V)>;
    fn into_iter(self) -> Self::IntoIter {
        self.0.into_iter()
    }
}

impl<'a, V> IntoIterator for &'a SmallMap<V> {
    type Item = (&'a String, &'a V);
    type IntoIter = Iter<'a, V>;
    fn into_iter(self) -> Self::IntoIter {
        self.iter()
    }
}

impl<V: fmt::Debug> fmt::Debug for SmallMap<V> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map().entries(self.iter()).finish()
    }
}

/// A map in JSON and YAML, as a `BTreeMap` is.
impl<V: serde::Serialize> serde::Serialize for SmallMap<V> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_map(self.iter())
    }
}

impl<'de, V: serde::Deserialize<'de>> serde::Deserialize<'de> for SmallMap<V> {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        BTreeMap::<String, V>::deserialize(deserializer).map(|map| SmallMap(map.into_iter().collect()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pair(k: &str, v: &str) -> (String, String) {
        (k.to_string(), v.to_string())
    }

    #[test]
    fn it_behaves_as_a_map_does() {
        let given = [pair("team", "a"), pair("owner", "x"), pair("team", "b")];
        let small: SmallMap<String> = given.clone().into_iter().collect();
        let map: BTreeMap<String, String> = given.into_iter().collect();
        assert_eq!(small.iter().collect::<Vec<_>>(), map.iter().collect::<Vec<_>>(), "key order, the last value of a key kept");
        assert_eq!(small.get("team").map(String::as_str), Some("b"));
        assert_eq!(small.get("nope"), None);

        let mut small = small;
        assert_eq!(small.insert("cost-center".to_string(), "7".to_string()), None);
        assert_eq!(small.insert("owner".to_string(), "y".to_string()).as_deref(), Some("x"));
        assert_eq!(small.keys().map(String::as_str).collect::<Vec<_>>(), ["cost-center", "owner", "team"]);
        assert_eq!(small.remove("owner").as_deref(), Some("y"));
        assert!(!small.contains_key("owner") && small.contains_key("team"));
        assert_eq!(small.len(), 2);
        small.extend([pair("a", "1"), pair("team", "c")]);
        small.retain(|k, _| k != "cost-center");
        assert_eq!(format!("{small:?}"), r#"{"a": "1", "team": "c"}"#);
    }

    #[test]
    fn it_is_a_map_in_json() {
        let small = SmallMap::from([pair("b", "2"), pair("a", "1")]);
        let json = serde_json::to_string(&small).expect("serializes");
        assert_eq!(json, r#"{"a":"1","b":"2"}"#);
        let back: SmallMap<String> = serde_json::from_str(r#"{"b":"2","a":"1"}"#).expect("a map reads back");
        assert_eq!(back, small);
        assert!(serde_json::from_str::<SmallMap<String>>(r#"["a"]"#).is_err());
    }
}
