//! What template.yaml grants the functions, read from the template itself:
//! the behaviour the local stack imitates depends on it (S3 answers HEAD of
//! a missing key with 404 only when the caller may list the bucket). Also
//! the hand-off to the worker (bus, permission, rule, queue policy) and the
//! dashboard and alarms of the functions' UploadJobs metrics.

use serde_yaml_ng::Value;

mod template_kit;

use template_kit::*;

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
        // The list grants are the only ones on the bucket itself (the
        // reaper's ListMultipartUploads besides), and nothing anywhere is
        // granted on `*`.
        let on_bucket: &[&str] = if role == "EventsRole" {
            &["s3:ListBucket", "s3:ListBucketMultipartUploads"]
        } else {
            &["s3:ListBucket"]
        };
        for (a, r) in &g {
            assert_ne!(*r, "*", "{role} grants {a} on *");
            if *r == bucket {
                assert!(on_bucket.contains(a), "{role} grants {a} on the bucket");
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
    for h in [
        "content-type",
        "x-amz-checksum-sha256",
        "if-none-match",
        "x-amz-mp-object-size",
    ] {
        assert!(
            allowed.iter().any(|a| a == h),
            "{h} not allowed: {allowed:?}"
        );
    }
    let exposed = put_rule["ExposedHeaders"].as_sequence().unwrap();
    assert!(exposed.iter().any(|h| h.as_str() == Some("ETag")));
}

// ------------------------------------------------- the hand-off to the worker

const HANDOFF_BUS_ARN: &str =
    "arn:${AWS::Partition}:events:${AWS::Region}:${AWS::AccountId}:event-bus/${HandoffEventBus}";

#[test]
fn the_events_function_gets_the_handoff_bus_from_its_parameter() {
    let t = template();
    let param = &t["Parameters"]["HandoffEventBus"];
    assert_eq!(param["Type"].as_str(), Some("String"));
    assert_eq!(param["Default"].as_str(), Some("default"));
    let env =
        &resource(&t, "EventsFunction", "AWS::Serverless::Function")["Environment"]["Variables"];
    let bus = &env["HANDOFF_EVENT_BUS"];
    assert!(
        is_ref(bus, "HandoffEventBus"),
        "HANDOFF_EVENT_BUS is {bus:?}"
    );
}

#[test]
fn put_events_is_granted_on_the_handoff_bus_only() {
    let t = template();
    let g = grants(&t, "EventsRole");
    assert!(
        g.contains(&("events:PutEvents", HANDOFF_BUS_ARN)),
        "EventsRole lacks events:PutEvents on the hand-off bus: {g:?}"
    );
    for role in ["ApiRole", "EventsRole"] {
        for (a, r) in grants(&t, role) {
            if a.starts_with("events:") {
                assert_eq!(a, "events:PutEvents", "{role} grants {a}");
                assert_eq!(r, HANDOFF_BUS_ARN, "{role} grants {a} on {r}");
            }
        }
    }
}

#[test]
fn the_handoff_rule_sends_upload_received_to_the_worker_queue() {
    let t = template();
    let rule = resource(&t, "HandoffRule", "AWS::Events::Rule");
    assert!(is_ref(&rule["EventBusName"], "HandoffEventBus"));
    assert_eq!(rule["State"].as_str(), Some("ENABLED"));
    let pattern = rule["EventPattern"].as_mapping().expect("an event pattern");
    assert_eq!(pattern.len(), 2, "pattern: {pattern:?}");
    let list = |key: &str| {
        pattern[key]
            .as_sequence()
            .map(|l| l.iter().map(text).collect())
    };
    assert_eq!(list("source"), Some(vec![Some("upload-jobs")]));
    assert_eq!(list("detail-type"), Some(vec![Some("Upload Received")]));

    let targets = rule["Targets"].as_sequence().expect("targets");
    assert_eq!(targets.len(), 1);
    assert!(is_get_att(&targets[0]["Arn"], "WorkerQueue.Arn"));
    // Events EventBridge cannot deliver go to the worker's dead-letter queue.
    let dlq = &targets[0]["DeadLetterConfig"]["Arn"];
    assert!(is_get_att(dlq, "WorkerDeadLetterQueue.Arn"));

    for name in ["WorkerQueue", "WorkerDeadLetterQueue"] {
        let q = resource(&t, name, "AWS::SQS::Queue");
        let sse = q["SqsManagedSseEnabled"].as_bool() == Some(true);
        assert!(
            sse || !q["KmsMasterKeyId"].is_null(),
            "{name} is not encrypted"
        );
    }
    let redrive = &resource(&t, "WorkerQueue", "AWS::SQS::Queue")["RedrivePolicy"];
    let dlq = &redrive["deadLetterTargetArn"];
    assert!(is_get_att(dlq, "WorkerDeadLetterQueue.Arn"));
    assert!(redrive["maxReceiveCount"].as_i64().is_some_and(|n| n >= 1));

    let output = |name: &str| &t["Outputs"][name]["Value"];
    assert!(is_ref(output("WorkerQueueUrl"), "WorkerQueue"));
    assert!(is_get_att(output("WorkerQueueArn"), "WorkerQueue.Arn"));
    let dlq_arn = output("WorkerDeadLetterQueueArn");
    assert!(is_get_att(dlq_arn, "WorkerDeadLetterQueue.Arn"));
}

#[test]
fn only_the_handoff_rule_may_send_to_the_worker_queues() {
    let t = template();
    let policy = resource(&t, "WorkerQueuePolicy", "AWS::SQS::QueuePolicy");
    let queues = policy["Queues"].as_sequence().expect("queues");
    for name in ["WorkerQueue", "WorkerDeadLetterQueue"] {
        assert!(queues.iter().any(|q| is_ref(q, name)), "{name} not covered");
    }
    let statements = policy["PolicyDocument"]["Statement"].as_sequence().unwrap();
    assert!(!statements.is_empty());
    for stmt in statements {
        assert_eq!(stmt["Effect"].as_str(), Some("Allow"));
        let service = stmt["Principal"]["Service"].as_str();
        assert_eq!(service, Some("events.amazonaws.com"));
        assert_eq!(actions(stmt), ["sqs:SendMessage"]);
        let conditions = stmt["Condition"].as_mapping().expect("a condition");
        assert_eq!(conditions.len(), 1, "{conditions:?}");
        let source = &stmt["Condition"]["ArnEquals"]["aws:SourceArn"];
        assert!(is_get_att(source, "HandoffRule.Arn"), "{source:?}");
    }
}

// ------------------------------------------------- metrics

/// What the events function emits with dimension FunctionName alone.
const EVENTS_METRICS: &str = "Advanced Duplicate Rejected Replaced UnknownKey HandoffsPublished \
    HandoffFailures ReaperClaimed Recovered Expired TimedOut HeadErrors";

/// `${...}` of a `!Sub` replaced as CloudFormation would: the two functions
/// by marker names, anything else by `x`. Every name must be a parameter,
/// a resource (`Name` or `Name.Attribute`) or a pseudo parameter.
fn substitute(t: &Value, body: &str) -> String {
    let mut out = String::new();
    let mut rest = body;
    while let Some(start) = rest.find("${") {
        out.push_str(&rest[..start]);
        let end = rest[start..].find('}').expect("closed ${") + start;
        let name = &rest[start + 2..end];
        let base = name.split('.').next().unwrap();
        assert!(
            name.starts_with("AWS::")
                || !t["Parameters"][base].is_null()
                || !t["Resources"][base].is_null(),
            "${{{name}}} names nothing in the template"
        );
        out.push_str(match name {
            "EventsFunction" => "EVENTS_FN",
            "ApiFunction" => "API_FN",
            _ => "x",
        });
        rest = &rest[end + 1..];
    }
    out.push_str(rest);
    out
}

/// `Key="value"` inside a metric search expression.
fn search_term<'a>(expr: &'a str, key: &str) -> Option<&'a str> {
    let at = expr.find(&format!("{key}=\""))? + key.len() + 2;
    Some(&expr[at..at + expr[at..].find('"')?])
}

