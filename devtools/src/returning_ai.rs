//! A stand-in for the two Returning.AI endpoints the function calls, deterministic so that a
//! test or the demo knows each token in advance, and counting calls so that a test can prove
//! that a refused request never reached it.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use hyper::body::Incoming;
use hyper::header::{HeaderValue, RETRY_AFTER};
use hyper::{Method, Request, Response, StatusCode};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::net::{self, Body, Server};

pub const EMBED_PATH: &str = "/v2/api/widget-access-keys/token";
/// A session with this email (or an access-key identifier with this value) gets 429 with
/// `Retry-After: RETRY_AFTER_SECONDS`, so a page can show that it reads the header.
pub const RATE_LIMITED_EMAIL: &str = "rate-limited@example.com";
pub const RETRY_AFTER_SECONDS: u64 = 7;

/// The credentials the stand-in accepts.
#[derive(Clone, Debug)]
pub struct Credentials {
    pub api_key: String,
    pub access_id: String,
    pub access_key: String,
    /// When set, sign-ins for another community get 404.
    pub community: Option<String>,
}

/// The sign-in token for `email`: names a hash of the email, never the email.
pub fn widget_token_for(email: &str) -> String {
    format!("demo-widget-token-for-{}", short_hash(email.as_bytes()))
}

pub fn refresh_token_for(email: &str) -> String {
    format!("demo-refresh-token-for-{}", short_hash(email.as_bytes()))
}

/// The embed token for these `userIdentifiers` (order does not matter).
pub fn embed_token_for(identifiers: &BTreeMap<String, String>) -> String {
    let canonical = serde_json::to_string(identifiers).unwrap_or_default();
    format!("demo-embed-token-{}", short_hash(canonical.as_bytes()))
}

fn short_hash(bytes: &[u8]) -> String {
    let digest = Sha256::digest(bytes);
    digest.iter().take(6).map(|b| format!("{b:02x}")).collect()
}

#[derive(Default)]
struct Calls {
    signin: AtomicU64,
    embed: AtomicU64,
    /// How long each token answer waits, in milliseconds (a slow upstream).
    delay_ms: AtomicU64,
}

pub struct ReturningAi {
    server: Server,
    calls: Arc<Calls>,
}

impl ReturningAi {
    pub async fn start(addr: SocketAddr, credentials: Credentials) -> std::io::Result<Self> {
        let calls = Arc::new(Calls::default());
        let (c, shared) = (Arc::new(credentials), calls.clone());
        let server = net::serve(addr, move |request, _| {
            route(c.clone(), shared.clone(), request)
        })
        .await?;
        Ok(Self { server, calls })
    }

    /// The base URL, for both `RAI_WIDGET_API_URL` and `RAI_API_V2_URL`.
    pub fn url(&self) -> String {
        self.server.url()
    }

    /// From now on, each token answer comes `delay` late, so that calls overlap.
    pub fn delay_answers(&self, delay: std::time::Duration) {
        let ms = u64::try_from(delay.as_millis()).unwrap_or(u64::MAX);
        self.calls.delay_ms.store(ms, Ordering::SeqCst);
    }

    /// Calls to either endpoint so far, refused ones included.
    pub fn calls(&self) -> u64 {
        self.calls.signin.load(Ordering::SeqCst) + self.calls.embed.load(Ordering::SeqCst)
    }
}

async fn route(
    c: Arc<Credentials>,
    calls: Arc<Calls>,
    request: Request<Incoming>,
) -> Response<Body> {
    let path = request.uri().path().to_owned();
    let segments: Vec<&str> = path.trim_matches('/').split('/').collect();
    let delay = calls.delay_ms.load(Ordering::SeqCst);
    if delay > 0 && request.method() == Method::POST {
        tokio::time::sleep(std::time::Duration::from_millis(delay)).await;
    }
    match (request.method(), segments.as_slice()) {
        (&Method::POST, ["widget", community, "signin"]) => {
            calls.signin.fetch_add(1, Ordering::SeqCst);
            signin(&c, community, &request)
        }
        (&Method::POST, _) if path == EMBED_PATH => {
            calls.embed.fetch_add(1, Ordering::SeqCst);
            match net::read_body(request.into_body()).await {
                Ok(body) => embed(&c, &body),
                Err(e) => net::text(StatusCode::BAD_REQUEST, e),
            }
        }
        (&Method::GET, ["__calls"]) => {
            let (s, e) = (
                calls.signin.load(Ordering::SeqCst),
                calls.embed.load(Ordering::SeqCst),
            );
            net::json(
                StatusCode::OK,
                &json!({"signin": s, "embed": e, "total": s + e}),
            )
        }
        (&Method::GET, ["healthz"]) => net::json(StatusCode::OK, &json!({"ok": true})),
        _ => error(StatusCode::NOT_FOUND, "not_found"),
    }
}

fn signin(c: &Credentials, community: &str, request: &Request<Incoming>) -> Response<Body> {
    if c.community
        .as_deref()
        .is_some_and(|expected| expected != community)
    {
        return error(StatusCode::NOT_FOUND, "unknown_community");
    }
    let header = |name: &str| request.headers().get(name).and_then(|v| v.to_str().ok());
    if !same(header("returningai-api-key"), &c.api_key) {
        return error(StatusCode::UNAUTHORIZED, "unauthorized");
    }
    let Some(email) = header("email").filter(|e| e.contains('@')) else {
        return error(StatusCode::BAD_REQUEST, "email_required");
    };
    if email == RATE_LIMITED_EMAIL {
        return rate_limited();
    }
    net::json(
        StatusCode::OK,
        &json!({"token": widget_token_for(email), "refreshToken": refresh_token_for(email), "expiresIn": 300}),
    )
}

