//! What template.yaml gives multipart uploads: the signer's and the
//! reaper's permissions, the bucket's CORS, and one lifecycle parameter the
//! reaper and the bucket share. And that API Gateway routes every operation
//! openapi.yaml documents (an unrouted one is API Gateway's own 404).

mod template_kit;

use serde_yaml_ng::Value;
use template_kit::*;

#[test]
fn multipart_uploads_get_what_they_need_and_no_more() {
    let t = template();
    let (bucket, objects) = (
        "arn:${AWS::Partition}:s3:::${UploadBucketName}",
        "arn:${AWS::Partition}:s3:::${UploadBucketName}/tenant/*",
    );
    // The API signs Create/UploadPart/Complete (PutObject), ListParts and
    // Abort on tenant keys only; the reaper lists uploads on the bucket and
    // aborts them on tenant keys.
    let api = grants(&t, "ApiRole");
    for a in [
        "s3:PutObject",
        "s3:ListMultipartUploadParts",
        "s3:AbortMultipartUpload",
    ] {
        assert!(api.contains(&(a, objects)), "ApiRole lacks {a}: {api:?}");
    }
    assert!(
        !api.iter()
            .any(|(a, _)| *a == "s3:ListBucketMultipartUploads"),
        "the API lists no one's uploads"
    );
    let events = grants(&t, "EventsRole");
    assert!(
        !events
            .iter()
            .any(|(a, _)| *a == "s3:ListMultipartUploadParts"),
        "the reaper reads no parts"
    );
    assert!(events.contains(&("s3:ListBucketMultipartUploads", bucket)));
    assert!(events.contains(&("s3:AbortMultipartUpload", objects)));
    for (a, r) in api.iter().chain(&events) {
        if a.contains("Multipart") {
            assert!(*r == objects || *r == bucket, "{a} on {r}");
        }
    }
    // Browsers create, upload parts, list (resume), complete and abort.
    let rules = t["Resources"]["UploadBucket"]["Properties"]["CorsConfiguration"]["CorsRules"]
        .as_sequence()
        .unwrap();
    let methods: Vec<&str> = rules
        .iter()
        .flat_map(|r| r["AllowedMethods"].as_sequence().unwrap())
        .filter_map(Value::as_str)
        .collect();
    for m in ["PUT", "POST", "GET", "DELETE"] {
        assert!(methods.contains(&m), "CORS lacks {m}: {methods:?}");
    }
    // The reaper waits exactly as long as the lifecycle: both from one
    // parameter.
    let rules = resource(&t, "UploadBucket", "AWS::S3::Bucket")["LifecycleConfiguration"]["Rules"]
        .as_sequence()
        .unwrap();
    let abort = rules
        .iter()
        .find(|r| !r["AbortIncompleteMultipartUpload"].is_null())
        .expect("an abort-incomplete-multipart rule");
    assert!(is_ref(
        &abort["AbortIncompleteMultipartUpload"]["DaysAfterInitiation"],
        "MultipartAbortDays"
    ));
    let env =
        &resource(&t, "EventsFunction", "AWS::Serverless::Function")["Environment"]["Variables"];
    assert!(is_ref(
        &env["MULTIPART_ABORT_AFTER_DAYS"],
        "MultipartAbortDays"
    ));
}

#[test]
fn api_gateway_routes_every_documented_operation() {
    let t = template();
    let keys: Vec<String> = t["Resources"]
        .as_mapping()
        .unwrap()
        .values()
        .filter(|r| r["Type"].as_str() == Some("AWS::ApiGatewayV2::Route"))
        .filter_map(|r| r["Properties"]["RouteKey"].as_str().map(str::to_owned))
        .collect();
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../openapi.yaml");
    let doc: Value = serde_yaml_ng::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let mut documented = Vec::new();
    for (path, item) in doc["paths"].as_mapping().unwrap() {
        for method in item.as_mapping().unwrap().keys().filter_map(Value::as_str) {
            if ["get", "put", "post", "delete", "patch"].contains(&method) {
                documented.push(format!(
                    "{} {}",
                    method.to_ascii_uppercase(),
                    path.as_str().unwrap()
                ));
            }
        }
    }
    assert_eq!(documented.len(), 5, "{documented:?}");
    for op in &documented {
        assert!(keys.contains(op), "{op} has no API Gateway route: {keys:?}");
    }
    assert_eq!(
        keys.len(),
        documented.len(),
        "routes without a documented operation: {keys:?}"
    );
}
