//! Lines as the specification wants them (checked by the test kit's
//! validator), what is refused, and what an emission costs.

use super::*;
use upload_testkit::validate_emf;

fn parse(line: &str) -> Value {
    serde_json::from_str(line).unwrap()
}

#[test]
fn a_line_is_valid_emf_with_function_name_first() {
    let m = Metrics::new(Sink::Off, "upload-api");
    let line = m
        .render(
            &[("Route", "/upload/status/{job_id}"), ("StatusClass", "4xx")],
            &[
                ("Requests", 1.0, Unit::Count),
                ("InitLatency", 12.5, Unit::Milliseconds),
            ],
            1_764_000_000_123,
        )
        .unwrap()
        .unwrap();
    validate_emf(&line).unwrap();
    assert!(!line.contains('\n'));
    let v = parse(&line);
    assert_eq!(v["_aws"]["Timestamp"], 1_764_000_000_123_u64);
    let d = &v["_aws"]["CloudWatchMetrics"][0];
    assert_eq!(d["Namespace"], "UploadJobs");
    assert_eq!(
        d["Dimensions"],
        json!([["FunctionName", "Route", "StatusClass"]])
    );
    assert_eq!(
        d["Metrics"],
        json!([{"Name": "Requests", "Unit": "Count"},
               {"Name": "InitLatency", "Unit": "Milliseconds"}])
    );
    assert_eq!(v["FunctionName"], "upload-api");
    assert_eq!(v["Route"], "/upload/status/{job_id}");
    assert_eq!(v["StatusClass"], "4xx");
    assert_eq!(v["Requests"].as_f64(), Some(1.0));
    assert_eq!(v["InitLatency"].as_f64(), Some(12.5));
}

#[test]
fn emit_writes_one_valid_line_per_call_and_none_without_metrics() {
    let (sink, lines) = Sink::capture();
    let m = Metrics::new(sink, "upload-events");
    m.emit(&[], &[("Advanced", 3.0, Unit::Count)]);
    m.emit(
        &[("Code", "empty_object")],
        &[("Rejected", 1.0, Unit::Count)],
    );
    m.emit(&[("Code", "x")], &[]);
    let lines = lines.lock().unwrap().clone();
    assert_eq!(lines.len(), 2, "{lines:?}");
    for l in &lines {
        validate_emf(l).unwrap_or_else(|e| panic!("{e}: {l}"));
    }
    let first = parse(&lines[0]);
    assert_eq!(
        first["_aws"]["CloudWatchMetrics"][0]["Dimensions"],
        json!([["FunctionName"]])
    );
    let ts = first["_aws"]["Timestamp"].as_u64().unwrap();
    let now = now_ms();
    assert!(ts <= now && now - ts < 60_000, "{ts} vs {now}");
    assert_eq!(parse(&lines[1])["Code"], "empty_object");
}

#[test]
fn off_writes_nothing_and_clones_share_the_capture() {
    Metrics::off().emit(&[], &[("Requests", 1.0, Unit::Count)]);
    assert!(Metrics::off().is_off() && Metrics::default().is_off());
    let (sink, lines) = Sink::capture();
    let m = Metrics::new(sink, "f");
    m.clone().emit(&[], &[("Requests", 1.0, Unit::Count)]);
    assert_eq!(lines.lock().unwrap().len(), 1);
}

