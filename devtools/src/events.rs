//! The sample events in `events/` and what the function must answer to each, in one table that
//! the integration test and the demo share. A file without an entry here is an error, so a new
//! sample cannot go unchecked.

use std::collections::BTreeMap;
use std::path::Path;

use serde_json::Value;

use crate::returning_ai::{embed_token_for, widget_token_for};

/// Stands in the sample files for a session token.
pub const PLACEHOLDER: &str = "REPLACE_WITH_SESSION_JWT";
/// The page origin the samples carry; the function must allow it for them to pass.
pub const SAMPLE_ORIGIN: &str = "http://localhost:3000";

/// Who the session in the samples is, and how the function is configured, so that the expected
/// tokens are known in advance.
#[derive(Clone, Debug)]
pub struct Known {
    pub email: String,
    /// The `userIdentifiers` the function sends for that session (its `USER_IDENTIFIERS`).
    pub identifiers: BTreeMap<String, String>,
}

pub struct Sample {
    pub file: String,
    pub event: Value,
}

/// The deployment a sample is meant for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Deployment {
    /// Session JWTs from the request (the placeholder stands for one).
    Jwt,
    /// `SESSION_FROM_AUTHORIZER=true`: the claims an API Gateway authorizer put in the event,
    /// for `jane.doe@example.com`.
    Authorizer,
}

/// The email the authorizer samples' claims name.
pub const AUTHORIZER_EMAIL: &str = "jane.doe@example.com";

/// Every `*.json` in `dir` meant for `deployment`, sorted, with `PLACEHOLDER` replaced by
/// `session`. Fails on a file that has no expectation here.
pub fn load(dir: &Path, session: &str, deployment: Deployment) -> Result<Vec<Sample>, String> {
    let entries = std::fs::read_dir(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let mut files: Vec<String> = entries
        .filter_map(Result::ok)
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|name| name.ends_with(".json"))
        .collect();
    files.sort();
    if files.is_empty() {
        return Err(format!("no sample events in {}", dir.display()));
    }
    let mut samples = Vec::new();
    for file in files {
        match expected(&file) {
            None => {
                return Err(format!(
                    "events/{file} has no expectation: add one to devtools/src/events.rs"
                ));
            }
            Some((meant_for, _)) if meant_for != deployment => continue,
            Some(_) => {}
        }
        let text = std::fs::read_to_string(dir.join(&file)).map_err(|e| format!("{file}: {e}"))?;
        let event = serde_json::from_str(&text.replace(PLACEHOLDER, session))
            .map_err(|e| format!("{file}: {e}"))?;
        samples.push(Sample { file, event });
    }
    Ok(samples)
}

/// The one table of what each sample must get: the deployment it is meant for and its status.
pub fn expected(file: &str) -> Option<(Deployment, u16)> {
    Some(match file {
        "function-url-widget-auth.json"
        | "http-api-embed-token.json"
        | "rest-api-widget-auth.json" => (Deployment::Jwt, 200),
        "preflight.json" => (Deployment::Jwt, 204),
        "missing-session.json" => (Deployment::Jwt, 401),
        "http-api-jwt-authorizer.json"
        | "http-api-lambda-authorizer.json"
        | "rest-api-cognito-authorizer.json"
        | "rest-api-lambda-authorizer.json" => (Deployment::Authorizer, 200),
        _ => return None,
    })
}

/// A header of a Lambda proxy response, from `headers` or `multiValueHeaders` (REST API
/// responses use the latter), by case-insensitive name; several values are joined with ", ".
pub fn header(answer: &Value, name: &str) -> Option<String> {
    let find = |map: &str| {
        answer[map].as_object().and_then(|m| {
            m.iter()
                .find(|(k, _)| k.eq_ignore_ascii_case(name))
                .map(|(_, v)| v.clone())
        })
    };
    match find("headers") {
        Some(Value::String(s)) => Some(s),
        _ => match find("multiValueHeaders") {
            Some(Value::Array(values)) => Some(
                values
                    .iter()
                    .filter_map(Value::as_str)
                    .collect::<Vec<_>>()
                    .join(", "),
            ),
            _ => None,
        },
    }
}

/// The body of a Lambda proxy response as JSON (`null` when empty or not JSON).
pub fn body(answer: &Value) -> Value {
    answer["body"]
        .as_str()
        .and_then(|b| serde_json::from_str(b).ok())
        .unwrap_or(Value::Null)
}

