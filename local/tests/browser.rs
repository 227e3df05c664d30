//! A real browser (Debian's headless Chromium, driven by playwright-core)
//! uploads through the local stack's page: proves CORS and the signed
//! headers work from a browser, as the existing client needs.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::*;
use upload_testkit::TestDb;

fn chromium() -> PathBuf {
    for p in ["/usr/bin/chromium", "/usr/bin/chromium-browser"] {
        if Path::new(p).exists() {
            return PathBuf::from(p);
        }
    }
    panic!(
        "chromium not found: run `bash scripts/install-tools.sh --browser` (Debian package chromium)"
    );
}

fn driver_dir() -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/browser");
    if !dir.join("node_modules/playwright-core").exists() {
        // npm ci: exactly the locked version, from the npm registry.
        let st = Command::new("npm")
            .args(["ci", "--silent", "--no-audit", "--no-fund"])
            .current_dir(&dir)
            .status()
            .expect("npm is installed (Node.js)");
        assert!(st.success(), "npm ci in {} failed", dir.display());
    }
    dir
}

#[tokio::test]
async fn chromium_uploads_through_the_page_and_sees_processing() {
    let exe = chromium();
    let driver = driver_dir();
    let t = TestDb::new().await;
    let dir = temp_dir("browser");
    let s = StackProc::start(&dir, Some(&t.url), &[]);

    // A small but real WAV file (44-byte header + silence).
    let mut wav = Vec::new();
    let samples = 8000u32;
    wav.extend_from_slice(b"RIFF");
    wav.extend_from_slice(&(36 + samples * 2).to_le_bytes());
    wav.extend_from_slice(b"WAVEfmt ");
    wav.extend_from_slice(&16u32.to_le_bytes());
    wav.extend_from_slice(&1u16.to_le_bytes());
    wav.extend_from_slice(&1u16.to_le_bytes());
    wav.extend_from_slice(&8000u32.to_le_bytes());
    wav.extend_from_slice(&16000u32.to_le_bytes());
    wav.extend_from_slice(&2u16.to_le_bytes());
    wav.extend_from_slice(&16u16.to_le_bytes());
    wav.extend_from_slice(b"data");
    wav.extend_from_slice(&(samples * 2).to_le_bytes());
    wav.resize(wav.len() + (samples * 2) as usize, 0);
    let file = dir.join("Réunion équipe+notes (1).wav");
    std::fs::write(&file, &wav).unwrap();

    let out = tokio::task::spawn_blocking(move || {
        Command::new("node")
            .arg(driver.join("upload.mjs"))
            .arg(&s.api)
            .arg(&file)
            .arg(&exe)
            .output()
            .map(|o| (o, s))
    })
    .await
    .unwrap()
    .expect("node runs");
    let (out, s) = out;
    let log = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "browser upload failed:\n{log}");
    assert!(log.contains("status: processing"), "{log}");

    // The job the page created is processing, as the API says too.
    // (The page's default dev identity.)
    let jobs: serde_json::Value = client()
        .get(format!("{}/upload/jobs", s.api))
        .header("X-Tenant-ID", "00000000-0000-4000-8000-000000000001")
        .header("X-User-ID", "local-user")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let job = &jobs["jobs"][0];
    assert_eq!(job["status"], "processing", "{jobs}");
    assert_eq!(job["file_name"], "Réunion équipe+notes (1).wav");
    assert_eq!(job["file_size"], wav.len());
}