#[test]
fn invalid_lines_are_refused_not_written() {
    let m = Metrics::new(Sink::Off, "f");
    let r = |dims: &[(&str, &str)], values: &[(&str, f64, Unit)]| m.render(dims, values, 0);
    let one = [("Requests", 1.0, Unit::Count)];
    let many: Vec<(String, String)> = (0..30).map(|i| (format!("D{i}"), "v".into())).collect();
    let many: Vec<(&str, &str)> = many.iter().map(|(a, b)| (a.as_str(), b.as_str())).collect();
    assert_eq!(r(&many, &one), Err(EmfError::TooManyDimensions(31)));
    assert!(r(&many[..29], &one).unwrap().is_some(), "30 is allowed");
    let names: Vec<String> = (0..101).map(|i| format!("M{i}")).collect();
    let values: Vec<(&str, f64, Unit)> = names
        .iter()
        .map(|n| (n.as_str(), 1.0, Unit::Count))
        .collect();
    assert_eq!(r(&[], &values), Err(EmfError::TooManyMetrics(101)));
    let line = r(&[], &values[..100]).unwrap().unwrap();
    validate_emf(&line).unwrap();
    assert!(matches!(
        r(&[("", "v")], &one),
        Err(EmfError::InvalidName(_))
    ));
    assert!(matches!(
        r(&[("_aws", "v")], &one),
        Err(EmfError::InvalidName(_))
    ));
    assert!(matches!(
        r(&[], &[(" ", 1.0, Unit::Count)]),
        Err(EmfError::InvalidName(_))
    ));
    assert!(matches!(
        r(&[("Code", "")], &one),
        Err(EmfError::InvalidDimensionValue { .. })
    ));
    assert!(matches!(
        r(&[("Code", "é")], &one),
        Err(EmfError::InvalidDimensionValue { .. })
    ));
    assert!(matches!(
        r(&[], &[("X", f64::NAN, Unit::Count)]),
        Err(EmfError::NotFinite(_))
    ));
    assert_eq!(
        r(&[("FunctionName", "g")], &one),
        Err(EmfError::Duplicate("FunctionName".into()))
    );
    assert_eq!(
        r(&[("Requests", "g")], &one),
        Err(EmfError::Duplicate("Requests".into()))
    );
    let (sink, lines) = Sink::capture();
    Metrics::new(sink, "f").emit(&[("Code", "")], &one);
    assert!(
        lines.lock().unwrap().is_empty(),
        "an invalid line is dropped"
    );
}

#[test]
fn from_env_falls_back_to_the_default_name() {
    // The variable is unset in tests unless a Lambda runtime runs them.
    let m = Metrics::from_env("upload-api");
    let expected = std::env::var("AWS_LAMBDA_FUNCTION_NAME")
        .ok()
        .filter(|n| !n.trim().is_empty())
        .unwrap_or_else(|| "upload-api".into());
    assert_eq!(m.function_name(), expected);
    assert!(matches!(m.sink, Sink::Stdout));
}

/// What one emission costs (render + capture); print with `--nocapture`.
#[test]
fn emission_costs_microseconds() {
    let (sink, lines) = Sink::capture();
    let m = Metrics::new(sink, "upload-api");
    let n = 20_000;
    let started = std::time::Instant::now();
    for _ in 0..n {
        m.emit(
            &[("Route", "/upload/status/{job_id}"), ("StatusClass", "2xx")],
            &[("Requests", 1.0, Unit::Count)],
        );
    }
    let per_line = started.elapsed() / n;
    println!("metrics: {per_line:?} per emitted line (capture sink, {n} lines)");
    assert_eq!(lines.lock().unwrap().len(), n as usize);
    assert!(
        per_line < std::time::Duration::from_millis(1),
        "{per_line:?}"
    );
}

/// The same through the real stdout. Run with stdout sent elsewhere:
/// `cargo test -p upload-core --lib metrics -- --ignored --nocapture > /dev/null`
/// (the timing goes to stderr).
#[test]
#[ignore = "writes 20 000 lines to stdout"]
fn emission_cost_through_stdout() {
    let m = Metrics::new(Sink::Stdout, "upload-api");
    let n = 20_000;
    let started = std::time::Instant::now();
    for _ in 0..n {
        m.emit(
            &[("Route", "/upload/status/{job_id}"), ("StatusClass", "2xx")],
            &[("Requests", 1.0, Unit::Count)],
        );
    }
    eprintln!(
        "metrics: {:?} per line to stdout ({n} lines)",
        started.elapsed() / n
    );
}

#[test]
fn a_rolled_up_line_counts_under_function_name_alone_too() {
    let m = Metrics::new(Sink::Off, "upload-events");
    let one = [("Rejected", 1.0, Unit::Count)];
    let line = m
        .render_rolled_up(&[("Code", "SIZE_MISMATCH")], &one, 1)
        .unwrap()
        .unwrap();
    validate_emf(&line).unwrap();
    let v = parse(&line);
    assert_eq!(
        v["_aws"]["CloudWatchMetrics"][0]["Dimensions"],
        json!([["FunctionName"], ["FunctionName", "Code"]])
    );
    assert_eq!(v["Code"], "SIZE_MISMATCH");
    // Without extra dimensions there is nothing to roll up: one set.
    let line = m.render_rolled_up(&[], &one, 1).unwrap().unwrap();
    assert_eq!(
        parse(&line)["_aws"]["CloudWatchMetrics"][0]["Dimensions"],
        json!([["FunctionName"]])
    );
    let (sink, lines) = Sink::capture();
    Metrics::new(sink, "f").emit_rolled_up(&[("Code", "EMPTY_UPLOAD")], &one);
    assert_eq!(lines.lock().unwrap().len(), 1);
}