fn embed(c: &Credentials, body: &[u8]) -> Response<Body> {
    let Ok(request) = serde_json::from_slice::<Value>(body) else {
        return error(StatusCode::BAD_REQUEST, "not_json");
    };
    if !same(request["accessId"].as_str(), &c.access_id)
        || !same(request["accessKey"].as_str(), &c.access_key)
    {
        return error(StatusCode::UNAUTHORIZED, "unauthorized");
    }
    let Some(given) = request["userIdentifiers"]
        .as_object()
        .filter(|m| !m.is_empty())
    else {
        return error(StatusCode::BAD_REQUEST, "user_identifiers_required");
    };
    let mut identifiers = BTreeMap::new();
    for (key, value) in given {
        let Some(value) = value.as_str() else {
            return error(StatusCode::BAD_REQUEST, "identifiers_must_be_strings");
        };
        identifiers.insert(key.clone(), value.to_owned());
    }
    if identifiers.values().any(|v| v == RATE_LIMITED_EMAIL) {
        return rate_limited();
    }
    net::json(
        StatusCode::OK,
        &json!({"success": true, "data": {"embedToken": embed_token_for(&identifiers), "expiresIn": 900}}),
    )
}

fn rate_limited() -> Response<Body> {
    let mut r = error(StatusCode::TOO_MANY_REQUESTS, "rate_limited");
    r.headers_mut()
        .insert(RETRY_AFTER, HeaderValue::from(RETRY_AFTER_SECONDS));
    r
}

fn error(status: StatusCode, code: &str) -> Response<Body> {
    net::json(status, &json!({"success": false, "error": code}))
}

/// Compares without stopping at the first difference, as a real credential check should.
fn same(given: Option<&str>, expected: &str) -> bool {
    let Some(given) = given else { return false };
    if given.len() != expected.len() || expected.is_empty() {
        return false;
    }
    given
        .bytes()
        .zip(expected.bytes())
        .fold(0u8, |acc, (a, b)| acc | (a ^ b))
        == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn stand_in() -> ReturningAi {
        ReturningAi::start(
            "127.0.0.1:0".parse().unwrap(),
            Credentials {
                api_key: "key-1".into(),
                access_id: "id-1".into(),
                access_key: "secret-1".into(),
                community: Some("c-1".into()),
            },
        )
        .await
        .unwrap()
    }

    #[tokio::test]
    async fn signs_in_with_the_right_key_only() {
        let rai = stand_in().await;
        let client = reqwest::Client::new();
        let signin = |key: &'static str, email: &'static str, community: &'static str| {
            client
                .post(format!("{}/widget/{community}/signin", rai.url()))
                .header("returningai-api-key", key)
                .header("email", email)
                .send()
        };
        let ok = signin("key-1", "ada@example.com", "c-1").await.unwrap();
        assert_eq!(ok.status(), 200);
        let body: Value = ok.json().await.unwrap();
        assert_eq!(body["token"], widget_token_for("ada@example.com"));
        assert_eq!(body["expiresIn"], 300);
        assert!(
            !body.to_string().contains("ada@"),
            "the token never carries the email"
        );
        assert_ne!(
            widget_token_for("ada@example.com"),
            widget_token_for("bob@example.com")
        );

        assert_eq!(
            signin("key-2", "ada@example.com", "c-1")
                .await
                .unwrap()
                .status(),
            401
        );
        assert_eq!(
            signin("key-1", "ada@example.com", "c-2")
                .await
                .unwrap()
                .status(),
            404
        );
        assert_eq!(
            signin("key-1", "nobody", "c-1").await.unwrap().status(),
            400
        );
        let limited = signin("key-1", RATE_LIMITED_EMAIL, "c-1").await.unwrap();
        assert_eq!(limited.status(), 429);
        assert_eq!(limited.headers()["retry-after"], "7");
        assert_eq!(rai.calls(), 5);
        let calls: Value = client
            .get(format!("{}/__calls", rai.url()))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(calls, json!({"signin": 5, "embed": 0, "total": 5}));
    }

    #[tokio::test]
    async fn issues_embed_tokens_for_identifiers() {
        let rai = stand_in().await;
        let client = reqwest::Client::new();
        let post = |body: Value| {
            client
                .post(format!("{}{EMBED_PATH}", rai.url()))
                .body(body.to_string())
                .send()
        };
        let ids = json!({"data-user-id": "u-1", "data-email": "ada@example.com"});
        let ok = post(json!({"accessId": "id-1", "accessKey": "secret-1", "userIdentifiers": ids}))
            .await
            .unwrap();
        assert_eq!(ok.status(), 200);
        let body: Value = ok.json().await.unwrap();
        let expected = BTreeMap::from([
            ("data-email".to_owned(), "ada@example.com".to_owned()),
            ("data-user-id".to_owned(), "u-1".to_owned()),
        ]);
        assert_eq!(
            body,
            json!({"success": true, "data": {"embedToken": embed_token_for(&expected), "expiresIn": 900}})
        );
        let wrong =
            post(json!({"accessId": "id-1", "accessKey": "secret-2", "userIdentifiers": ids}));
        assert_eq!(wrong.await.unwrap().status(), 401);
        let none = post(json!({"accessId": "id-1", "accessKey": "secret-1"}));
        assert_eq!(none.await.unwrap().status(), 400);
        assert_eq!(rai.calls(), 3);
    }

    #[test]
    fn compares_whole_values() {
        assert!(same(Some("abc"), "abc"));
        assert!(!same(Some("abd"), "abc"));
        assert!(!same(Some("ab"), "abc"));
        assert!(!same(None, "abc"));
        assert!(!same(Some(""), ""));
    }
}
