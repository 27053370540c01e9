//! The demo's checks, run against the function behind its local front end: the calls a page and
//! a developer make over HTTP, then every sample event through the Invoke API (what
//! `cargo lambda invoke` sends). Each call is printed as the curl command that makes it, with
//! the session as `$JWT` and token values redacted: the output can be pasted, and leaks nothing.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::Path;

use reqwest::Method;
use serde_json::Value;

use crate::events::{self, Known, SAMPLE_ORIGIN};
use crate::returning_ai::{embed_token_for, widget_token_for};
use crate::session;

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

/// Which sessions the demo's site and function use.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// Session JWTs signed with the `sessionSecret` the site shares with the function.
    Jwt,
    /// An opaque server-side session cookie and the site's `/api/me`, which the function calls
    /// as `SESSION_USERINFO_URL` (Rails, Django, Express).
    OpaqueCookie,
}

impl Mode {
    pub fn parse(name: &str) -> Result<Self, String> {
        match name {
            "jwt" => Ok(Self::Jwt),
            "opaque-cookie" => Ok(Self::OpaqueCookie),
            other => Err(format!("--mode {other}: expected jwt or opaque-cookie")),
        }
    }
}

/// What the function must send Returning.AI for the demo user `email`: the email, and the
/// `userIdentifiers` that `user_identifiers` (its `USER_IDENTIFIERS`, `data-key=claim` pairs)
/// picks from that user's claims. Every site stand-in gives a user the same claims
/// (`session::demo_claims`), so they are known before any session exists.
pub fn known_for(email: &str, user_identifiers: &str) -> Result<Known, String> {
    let claims = session::demo_claims(email, 600);
    let mut identifiers = BTreeMap::new();
    for pair in user_identifiers.split(',') {
        let (key, claim) = pair
            .split_once('=')
            .ok_or_else(|| format!("USER_IDENTIFIERS: {pair}"))?;
        let value = match &claims[claim.trim()] {
            Value::String(s) => s.clone(),
            Value::Null => return Err(format!("the demo session has no claim {claim}")),
            other => other.to_string(),
        };
        identifiers.insert(key.trim().to_owned(), value);
    }
    Ok(Known {
        email: email.to_owned(),
        identifiers,
    })
}

/// The second user the opaque-cookie demo signs in, to show that the cookie picks the user.
pub const SECOND_EMAIL: &str = "ada.lovelace@example.com";
/// A session id of the right shape that the site never issued.
pub const FORGED_SESSION: &str = "5e55i0n-id-that-the-site-never-issued-000000000000000000000000";
/// The headers that the demo's callers send besides the cookie: none may reach `/api/me`.
const NOT_FORWARDED: [&str; 5] = [
    "email",
    "origin",
    "content-type",
    "x-forwarded-for",
    "authorization",
];

/// Where the opaque-cookie demo runs.
pub struct OpaqueDemo<'a> {
    /// The function URL front end.
    pub function_url: &'a str,
    /// The site (`rai-dev site --mode opaque-cookie`): `/login`, `/api/me`, `/api/*` proxied.
    pub site_url: &'a str,
    /// The session cookie's name (the function's `SESSION_COOKIE`).
    pub cookie: &'a str,
    /// The function's `USER_IDENTIFIERS`.
    pub user_identifiers: &'a str,
    /// The demo user's email.
    pub email: &'a str,
}

struct Answer {
    status: u16,
    headers: reqwest::header::HeaderMap,
    body: Value,
}

/// Counts and prints results, one `PASS`/`FAIL` line each.
struct Report<'o, W: Write> {
    out: &'o mut W,
    tally: Tally,
    /// Values printed under a name instead (`$SESSION`), longest first.
    hidden: Vec<(String, &'static str)>,
}

