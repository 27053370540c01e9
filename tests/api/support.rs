//! Real stand-ins on loopback: wiremock servers for Returning.AI and the identity provider,
//! moto for Secrets Manager, and Lambda events through lambda_http's own deserializer.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use jsonwebtoken::jwk::Jwk;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use lambda_http::{Body, Context, RequestExt};
use rai_widget_auth::handler::InitError;
use rai_widget_auth::log::{Logger, MemorySink};
use rai_widget_auth::{App, Config};
use serde_json::{Value, json};
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

pub const RSA_PEM: &[u8] = include_bytes!("keys/rsa.pem");
pub const RSA_OTHER_PEM: &[u8] = include_bytes!("keys/rsa-other.pem");
pub const EC_PEM: &[u8] = include_bytes!("keys/ec-p256.pem");
pub const ED_PEM: &[u8] = include_bytes!("keys/ed25519.pem");

pub const SESSION_SECRET: &str = "test-session-secret-that-is-long-enough";
pub const API_KEY: &str = "sk-test-api-key-0001";
pub const ACCESS_ID: &str = "ak-id-0001";
pub const ACCESS_KEY: &str = "ak-secret-0001";
pub const EMAIL: &str = "jane.doe@example.com";
pub const COMMUNITY: &str = "community-42";

pub fn rsa() -> EncodingKey {
    EncodingKey::from_rsa_pem(RSA_PEM).expect("test RSA key")
}

pub fn rsa_other() -> EncodingKey {
    EncodingKey::from_rsa_pem(RSA_OTHER_PEM).expect("second test RSA key")
}

pub fn ec() -> EncodingKey {
    EncodingKey::from_ec_pem(EC_PEM).expect("test EC key")
}

pub fn ed() -> EncodingKey {
    EncodingKey::from_ed_pem(ED_PEM).expect("test Ed25519 key")
}

pub fn hs() -> EncodingKey {
    EncodingKey::from_secret(SESSION_SECRET.as_bytes())
}

pub fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock after 1970")
        .as_secs() as i64
}

/// Claims of a healthy session for `EMAIL`.
pub fn claims() -> Value {
    json!({
        "sub": "user-1",
        "email": EMAIL,
        "email_verified": true,
        "iat": now(),
        "exp": now() + 300,
    })
}

/// `claims()` with some fields replaced (a `null` removes the field).
pub fn claims_with(changes: Value) -> Value {
    changed(&claims(), changes)
}

/// `base` with some fields replaced (a `null` removes the field).
pub fn changed(base: &Value, changes: Value) -> Value {
    let mut c = base.clone();
    for (k, v) in changes.as_object().expect("an object of changes") {
        match c.as_object_mut() {
            Some(fields) if v.is_null() => {
                fields.remove(k);
            }
            _ => c[k] = v.clone(),
        }
    }
    c
}

pub fn mint(alg: Algorithm, key: &EncodingKey, kid: Option<&str>, claims: &Value) -> String {
    let mut header = Header::new(alg);
    header.kid = kid.map(str::to_owned);
    jsonwebtoken::encode(&header, claims, key).expect("mint a token")
}

pub fn mint_hs(claims: &Value) -> String {
    mint(Algorithm::HS256, &hs(), None, claims)
}

pub fn mint_rs(claims: &Value) -> String {
    mint(Algorithm::RS256, &rsa(), Some("rsa-1"), claims)
}

/// The public JWK of a private test key.
pub fn jwk(kid: &str, alg: Algorithm, key: &EncodingKey) -> Value {
    let mut jwk = Jwk::from_encoding_key(key, alg).expect("public JWK");
    jwk.common.key_id = Some(kid.to_owned());
    serde_json::to_value(jwk).expect("serialize JWK")
}

/// The identity provider: a JWKS and an OpenID discovery document on a real server.
pub struct Idp {
    pub server: MockServer,
}