/// A SEARCH expression as the cells of a metric row: its namespace, its
/// `MetricName`, then each dimension it names with its value.
fn search_cells(expr: &str) -> Vec<String> {
    let ns = expr
        .split_once('{')
        .and_then(|(_, r)| r.split([',', '}']).next());
    let metric = search_term(expr, "MetricName");
    let mut cells = vec![
        ns.unwrap_or_default().into(),
        metric.unwrap_or_default().into(),
    ];
    for d in ["FunctionName", "Route", "StatusClass", "Code"] {
        if let Some(v) = search_term(expr, d) {
            cells.extend([d.to_string(), v.to_string()]);
        }
    }
    cells
}

/// Every metric the dashboard's widgets show, as `[namespace, metric,
/// dimension, value, ...]`: metric rows (`"."` repeats the cell above) and
/// SEARCH expressions.
fn dashboard_metrics(body: &serde_json::Value) -> Vec<Vec<String>> {
    let mut out = Vec::new();
    for w in body["widgets"].as_array().expect("widgets") {
        let mut previous: Vec<String> = Vec::new();
        for row in w["properties"]["metrics"].as_array().into_iter().flatten() {
            let row = row.as_array().expect("a metric row is an array");
            let cells: Vec<String> = match row.iter().find_map(|e| e["expression"].as_str()) {
                Some(expr) => search_cells(expr),
                None => (row.iter().filter_map(|c| c.as_str()).enumerate())
                    .map(|(i, c)| match (c, previous.get(i)) {
                        (".", Some(p)) => p.clone(),
                        _ => c.to_string(),
                    })
                    .collect(),
            };
            let even = cells.len() >= 2 && cells.len().is_multiple_of(2);
            assert!(even, "metric row {row:?}");
            previous.clone_from(&cells);
            out.push(cells);
        }
    }
    out
}