impl<W: Write> Report<'_, W> {
    fn line(&mut self, text: &str) {
        let mut text = text.to_owned();
        for (value, name) in &self.hidden {
            text = text.replace(value.as_str(), name);
        }
        let _ = writeln!(self.out, "{text}");
    }

    fn hide(&mut self, value: &str, name: &'static str) {
        if !value.is_empty() {
            self.hidden.push((value.to_owned(), name));
            self.hidden.sort_by_key(|(v, _)| std::cmp::Reverse(v.len()));
        }
    }

    fn record(&mut self, name: &str, result: Result<(), String>) {
        match result {
            Ok(()) => {
                self.tally.passed += 1;
                self.line(&format!("   PASS {name}"));
            }
            Err(why) => {
                self.tally.failed += 1;
                self.line(&format!("   FAIL {name}: {why}"));
            }
        }
    }

    /// One check: prints its name and the call, makes it, and records whether `expect` accepts
    /// the answer.
    #[allow(clippy::too_many_arguments)]
    async fn step(
        &mut self,
        name: &str,
        client: &reqwest::Client,
        method: Method,
        url: &str,
        headers: &[(&str, String)],
        body: Option<&str>,
        expect: impl FnOnce(&Answer) -> Result<(), String>,
    ) {
        self.line(&format!("== {name}"));
        let result = self
            .call(client, method, url, headers, body)
            .await
            .and_then(|a| expect(&a));
        self.record(name, result);
    }

    /// Prints the call as a curl command, makes it and prints the answer (tokens redacted).
    async fn call(
        &mut self,
        client: &reqwest::Client,
        method: Method,
        url: &str,
        headers: &[(&str, String)],
        body: Option<&str>,
    ) -> Result<Answer, String> {
        let mut line = format!("$ curl -i -X {method}");
        for (name, value) in headers {
            line.push_str(&format!(" -H '{name}: {value}'"));
        }
        if let Some(body) = body {
            line.push_str(&format!(" --data '{body}'"));
        }
        line.push_str(&format!(" {url}"));
        self.line(&line);
        let mut request = client.request(method, url);
        for (name, value) in headers {
            request = request.header(*name, value);
        }
        if let Some(body) = body {
            request = request.body(body.to_owned());
        }
        let response = request
            .send()
            .await
            .map_err(|e| format!("no answer: {e}"))?;
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let body: Value = response.json().await.unwrap_or(Value::Null);
        self.line(&format!("   HTTP {status} {}", redacted(&body)));
        Ok(Answer {
            status,
            headers,
            body,
        })
    }
}

