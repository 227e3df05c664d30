//! The real `upload-api` binary (main.rs wiring included) under the Lambda
//! Runtime API emulator, fed API Gateway v2 payloads.

use std::path::{Path, PathBuf};
use std::time::Duration;

use lambda_emulator::{Emulator, Outcome};
use serde_json::Value;
use upload_testkit::{TestDb, refused_addr};

const BIN: &str = env!("CARGO_BIN_EXE_upload-api");

fn fixture(name: &str) -> Value {
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../events")
        .join(name);
    serde_json::from_str(&std::fs::read_to_string(p).unwrap()).unwrap()
}

fn env(db: &str) -> Vec<(&'static str, String)> {
    vec![
        ("DATABASE_URL", db.to_owned()),
        ("UPLOAD_BUCKET", "eq-uploads-test".into()),
        ("AWS_ACCESS_KEY_ID", "AKIDEXAMPLE".into()),
        ("AWS_SECRET_ACCESS_KEY", "secret".into()),
        ("AWS_SESSION_TOKEN", "token".into()),
        (
            "INTERNAL_JWT_SECRET",
            "0123456789abcdef0123456789abcdef".into(),
        ),
        ("RUST_LOG", "warn".into()),
    ]
}

fn spawn(emu: &Emulator, env: &[(&'static str, String)]) -> std::process::Child {
    let e: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    emu.spawn(Path::new(BIN), &e).expect("spawn upload-api")
}

fn body(resp: &Value) -> Value {
    serde_json::from_str(resp["body"].as_str().expect("body string")).expect("JSON body")
}

#[tokio::test]
async fn the_binary_serves_api_gateway_payloads() {
    let t = TestDb::new().await;
    let emu = Emulator::start().await;
    let mut child = spawn(&emu, &env(&t.url));
    emu.wait_ready(Duration::from_secs(30)).await.unwrap();

    let Outcome::Response(r) = emu
        .invoke(&fixture("apigw-init.json"), Duration::from_secs(20))
        .await
        .unwrap()
    else {
        panic!("error outcome")
    };
    assert_eq!(r["statusCode"], 201, "{r}");
    let b = body(&r);
    assert!(
        b["upload_url"]
            .as_str()
            .unwrap()
            .contains("X-Amz-Signature="),
        "{b}"
    );
    assert!(
        b["upload_url"]
            .as_str()
            .unwrap()
            .contains("X-Amz-Security-Token="),
        "temporary credentials are used"
    );
    assert_eq!(b["signed_content_type"], "audio/mp4");

    let Outcome::Response(r) = emu
        .invoke(&fixture("apigw-jobs.json"), Duration::from_secs(20))
        .await
        .unwrap()
    else {
        panic!("error outcome")
    };
    assert_eq!(r["statusCode"], 200, "{r}");
    assert_eq!(body(&r)["jobs"].as_array().unwrap().len(), 1);

    let Outcome::Response(r) = emu
        .invoke(&fixture("apigw-status.json"), Duration::from_secs(20))
        .await
        .unwrap()
    else {
        panic!("error outcome")
    };
    assert_eq!(r["statusCode"], 404, "{r}");
    assert!(
        r["headers"]["content-type"]
            .as_str()
            .unwrap()
            .contains("problem+json")
    );
    child.kill().unwrap();
    let _ = child.wait();
}

#[tokio::test]
async fn logs_are_json_lines_without_tokens_signatures_or_passwords() {
    let t = TestDb::new().await;
    let mut url = url::Url::parse(&t.url).unwrap();
    url.set_password(Some("pw-secret-123")).unwrap(); // trust auth ignores it
    let emu = Emulator::start().await;
    let mut e = env(url.as_str());
    e.retain(|(k, _)| *k != "RUST_LOG");
    e.push(("RUST_LOG", "debug".into()));
    let ee: Vec<(&str, &str)> = e.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let mut child = emu
        .command(Path::new(BIN), &ee)
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    emu.wait_ready(Duration::from_secs(30)).await.unwrap();
    let Outcome::Response(r) = emu
        .invoke(&fixture("apigw-init.json"), Duration::from_secs(20))
        .await
        .unwrap()
    else {
        panic!("error outcome")
    };
    assert_eq!(r["statusCode"], 201, "{r}");
    let upload_url = body(&r)["upload_url"].as_str().unwrap().to_owned();
    let signature = upload_url
        .split("X-Amz-Signature=")
        .nth(1)
        .unwrap()
        .to_owned();
    child.kill().unwrap();
    let out = child.wait_with_output().unwrap();
    let logs = String::from_utf8_lossy(&out.stdout);
    let mut request_lines = 0;
    for line in logs.lines().filter(|l| !l.trim().is_empty()) {
        let v: Value =
            serde_json::from_str(line).unwrap_or_else(|_| panic!("not a JSON line: {line}"));
        if v["message"] == "request" {
            request_lines += 1;
            assert_eq!(v["route"], "/upload/init");
            assert_eq!(v["status"], 201);
            assert!(
                v["job_id"].is_string() && v["tenant_id"].is_string() && v["trace_id"].is_string()
            );
        }
    }
    assert_eq!(request_lines, 1, "{logs}");
    let token = fixture("apigw-init.json")["headers"]["authorization"]
        .as_str()
        .unwrap()
        .to_owned();
    for secret in [
        token.as_str(),
        &token[7..],
        &signature,
        "pw-secret-123",
        "0123456789abcdef0123456789abcdef",
    ] {
        assert!(!logs.contains(secret), "logs leak {secret:?}:\n{logs}");
    }
}

#[tokio::test]
async fn a_missing_setting_stops_init_with_one_line_naming_it() {
    let emu = Emulator::start().await;
    let mut e = env("postgres://postgres@127.0.0.1:1/x");
    e.retain(|(k, _)| *k != "UPLOAD_BUCKET");
    let ee: Vec<(&str, &str)> = e.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let out = std::process::Command::new(BIN)
        .env_clear()
        .envs(ee.iter().copied())
        .env("AWS_LAMBDA_RUNTIME_API", emu.addr.to_string())
        .env("AWS_REGION", "us-east-1")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stdout = String::from_utf8_lossy(&out.stdout);
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), 1, "{stdout}");
    let line: Value = serde_json::from_str(lines[0]).unwrap();
    assert_eq!(line["level"], "ERROR");
    assert_eq!(line["setting"], "UPLOAD_BUCKET");
}

