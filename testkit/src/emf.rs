//! A structural check of CloudWatch Embedded Metric Format lines, for the
//! tests of whatever emits them (`upload_core::metrics`, both functions).
//!
//! What it checks, from the specification
//! (<https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/CloudWatch_Embedded_Metric_Format_Specification.html>)
//! and CloudWatch's limits:
//!
//! * the line is one JSON object, no newline inside, at most 256 KB;
//! * `_aws` is an object with `Timestamp`, a non-negative integer
//!   (milliseconds since the epoch), and `CloudWatchMetrics`, a non-empty
//!   array of directives;
//! * a directive has exactly `Namespace` (1 to 256 of `[A-Za-z0-9._#:/-]`),
//!   `Dimensions` (an array of dimension sets, each an array of at most 30
//!   distinct names) and `Metrics` (an array of at most 100 definitions);
//! * each dimension name is a root member whose value is a string of 1 to
//!   1024 characters, not blank;
//! * a definition has `Name`, naming a root member that is a number (or an
//!   array of 1 to 100 numbers), `Unit`, one of CloudWatch's unit names
//!   (required here, optional in the specification: every line the service
//!   writes has one), and optionally `StorageResolution` 1 or 60; nothing
//!   else.

use serde_json::{Map, Value};

/// CloudWatch's unit names.
pub const UNITS: &[&str] = &[
    "Seconds",
    "Microseconds",
    "Milliseconds",
    "Bytes",
    "Kilobytes",
    "Megabytes",
    "Gigabytes",
    "Terabytes",
    "Bits",
    "Kilobits",
    "Megabits",
    "Gigabits",
    "Terabits",
    "Percent",
    "Count",
    "Bytes/Second",
    "Kilobytes/Second",
    "Megabytes/Second",
    "Gigabytes/Second",
    "Terabytes/Second",
    "Bits/Second",
    "Kilobits/Second",
    "Megabits/Second",
    "Gigabits/Second",
    "Terabits/Second",
    "Count/Second",
    "None",
];

/// `Ok` when `line` is a valid EMF document; otherwise what is wrong.
pub fn validate_emf(line: &str) -> Result<(), String> {
    if line.contains('\n') {
        return Err("a newline inside the line".into());
    }
    if line.len() > 256 * 1024 {
        return Err(format!("{} bytes, over the 256 KB event limit", line.len()));
    }
    let v: Value = serde_json::from_str(line).map_err(|e| format!("not JSON: {e}"))?;
    let root = v.as_object().ok_or("not a JSON object")?;
    let aws = root
        .get("_aws")
        .and_then(Value::as_object)
        .ok_or("no `_aws` object")?;
    if !aws.get("Timestamp").is_some_and(Value::is_u64) {
        return Err("`_aws.Timestamp` is not a non-negative integer".into());
    }
    let directives = aws
        .get("CloudWatchMetrics")
        .and_then(Value::as_array)
        .ok_or("`_aws.CloudWatchMetrics` is not an array")?;
    if directives.is_empty() {
        return Err("`_aws.CloudWatchMetrics` is empty".into());
    }
    for (i, d) in directives.iter().enumerate() {
        directive(root, d).map_err(|e| format!("directive {i}: {e}"))?;
    }
    Ok(())
}

fn only_members(o: &Map<String, Value>, allowed: &[&str]) -> Result<(), String> {
    match o.keys().find(|k| !allowed.contains(&k.as_str())) {
        Some(k) => Err(format!("unexpected member `{k}`")),
        None => Ok(()),
    }
}

fn directive(root: &Map<String, Value>, d: &Value) -> Result<(), String> {
    let d = d.as_object().ok_or("not an object")?;
    only_members(d, &["Namespace", "Dimensions", "Metrics"])?;
    let ns = d
        .get("Namespace")
        .and_then(Value::as_str)
        .ok_or("no `Namespace` string")?;
    let ns_ok = (1..=256).contains(&ns.len())
        && ns
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"._#:/-".contains(&b));
    if !ns_ok {
        return Err(format!("invalid Namespace {ns:?}"));
    }
    let sets = d
        .get("Dimensions")
        .and_then(Value::as_array)
        .ok_or("no `Dimensions` array")?;
    for set in sets {
        dimension_set(root, set)?;
    }
    let metrics = d
        .get("Metrics")
        .and_then(Value::as_array)
        .ok_or("no `Metrics` array")?;
    if metrics.len() > 100 {
        return Err(format!("{} metrics, at most 100", metrics.len()));
    }
    metrics.iter().try_for_each(|m| definition(root, m))
}

fn dimension_set(root: &Map<String, Value>, set: &Value) -> Result<(), String> {
    let names = set.as_array().ok_or("a dimension set is not an array")?;
    if names.len() > 30 {
        return Err(format!("a dimension set of {}, at most 30", names.len()));
    }
    for (i, n) in names.iter().enumerate() {
        let n = n.as_str().ok_or("a dimension name is not a string")?;
        if names[..i].iter().any(|m| m.as_str() == Some(n)) {
            return Err(format!("dimension `{n}` twice in a set"));
        }
        let value = root
            .get(n)
            .ok_or_else(|| format!("dimension `{n}` names no root member"))?;
        let value = value
            .as_str()
            .ok_or_else(|| format!("dimension `{n}` is not a string"))?;
        if value.trim().is_empty() || value.chars().count() > 1024 {
            return Err(format!(
                "dimension `{n}` value {value:?} is blank or too long"
            ));
        }
    }
    Ok(())
}