/// `email` as a query value: everything but unreserved characters percent-encoded.
fn query_value(email: &str) -> String {
    email
        .bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
                char::from(b).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

fn header_is(h: &reqwest::header::HeaderMap, name: &str, wanted: impl Fn(&str) -> bool) -> bool {
    h.get(name)
        .and_then(|v| v.to_str().ok())
        .is_some_and(wanted)
}

/// Checks a Set-Cookie for the site's session: the cookie's value when it is an opaque id in a
/// host-wide, script-proof cookie.
fn session_cookie(answer: &Answer, cookie: &str, email: &str) -> Result<String, String> {
    if answer.status != 303 {
        return Err(format!(
            "expected a 303 sign-in, got HTTP {}",
            answer.status
        ));
    }
    let set_cookie = answer
        .headers
        .get("set-cookie")
        .and_then(|v| v.to_str().ok())
        .ok_or("no Set-Cookie")?;
    let (pair, attributes) = set_cookie.split_once(';').unwrap_or((set_cookie, ""));
    let value = pair
        .strip_prefix(cookie)
        .and_then(|rest| rest.strip_prefix('='))
        .ok_or_else(|| format!("Set-Cookie is not the {cookie} cookie"))?;
    if attributes.trim() != "Path=/; HttpOnly; SameSite=Lax" {
        return Err(format!("cookie attributes: {attributes}"));
    }
    // Opaque: long enough not to be guessed, not a JWT, and nothing of the user in it.
    if value.len() < 32 || value.contains('.') || value.contains(email) {
        return Err("the cookie's value is not an opaque session id".into());
    }
    Ok(value.to_owned())
}

/// What the site's `/api/me` has seen so far (`rai-dev site`'s record, names only).
async fn me_calls(client: &reqwest::Client, site: &str) -> Result<Vec<Value>, String> {
    let url = format!("{site}{}", crate::opaque_sessions::CALLS_PATH);
    let answer: Value = client
        .get(url)
        .send()
        .await
        .map_err(|e| format!("no answer: {e}"))?
        .json()
        .await
        .map_err(|e| format!("not JSON: {e}"))?;
    answer["calls"]
        .as_array()
        .cloned()
        .ok_or_else(|| "no calls array".into())
}

/// The opaque-cookie demo: signs users in on the site, which keeps their sessions server-side,
/// and proves that the function's answer follows the cookie (through `/api/me`) and nothing
/// else: on the function URL front end and on the site's own origin, as the page calls it.
pub async fn run_opaque_cookie(demo: &OpaqueDemo<'_>, out: &mut impl Write) -> Tally {
    let mut report = Report {
        out,
        tally: Tally::default(),
        hidden: Vec::new(),
    };
    let known = match known_for(demo.email, demo.user_identifiers) {
        Ok(known) => known,
        Err(e) => {
            report.record("the demo user", Err(e));
            return report.tally;
        }
    };
    let client = match reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
    {
        Ok(client) => client,
        Err(e) => {
            report.record("an HTTP client", Err(e.to_string()));
            return report.tally;
        }
    };
    let (site, function) = (demo.site_url, demo.function_url);
    let cookie = demo.cookie;
    let me_url = format!("{site}{}", crate::opaque_sessions::ME_PATH);

    report.line(&format!(
        "The site at {site}, which keeps its sessions server-side (as Rails, Django or Express do):"
    ));
    let Some(session) = sign_in(&mut report, &client, demo, demo.email, "$SESSION").await else {
        return report.tally;
    };
    report
        .step(
            "GET /api/me: the site's own /me answers who the cookie names",
            &client,
            Method::GET,
            &me_url,
            &[("cookie", format!("{cookie}={session}"))],
            None,
            |a| {
                let b = &a.body;
                (a.status == 200
                    && b["email"] == demo.email
                    && b["email_verified"] == true
                    && b["sub"] == session::demo_sub(demo.email))
                .then_some(())
                .ok_or_else(|| format!("unexpected answer: HTTP {}", a.status))
            },
        )
        .await;
    let seen_before = me_calls(&client, site).await.map_or(0, |c| c.len());

    report.line(&format!(
        "\nThe function URL front end at {function}, with SESSION_USERINFO_URL={me_url} and SESSION_COOKIE={cookie}:"
    ));
    let with_others = format!("theme=dark; {cookie}={session}; consent=all");
    let name = "POST /widget-auth with the session cookie among others; the body's and a header's email are ignored";
    report.line(&format!("== {name}"));
    let answer = report
        .call(
            &client,
            Method::POST,
            &format!("{function}/widget-auth"),
            &[
                ("cookie", with_others.clone()),
                ("content-type", "application/json".into()),
                ("email", "attacker@example.com".into()),
            ],
            Some(r#"{"email":"attacker@example.com"}"#),
        )
        .await;
    let result = answer.and_then(|a| {
        (a.status == 200
            && a.body["token"] == widget_token_for(demo.email)
            && a.body["expiresIn"] == 300)
            .then_some(())
            .ok_or_else(|| format!("not the token for {}: HTTP {}", demo.email, a.status))
    });
    report.record(name, result);

    report
        .step(
            "GET /embed-token with the session cookie from an allowed origin",
            &client,
            Method::GET,
            &format!("{function}/embed-token"),
            &[
                ("cookie", with_others.clone()),
                ("origin", SAMPLE_ORIGIN.into()),
            ],
            None,
            |a| {
                (a.status == 200
                    && a.body["embedToken"] == embed_token_for(&known.identifiers)
                    && header_is(&a.headers, "access-control-allow-origin", |v| {
                        v == SAMPLE_ORIGIN
                    }))
                .then_some(())
                .ok_or_else(|| {
                    format!(
                        "not the embed token for the user's identifiers: HTTP {}",
                        a.status
                    )
                })
            },
        )
        .await;

    let name = "the site's /api/me saw only the session cookie, none of the caller's other cookies or headers";
    report.line(&format!(
        "== {name} ({site}{})",
        crate::opaque_sessions::CALLS_PATH
    ));
    let result = me_calls(&client, site).await.and_then(|calls| {
        let new = calls.get(seen_before..).unwrap_or_default();
        if new.is_empty() {
            return Err("the function never called /api/me".into());
        }
        for call in new {
            forwarded_alone(call, cookie)?;
        }
        Ok(new.len())
    });
    if let Ok(count) = &result {
        report.line(&format!(
            "   {count} call(s) from the function, each with the cookie {cookie} alone"
        ));
    }
    report.record(name, result.map(|_| ()));

    report
        .step(
            "POST /widget-auth without the session cookie",
            &client,
            Method::POST,
            &format!("{function}/widget-auth"),
            &[("cookie", "theme=dark".into())],
            None,
            |a| {
                (a.status == 401
                    && a.body["error"] == "missing_session"
                    && header_is(&a.headers, "www-authenticate", |v| v.starts_with("Bearer")))
                .then_some(())
                .ok_or_else(|| format!("expected 401 missing_session, got HTTP {}", a.status))
            },
        )
        .await;

    report
        .step(
            "POST /widget-auth with a session id the site never issued",
            &client,
            Method::POST,
            &format!("{function}/widget-auth"),
            &[("cookie", format!("{cookie}={FORGED_SESSION}"))],
            None,
            |a| {
                (a.status == 401
                    && a.body["error"] == "invalid_session"
                    && header_is(&a.headers, "www-authenticate", |v| {
                        v.contains("invalid_token")
                    }))
                .then_some(())
                .ok_or_else(|| format!("expected 401 invalid_session, got HTTP {}", a.status))
            },
        )
        .await;

    if let Some(second) = sign_in(&mut report, &client, demo, SECOND_EMAIL, "$SESSION2").await {
        report
            .step(
                "POST /widget-auth with the second user's cookie: that user's token",
                &client,
                Method::POST,
                &format!("{function}/widget-auth"),
                &[("cookie", format!("{cookie}={second}"))],
                None,
                |a| {
                    (a.status == 200
                        && a.body["token"] == widget_token_for(SECOND_EMAIL)
                        && a.body["token"] != widget_token_for(demo.email))
                    .then_some(())
                    .ok_or_else(|| format!("not the token for {SECOND_EMAIL}: HTTP {}", a.status))
                },
            )
            .await;
    }

    report.line(&format!(
        "\nThe site's own origin {site}, as the page's auth-url=\"/api/widget-auth\" calls it (the browser sends the cookie and its Origin):"
    ));
    report
        .step(
            "POST /api/widget-auth on the site's origin with the session cookie",
            &client,
            Method::POST,
            &format!("{site}/api/widget-auth"),
            &[
                ("cookie", format!("{cookie}={session}")),
                ("origin", site.to_owned()),
            ],
            None,
            |a| {
                (a.status == 200 && a.body["token"] == widget_token_for(demo.email))
                    .then_some(())
                    .ok_or_else(|| format!("not the token for {}: HTTP {}", demo.email, a.status))
            },
        )
        .await;
    report
        .step(
            "POST /api/widget-auth on the site's origin, signed out",
            &client,
            Method::POST,
            &format!("{site}/api/widget-auth"),
            &[("origin", site.to_owned())],
            None,
            |a| {
                (a.status == 401 && a.body["error"] == "missing_session")
                    .then_some(())
                    .ok_or_else(|| format!("expected 401 missing_session, got HTTP {}", a.status))
            },
        )
        .await;
    report.tally
}

/// One `/api/me` call as the site recorded it: the session cookie alone, no header of the
/// caller's.
fn forwarded_alone(call: &Value, cookie: &str) -> Result<(), String> {
    if call["cookieNames"] != serde_json::json!([cookie]) {
        return Err(format!("/api/me got the cookies {}", call["cookieNames"]));
    }
    let names = call["headerNames"].as_array().cloned().unwrap_or_default();
    match names
        .iter()
        .filter_map(Value::as_str)
        .find(|n| NOT_FORWARDED.contains(n))
    {
        Some(leaked) => Err(format!("/api/me got the caller's {leaked} header")),
        None => Ok(()),
    }
}

/// `GET /login?email=...` on the site: the opaque session id of its cookie, from now on printed
/// as `shown_as`.
async fn sign_in<W: Write>(
    report: &mut Report<'_, W>,
    client: &reqwest::Client,
    demo: &OpaqueDemo<'_>,
    email: &str,
    shown_as: &'static str,
) -> Option<String> {
    let name = format!("GET /login signs {email} in: an opaque session id in an HttpOnly cookie");
    report.line(&format!("== {name}"));
    let url = format!("{}/login?email={}", demo.site_url, query_value(email));
    report.line(&format!("$ curl -i '{url}'"));
    let answer = match client.get(&url).send().await {
        Ok(r) => Answer {
            status: r.status().as_u16(),
            headers: r.headers().clone(),
            body: Value::Null,
        },
        Err(e) => {
            report.record(&name, Err(format!("no answer: {e}")));
            return None;
        }
    };
    match session_cookie(&answer, demo.cookie, email) {
        Ok(id) => {
            report.hide(&id, shown_as);
            report.line(&format!(
                "   HTTP 303 set-cookie: {}=<an opaque id, {} characters>; Path=/; HttpOnly; SameSite=Lax",
                demo.cookie,
                id.len()
            ));
            report.line(&format!(
                "$ {}=...   # the {} value of that Set-Cookie",
                shown_as.trim_start_matches('$'),
                demo.cookie
            ));
            report.record(&name, Ok(()));
            Some(id)
        }
        Err(why) => {
            report.line(&format!("   HTTP {}", answer.status));
            report.record(&name, Err(why));
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn knows_each_users_identifiers_before_any_session() {
        let k = known_for("ada@example.com", "data-email=email, data-user-id=sub").unwrap();
        assert_eq!(k.email, "ada@example.com");
        assert_eq!(
            k.identifiers,
            BTreeMap::from([
                ("data-email".to_owned(), "ada@example.com".to_owned()),
                (
                    "data-user-id".to_owned(),
                    session::demo_sub("ada@example.com")
                ),
            ])
        );
        assert!(known_for("ada@example.com", "data-x=nickname").is_err());
        assert!(known_for("ada@example.com", "data-x").is_err());
        assert_eq!(Mode::parse("opaque-cookie"), Ok(Mode::OpaqueCookie));
        assert_eq!(Mode::parse("jwt"), Ok(Mode::Jwt));
        assert!(Mode::parse("opaque").is_err());
    }

    fn sign_in_answer(set_cookie: &str) -> Answer {
        let mut headers = reqwest::header::HeaderMap::new();
        headers.insert("set-cookie", set_cookie.parse().unwrap());
        Answer {
            status: 303,
            headers,
            body: Value::Null,
        }
    }

    #[test]
    fn accepts_only_an_opaque_id_in_a_script_proof_cookie() {
        let id = "a".repeat(64);
        let ok = sign_in_answer(&format!("sid={id}; Path=/; HttpOnly; SameSite=Lax"));
        assert_eq!(
            session_cookie(&ok, "sid", "ada@example.com"),
            Ok(id.clone())
        );
        for bad in [
            format!("sid={id}; Path=/; SameSite=Lax"),
            format!("other={id}; Path=/; HttpOnly; SameSite=Lax"),
            "sid=eyJhbGciOiJIUzI1NiJ9.eyJlbWFpbCI6ImFkYSJ9.c2lnbmF0dXJlLW9mLTMyLWJ5dGVz; Path=/; HttpOnly; SameSite=Lax".into(),
            "sid=short; Path=/; HttpOnly; SameSite=Lax".into(),
            "sid=ada@example.com-0000000000000000000000000000; Path=/; HttpOnly; SameSite=Lax".into(),
        ] {
            assert!(
                session_cookie(&sign_in_answer(&bad), "sid", "ada@example.com").is_err(),
                "{bad}"
            );
        }
        let mut not_a_sign_in =
            sign_in_answer(&format!("sid={id}; Path=/; HttpOnly; SameSite=Lax"));
        not_a_sign_in.status = 200;
        assert!(session_cookie(&not_a_sign_in, "sid", "ada@example.com").is_err());
    }

    #[test]
    fn a_userinfo_call_passes_with_the_session_cookie_alone() {
        let call = |cookies: Value, headers: Value| json!({"cookieNames": cookies, "headerNames": headers, "status": 200});
        forwarded_alone(
            &call(json!(["sid"]), json!(["accept", "cookie", "host"])),
            "sid",
        )
        .unwrap();
        assert!(forwarded_alone(&call(json!(["theme", "sid"]), json!(["cookie"])), "sid").is_err());
        assert!(forwarded_alone(&call(json!([]), json!([])), "sid").is_err());
        assert!(
            forwarded_alone(&call(json!(["sid"]), json!(["cookie", "origin"])), "sid").is_err()
        );
        assert!(forwarded_alone(&call(json!(["sid"]), json!(["email"])), "sid").is_err());
        assert_eq!(query_value("a.b+c@example.com"), "a.b%2Bc%40example.com");
    }

    #[test]
    fn the_report_never_prints_a_hidden_value() {
        let mut out = Vec::new();
        let mut report = Report {
            out: &mut out,
            tally: Tally::default(),
            hidden: Vec::new(),
        };
        report.hide("0123456789abcdef", "$SESSION");
        report.hide("0123456789abcdef0123", "$SESSION2");
        report.line("cookie: sid=0123456789abcdef0123 and sid=0123456789abcdef");
        report.record("x", Ok(()));
        report.record("y", Err("why".into()));
        assert_eq!(
            report.tally,
            Tally {
                passed: 1,
                failed: 1
            }
        );
        let printed = String::from_utf8(out).unwrap();
        assert_eq!(
            printed,
            "cookie: sid=$SESSION2 and sid=$SESSION\n   PASS x\n   FAIL y: why\n"
        );
    }

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
