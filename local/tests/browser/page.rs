//! The local stack's upload page (`/`: ui.html, ui.js) in headless Chromium:
//! single PUT and multipart with a moving progress bar, resume after a
//! reload and after a network outage, cancel. Scenarios: `page.mjs`.

use super::*;

/// The page's default identity (its tenant and user fields).
const PAGE: Identity = Identity {
    tenant: "00000000-0000-4000-8000-000000000001",
    user: "local-user",
};

fn assert_no_notes(r: &Value) {
    let notes = r["notes"].as_array().unwrap();
    assert!(
        notes
            .iter()
            .all(|n| !n.as_str().unwrap().starts_with("pageerror")),
        "{notes:?}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn page_uploads_a_small_file_by_put_and_a_large_one_in_parts() {
    let b = Browser::start("page-upload").await;
    let (small, small_data) = b.file("Réunion équipe+notes (1).wav", 3_000_000, 1);
    let (big, big_data) = b.file("big take.wav", 24 * MIB, 2);
    let (refused, _) = b.file("cover.png", 100, 3);
    let files = json!({"small": small, "big": big, "refused": refused});
    let r = b.drive("page.mjs", "upload", PAGE, files).await;
    assert_no_notes(&r);
    let (s, l) = (&r["rows"]["small"], &r["rows"]["big"]);
    assert_eq!(s["state"], "processing", "{r}");
    assert_eq!(l["state"], "processing", "{r}");
    assert!(s["meta"].as_str().unwrap().contains("single PUT"), "{s}");
    assert!(s["upload_id"].is_null(), "{s}");
    // 24 MiB in 5 MiB parts (the page's part size set to 5): 5 parts.
    assert!(l["meta"].as_str().unwrap().contains("5 parts"), "{l}");
    assert!(l["upload_id"].is_string(), "{l}");
    assert_eq!(l["valuenow"], "100", "{l}");
    // The API's refusal, with its problem+json detail.
    let refused = &r["rows"]["refused"];
    assert_eq!(refused["state"], "error", "{refused}");
    let error = refused["error"].as_str().unwrap();
    assert!(
        error.contains("415") && error.contains("image/png"),
        "{refused}"
    );

    // Each request once: the PUT; create, parts 1-5, complete.
    let c = &r["counts"];
    assert_eq!(count(c, "put"), 1, "{c}");
    assert_eq!(count(c, "create"), 1, "{c}");
    assert_eq!(parts_sent(c), [1, 2, 3, 4, 5], "{c}");
    assert_eq!(count(c, "complete"), 1, "{c}");

    // The bar moved through many values, never back, up to 100.
    let seen: Vec<u64> = r["progress"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_u64().unwrap())
        .collect();
    let mut distinct = seen.clone();
    distinct.dedup();
    assert!(distinct.len() >= 5, "aria-valuenow took {seen:?}");
    assert!(seen.windows(2).all(|w| w[0] <= w[1]), "{seen:?}");
    assert_eq!(seen.last(), Some(&100));

    let job = b.assert_uploaded(PAGE, &s["job_id"], &small_data).await;
    assert_eq!(job["file_name"], "Réunion équipe+notes (1).wav");
    let job = b.assert_uploaded(PAGE, &l["job_id"], &big_data).await;
    assert_eq!(job["file_name"], "big take.wav");
}

#[tokio::test(flavor = "multi_thread")]
async fn page_resumes_a_multipart_upload_after_a_reload_and_after_a_network_outage() {
    let b = Browser::start("page-resume").await;
    let (big, big_data) = b.file("resume after reload.wav", 24 * MIB, 3);
    let (other, other_data) = b.file("resume after outage.wav", 24 * MIB, 4);
    let r = b
        .drive(
            "page.mjs",
            "resume",
            PAGE,
            json!({"big": big, "other": other}),
        )
        .await;
    assert_no_notes(&r);

    // Parts 1 and 2 reached S3; 3-5 hung until the page was reloaded.
    let reload = &r["reload"];
    let before = &reload["before"];
    assert_eq!(reload["listedBefore"]["parts"], json!([1, 2]), "{reload}");
    let stored = reload["stored"].as_array().unwrap();
    assert_eq!(stored.len(), 1, "{reload}");
    assert_eq!(stored[0]["upload_id"], before["upload_id"], "{reload}");
    assert_eq!(stored[0]["job_id"], before["job_id"], "{reload}");
    // After the reload the page offers it, and picking the file again
    // continues the same upload: only parts 3-5 are sent.
    let offered = reload["offered"].as_array().unwrap();
    assert!(
        offered
            .iter()
            .any(|o| o.as_str().unwrap().contains("resume after reload.wav")),
        "{reload}"
    );
    let after = &reload["after"];
    assert_eq!(after["state"], "processing", "{reload}");
    assert_eq!(after["job_id"], before["job_id"], "{reload}");
    assert_eq!(after["upload_id"], before["upload_id"], "{reload}");
    let c = &reload["counts"];
    assert_eq!(parts_sent(c), [3, 4, 5], "{reload}");
    assert_eq!(count(c, "create"), 0, "{c}");
    assert_eq!(count(c, "list"), 1, "{c}");
    assert_eq!(count(c, "complete"), 1, "{c}");
    assert_eq!(
        reload["storeAfter"], "{}",
        "the record is gone once complete"
    );
    b.assert_uploaded(PAGE, &after["job_id"], &big_data).await;

    // Offline after parts 1 and 2: the page retries, gives up (interrupted),
    // and once online again resumes by itself with parts 3-5.
    let off = &r["offline"];
    assert_eq!(off["before"]["state"], "interrupted", "{off}");
    assert_eq!(off["listedBefore"]["parts"], json!([1, 2]), "{off}");
    assert_eq!(off["after"]["state"], "processing", "{off}");
    assert_eq!(
        off["after"]["upload_id"], off["before"]["upload_id"],
        "{off}"
    );
    let c = &off["counts"];
    assert_eq!(parts_sent(c), [3, 4, 5], "{off}");
    assert_eq!(count(c, "create"), 0, "{c}");
    assert_eq!(count(c, "list"), 1, "{c}");
    b.assert_uploaded(PAGE, &off["after"]["job_id"], &other_data)
        .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn page_cancel_aborts_the_multipart_upload() {
    let b = Browser::start("page-cancel").await;
    let (big, _) = b.file("cancel me.wav", 24 * MIB, 5);
    let r = b
        .drive("page.mjs", "cancel", PAGE, json!({"big": big}))
        .await;
    assert_no_notes(&r);
    let before = &r["before"];
    assert_eq!(r["after"]["state"], "cancelled", "{r}");
    assert_eq!(r["after"]["error"], "", "{r}");
    assert_eq!(count(&r["counts"], "abort"), 1, "{r}");
    // The upload is gone from S3 (ListParts: NoSuchUpload), the job still
    // waits (the reaper expires it), the page forgot it, nothing stored.
    assert_eq!(r["listed"]["sign"], 200, "{r}");
    assert_eq!(r["listed"]["s3"], 404, "{r}");
    assert_eq!(r["listed"]["code"], "NoSuchUpload", "{r}");
    assert_eq!(r["job_status"], "queued", "{r}");
    assert!(
        r["stored"].is_null() || r["stored"] == "{}",
        "resume record left: {r}"
    );
    let job = b.job(PAGE, before["job_id"].as_str().unwrap()).await;
    assert_eq!(job["status"], "queued", "{job}");
    assert!(!b.object_path(job["file_key"].as_str().unwrap()).exists());
}
