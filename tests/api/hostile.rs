//! Malformed events, headers, cookies and tokens, generated from a seed, through the real event
//! path: every one gets a contract answer, no panic, no secret in the answer or the log. The
//! seed is printed; `HOSTILE_SEED=<n>` replays a run, `HOSTILE_CASES` sets how many cases run
//! (within a fixed time budget either way).

use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::helpers::*;

const DEFAULT_CASES: u64 = 20_000;
const TIME_BUDGET: Duration = Duration::from_secs(20);

/// xorshift64*: small, fast, and the same sequence for the same seed on every machine.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn below(&mut self, n: usize) -> usize {
        usize::try_from(self.next() % u64::try_from(n).unwrap_or(1)).unwrap_or(0)
    }

    fn chance(&mut self, percent: u64) -> bool {
        self.next() % 100 < percent
    }

    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }

    /// A string from pieces chosen to break parsers: separators, quotes, controls, non-ASCII,
    /// long runs.
    fn text(&mut self, max_pieces: usize) -> String {
        const PIECES: &[&str] = &[
            "a", "Z", "0", "=", ";", ",", " ", "\t", "\r\n", "\"", "<", ">", "\\", "/", "..", "%",
            "%00", "%ff", "?", "#", "&", "@", "\u{0}", "\u{7f}", "\u{ff}", "\u{2028}", "\u{fffd}",
            "é", "日本", "🙂", "Bearer ", "bearer", "sid", "__Host-", "eyJ", ".", "-", "_", "{",
            "}", "[", "]",
        ];
        let n = self.below(max_pieces + 1);
        let mut s = String::new();
        for _ in 0..n {
            if self.chance(3) {
                s.push_str(&"x".repeat(self.below(20_000)));
            } else {
                s.push_str(PIECES[self.below(PIECES.len())]);
            }
        }
        s
    }

    fn json_of_another_type(&mut self) -> Value {
        match self.below(7) {
            0 => Value::Null,
            1 => json!(self.next() % 1000),
            2 => json!(-1.5e300),
            3 => json!(true),
            4 => json!([self.text(3), 1, null]),
            5 => json!({ "k": self.text(3) }),
            _ => json!(self.text(6)),
        }
    }
}

/// Sets `value` at `path`, making objects of whatever stands in the way (the generator breaks
/// events; it must not break itself on what it broke before).
fn set(event: &mut Value, path: &[&str], value: Value) {
    let mut at = event;
    for key in path {
        if !at.is_object() {
            *at = json!({});
        }
        at = match at {
            Value::Object(map) => map.entry((*key).to_owned()).or_insert(Value::Null),
            _ => return,
        };
    }
    *at = value;
}

/// A token that is almost a session: mutated, truncated, resigned with the wrong key or alg.
fn mangled_token(rng: &mut Rng, good: &str) -> String {
    let parts: Vec<&str> = good.split('.').collect();
    match rng.below(8) {
        0 => good[..rng.below(good.len())].to_owned(),
        1 => {
            let mut bytes = good.as_bytes().to_vec();
            let at = rng.below(bytes.len());
            bytes[at] = b"AZaz09-_.+/="[rng.below(12)];
            String::from_utf8_lossy(&bytes).into_owned()
        }
        2 => format!("{}.{}.{}", parts[1], parts[0], parts[2]),
        3 => format!(
            "{}.{}.",
            b64(br#"{"alg":"none"}"#),
            parts.get(1).copied().unwrap_or_default()
        ),
        4 => mint(
            jsonwebtoken::Algorithm::HS256,
            &jsonwebtoken::EncodingKey::from_secret(b"not the session secret"),
            None,
            &claims(),
        ),
        5 => mint_rs(&claims()),
        6 => mint_hs(&claims_with(
            json!({ "email": rng.text(5), "email_verified": rng.json_of_another_type() }),
        )),
        _ => rng.text(12),
    }
}

fn hostile_event(rng: &mut Rng, good: &str) -> String {
    let mut event = match rng.below(3) {
        0 => post("/widget-auth").bearer(good).event(),
        1 => {
            let text = std::fs::read_to_string(concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/events/rest-api-widget-auth.json"
            ))
            .expect("the REST event");
            serde_json::from_str(&text.replace("REPLACE_WITH_SESSION_JWT", good)).expect("JSON")
        }
        _ => Req::new("OPTIONS", "/embed-token")
            .header("origin", "https://app.example.com")
            .header("access-control-request-method", "POST")
            .event(),
    };
    let v2 = event.get("rawPath").is_some();
    for _ in 0..=rng.below(4) {
        match rng.below(10) {
            0 => {
                let name = rng.text(4);
                let value = rng.text(8);
                set(&mut event, &["headers", &name], value.into());
            }
            1 => {
                let header = if rng.chance(50) {
                    "authorization"
                } else {
                    "Authorization"
                };
                let token = mangled_token(rng, good);
                set(
                    &mut event,
                    &["headers", header],
                    format!("Bearer {token}").into(),
                );
                if !v2 {
                    set(
                        &mut event,
                        &["multiValueHeaders", header],
                        json!([format!("Bearer {token}"), format!("Bearer {}", rng.text(3))]),
                    );
                }
            }
            2 => {
                let cookies: Vec<String> = (0..rng.below(4))
                    .map(|_| format!("sid={}", mangled_token(rng, good)))
                    .collect();
                if v2 {
                    set(&mut event, &["cookies"], json!(cookies));
                } else {
                    set(&mut event, &["multiValueHeaders", "Cookie"], json!(cookies));
                }
            }
            3 => {
                let path = format!(
                    "/{}{}",
                    rng.text(6),
                    if rng.chance(50) { "/widget-auth" } else { "" }
                );
                set(
                    &mut event,
                    &[if v2 { "rawPath" } else { "path" }],
                    path.into(),
                );
            }
            4 => {
                let method =
                    rng.pick(&["GET", "POST", "PUT", "BREW", "", "G ET", "OPTIONS", "get"]);
                if v2 {
                    set(
                        &mut event,
                        &["requestContext", "http", "method"],
                        (*method).into(),
                    );
                } else {
                    set(&mut event, &["httpMethod"], (*method).into());
                }
            }
            5 => {
                set(&mut event, &["body"], rng.text(10).into());
                set(&mut event, &["isBase64Encoded"], rng.chance(50).into());
            }
            6 => {
                let query = rng.text(10);
                if v2 {
                    set(&mut event, &["rawQueryString"], query.into());
                } else {
                    set(
                        &mut event,
                        &["queryStringParameters"],
                        json!({ query: rng.text(3) }),
                    );
                }
            }
            7 => {
                // A member of another type than the front door sends.
                let keys: Vec<String> = event
                    .as_object()
                    .map(|o| o.keys().cloned().collect())
                    .unwrap_or_default();
                if !keys.is_empty() {
                    let key = rng.pick(&keys).clone();
                    set(&mut event, &[&key], rng.json_of_another_type());
                }
            }
            8 => {
                let keys: Vec<String> = event
                    .as_object()
                    .map(|o| o.keys().cloned().collect())
                    .unwrap_or_default();
                if let (Some(map), false) = (event.as_object_mut(), keys.is_empty()) {
                    map.remove(rng.pick(&keys));
                }
            }
            _ => {
                set(
                    &mut event,
                    &["requestContext", "authorizer"],
                    json!({ "claims": { "email": rng.text(4) } }),
                );
            }
        }
    }
    let text = event.to_string();
    // Now and then, not JSON at all, or cut short.
    match rng.below(40) {
        0 => {
            let mut cut = rng.below(text.len());
            while !text.is_char_boundary(cut) {
                cut -= 1;
            }
            text[..cut].to_owned()
        }
        1 => rng.text(10),
        _ => text,
    }
}

