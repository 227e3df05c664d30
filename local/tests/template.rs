//! What template.yaml grants the functions, read from the template itself:
//! the behaviour the local stack imitates depends on it (S3 answers HEAD of
//! a missing key with 404 only when the caller may list the bucket).

use serde_yaml_ng::Value;

fn template() -> Value {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../template.yaml");
    serde_yaml_ng::from_str(&std::fs::read_to_string(path).expect("template.yaml"))
        .expect("template.yaml parses")
}

/// A plain string, or the string inside a `!Sub`.
fn text(v: &Value) -> Option<&str> {
    match v {
        Value::String(s) => Some(s),
        Value::Tagged(t) => t.value.as_str(),
        _ => None,
    }
}

fn actions(stmt: &Value) -> Vec<&str> {
    match &stmt["Action"] {
        Value::Sequence(a) => a.iter().filter_map(Value::as_str).collect(),
        other => other.as_str().into_iter().collect(),
    }
}

/// Every (action, resource) an IAM role's inline policies allow.
fn grants<'a>(t: &'a Value, role: &str) -> Vec<(&'a str, &'a str)> {
    let policies = t["Resources"][role]["Properties"]["Policies"]
        .as_sequence()
        .unwrap_or_else(|| panic!("{role} has inline policies"));
    let mut out = Vec::new();
    for p in policies {
        for stmt in p["PolicyDocument"]["Statement"].as_sequence().unwrap() {
            assert_eq!(stmt["Effect"].as_str(), Some("Allow"));
            for a in actions(stmt) {
                if let Some(r) = text(&stmt["Resource"]) {
                    out.push((a, r));
                }
            }
        }
    }
    out
}

#[test]
fn both_functions_may_list_the_bucket_so_a_missing_key_is_404_not_403() {
    let t = template();
    let bucket = "arn:${AWS::Partition}:s3:::${UploadBucketName}";
    for role in ["ApiRole", "EventsRole"] {
        let g = grants(&t, role);
        assert!(
            g.contains(&("s3:ListBucket", bucket)),
            "{role} lacks s3:ListBucket on the bucket: {g:?}"
        );
        assert!(
            g.contains(&(
                "s3:GetObject",
                "arn:${AWS::Partition}:s3:::${UploadBucketName}/tenant/*"
            )),
            "{role} lacks s3:GetObject on tenant/*: {g:?}"
        );
        // The list grant is the only one on the bucket itself, and nothing
        // anywhere is granted on `*`.
        for (a, r) in &g {
            assert_ne!(*r, "*", "{role} grants {a} on *");
            if *r == bucket {
                assert_eq!(*a, "s3:ListBucket", "{role} grants {a} on the bucket");
            }
        }
    }
}

#[test]
fn the_bucket_lets_browsers_send_what_upload_headers_may_contain() {
    // The headers init can sign into a URL: a browser PUT carrying one the
    // bucket's CORS rule does not allow fails its preflight.
    let t = template();
    let rules = t["Resources"]["UploadBucket"]["Properties"]["CorsConfiguration"]["CorsRules"]
        .as_sequence()
        .expect("the bucket has CORS rules");
    let put_rule = rules
        .iter()
        .find(|r| {
            r["AllowedMethods"]
                .as_sequence()
                .is_some_and(|m| m.iter().any(|m| m.as_str() == Some("PUT")))
        })
        .expect("a CORS rule allows PUT");
    let allowed: Vec<String> = put_rule["AllowedHeaders"]
        .as_sequence()
        .unwrap()
        .iter()
        .filter_map(|h| h.as_str().map(str::to_ascii_lowercase))
        .collect();
    for h in ["content-type", "x-amz-checksum-sha256", "if-none-match"] {
        assert!(
            allowed.iter().any(|a| a == h),
            "{h} not allowed: {allowed:?}"
        );
    }
    let exposed = put_rule["ExposedHeaders"].as_sequence().unwrap();
    assert!(exposed.iter().any(|h| h.as_str() == Some("ETag")));
}
