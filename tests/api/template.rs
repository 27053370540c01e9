//! The SAM template and the code agree on the environment: the template sets every variable the
//! code reads (local-development credentials excepted) and nothing else.

use std::cell::RefCell;
use std::collections::BTreeSet;

use rai_widget_auth::config::{Config, LOCAL_ONLY_VARIABLES, SET_BY_LAMBDA, VARIABLES};

/// The names the code asks for, over both secret modes. Each configuration must be accepted:
/// one refused early would have asked for fewer names.
fn names_the_code_reads() -> BTreeSet<String> {
    let asked = RefCell::new(BTreeSet::new());
    for secret_id in [None, Some("rai/widget")] {
        let config = Config::from_lookup(|name| {
            asked.borrow_mut().insert(name.to_owned());
            match name {
                "RAI_SECRET_ID" => secret_id.map(str::to_owned),
                "SESSION_SECRET" => Some("a-local-session-secret-of-32-bytes-or-more".into()),
                _ => None,
            }
        });
        if let Err(e) = config {
            panic!("secret id {secret_id:?}: the configuration is refused: {e}");
        }
    }
    asked.into_inner()
}

/// The keys under the function's `Environment: Variables:` block.
fn template_variables(template: &str) -> BTreeSet<String> {
    let mut lines = template.lines().skip_while(|l| l.trim() != "Variables:");
    let parent = lines.next().expect("the template has a Variables: block");
    let parent_indent = parent.len() - parent.trim_start().len();
    let mut child_indent = None;
    let mut names = BTreeSet::new();
    for line in lines {
        if line.trim().is_empty() || line.trim_start().starts_with('#') {
            continue;
        }
        let indent = line.len() - line.trim_start().len();
        if indent <= parent_indent {
            break;
        }
        if *child_indent.get_or_insert(indent) == indent {
            let key = line.trim_start().split(':').next().unwrap_or_default();
            names.insert(key.to_owned());
        }
    }
    names
}

#[test]
fn the_code_reads_exactly_the_listed_variables() {
    let listed: BTreeSet<String> = VARIABLES.iter().map(|v| v.to_string()).collect();
    assert_eq!(names_the_code_reads(), listed);
}

#[test]
fn the_template_sets_every_variable_the_code_reads_and_no_other() {
    let template = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/template.yaml"))
        .expect("template.yaml");
    let deployed: BTreeSet<String> = names_the_code_reads()
        .into_iter()
        .filter(|v| !LOCAL_ONLY_VARIABLES.contains(&v.as_str()))
        .filter(|v| !SET_BY_LAMBDA.contains(&v.as_str()))
        .collect();
    let in_template = template_variables(&template);
    let missing: Vec<_> = deployed.difference(&in_template).collect();
    let unknown: Vec<_> = in_template.difference(&deployed).collect();
    assert!(
        missing.is_empty(),
        "read by the code, missing from template.yaml: {missing:?}"
    );
    assert!(
        unknown.is_empty(),
        "set by template.yaml, never read by the code: {unknown:?}"
    );
}

#[test]
fn the_parser_reads_a_variables_block() {
    let yaml = "Resources:\n  F:\n    Properties:\n      Environment:\n        Variables:\n          A: 1\n          # note\n          B: !Ref X\n            nested: no\n      Other: 2\n";
    let names: Vec<String> = template_variables(yaml).into_iter().collect();
    assert_eq!(names, ["A", "B"]);
}
