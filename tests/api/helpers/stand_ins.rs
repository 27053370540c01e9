//! Real servers on loopback for what the function talks to: Returning.AI and the identity
//! provider (wiremock), Secrets Manager (moto, through the real SDK client).

use std::sync::atomic::{AtomicU64, Ordering};

use jsonwebtoken::Algorithm;
use serde_json::{Value, json};
use wiremock::matchers::{any, header, method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

use super::tokens::{EMAIL, ec, ed, jwk, now, rsa};

pub const API_KEY: &str = "sk-test-api-key-0001";
pub const ACCESS_ID: &str = "ak-id-0001";
pub const ACCESS_KEY: &str = "ak-secret-0001";
pub const COMMUNITY: &str = "community-42";
pub const SIGNIN_PATH: &str = "/widget/community-42/signin";
pub const EMBED_PATH: &str = "/v2/api/widget-access-keys/token";

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
        "success": true,
        "data": { "embedToken": "rai-embed-token", "expiresIn": 900, "other": 1 }
    }))
}

/// Returning.AI: one server for both APIs, so one URL serves as both base URLs.
pub struct ReturningAi {
    pub server: MockServer,
}

impl ReturningAi {
    /// Answers nothing until a test mounts its own mocks on `server`.
    pub async fn bare() -> Self {
        Self {
            server: MockServer::start().await,
        }
    }

    /// Answers both routes, the sign-in only for the right API key and `EMAIL`'s session.
    pub async fn standard() -> Self {
        let rai = Self::bare().await;
        Mock::given(method("POST"))
            .and(path(SIGNIN_PATH))
            .and(header("returningai-api-key", API_KEY))
            .and(header("email", EMAIL))
            .respond_with(signin_ok())
            .mount(&rai.server)
            .await;
        Mock::given(method("POST"))
            .and(path(EMBED_PATH))
            .respond_with(embed_ok())
            .mount(&rai.server)
            .await;
        rai
    }

    /// Gives `response` to every POST to `route_path`.
    pub async fn answering(route_path: &str, response: ResponseTemplate) -> Self {
        let rai = Self::bare().await;
        rai.mount(route_path, response, None).await;
        rai
    }

    /// The same, and the test fails unless exactly `times` such calls arrive.
    pub async fn expecting(route_path: &str, response: ResponseTemplate, times: u64) -> Self {
        let rai = Self::bare().await;
        rai.mount(route_path, response, Some(times)).await;
        rai
    }

    /// Fails the test if anything calls it.
    pub async fn never_called() -> Self {
        let rai = Self::bare().await;
        Mock::given(any())
            .respond_with(ResponseTemplate::new(500))
            .expect(0)
            .mount(&rai.server)
            .await;
        rai
    }

    async fn mount(&self, route_path: &str, response: ResponseTemplate, times: Option<u64>) {
        let mock = Mock::given(method("POST"))
            .and(path(route_path))
            .respond_with(response);
        match times {
            Some(times) => mock.expect(times),
            None => mock,
        }
        .mount(&self.server)
        .await;
    }

    pub fn uri(&self) -> String {
        self.server.uri()
    }

    pub async fn calls(&self) -> usize {
        self.server
            .received_requests()
            .await
            .unwrap_or_default()
            .len()
    }
}

/// The identity provider: a JWKS and an OpenID discovery document on a real server.
pub struct Idp {
    pub server: MockServer,
}

impl Idp {
    pub async fn start(keys: Vec<Value>) -> Self {
        let idp = Self {
            server: MockServer::start().await,
        };
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

/// A secret name no other test uses.
pub fn unique_secret_name(what: &str) -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    format!(
        "rai-widget-auth-test/{what}-{}-{}-{}",
        std::process::id(),
        now(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    )
}

/// Creates a secret with a name no other test uses, and returns the name.
pub async fn create_secret(value: &str) -> String {
    let name = unique_secret_name("secret");
    create_secret_named(&name, value).await;
    name
}

pub async fn create_secret_named(name: &str, value: &str) {
    secrets_client()
        .await
        .create_secret()
        .name(name)
        .secret_string(value)
        .send()
        .await
        .expect("create the secret in moto");
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

/// An AWS configuration for a Secrets Manager at `endpoint` (a stand-in), with test credentials.
pub async fn aws_at(endpoint: &str) -> aws_config::SdkConfig {
    aws_config::defaults(aws_config::BehaviorVersion::latest())
        .endpoint_url(endpoint)
        .region(aws_config::Region::new("us-east-1"))
        .credentials_provider(aws_sdk_secretsmanager::config::Credentials::new(
            "testing", "testing", None, None, "test",
        ))
        .load()
        .await
}

/// A Secrets Manager that answers `GetSecretValue` (its JSON 1.1 protocol) as a test says, for
/// what moto cannot do: hang, or answer slowly.
pub struct SlowSecretsManager {
    pub server: MockServer,
}

impl SlowSecretsManager {
    pub async fn start() -> Self {
        Self {
            server: MockServer::start().await,
        }
    }

    /// From now on, answers `value` after `delay`.
    pub async fn answer(&self, value: &str, delay: std::time::Duration) {
        self.server.reset().await;
        Mock::given(method("POST"))
            .and(header("x-amz-target", "secretsmanager.GetSecretValue"))
            .respond_with(
                ResponseTemplate::new(200)
                    .insert_header("content-type", "application/x-amz-json-1.1")
                    .set_body_json(json!({
                        "ARN": "arn:aws:secretsmanager:us-east-1:123456789012:secret:rai-AbCdEf",
                        "Name": "rai",
                        "SecretString": value,
                        "VersionId": "v1",
                        "CreatedDate": 1.7e9,
                    }))
                    .set_delay(delay),
            )
            .mount(&self.server)
            .await;
    }

    pub async fn reads(&self) -> usize {
        self.server
            .received_requests()
            .await
            .unwrap_or_default()
            .len()
    }
}

/// Never in a response or a log line: it is in every userinfo answer of the stand-in.
pub const USERINFO_PRIVATE: &str = "userinfo-private-marker";

/// A healthy userinfo answer for `EMAIL`, with a field the function must never pass on.
pub fn userinfo_ok() -> ResponseTemplate {
    ResponseTemplate::new(200).set_body_json(json!({
        "sub": "user-1",
        "email": EMAIL,
        "email_verified": true,
        "note": USERINFO_PRIVATE,
    }))
}

/// A site's own `/api/me` endpoint (Rails, Django, Express...): plain HTTP on loopback, as a
/// local demo would run it.
pub struct Site {
    pub server: MockServer,
}

impl Site {
    /// Gives `response` to every GET of `/api/me`.
    pub async fn answering(response: ResponseTemplate) -> Self {
        let site = Self {
            server: MockServer::start().await,
        };
        Mock::given(method("GET"))
            .and(path("/api/me"))
            .respond_with(response)
            .mount(&site.server)
            .await;
        site
    }

    pub fn me_url(&self) -> String {
        format!("{}/api/me", self.server.uri())
    }

    pub async fn requests(&self) -> Vec<wiremock::Request> {
        self.server.received_requests().await.unwrap_or_default()
    }

    pub async fn calls(&self) -> usize {
        self.requests().await.len()
    }
}
