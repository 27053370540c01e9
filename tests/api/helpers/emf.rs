//! Every log line the tests produce is checked here: JSON, and, when it carries metrics, a valid
//! CloudWatch Embedded Metric Format document (docs/emf.schema.json plus the references a schema
//! cannot express), with no credential or email in a metric or a dimension.

use std::sync::OnceLock;

use serde_json::Value;

fn schema() -> &'static jsonschema::Validator {
    static SCHEMA: OnceLock<jsonschema::Validator> = OnceLock::new();
    SCHEMA.get_or_init(|| {
        let text = include_str!("../../../docs/emf.schema.json");
        let schema: Value = serde_json::from_str(text).expect("the EMF schema is JSON");
        jsonschema::validator_for(&schema).expect("a valid JSON schema")
    })
}

/// The request lines and background failures must carry metrics; other lines (init, runtime)
/// need not.
pub fn must_carry_metrics(line: &Value) -> bool {
    line.get("status").is_some()
        || matches!(
            line.get("event").and_then(Value::as_str),
            Some("secret_read_failed" | "jwks_fetch_failed" | "userinfo_fetch_failed")
        )
}

/// Checks one log line; `Err` says what is wrong.
pub fn check(line: &Value) -> Result<(), String> {
    if line.get("_aws").is_none() {
        return if must_carry_metrics(line) {
            Err("a request or failure line without metrics".into())
        } else {
            Ok(())
        };
    }
    let errors: Vec<String> = schema().iter_errors(line).map(|e| e.to_string()).collect();
    if !errors.is_empty() {
        return Err(errors.join("; "));
    }
    for directive in line["_aws"]["CloudWatchMetrics"]
        .as_array()
        .into_iter()
        .flatten()
    {
        for key in directive["Dimensions"]
            .as_array()
            .into_iter()
            .flatten()
            .flat_map(|set| set.as_array().into_iter().flatten())
        {
            let key = key.as_str().unwrap_or_default();
            match line.get(key).and_then(Value::as_str) {
                Some(value) if !value.is_empty() && value.len() <= 1024 => {
                    if value.contains('@') || value.contains("eyJ") {
                        return Err(format!(
                            "dimension {key} holds an email or a token: {value}"
                        ));
                    }
                }
                _ => {
                    return Err(format!(
                        "dimension {key} is not a string member of the root"
                    ));
                }
            }
        }
        for metric in directive["Metrics"].as_array().into_iter().flatten() {
            let name = metric["Name"].as_str().unwrap_or_default();
            let numeric = match line.get(name) {
                Some(Value::Number(_)) => true,
                Some(Value::Array(values)) => {
                    values.len() <= 100 && values.iter().all(Value::is_number)
                }
                _ => false,
            };
            if !numeric {
                return Err(format!("metric {name} is not a numeric member of the root"));
            }
        }
    }
    Ok(())
}

#[test]
fn the_checker_refuses_what_the_specification_refuses() {
    let good = serde_json::json!({
        "_aws": { "Timestamp": 1, "CloudWatchMetrics": [{
            "Namespace": "RaiWidgetAuth",
            "Dimensions": [["FunctionName", "Route"]],
            "Metrics": [{ "Name": "Latency", "Unit": "Milliseconds" }]
        }]},
        "FunctionName": "f", "Route": "widget-auth", "Latency": 3
    });
    assert_eq!(check(&good), Ok(()));
    let broken = |change: &dyn Fn(&mut Value)| {
        let mut line = good.clone();
        change(&mut line);
        check(&line)
    };
    assert!(
        broken(&|l| l["Latency"] = "3".into()).is_err(),
        "a metric as text"
    );
    assert!(
        broken(&|l| l["Route"] = 3.into()).is_err(),
        "a dimension as a number"
    );
    assert!(
        broken(&|l| {
            l.as_object_mut().map(|m| m.remove("FunctionName"));
        })
        .is_err()
    );
    assert!(
        broken(&|l| l["_aws"]["CloudWatchMetrics"][0]["Metrics"][0]["Unit"] = "ms".into()).is_err()
    );
    assert!(broken(&|l| l["_aws"]["CloudWatchMetrics"][0]["Namespace"] = " ".into()).is_err());
    assert!(
        broken(&|l| {
            l["_aws"].as_object_mut().map(|m| m.remove("Timestamp"));
        })
        .is_err()
    );
    assert!(
        broken(&|l| l["Route"] = "jane@example.com".into()).is_err(),
        "an email as a dimension"
    );
    assert!(
        check(&serde_json::json!({ "status": 200 })).is_err(),
        "a request line without metrics"
    );
    assert_eq!(
        check(&serde_json::json!({ "event": "init_failed" })),
        Ok(())
    );
}
