//! The policy parser never panics, whatever it is given, and always answers
//! with either policies or located errors.

use std::path::Path;

use proptest::prelude::*;

const VALID: &str = "policies:
  - name: never-expire
    resource: log-group
    filters:
      - or:
          - type: value
            key: retentionInDays
            value: absent
          - not:
              - type: tag
                key: team
                op: in
                value: [ml, data]
      - type: age
        days: 3
    actions:
      - type: set-retention
        days: 30
    max-resources: 10
";

fn check(text: &str) {
    match costguard::config::compile_text(Path::new("fuzz.yaml"), text) {
        Ok(_) => {}
        Err(errors) => {
            assert!(!errors.0.is_empty());
            for e in &errors.0 {
                assert!(!e.message.is_empty());
                assert!(e.loc.is_some() || e.path.is_empty(), "an error inside the document has a location: {e}");
            }
        }
    }
}

#[test]
fn the_reference_policy_is_valid() {
    let policies = costguard::config::compile_text(Path::new("v.yaml"), VALID).expect("valid");
    assert_eq!(policies.len(), 1);
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_text_never_panics(text in "\\PC{0,300}") {
        check(&text);
    }

    #[test]
    fn yaml_shaped_noise_never_panics(text in "[-a-z:{}\\[\\],&*!|>'\"#% \n0-9.]{0,400}") {
        check(&text);
    }

    #[test]
    fn mutated_valid_policies_never_panic(cut in 0usize..VALID.len(), len in 0usize..40, insert in "[-a-z:{}\\[\\] \n0-9&*]{0,12}") {
        let mut text = VALID.to_string();
        let end = (cut + len).min(text.len());
        if text.is_char_boundary(cut) && text.is_char_boundary(end) {
            text.replace_range(cut..end, &insert);
        }
        check(&text);
    }

    #[test]
    fn any_number_in_any_field_never_panics(n in proptest::num::f64::ANY, i in any::<i64>()) {
        check(&VALID.replace("days: 3\n", &format!("days: {n}\n")));
        check(&VALID.replace("days: 30", &format!("days: {i}")));
        check(&VALID.replace("max-resources: 10", &format!("max-resources: {i}")));
    }
}

#[test]
fn deep_nesting_is_refused_not_overflowed() {
    let deep = format!("policies:\n  - name: x\n    resource: log-group\n    filters:\n      - {}{}\n", "{or: [".repeat(500), "]}".repeat(500));
    check(&deep);
    let deep_list = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
    check(&deep_list);
}

#[test]
fn alias_bombs_are_refused() {
    let bomb = "a: &a [x, x, x, x, x, x, x, x, x, x]\nb: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a, *a]\nc: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b, *b]\nd: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c, *c]\ne: &e [*d, *d, *d, *d, *d, *d, *d, *d, *d, *d]\nf: &f [*e, *e, *e, *e, *e, *e, *e, *e, *e, *e]\ng: [*f, *f, *f, *f, *f, *f, *f, *f, *f, *f]\n";
    check(bomb);
}
