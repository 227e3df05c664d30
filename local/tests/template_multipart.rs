//! What template.yaml gives multipart uploads: the signer's and the
//! reaper's permissions, the bucket's CORS, and one lifecycle parameter the
//! reaper and the bucket share.

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
    let events = grants(&t, "EventsRole");
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