impl Idp {
    pub async fn start(keys: Vec<Value>) -> Self {
        let server = MockServer::start().await;
        let idp = Self { server };
        idp.serve_keys(keys).await;
        let discovery = json!({ "issuer": idp.issuer(), "jwks_uri": idp.jwks_url() });
        Mock::given(method("GET"))
            .and(path("/.well-known/openid-configuration"))
            .respond_with(ResponseTemplate::new(200).set_body_json(discovery))
            .mount(&idp.server)
            .await;
        idp
    }

    /// The standard key set: RS256 `rsa-1`, ES256 `ec-1`, EdDSA `ed-1`.
    pub async fn standard() -> Self {
        Self::start(vec![
            jwk("rsa-1", Algorithm::RS256, &rsa()),
            jwk("ec-1", Algorithm::ES256, &ec()),
            jwk("ed-1", Algorithm::EdDSA, &ed()),
        ])
        .await
    }

    pub async fn serve_keys(&self, keys: Vec<Value>) {
        Mock::given(method("GET"))
            .and(path("/jwks.json"))
            .respond_with(ResponseTemplate::new(200).set_body_json(json!({ "keys": keys })))
            .mount(&self.server)
            .await;
    }

    pub fn issuer(&self) -> String {
        self.server.uri()
    }

    pub fn jwks_url(&self) -> String {
        format!("{}/jwks.json", self.server.uri())
    }

    pub async fn jwks_fetches(&self) -> usize {
        self.requests_to("/jwks.json").await
    }

    pub async fn requests_to(&self, p: &str) -> usize {
        self.server
            .received_requests()
            .await
            .unwrap_or_default()
            .iter()
            .filter(|r| r.url.path() == p)
            .count()
    }
}

pub const SIGNIN_PATH: &str = "/widget/community-42/signin";
pub const EMBED_PATH: &str = "/v2/api/widget-access-keys/token";

/// Returning.AI: one server for both APIs, so one URL serves as both base URLs.
pub async fn rai() -> MockServer {
    MockServer::start().await
}

/// A Returning.AI that gives `response` to every POST to `route_path`.
pub async fn rai_answering(route_path: &str, response: ResponseTemplate) -> MockServer {
    let rai = rai().await;
    Mock::given(method("POST"))
        .and(path(route_path))
        .respond_with(response)
        .mount(&rai)
        .await;
    rai
}

/// The same, and the test fails unless exactly `times` such calls arrive.
pub async fn rai_expecting(route_path: &str, response: ResponseTemplate, times: u64) -> MockServer {
    let rai = rai().await;
    Mock::given(method("POST"))
        .and(path(route_path))
        .respond_with(response)
        .expect(times)
        .mount(&rai)
        .await;
    rai
}

/// A Returning.AI that fails the test if anything calls it.
pub async fn rai_never_called() -> MockServer {
    let rai = rai().await;
    Mock::given(wiremock::matchers::any())
        .respond_with(ResponseTemplate::new(500))
        .expect(0)
        .mount(&rai)
        .await;
    rai
}

pub fn signin_ok() -> ResponseTemplate {
    ResponseTemplate::new(200).set_body_json(json!({
        "token": "rai-widget-token",
        "refreshToken": "rai-refresh-token",
        "expiresIn": 300,
        "other": "not passed on",
    }))
}

pub fn embed_ok() -> ResponseTemplate {
    ResponseTemplate::new(200).set_body_json(json!({
        "data": { "embedToken": "rai-embed-token", "expiresIn": 900, "other": 1 }
    }))
}

/// The variables of a local (environment-credentials) deployment against `rai`.
pub fn local_vars(rai: &MockServer) -> Vec<(String, String)> {
    vars(&[
        ("RAI_COMMUNITY_ID", COMMUNITY),
        ("RAI_WIDGET_API_URL", &rai.uri()),
        ("RAI_API_V2_URL", &rai.uri()),
        ("RAI_API_KEY", API_KEY),
        ("RAI_ACCESS_ID", ACCESS_ID),
        ("RAI_ACCESS_KEY", ACCESS_KEY),
        ("SESSION_SECRET", SESSION_SECRET),
    ])
}

