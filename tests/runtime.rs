//! The built function binary, run as Lambda runs it: under the Runtime API stand-in of
//! rai-devtools, with the Returning.AI stand-in as its upstream and its configuration in the
//! environment. Every file in events/ goes through it (a new file fails here until
//! devtools/src/events.rs says what it must get), and a real HTTP request goes through the
//! function URL front end.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use rai_devtools::events::{self, Known, SAMPLE_ORIGIN};
use rai_devtools::function::Echo;
use rai_devtools::local::LocalFunction;
use rai_devtools::returning_ai::{self, Credentials, ReturningAi};
use rai_devtools::{demo, session};
use serde_json::Value;

const API_KEY: &str = "rai-runtime-test-api-key-0001";
const ACCESS_ID: &str = "rai-runtime-test-access-id";
const ACCESS_KEY: &str = "rai-runtime-test-access-key-0001";
const SESSION_SECRET: &str = "runtime-test-session-secret-of-32+-bytes";
const COMMUNITY: &str = "community-runtime";
const EMAIL: &str = "grace.hopper@example.com";
const TIMEOUT: Duration = Duration::from_secs(10);

struct Stack {
    rai: ReturningAi,
    function: LocalFunction,
    session: String,
    known: Known,
}

fn binary() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_rai-widget-auth"))
}

fn events_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("events")
}

fn env(rai: &ReturningAi, changes: &[(&str, &str)]) -> Vec<(String, String)> {
    let mut vars: Vec<(String, String)> = [
        ("RAI_API_KEY", API_KEY),
        ("RAI_ACCESS_ID", ACCESS_ID),
        ("RAI_ACCESS_KEY", ACCESS_KEY),
        ("SESSION_SECRET", SESSION_SECRET),
        ("RAI_COMMUNITY_ID", COMMUNITY),
        ("RAI_WIDGET_API_URL", &rai.url()),
        ("RAI_API_V2_URL", &rai.url()),
        ("SESSION_COOKIE", demo::COOKIE),
        ("CORS_ALLOWED_ORIGINS", SAMPLE_ORIGIN),
    ]
    .iter()
    .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
    .collect();
    for (k, v) in changes {
        vars.retain(|(name, _)| name != k);
        vars.push(((*k).to_owned(), (*v).to_owned()));
    }
    vars
}

async fn stand_in() -> ReturningAi {
    let credentials = Credentials {
        api_key: API_KEY.into(),
        access_id: ACCESS_ID.into(),
        access_key: ACCESS_KEY.into(),
        community: Some(COMMUNITY.into()),
    };
    ReturningAi::start("127.0.0.1:0".parse().unwrap(), credentials)
        .await
        .expect("the Returning.AI stand-in starts")
}

async fn stack() -> Stack {
    let rai = stand_in().await;
    let function = LocalFunction::start(
        &binary(),
        &env(&rai, &[]),
        "127.0.0.1:0".parse().unwrap(),
        TIMEOUT,
        Echo::Quiet,
    )
    .await
    .expect("the function starts");
    let claims = session::demo_claims(EMAIL, 600);
    let session = session::mint(SESSION_SECRET.as_bytes(), &claims).expect("a session");
    let known = Known {
        email: EMAIL.into(),
        // The function's default USER_IDENTIFIERS: data-email=email.
        identifiers: BTreeMap::from([("data-email".into(), EMAIL.into())]),
    };
    Stack {
        rai,
        function,
        session,
        known,
    }
}

/// What must never reach a log line: every credential, the session, the tokens the upstream
/// issued, and the emails (the session's and the one a request body claims).
fn secrets(stack: &Stack) -> Vec<String> {
    vec![
        API_KEY.into(),
        ACCESS_ID.into(),
        ACCESS_KEY.into(),
        SESSION_SECRET.into(),
        stack.session.clone(),
        EMAIL.into(),
        "attacker@example.com".into(),
        returning_ai::widget_token_for(EMAIL),
        returning_ai::refresh_token_for(EMAIL),
        returning_ai::embed_token_for(&stack.known.identifiers),
    ]
}