#[tokio::test]
async fn an_unreachable_database_does_not_fail_init_and_answers_503() {
    let emu = Emulator::start().await;
    let mut e = env(&format!("postgres://postgres@{}/x", refused_addr()));
    e.push(("DB_CONNECT_TIMEOUT_MS", "300".into()));
    let mut child = spawn(&emu, &e);
    emu.wait_ready(Duration::from_secs(30)).await.unwrap();
    let Outcome::Response(r) = emu
        .invoke(&fixture("apigw-init.json"), Duration::from_secs(20))
        .await
        .unwrap()
    else {
        panic!("error outcome")
    };
    assert_eq!(r["statusCode"], 503, "{r}");
    assert!(r["headers"]["retry-after"].is_string(), "{r}");
    assert!(emu.init_error().is_none());
    child.kill().unwrap();
    let _ = child.wait();
}

#[tokio::test]
async fn the_binary_writes_emf_metrics_lines_to_stdout() {
    let t = TestDb::new().await;
    let emu = Emulator::start().await;
    let e = env(&t.url);
    let ee: Vec<(&str, &str)> = e.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let mut child = emu
        .command(Path::new(BIN), &ee)
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    emu.wait_ready(Duration::from_secs(30)).await.unwrap();
    for (fixture_name, status) in [("apigw-init.json", 201), ("apigw-status.json", 404)] {
        let Outcome::Response(r) = emu
            .invoke(&fixture(fixture_name), Duration::from_secs(20))
            .await
            .unwrap()
        else {
            panic!("error outcome")
        };
        assert_eq!(r["statusCode"], status, "{r}");
    }
    child.kill().unwrap();
    let out = child.wait_with_output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let mut requests = Vec::new();
    let mut init_latency = 0;
    for line in stdout.lines().filter(|l| l.contains("\"_aws\"")) {
        upload_testkit::validate_emf(line).unwrap_or_else(|e| panic!("{e}: {line}"));
        let v: Value = serde_json::from_str(line).unwrap();
        // The emulator names the function after the binary, as Lambda does
        // with AWS_LAMBDA_FUNCTION_NAME.
        assert_eq!(v["FunctionName"], "upload-api", "{line}");
        if v["Requests"].is_number() {
            requests.push(format!("{} {}", v["Route"], v["StatusClass"]));
        } else if v["InitLatency"].is_number() {
            init_latency += 1;
        }
    }
    assert_eq!(
        requests,
        [
            r#""/upload/init" "2xx""#,
            r#""/upload/status/{job_id}" "4xx""#
        ],
        "{stdout}"
    );
    assert_eq!(init_latency, 1, "{stdout}");
}