pub fn vars(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// `base` with `changes` set over it (an empty value unsets, as in the function).
pub fn with(base: &[(String, String)], changes: &[(&str, &str)]) -> Vec<(String, String)> {
    let mut map: HashMap<String, String> = base.iter().cloned().collect();
    for (k, v) in changes {
        map.insert(k.to_string(), v.to_string());
    }
    map.into_iter().collect()
}

pub struct TestApp {
    pub app: App,
    pub logs: MemorySink,
}

pub async fn try_app(vars: &[(String, String)]) -> Result<TestApp, InitError> {
    let map: HashMap<String, String> = vars.iter().cloned().collect();
    let config = Config::from_lookup(|name| map.get(name).cloned())?;
    let logs = MemorySink::default();
    let app = App::init(config, Logger::to(logs.clone())).await?;
    Ok(TestApp { app, logs })
}

pub async fn app(vars: &[(String, String)]) -> TestApp {
    match try_app(vars).await {
        Ok(app) => app,
        Err(e) => panic!("init failed: {e}"),
    }
}

/// A request, built as a function URL event and read by lambda_http's deserializer.
pub struct Req {
    method: &'static str,
    path: String,
    headers: Vec<(String, String)>,
    cookies: Vec<String>,
    body: Option<String>,
    deadline_ms: u64,
}

pub fn get(path: &str) -> Req {
    Req::new("GET", path)
}

pub fn post(path: &str) -> Req {
    Req::new("POST", path)
}

impl Req {
    pub fn new(method: &'static str, path: &str) -> Self {
        Self {
            method,
            path: path.to_owned(),
            headers: Vec::new(),
            cookies: Vec::new(),
            body: None,
            deadline_ms: 0,
        }
    }

    pub fn header(mut self, name: &str, value: &str) -> Self {
        self.headers.push((name.to_owned(), value.to_owned()));
        self
    }

    pub fn bearer(self, token: &str) -> Self {
        self.header("authorization", &format!("Bearer {token}"))
    }

    pub fn cookie(mut self, pair: &str) -> Self {
        self.cookies.push(pair.to_owned());
        self
    }

    pub fn body(mut self, body: &str) -> Self {
        self.body = Some(body.to_owned());
        self
    }

    /// Sets the invocation deadline this many milliseconds from now.
    pub fn deadline_in(mut self, ms: u64) -> Self {
        let now_ms = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .expect("clock")
            .as_millis() as u64;
        self.deadline_ms = now_ms + ms;
        self
    }

    pub fn event(&self) -> Value {
        let mut headers = serde_json::Map::new();
        for (k, v) in &self.headers {
            // API Gateway v2 joins repeated headers with commas.
            let joined = match headers.get(k).and_then(Value::as_str) {
                Some(prev) => format!("{prev},{v}"),
                None => v.clone(),
            };
            headers.insert(k.clone(), joined.into());
        }
        let (raw_path, query) = self.path.split_once('?').unwrap_or((&self.path, ""));
        let mut event = json!({
            "version": "2.0",
            "routeKey": "$default",
            "rawPath": raw_path,
            "rawQueryString": query,
            "headers": headers,
            "requestContext": {
                "accountId": "anonymous",
                "apiId": "testfunctionurl",
                "domainName": "testfunctionurl.lambda-url.us-east-1.on.aws",
                "domainPrefix": "testfunctionurl",
                "http": {
                    "method": self.method,
                    "path": raw_path,
                    "protocol": "HTTP/1.1",
                    "sourceIp": "203.0.113.7",
                    "userAgent": "test"
                },
                "requestId": "req-1",
                "routeKey": "$default",
                "stage": "$default",
                "time": "25/Nov/2026:10:00:00 +0000",
                "timeEpoch": 1795600000000u64
            },
            "isBase64Encoded": false
        });
        if !self.cookies.is_empty() {
            event["cookies"] = json!(self.cookies);
        }
        if let Some(body) = &self.body {
            event["body"] = body.clone().into();
        }
        event
    }

    pub fn request(&self) -> lambda_http::Request {
        let request = lambda_http::request::from_str(&self.event().to_string())
            .expect("lambda_http reads the event");
        let mut context = Context::default();
        context.request_id = "test-request-id".into();
        context.deadline = self.deadline_ms;
        request.with_lambda_context(context)
    }
}

#[derive(Debug)]
pub struct Resp {
    pub status: u16,
    pub headers: lambda_http::http::HeaderMap,
    pub body: Value,
}

impl Resp {
    pub fn error(&self) -> &str {
        self.body["error"].as_str().unwrap_or("<no error code>")
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    #[track_caller]
    pub fn assert_error(&self, status: u16, code: &str) {
        assert_eq!(
            (self.status, self.error()),
            (status, code),
            "body: {}",
            self.body
        );
        assert!(
            self.body["message"].as_str().is_some_and(|m| !m.is_empty()),
            "an error carries a message: {}",
            self.body
        );
    }
}

impl TestApp {
    pub async fn call(&self, req: Req) -> Resp {
        self.send(req.request()).await
    }

    pub async fn send(&self, request: lambda_http::Request) -> Resp {
        let response = self.app.handle(request).await;
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        assert_eq!(
            headers.get("content-type").map(|v| v.as_bytes()),
            Some(&b"application/json"[..]),
            "every response is JSON"
        );
        assert_eq!(
            headers.get("cache-control").map(|v| v.as_bytes()),
            Some(&b"no-store"[..]),
            "every response is no-store"
        );
        let body = match response.body() {
            Body::Empty => Value::Null,
            Body::Text(t) => serde_json::from_str(t).expect("a JSON body"),
            Body::Binary(b) => serde_json::from_slice(b).expect("a JSON body"),
            _ => Value::Null,
        };
        Resp {
            status,
            headers,
            body,
        }
    }

    /// The request log lines, parsed.
    pub fn log_lines(&self) -> Vec<Value> {
        self.logs
            .contents()
            .lines()
            .map(|l| serde_json::from_str(l).expect("every log line is JSON"))
            .collect()
    }
}

/// Secrets Manager through the real SDK client, pointed by the environment at moto's server
/// (`scripts/test.sh` starts it and sets `AWS_ENDPOINT_URL_SECRETS_MANAGER`).
pub async fn secrets_client() -> aws_sdk_secretsmanager::Client {
    assert!(
        std::env::var_os("AWS_ENDPOINT_URL_SECRETS_MANAGER").is_some(),
        "AWS_ENDPOINT_URL_SECRETS_MANAGER is not set: run the tests with scripts/test.sh, which starts moto"
    );
    let sdk = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
    aws_sdk_secretsmanager::Client::new(&sdk)
}

/// Creates a secret with a name no other test uses, and returns the name.
pub async fn create_secret(value: &str) -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let name = format!(
        "rai-widget-auth-test/{}-{}-{}",
        std::process::id(),
        now(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    );
    secrets_client()
        .await
        .create_secret()
        .name(&name)
        .secret_string(value)
        .send()
        .await
        .expect("create the secret in moto");
    name
}

pub async fn put_secret(name: &str, value: &str) {
    secrets_client()
        .await
        .put_secret_value()
        .secret_id(name)
        .secret_string(value)
        .send()
        .await
        .expect("put a new secret value in moto");
}

/// Variables of a Secrets Manager deployment: credentials only in the secret.
pub fn secret_vars(rai: &MockServer, secret_id: &str) -> Vec<(String, String)> {
    vars(&[
        ("RAI_SECRET_ID", secret_id),
        ("RAI_COMMUNITY_ID", COMMUNITY),
        ("RAI_WIDGET_API_URL", &rai.uri()),
        ("RAI_API_V2_URL", &rai.uri()),
    ])
}

/// Every value that must never reach a response or a log line.
pub fn secrets_in(text: &str) -> Vec<&'static str> {
    [
        API_KEY,
        ACCESS_ID,
        ACCESS_KEY,
        SESSION_SECRET,
        EMAIL,
        "rai-widget-token",
        "rai-refresh-token",
        "rai-embed-token",
        "eyJ",
    ]
    .into_iter()
    .filter(|s| text.contains(s))
    .collect()
}