/// Every stdout line is one JSON object; none carries a secret. Returns the parsed lines.
fn check_logs(stack: &Stack, lines: &[String]) -> Vec<Value> {
    let forbidden = secrets(stack);
    lines
        .iter()
        .map(|line| {
            for secret in &forbidden {
                assert!(
                    !line.contains(secret.as_str()),
                    "a log line leaks a secret: {line}"
                );
            }
            let value: Value = serde_json::from_str(line)
                .unwrap_or_else(|e| panic!("a stdout line is not JSON ({e}): {line}"));
            assert!(value.is_object(), "{line}");
            value
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn every_sample_event_through_the_runtime_api() {
    let stack = stack().await;
    let samples = events::load(&events_dir(), &stack.session).expect("every sample is known");
    for sample in &samples {
        let answer = stack
            .function
            .runtime
            .invoke(&sample.event, TIMEOUT)
            .await
            .unwrap_or_else(|e| panic!("{}: {e}", sample.file));
        events::check(&sample.file, &answer, &stack.known).unwrap_or_else(|e| panic!("{e}"));
    }
    // One line per request, each naming its own request id.
    let lines = stack
        .function
        .process
        .wait_for_stdout(samples.len(), Duration::from_secs(5))
        .await;
    let logged = check_logs(&stack, &lines);
    let requests: Vec<&Value> = logged
        .iter()
        .filter(|l| l.get("status").is_some())
        .collect();
    assert_eq!(requests.len(), samples.len(), "{lines:?}");
    for line in &requests {
        assert!(
            line["requestId"].as_str().is_some_and(|id| !id.is_empty()),
            "{line}"
        );
    }
    // The three samples that carry a session reached Returning.AI, the others did not.
    assert_eq!(stack.rai.calls(), 3);
    assert!(stack.function.process.stderr_lines().is_empty());
}

#[tokio::test(flavor = "multi_thread")]
async fn the_function_url_front_end_end_to_end() {
    let stack = stack().await;
    let url = stack.function.front.url();

    // A real HTTP request in, the function's own response out: nothing added on the way.
    let r = reqwest::Client::new()
        .post(format!("{url}/api/widget-auth"))
        .header(
            "cookie",
            format!("theme=dark; {}={}", demo::COOKIE, stack.session),
        )
        .header("email", "attacker@example.com")
        .send()
        .await
        .expect("an answer");
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["content-type"], "application/json");
    assert_eq!(r.headers()["cache-control"], "no-store");
    assert!(
        r.headers().get("access-control-allow-origin").is_none(),
        "no Origin, no CORS"
    );
    let body: Value = r.json().await.expect("JSON");
    assert_eq!(body["token"], returning_ai::widget_token_for(EMAIL));
    assert_eq!(stack.rai.calls(), 1);

    // The demo's checks: the calls a page makes over HTTP, and every sample through the Invoke
    // API, as `rai-dev check` runs them.
    let mut out = Vec::new();
    let tally = demo::run(&url, &events_dir(), &stack.known, &stack.session, &mut out).await;
    let printed = String::from_utf8(out).expect("UTF-8");
    let samples = events::load(&events_dir(), "x").expect("samples").len();
    assert_eq!((tally.passed, tally.failed), (5 + samples, 0), "{printed}");
    for secret in secrets(&stack).iter().filter(|s| !s.contains("attacker")) {
        assert!(
            !printed.contains(secret.as_str()),
            "the demo prints a secret:\n{printed}"
        );
    }

    let lines = stack.function.process.stdout_lines();
    check_logs(&stack, &lines);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_configuration_error_is_an_init_error_with_one_log_line() {
    let rai = stand_in().await;
    let started = LocalFunction::start(
        &binary(),
        &env(&rai, &[("CORS_ALLOWED_ORIGINS", "*")]),
        "127.0.0.1:0".parse().unwrap(),
        TIMEOUT,
        Echo::Quiet,
    )
    .await;
    let Err(error) = started else {
        panic!("a '*' origin must stop the function at init");
    };
    assert!(error.contains("Runtime.ExitError"), "{error}");
    assert!(error.contains("CORS_ALLOWED_ORIGINS"), "{error}");
    assert_eq!(rai.calls(), 0);
}
