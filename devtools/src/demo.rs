//! The demo's checks, run against the function behind its local front end: the calls a page and
//! a developer make over HTTP, then every sample event through the Invoke API (what
//! `cargo lambda invoke` sends). Each call is printed as the curl command that makes it, with
//! the session as `$JWT` and token values redacted: the output can be pasted, and leaks nothing.

use std::io::Write;
use std::path::Path;

use reqwest::Method;
use serde_json::Value;

use crate::events::{self, Known, SAMPLE_ORIGIN};
use crate::returning_ai::{embed_token_for, widget_token_for};

pub const COOKIE: &str = "rai_session";
pub const FOREIGN_ORIGIN: &str = "https://evil.example";

#[derive(Default, Debug, PartialEq, Eq)]
pub struct Tally {
    pub passed: usize,
    pub failed: usize,
}

struct Call {
    name: &'static str,
    method: Method,
    path: &'static str,
    headers: Vec<(&'static str, String)>,
    body: Option<&'static str>,
}

type Expect = fn(u16, &reqwest::header::HeaderMap, &Value, &Known) -> bool;

fn calls(session: &str) -> Vec<(Call, Expect)> {
    let bearer = format!("Bearer {session}");
    vec![
        (
            Call {
                name: "POST /widget-auth with a bearer session; the body's email is ignored",
                method: Method::POST,
                path: "/widget-auth",
                headers: vec![
                    ("authorization", bearer.clone()),
                    ("content-type", "application/json".into()),
                ],
                body: Some(r#"{"email":"attacker@example.com"}"#),
            },
            |s, _, b, k| {
                s == 200 && b["token"] == widget_token_for(&k.email) && b["expiresIn"] == 300
            },
        ),
        (
            Call {
                name: "GET /embed-token with the session cookie from an allowed origin",
                method: Method::GET,
                path: "/embed-token",
                headers: vec![
                    ("cookie", format!("{COOKIE}={session}")),
                    ("origin", SAMPLE_ORIGIN.into()),
                ],
                body: None,
            },
            |s, h, b, k| {
                s == 200
                    && b["embedToken"] == embed_token_for(&k.identifiers)
                    && h.get("access-control-allow-origin")
                        .is_some_and(|v| v == SAMPLE_ORIGIN)
                    && h.get("access-control-expose-headers")
                        .is_some_and(|v| v == "Retry-After, WWW-Authenticate")
            },
        ),
        (
            Call {
                name: "OPTIONS /widget-auth: a preflight asking for the page's own headers",
                method: Method::OPTIONS,
                path: "/widget-auth",
                headers: vec![
                    ("origin", SAMPLE_ORIGIN.into()),
                    ("access-control-request-method", "POST".into()),
                    (
                        "access-control-request-headers",
                        "content-type,email,x-rai-widget".into(),
                    ),
                ],
                body: None,
            },
            |s, h, _, _| {
                let allowed = h
                    .get("access-control-allow-headers")
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or("");
                s == 204
                    && ["authorization", "content-type", "email", "x-rai-widget"]
                        .iter()
                        .all(|n| allowed.contains(n))
            },
        ),
        (
            Call {
                name: "POST /widget-auth without a session",
                method: Method::POST,
                path: "/widget-auth",
                headers: vec![],
                body: None,
            },
            |s, h, b, _| {
                s == 401
                    && b["error"] == "missing_session"
                    && h.get("www-authenticate")
                        .is_some_and(|v| v.as_bytes().starts_with(b"Bearer"))
            },
        ),
        (
            Call {
                name: "POST /widget-auth from a foreign origin",
                method: Method::POST,
                path: "/widget-auth",
                headers: vec![("authorization", bearer), ("origin", FOREIGN_ORIGIN.into())],
                body: None,
            },
            |s, h, b, _| {
                s == 403
                    && b["error"] == "origin_not_allowed"
                    && h.get("access-control-allow-origin").is_none()
            },
        ),
    ]
}

/// Token values replaced, so that printing a body shows its shape only.
pub fn redacted(body: &Value) -> Value {
    let mut body = body.clone();
    if let Some(map) = body.as_object_mut() {
        for key in ["token", "refreshToken", "embedToken"] {
            if let Some(v) = map.get_mut(key) {
                *v = Value::String("<redacted>".into());
            }
        }
    }
    body
}

fn curl(url: &str, call: &Call, session: &str) -> String {
    let mut line = format!("curl -i -X {}", call.method);
    for (name, value) in &call.headers {
        line.push_str(&format!(" -H '{name}: {}'", value.replace(session, "$JWT")));
    }
    if let Some(body) = call.body {
        line.push_str(&format!(" --data '{body}'"));
    }
    line.push_str(&format!(" {url}{}", call.path));
    line
}

/// Runs every check against the front end at `url`, printing to `out`.
pub async fn run(
    url: &str,
    events_dir: &Path,
    known: &Known,
    session: &str,
    out: &mut impl Write,
) -> Tally {
    let mut tally = Tally::default();
    let client = reqwest::Client::new();
    let mut record = |out: &mut dyn Write, name: &str, ok: Result<(), String>| match ok {
        Ok(()) => {
            tally.passed += 1;
            let _ = writeln!(out, "   PASS {name}");
        }
        Err(why) => {
            tally.failed += 1;
            let _ = writeln!(out, "   FAIL {name}: {why}");
        }
    };
    let _ = writeln!(out, "The function URL front end at {url}:");
    for (call, expect) in calls(session) {
        let _ = writeln!(out, "== {}\n$ {}", call.name, curl(url, &call, session));
        let mut request = client.request(call.method.clone(), format!("{url}{}", call.path));
        for (name, value) in &call.headers {
            request = request.header(*name, value);
        }
        if let Some(body) = call.body {
            request = request.body(body);
        }
        let result = match request.send().await {
            Ok(r) => {
                let status = r.status().as_u16();
                let headers = r.headers().clone();
                let body: Value = r.json().await.unwrap_or(Value::Null);
                let _ = writeln!(out, "   HTTP {status} {}", redacted(&body));
                if expect(status, &headers, &body, known) {
                    Ok(())
                } else {
                    Err(format!("unexpected answer: HTTP {status}"))
                }
            }
            Err(e) => Err(format!("no answer: {e}")),
        };
        record(out, call.name, result);
    }

    let _ = writeln!(
        out,
        "\nEvery sample event in {}, through the Lambda Invoke API:",
        events_dir.display()
    );
    let samples = match events::load(events_dir, session, events::Deployment::Jwt) {
        Ok(samples) => samples,
        Err(e) => {
            record(out, "events/", Err(e));
            return tally;
        }
    };
    let invoke = format!("{url}/2015-03-31/functions/rai-widget-auth/invocations");
    for sample in samples {
        let _ = writeln!(out, "== events/{}", sample.file);
        let answer = match client
            .post(&invoke)
            .body(sample.event.to_string())
            .send()
            .await
        {
            Ok(r) => r.json::<Value>().await.map_err(|e| e.to_string()),
            Err(e) => Err(e.to_string()),
        };
        let result = answer.and_then(|answer| {
            let _ = writeln!(
                out,
                "   statusCode {} {}",
                answer["statusCode"],
                redacted(&events::body(&answer))
            );
            events::check(&sample.file, &answer, known)
        });
        record(out, &format!("events/{}", sample.file), result);
    }
    tally
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn prints_calls_without_the_session_or_tokens() {
        let session = "eyJ.secret.session";
        for (call, _) in calls(session) {
            let line = curl("http://127.0.0.1:1", &call, session);
            assert!(!line.contains(session), "{line}");
            assert!(line.starts_with("curl -i -X "), "{line}");
        }
        let body = redacted(&json!({"token": "t", "refreshToken": "r", "expiresIn": 300}));
        assert_eq!(
            body,
            json!({"token": "<redacted>", "refreshToken": "<redacted>", "expiresIn": 300})
        );
    }
}
