//! Reading template.yaml in tests: the template, and what its roles grant.
#![allow(dead_code)]

use serde_yaml_ng::Value;

pub fn template() -> Value {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../template.yaml");
    serde_yaml_ng::from_str(&std::fs::read_to_string(path).expect("template.yaml"))
        .expect("template.yaml parses")
}

/// A plain string, or the string inside a `!Sub`.
pub fn text(v: &Value) -> Option<&str> {
    match v {
        Value::String(s) => Some(s),
        Value::Tagged(t) => t.value.as_str(),
        _ => None,
    }
}

pub fn actions(stmt: &Value) -> Vec<&str> {
    match &stmt["Action"] {
        Value::Sequence(a) => a.iter().filter_map(Value::as_str).collect(),
        other => other.as_str().into_iter().collect(),
    }
}

/// A statement's `Resource`: one string (or `!Sub`), or a list of them.
pub fn resources(stmt: &Value) -> Vec<&str> {
    match &stmt["Resource"] {
        Value::Sequence(r) => r.iter().filter_map(text).collect(),
        other => text(other).into_iter().collect(),
    }
}

/// The value under tag `tag` (`!Ref X`, `!GetAtt X.Arn`), if `v` is one.
pub fn tagged<'a>(v: &'a Value, tag: &str) -> Option<&'a Value> {
    match v {
        Value::Tagged(t) if t.tag == tag => Some(&t.value),
        _ => None,
    }
}

pub fn is_ref(v: &Value, name: &str) -> bool {
    tagged(v, "Ref").and_then(Value::as_str) == Some(name)
}

pub fn is_get_att(v: &Value, target: &str) -> bool {
    tagged(v, "GetAtt").and_then(Value::as_str) == Some(target)
}

pub fn resource<'a>(t: &'a Value, name: &str, ty: &str) -> &'a Value {
    let r = &t["Resources"][name];
    assert_eq!(r["Type"].as_str(), Some(ty), "{name} is not a {ty}");
    &r["Properties"]
}

/// Every (action, resource) an IAM role's inline policies allow.
pub fn grants<'a>(t: &'a Value, role: &str) -> Vec<(&'a str, &'a str)> {
    let policies = t["Resources"][role]["Properties"]["Policies"]
        .as_sequence()
        .unwrap_or_else(|| panic!("{role} has inline policies"));
    let mut out = Vec::new();
    for p in policies {
        for stmt in p["PolicyDocument"]["Statement"].as_sequence().unwrap() {
            assert_eq!(stmt["Effect"].as_str(), Some("Allow"));
            for a in actions(stmt) {
                for r in resources(stmt) {
                    out.push((a, r));
                }
            }
        }
    }
    out
}
