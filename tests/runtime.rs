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

// The EMF checker of the in-process tests: the binary's own stdout is held to the same schema.
#[path = "api/helpers/emf.rs"]
mod emf;

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
    stack_with(&[]).await
}

async fn stack_with(changes: &[(&str, &str)]) -> Stack {
    let rai = stand_in().await;
    let function = LocalFunction::start(
        &binary(),
        &env(&rai, changes),
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
            if let Err(why) = emf::check(&value) {
                panic!("a log line that breaks the EMF specification ({why}): {line}");
            }
            value
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn every_sample_event_through_the_runtime_api() {
    let stack = stack().await;
    let samples = events::load(&events_dir(), &stack.session, events::Deployment::Jwt)
        .expect("every sample is known");
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
    let samples = events::load(&events_dir(), "x", events::Deployment::Jwt)
        .expect("samples")
        .len();
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

#[tokio::test(flavor = "multi_thread")]
async fn the_authorizer_samples_through_an_authorizer_deployment() {
    let stack = stack_with(&[("SESSION_SECRET", ""), ("SESSION_FROM_AUTHORIZER", "true")]).await;
    let samples = events::load(&events_dir(), "unused", events::Deployment::Authorizer)
        .expect("every sample is known");
    assert!(samples.len() >= 4);
    for sample in &samples {
        let answer = stack
            .function
            .runtime
            .invoke(&sample.event, TIMEOUT)
            .await
            .unwrap_or_else(|e| panic!("{}: {e}", sample.file));
        events::check(&sample.file, &answer, &stack.known).unwrap_or_else(|e| panic!("{e}"));
    }
    // A session JWT in the request is not an authorizer's claims.
    let with_session = function_url_sample(&stack.session);
    let answer = stack
        .function
        .runtime
        .invoke(&with_session, TIMEOUT)
        .await
        .expect("an answer");
    assert_eq!(answer["statusCode"], 401, "{answer}");
    assert_eq!(events::body(&answer)["error"], "missing_session");
}

const FUNCTION_URL_SAMPLE: &str = "function-url-widget-auth.json";

/// The function URL sample, carrying `session`.
fn function_url_sample(session: &str) -> Value {
    events::load(&events_dir(), session, events::Deployment::Jwt)
        .expect("samples")
        .into_iter()
        .find(|s| s.file == FUNCTION_URL_SAMPLE)
        .expect("the function URL sample")
        .event
}

/// Events that made lambda_http panic or kill the process before the runtime's panic guard.
fn events_that_broke_lambda_http(session: &str) -> Vec<(&'static str, String)> {
    let v2 = |raw_path: String, raw_query: String| {
        serde_json::json!({
            "version": "2.0",
            "rawPath": raw_path,
            "rawQueryString": raw_query,
            "headers": { "authorization": format!("Bearer {session}") },
            "requestContext": { "http": { "method": "POST", "path": "/widget-auth" } },
            "isBase64Encoded": false
        })
    };
    let mut many_headers = serde_json::Map::new();
    for i in 0..40_000 {
        many_headers.insert(format!("X-Header-{i}"), serde_json::json!([format!("{i}")]));
    }
    let rest = serde_json::json!({
        "httpMethod": "POST",
        "path": "/widget-auth",
        "headers": { "Authorization": format!("Bearer {session}") },
        "multiValueHeaders": many_headers,
        "requestContext": { "stage": "Prod" }
    });
    let mut bad_base64 = v2("/widget-auth".into(), String::new());
    bad_base64["isBase64Encoded"] = true.into();
    bad_base64["body"] = "%%% not base64 %%%".into();
    let mut odd_host = v2("/widget-auth".into(), String::new());
    odd_host["headers"]["host"] = "a b".into();
    odd_host["headers"]["x-forwarded-proto"] = "gopher://x".into();
    vec![
        (
            "a 1 MB path",
            v2(format!("/{}", "a".repeat(1 << 20)), String::new()).to_string(),
        ),
        (
            "10,000 query parameters",
            v2("/widget-auth".into(), "a=1&".repeat(10_000)).to_string(),
        ),
        (
            "a raw quote in the query string",
            v2("/widget-auth".into(), "q=\"<x> y".into()).to_string(),
        ),
        ("an invalid base64 body", bad_base64.to_string()),
        ("an odd Host", odd_host.to_string()),
        ("40,000 REST headers", rest.to_string()),
    ]
}

#[tokio::test(flavor = "multi_thread")]
async fn no_event_breaks_the_process_and_the_next_request_is_served() {
    let stack = stack().await;
    let pid = stack.function.process.pid();
    // The events that broke lambda_http, then a payload that is not JSON (or UTF-8) at all, which
    // lambda_runtime failed as an invocation error: each gets a contract answer and its line.
    let mut hostile: Vec<(&str, Vec<u8>)> = events_that_broke_lambda_http(&stack.session)
        .into_iter()
        .map(|(what, event)| (what, event.into_bytes()))
        .collect();
    let not_json = "a payload that is neither JSON nor UTF-8";
    hostile.push((not_json, b"\x00 not json {\xff".to_vec()));
    let mut answered = 0;
    for (what, event) in hostile {
        let answer = stack
            .function
            .runtime
            .invoke_raw(bytes::Bytes::from(event), TIMEOUT)
            .await
            .unwrap_or_else(|e| panic!("{what}: {e}"));
        let answer: Value = serde_json::from_slice(&answer).expect("a JSON answer");
        let status = answer["statusCode"].as_u64().unwrap_or_default();
        assert!(
            matches!(status, 200 | 400),
            "{what}: a contract answer, got {answer}"
        );
        if status == 400 || what == not_json {
            assert_eq!(events::body(&answer)["error"], "bad_request", "{what}");
        }
        answered += 1;
    }

    // The same process serves the next request.
    let sample = function_url_sample(&stack.session);
    let answer = stack
        .function
        .runtime
        .invoke(&sample, TIMEOUT)
        .await
        .expect("served after the hostile events");
    events::check(FUNCTION_URL_SAMPLE, &answer, &stack.known).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(stack.function.process.pid(), pid, "the same process");

    let lines = stack
        .function
        .process
        .wait_for_stdout(answered + 1, Duration::from_secs(5))
        .await;
    let logged = check_logs(&stack, &lines);
    let requests = logged.iter().filter(|l| l.get("status").is_some()).count();
    assert_eq!(
        requests,
        answered + 1,
        "one line per answered event: {lines:?}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn sixteen_concurrent_invocations_through_eight_pollers() {
    let stack = stack_with(&[("AWS_LAMBDA_MAX_CONCURRENCY", "8")]).await;
    let sample = function_url_sample(&stack.session);
    // Returning.AI answers slowly, so the invocations overlap.
    stack.rai.delay_answers(Duration::from_millis(300));
    let started = std::time::Instant::now();
    let calls = (0..16).map(|_| stack.function.runtime.invoke(&sample, TIMEOUT));
    let answers = futures::future::join_all(calls).await;
    let elapsed = started.elapsed();
    for answer in answers {
        let answer = answer.expect("an answer");
        events::check(FUNCTION_URL_SAMPLE, &answer, &stack.known).unwrap_or_else(|e| panic!("{e}"));
    }
    // Sixteen calls of 300 ms each, eight at a time: about 600 ms, never the 4.8 s of one at a
    // time.
    assert!(elapsed < Duration::from_millis(2400), "{elapsed:?}");
    assert_eq!(stack.rai.calls(), 16);
    let lines = stack
        .function
        .process
        .wait_for_stdout(16, Duration::from_secs(5))
        .await;
    let logged = check_logs(&stack, &lines);
    let mut ids: Vec<&str> = logged
        .iter()
        .filter(|l| l.get("status").is_some())
        .filter_map(|l| l["requestId"].as_str())
        .collect();
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(ids.len(), 16, "each invocation its own line and request id");
}

/// The demo's opaque-cookie mode with the built binary: a site that keeps its sessions
/// server-side (`rai-dev site --mode opaque-cookie`), the function asking its `/api/me` who a
/// cookie names (`SESSION_USERINFO_URL`) with no `SESSION_SECRET` anywhere, and the checks of
/// `rai-dev check --mode opaque-cookie`.
#[tokio::test(flavor = "multi_thread")]
async fn an_opaque_cookie_site_through_its_me_endpoint() {
    use std::sync::Arc;

    use rai_devtools::demo::{OpaqueDemo, SECOND_EMAIL};
    use rai_devtools::net;
    use rai_devtools::opaque_sessions::{ME_PATH, OpaqueSessions};
    use rai_devtools::site::{Sessions, Site, SiteConfig};

    const IDENTIFIERS: &str = "data-email=email,data-user-id=sub";
    let rai = stand_in().await;
    // The site proxies /api/* to the function and the function calls the site's /api/me, so
    // one of them needs the other's address first: the function's front end gets a free port.
    let function_addr =
        std::net::SocketAddr::from(([127, 0, 0, 1], net::free_port().expect("a free port")));
    let store = Arc::new(OpaqueSessions::new());
    let site = Site::start(
        "127.0.0.1:0".parse().unwrap(),
        SiteConfig {
            api_prefix: "/api/".into(),
            api_origin: format!("http://{function_addr}").parse().unwrap(),
            static_dir: None,
            cookie_name: demo::COOKIE.into(),
            cookie_domain: None,
            sessions: Sessions::Opaque(store.clone()),
        },
    )
    .await
    .expect("the site starts");
    let site_url = site.url();
    let me_url = format!("{site_url}{ME_PATH}");
    let origins = format!("{SAMPLE_ORIGIN},{site_url}");
    let function = LocalFunction::start(
        &binary(),
        &env(
            &rai,
            &[
                ("SESSION_SECRET", ""),
                ("SESSION_USERINFO_URL", &me_url),
                ("USER_IDENTIFIERS", IDENTIFIERS),
                ("CORS_ALLOWED_ORIGINS", &origins),
            ],
        ),
        function_addr,
        TIMEOUT,
        Echo::Quiet,
    )
    .await
    .expect("the function starts without any session secret");
    let function_url = function.front.url();

    // The demo's checks, as `rai-dev check --mode opaque-cookie` runs them.
    let mut out = Vec::new();
    let tally = demo::run_opaque_cookie(
        &OpaqueDemo {
            function_url: &function_url,
            site_url: &site_url,
            cookie: demo::COOKIE,
            user_identifiers: IDENTIFIERS,
            email: EMAIL,
        },
        &mut out,
    )
    .await;
    let printed = String::from_utf8(out).expect("UTF-8");
    assert_eq!((tally.passed, tally.failed), (11, 0), "{printed}");
    assert!(printed.contains("$SESSION"), "{printed}");
    // The demo signed two users in, and printed neither session id.
    let demo_sessions = store.ids();
    assert_eq!(demo_sessions.len(), 2);
    for id in &demo_sessions {
        assert!(
            !printed.contains(id.as_str()),
            "the demo prints a session id:\n{printed}"
        );
    }

    // The same facts again, each asked directly, so this test does not rest on the demo's code
    // alone.
    let client = reqwest::Client::new();
    let session = store.sign_in(EMAIL).expect("a session");
    let other = store.sign_in(SECOND_EMAIL).expect("a session");
    let widget_auth = |cookie: Option<String>| {
        let mut request = client
            .post(format!("{function_url}/widget-auth"))
            .header("email", "attacker@example.com");
        if let Some(cookie) = cookie {
            request = request.header("cookie", cookie);
        }
        request.send()
    };
    let calls_before = store.calls().len();
    let r = widget_auth(Some(format!(
        "theme=dark; {}={session}; consent=all",
        demo::COOKIE
    )))
    .await
    .expect("an answer");
    assert_eq!(r.status(), 200);
    let body: Value = r.json().await.expect("JSON");
    assert_eq!(body["token"], returning_ai::widget_token_for(EMAIL));
    let r = widget_auth(Some(format!("{}={other}", demo::COOKIE)))
        .await
        .expect("an answer");
    let body: Value = r.json().await.expect("JSON");
    assert_eq!(body["token"], returning_ai::widget_token_for(SECOND_EMAIL));

    // The site's /api/me saw the session cookie alone: none of the others, no header of the
    // caller's.
    let calls = store.calls();
    let new = &calls[calls_before..];
    assert_eq!(new.len(), 2, "one userinfo call per new session: {new:?}");
    for call in new {
        assert_eq!(call.cookie_names, [demo::COOKIE], "{call:?}");
        assert_eq!(call.status, 200);
        for name in ["email", "x-forwarded-for", "origin"] {
            assert!(!call.header_names.iter().any(|n| n == name), "{call:?}");
        }
    }

    let r = widget_auth(Some("theme=dark".into()))
        .await
        .expect("an answer");
    assert_eq!(r.status(), 401);
    assert_eq!(
        r.json::<Value>().await.expect("JSON")["error"],
        "missing_session"
    );
    for unknown in [
        "0".repeat(64),
        session.chars().rev().collect::<String>(),
        "not-a-session-this-site-issued".to_owned(),
    ] {
        let r = widget_auth(Some(format!("{}={unknown}", demo::COOKIE)))
            .await
            .expect("an answer");
        assert_eq!(r.status(), 401);
        assert_eq!(
            r.json::<Value>().await.expect("JSON")["error"],
            "invalid_session"
        );
    }

    // The function's log: one JSON line per request, none with a session id, an email or a
    // token.
    let lines = function.process.wait_for_stdout(1, TIMEOUT).await;
    let mut forbidden = store.ids();
    forbidden.extend([
        EMAIL.to_owned(),
        SECOND_EMAIL.to_owned(),
        "attacker@example.com".to_owned(),
        returning_ai::widget_token_for(EMAIL),
        returning_ai::widget_token_for(SECOND_EMAIL),
        API_KEY.to_owned(),
        ACCESS_KEY.to_owned(),
    ]);
    for line in &lines {
        for secret in &forbidden {
            assert!(!line.contains(secret.as_str()), "a log line leaks: {line}");
        }
        let value: Value = serde_json::from_str(line).expect("a JSON line");
        assert!(value.is_object(), "{line}");
    }
    for token in [
        returning_ai::widget_token_for(EMAIL),
        returning_ai::widget_token_for(SECOND_EMAIL),
    ] {
        assert!(
            !printed.contains(&token),
            "the demo prints a token:\n{printed}"
        );
    }
    drop(site);
}