fn definition(root: &Map<String, Value>, m: &Value) -> Result<(), String> {
    let m = m
        .as_object()
        .ok_or("a metric definition is not an object")?;
    only_members(m, &["Name", "Unit", "StorageResolution"])?;
    let name = m
        .get("Name")
        .and_then(Value::as_str)
        .filter(|n| !n.trim().is_empty())
        .ok_or("a metric definition without a `Name`")?;
    let value = root
        .get(name)
        .ok_or_else(|| format!("metric `{name}` names no root member"))?;
    let numeric = match value {
        Value::Number(_) => true,
        Value::Array(a) => (1..=100).contains(&a.len()) && a.iter().all(Value::is_number),
        _ => false,
    };
    if !numeric {
        return Err(format!("metric `{name}` is not a number: {value}"));
    }
    let unit = m
        .get("Unit")
        .and_then(Value::as_str)
        .ok_or_else(|| format!("metric `{name}` has no `Unit`"))?;
    if !UNITS.contains(&unit) {
        return Err(format!(
            "metric `{name}` has unit {unit:?}, not a CloudWatch unit"
        ));
    }
    match m.get("StorageResolution") {
        None => Ok(()),
        Some(r) if r.as_u64() == Some(1) || r.as_u64() == Some(60) => Ok(()),
        Some(r) => Err(format!("metric `{name}` has StorageResolution {r}")),
    }
}

#[cfg(test)]
mod tests {
    use super::validate_emf;
    use serde_json::{Value, json};

    fn good() -> Value {
        json!({
            "_aws": {"Timestamp": 1_764_000_000_000_u64, "CloudWatchMetrics": [{
                "Namespace": "UploadJobs",
                "Dimensions": [["FunctionName", "Route"]],
                "Metrics": [{"Name": "Requests", "Unit": "Count"},
                            {"Name": "Latency", "Unit": "Milliseconds"}],
            }]},
            "FunctionName": "upload-api", "Route": "/upload/init",
            "Requests": 1.0, "Latency": [1.5, 2],
        })
    }

    /// `good()` with the member at `pointer` replaced by `new` (added when
    /// missing), or removed when `new` is `None`; why it is refused.
    fn broken(pointer: &str, new: Option<Value>) -> String {
        let mut v = good();
        let (parent, key) = pointer.rsplit_once('/').unwrap();
        let parent = v.pointer_mut(parent).unwrap().as_object_mut().unwrap();
        match new {
            Some(new) => drop(parent.insert(key.to_owned(), new)),
            None => drop(parent.remove(key)),
        }
        validate_emf(&v.to_string()).expect_err("must be refused")
    }

    #[test]
    fn a_valid_line_passes() {
        validate_emf(&good().to_string()).unwrap();
    }

    #[test]
    fn broken_lines_are_refused_saying_why() {
        let d = "/_aws/CloudWatchMetrics/0";
        let too_many: Vec<String> = (0..31).map(|i| format!("D{i}")).collect();
        let cases = [
            ("/_aws".to_owned(), None, "_aws"),
            ("/_aws/Timestamp".into(), Some(json!("now")), "Timestamp"),
            ("/_aws/Timestamp".into(), Some(json!(1.5)), "Timestamp"),
            ("/_aws/Timestamp".into(), None, "Timestamp"),
            ("/_aws/CloudWatchMetrics".into(), Some(json!([])), "empty"),
            (format!("{d}/Namespace"), None, "no `Namespace`"),
            (format!("{d}/Namespace"), Some(json!("a b")), "Namespace"),
            (
                format!("{d}/Dimensions"),
                Some(json!(["FunctionName"])),
                "not an array",
            ),
            (
                format!("{d}/Dimensions"),
                Some(json!([too_many])),
                "at most 30",
            ),
            ("/Route".into(), None, "`Route` names no root member"),
            ("/Route".into(), Some(json!(3)), "`Route` is not a string"),
            ("/Route".into(), Some(json!(" ")), "blank"),
            (
                "/Requests".into(),
                Some(json!("1")),
                "`Requests` is not a number",
            ),
            ("/Requests".into(), None, "`Requests` names no root member"),
            (
                format!("{d}/Metrics/0/Unit"),
                Some(json!("Things")),
                "not a CloudWatch unit",
            ),
            (format!("{d}/Metrics/0/Unit"), None, "no `Unit`"),
            (
                format!("{d}/Metrics/0/Extra"),
                Some(json!(1)),
                "unexpected member `Extra`",
            ),
        ];
        for (pointer, new, why) in cases {
            let e = broken(&pointer, new);
            assert!(e.contains(why), "{pointer}: {e:?} does not say {why:?}");
        }
        assert!(validate_emf("{\"_aws\":1}\n{}").is_err(), "two lines");
        assert!(validate_emf("[1]").is_err(), "not an object");
        assert!(validate_emf("{} trailing").is_err(), "trailing data");
    }
}