/// Checks the function's answer to the sample `file`: its status, its JSON and no-store headers,
/// and for each sample what proves the right thing happened (the session's token, not the one
/// for the email the body claims; CORS for the sample origin).
pub fn check(file: &str, answer: &Value, known: &Known) -> Result<(), String> {
    let (_, expected) = expected(file).ok_or_else(|| format!("{file}: no expectation"))?;
    let status = answer["statusCode"].as_u64();
    if status != Some(u64::from(expected)) {
        return Err(format!(
            "{file}: expected status {expected}, got {:?}",
            answer["statusCode"]
        ));
    }
    let h = |name: &str| header(answer, name).unwrap_or_default();
    if h("content-type") != "application/json" || h("cache-control") != "no-store" {
        return Err(format!("{file}: not JSON with no-store: {answer}"));
    }
    let b = body(answer);
    let ok = match file {
        "function-url-widget-auth.json" => {
            b["token"] == widget_token_for(&known.email)
                && h("access-control-allow-origin") == SAMPLE_ORIGIN
                && h("access-control-allow-credentials") == "true"
                && h("access-control-expose-headers")
                    .to_ascii_lowercase()
                    .contains("retry-after")
        }
        "http-api-embed-token.json" => {
            b["embedToken"] == embed_token_for(&known.identifiers) && b["expiresIn"] == 900
        }
        "rest-api-widget-auth.json" => b["token"] == widget_token_for(&known.email),
        "preflight.json" => {
            let allowed = h("access-control-allow-headers").to_ascii_lowercase();
            h("access-control-allow-origin") == SAMPLE_ORIGIN
                && h("access-control-allow-methods").contains("POST")
                && allowed.contains("authorization")
                && allowed.contains("content-type")
        }
        "missing-session.json" => {
            b["error"] == "missing_session" && h("www-authenticate").starts_with("Bearer")
        }
        // The token names the authorizer's user, not the body's or a header's.
        "http-api-jwt-authorizer.json" | "rest-api-cognito-authorizer.json" => {
            b["token"] == widget_token_for(AUTHORIZER_EMAIL)
        }
        "http-api-lambda-authorizer.json" | "rest-api-lambda-authorizer.json" => {
            b["embedToken"].as_str().is_some_and(|t| !t.is_empty())
        }
        _ => false,
    };
    if ok {
        Ok(())
    } else {
        Err(format!("{file}: unexpected answer {answer}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn known() -> Known {
        Known {
            email: "ada@example.com".into(),
            identifiers: BTreeMap::from([("data-email".into(), "ada@example.com".into())]),
        }
    }

    fn answer(status: u16, headers: Value, body: Value) -> Value {
        json!({"statusCode": status, "headers": headers, "body": body.to_string()})
    }

    #[test]
    fn loads_every_sample_with_the_session_and_refuses_an_unknown_file() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../events");
        let samples = load(&dir, "the.session.jwt", Deployment::Jwt).unwrap();
        assert!(samples.len() >= 5);
        let authorizer = load(&dir, "unused", Deployment::Authorizer).unwrap();
        assert!(authorizer.len() >= 4);
        assert!(authorizer.iter().all(|s| s.file.contains("authorizer")));
        let text: String = samples.iter().map(|s| s.event.to_string()).collect();
        assert!(!text.contains(PLACEHOLDER));
        assert!(text.contains("the.session.jwt"));

        let scratch =
            std::env::temp_dir().join(format!("rai-devtools-events-{}", std::process::id()));
        std::fs::create_dir_all(&scratch).unwrap();
        std::fs::write(scratch.join("new-front-door.json"), "{}").unwrap();
        let error = load(&scratch, "x", Deployment::Jwt).err().unwrap();
        assert!(
            error.contains("new-front-door.json has no expectation"),
            "{error}"
        );
    }

    #[test]
    fn checks_tokens_statuses_and_headers() {
        let k = known();
        let json_headers = |extra: Value| {
            let mut h = json!({"content-type": "application/json", "cache-control": "no-store"});
            h.as_object_mut()
                .unwrap()
                .extend(extra.as_object().unwrap().clone());
            h
        };
        let good = answer(
            200,
            json_headers(json!({})),
            json!({"token": widget_token_for("ada@example.com")}),
        );
        check("rest-api-widget-auth.json", &good, &k).unwrap();
        // The token for the email a request body claims is a failure, not a pass.
        let wrong = answer(
            200,
            json_headers(json!({})),
            json!({"token": widget_token_for("attacker@example.com")}),
        );
        assert!(check("rest-api-widget-auth.json", &wrong, &k).is_err());
        assert!(
            check("missing-session.json", &good, &k).is_err(),
            "wrong status"
        );
        // REST responses carry their headers in multiValueHeaders.
        let rest = json!({
            "statusCode": 401,
            "multiValueHeaders": {"Content-Type": ["application/json"], "cache-control": ["no-store"], "www-authenticate": ["Bearer"]},
            "body": json!({"error": "missing_session"}).to_string(),
        });
        check("missing-session.json", &rest, &k).unwrap();
        let no_store_missing = answer(
            401,
            json!({"content-type": "application/json"}),
            json!({"error": "missing_session"}),
        );
        assert!(check("missing-session.json", &no_store_missing, &k).is_err());
        assert!(check("unknown.json", &good, &k).is_err());
    }
}