/// The contract's status for each error code.
fn status_of(code: &str) -> Option<u16> {
    Some(match code {
        "bad_request" => 400,
        "missing_session" | "invalid_session" => 401,
        "email_not_verified" | "origin_not_allowed" => 403,
        "not_found" => 404,
        "method_not_allowed" => 405,
        "upstream_rate_limited" => 429,
        "upstream_error" => 502,
        "not_configured" | "secret_unavailable" => 503,
        "upstream_timeout" => 504,
        _ => return None,
    })
}

#[tokio::test]
async fn hostile_events_get_contract_answers_and_never_a_panic() {
    let seed = std::env::var("HOSTILE_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| u64::try_from(now()).unwrap_or(1) | 1);
    let cases = std::env::var("HOSTILE_CASES")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(DEFAULT_CASES);
    println!("HOSTILE_SEED={seed}");
    let t = spawn_app()
        .vars(&[
            ("SESSION_COOKIE", "sid"),
            ("CORS_ALLOWED_ORIGINS", "https://app.example.com"),
        ])
        .await;
    let good = mint_hs(&claims());
    let mut rng = Rng(seed);
    let started = Instant::now();
    let mut ran = 0u64;
    let mut statuses = std::collections::BTreeMap::new();
    while ran < cases && started.elapsed() < TIME_BUDGET {
        let event = hostile_event(&mut rng, &good);
        let r = t.send_event(&event, &post("/").invocation()).await;
        *statuses.entry(r.status).or_insert(0) += 1;
        match r.status {
            200 => assert!(
                r.body
                    .get("token")
                    .or_else(|| r.body.get("embedToken"))
                    .is_some(),
                "seed {seed}: {}",
                r.body
            ),
            204 => assert_eq!(r.body, Value::Null, "seed {seed}"),
            status => assert_eq!(
                status_of(r.error()),
                Some(status),
                "seed {seed}, case {ran}: {}",
                r.body
            ),
        }
        if r.status != 200 {
            assert_eq!(
                secrets_in(&r.body.to_string()),
                Vec::<&str>::new(),
                "seed {seed}"
            );
        }
        ran += 1;
    }
    let lines = t.log_lines();
    assert_eq!(
        lines.len() as u64,
        ran,
        "seed {seed}: one log line per event"
    );
    assert_eq!(
        secrets_in(&t.logs.contents()),
        Vec::<&str>::new(),
        "seed {seed}"
    );
    println!(
        "{ran} hostile events in {:?}: statuses {statuses:?}",
        started.elapsed()
    );
    assert!(
        ran >= 100,
        "seed {seed}: only {ran} cases ran in the time budget"
    );
    assert!(
        statuses.len() >= 5,
        "seed {seed}: the generator reaches few answers: {statuses:?}"
    );
}
