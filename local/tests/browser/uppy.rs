//! Uppy v6 (`@uppy/core` + `@uppy/aws-s3`, versions locked in
//! package-lock.json) in headless Chromium against the local stack, with
//! only the README's `signRequest` glue (`uppy/glue.mjs`) between them; the
//! app is served from another origin, as a front end would be. Scenarios:
//! `uppy.mjs`.

use super::*;

const WHO: Identity = Identity {
    tenant: TENANT,
    user: "uppy",
};

/// The driver's view of the file named `name` (`window.app.files()`).
fn file<'a>(r: &'a Value, name: &str) -> &'a Value {
    r["files"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["name"] == name)
        .unwrap_or_else(|| panic!("{name} not in {r}"))
}

#[tokio::test(flavor = "multi_thread")]
async fn uppy_uploads_a_small_file_by_put_and_a_large_one_by_multipart() {
    let b = Browser::start("uppy-upload").await;
    let (small, small_data) = b.file("uppy small.wav", 3_000_000, 11);
    let (big, big_data) = b.file("uppy big.wav", 24 * MIB, 12);
    let r = b
        .drive(
            "uppy.mjs",
            "upload",
            WHO,
            json!({"small": small, "big": big}),
        )
        .await;
    assert_eq!(r["result"]["failed"], json!([]), "{r}");
    assert_eq!(
        r["result"]["successful"].as_array().unwrap().len(),
        2,
        "{r}"
    );
    // One PUT; create, 24 MiB in Uppy's 5 MiB parts, complete.
    let c = &r["counts"];
    assert_eq!(count(c, "put"), 1, "{c}");
    assert_eq!(count(c, "create"), 1, "{c}");
    assert_eq!(parts_sent(c), [1, 2, 3, 4, 5], "{c}");
    assert_eq!(count(c, "complete"), 1, "{c}");
    for (name, data) in [("uppy small.wav", &small_data), ("uppy big.wav", &big_data)] {
        let f = file(&r, name);
        assert_eq!(f["status"], "processing", "{f}");
        // Uppy reports the object under the key the API chose.
        let success = r["events"]
            .as_array()
            .unwrap()
            .iter()
            .find(|e| e["type"] == "success" && e["name"] == name)
            .unwrap_or_else(|| panic!("no upload-success for {name}: {r}"));
        assert_eq!(success["key"], f["fileKey"], "{r}");
        let job = b.assert_uploaded(WHO, &f["jobId"], data).await;
        assert_eq!(job["file_key"], f["fileKey"], "{job}");
        assert_eq!(job["file_name"], name, "{job}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn uppy_multipart_upload_survives_a_network_cut() {
    let b = Browser::start("uppy-cut").await;
    let (big, big_data) = b.file("uppy cut.wav", 24 * MIB, 13);
    let r = b
        .drive("uppy.mjs", "network-cut", WHO, json!({"big": big}))
        .await;
    // Part 2's two failures were retried by Uppy; part 4's four outlasted
    // its retries and failed the upload, with the multipart upload kept.
    assert_eq!(r["first"]["successful"], json!([]), "{r}");
    assert_eq!(r["first"]["failed"][0]["name"], "uppy cut.wav", "{r}");
    let kept = &r["stateAfterCut"][0]["s3Multipart"];
    assert!(kept["uploadId"].is_string(), "{r}");
    // retryAll resumed it: ListParts, then only parts 4 and 5.
    assert_eq!(r["retried"]["successful"], json!(["uppy cut.wav"]), "{r}");
    assert_eq!(
        r["attempts"],
        json!({"1": 1, "2": 3, "3": 1, "4": 5, "5": 1}),
        "{r}"
    );
    let c = &r["counts"];
    assert_eq!(count(c, "create"), 1, "{c}");
    assert_eq!(count(c, "list"), 1, "{c}");
    assert_eq!(count(c, "complete"), 1, "{c}");
    let f = file(&r, "uppy cut.wav");
    assert_eq!(f["status"], "processing", "{f}");
    assert_eq!(kept["key"], f["fileKey"], "{r}");
    b.assert_uploaded(WHO, &f["jobId"], &big_data).await;
}