#[test]
fn the_dashboard_is_valid_json_and_shows_every_metric() {
    let t = template();
    let props = resource(&t, "Dashboard", "AWS::CloudWatch::Dashboard");
    let raw = tagged(&props["DashboardBody"], "Sub")
        .and_then(Value::as_str)
        .expect("DashboardBody is a !Sub string");
    let json = substitute(&t, raw);
    let body: serde_json::Value = serde_json::from_str(&json)
        .unwrap_or_else(|e| panic!("DashboardBody is not JSON after substitution: {e}\n{json}"));
    let shown = dashboard_metrics(&body);

    // "FUNCTION Metric Dimension=value ...": shown with those dimensions.
    let has = |spec: &str| {
        let mut words = spec.split_whitespace();
        let function = format!("FunctionName={}", words.next().unwrap());
        let metric = words.next().unwrap();
        shown.iter().any(|c| {
            let dim = |kv: &str| c[2..].chunks(2).any(|d| format!("{}={}", d[0], d[1]) == kv);
            c[0] == "UploadJobs" && c[1] == metric && dim(&function) && words.clone().all(dim)
        })
    };
    let mut want: Vec<String> = EVENTS_METRICS
        .split_whitespace()
        .map(|m| format!("EVENTS_FN {m}"))
        .collect();
    let codes = ["EMPTY_UPLOAD", "FILE_TOO_LARGE", "SIZE_MISMATCH"];
    want.extend(codes.map(|c| format!("EVENTS_FN Rejected Code={c}")));
    let classes = ["2xx", "4xx", "5xx"];
    want.extend(classes.map(|c| format!("API_FN Requests StatusClass={c}")));
    want.push("API_FN InitLatency".into());
    for spec in &want {
        assert!(has(spec), "the dashboard lacks {spec}");
    }
    // Init latency as p50 and p99.
    for stat in ["\"p50\"", "\"p99\""] {
        assert!(json.contains(stat), "no {stat} latency");
    }
}

#[test]
fn head_errors_and_handoff_failures_raise_alarms() {
    let t = template();
    let existing = &resource(&t, "EventsErrorsAlarm", "AWS::CloudWatch::Alarm")["AlarmActions"];
    for (alarm, metric) in [
        ("ReaperHeadErrorsAlarm", "HeadErrors"),
        ("HandoffFailuresAlarm", "HandoffFailures"),
    ] {
        let a = resource(&t, alarm, "AWS::CloudWatch::Alarm");
        for (key, value) in [
            ("Namespace", "UploadJobs"),
            ("MetricName", metric),
            ("Statistic", "Sum"),
            ("ComparisonOperator", "GreaterThanThreshold"),
            ("TreatMissingData", "notBreaching"),
        ] {
            assert_eq!(a[key].as_str(), Some(value), "{alarm} {key}");
        }
        for (key, value) in [("Period", 300), ("EvaluationPeriods", 1), ("Threshold", 0)] {
            assert_eq!(a[key].as_i64(), Some(value), "{alarm} {key}");
        }
        let dims = a["Dimensions"].as_sequence().expect("dimensions");
        assert_eq!(dims.len(), 1, "{alarm}: {dims:?}");
        assert_eq!(dims[0]["Name"].as_str(), Some("FunctionName"));
        assert!(is_ref(&dims[0]["Value"], "EventsFunction"), "{alarm}");
        let same = &a["AlarmActions"] == existing;
        assert!(same, "{alarm} notifies unlike the other alarms");
    }
}
