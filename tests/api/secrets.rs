//! The secret, through the real aws-sdk-secretsmanager client and moto's server.

use std::time::Duration;

use jsonwebtoken::Algorithm;
use rai_widget_auth::log::{Logger, MemorySink};
use rai_widget_auth::{App, Config};
use serde_json::json;
use wiremock::matchers::{header, method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::support::*;

fn full_secret() -> String {
    json!({
        "apiKey": API_KEY,
        "accessId": ACCESS_ID,
        "accessKey": ACCESS_KEY,
        "sessionSecret": SESSION_SECRET,
    })
    .to_string()
}

async fn rai_both() -> MockServer {
    let rai = rai().await;
    Mock::given(method("POST"))
        .and(path(SIGNIN_PATH))
        .and(header("returningai-api-key", API_KEY))
        .respond_with(signin_ok())
        .mount(&rai)
        .await;
    Mock::given(method("POST"))
        .and(path(EMBED_PATH))
        .respond_with(embed_ok())
        .mount(&rai)
        .await;
    rai
}

#[tokio::test]
async fn a_json_secret_serves_both_routes_by_name_and_by_arn() {
    let rai = rai_both().await;
    let name = create_secret(&full_secret()).await;
    let arn = secrets_client()
        .await
        .describe_secret()
        .secret_id(&name)
        .send()
        .await
        .expect("describe the secret")
        .arn()
        .expect("an ARN")
        .to_owned();

    for id in [name, arn] {
        let t = app(&secret_vars(&rai, &id)).await;
        let token = mint_hs(&claims());
        let r = t.call(post("/widget-auth").bearer(&token)).await;
        assert_eq!(r.status, 200, "{id}: {}", r.body);
        let r = t.call(get("/embed-token").bearer(&token)).await;
        assert_eq!(r.status, 200, "{id}: {}", r.body);
        assert_eq!(secrets_in(&t.logs.contents()), Vec::<&str>::new());
    }
}

#[tokio::test]
async fn a_plain_string_secret_is_the_api_key() {
    let rai = rai_both().await;
    let idp = Idp::standard().await;
    let name = create_secret(API_KEY).await;
    let t = app(&with(
        &secret_vars(&rai, &name),
        &[("SESSION_JWKS_URL", &idp.jwks_url())],
    ))
    .await;
    let r = t
        .call(post("/widget-auth").bearer(&mint_rs(&claims())))
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    // No access key pair in a plain-string secret.
    t.call(post("/embed-token").bearer(&mint_rs(&claims())))
        .await
        .assert_error(503, "not_configured");
}

#[tokio::test]
async fn local_credentials_are_ignored_when_a_secret_is_set() {
    let rai = rai_both().await;
    let idp = Idp::standard().await;
    let name =
        create_secret(&json!({ "accessId": ACCESS_ID, "accessKey": ACCESS_KEY }).to_string()).await;
    let t = app(&with(
        &secret_vars(&rai, &name),
        &[
            ("SESSION_JWKS_URL", &idp.jwks_url()),
            ("RAI_API_KEY", API_KEY),
        ],
    ))
    .await;
    t.call(post("/widget-auth").bearer(&mint_rs(&claims())))
        .await
        .assert_error(503, "not_configured");
}

#[tokio::test]
async fn a_missing_secret_answers_503_until_it_exists() {
    let rai = rai_both().await;
    let idp = Idp::standard().await;
    let name = format!(
        "rai-widget-auth-test/not-yet-{}-{}",
        std::process::id(),
        now()
    );
    let t = app(&with(
        &secret_vars(&rai, &name),
        &[
            ("SESSION_JWKS_URL", &idp.jwks_url()),
            ("RAI_SECRET_TTL_SECONDS", "1"),
        ],
    ))
    .await;
    assert!(t.logs.contents().contains("secret_read_failed"));

    let token = mint_rs(&claims());
    t.call(post("/widget-auth").bearer(&token))
        .await
        .assert_error(503, "secret_unavailable");

    secrets_client()
        .await
        .create_secret()
        .name(&name)
        .secret_string(full_secret())
        .send()
        .await
        .expect("create the secret");
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let r = t.call(post("/widget-auth").bearer(&token)).await;
    assert_eq!(r.status, 200, "{}", r.body);
}

#[tokio::test]
async fn with_the_session_key_in_an_unreadable_secret_requests_wait_for_it() {
    let rai = rai_both().await;
    let name = format!(
        "rai-widget-auth-test/absent-{}-{}",
        std::process::id(),
        now()
    );
    let t = app(&secret_vars(&rai, &name)).await;
    t.call(post("/widget-auth").bearer(&mint_hs(&claims())))
        .await
        .assert_error(503, "secret_unavailable");
}

#[tokio::test]
async fn a_secret_without_any_session_key_stops_the_start() {
    let rai = rai_both().await;
    let name = create_secret(&json!({ "apiKey": API_KEY }).to_string()).await;
    let err = try_app(&secret_vars(&rai, &name))
        .await
        .err()
        .expect("no key source");
    assert!(err.to_string().starts_with("SESSION_JWKS_URL:"), "{err}");
}

#[tokio::test]
async fn a_rotated_api_key_is_picked_up_on_401_and_the_call_retried_once() {
    let rai = rai().await;
    Mock::given(method("POST"))
        .and(path(SIGNIN_PATH))
        .and(header("returningai-api-key", "old-key"))
        .respond_with(ResponseTemplate::new(401))
        .expect(1)
        .mount(&rai)
        .await;
    Mock::given(method("POST"))
        .and(path(SIGNIN_PATH))
        .and(header("returningai-api-key", "new-key"))
        .respond_with(signin_ok())
        .expect(2)
        .mount(&rai)
        .await;
    let secret = |key: &str| json!({ "apiKey": key, "sessionSecret": SESSION_SECRET }).to_string();
    let name = create_secret(&secret("old-key")).await;
    let t = app(&secret_vars(&rai, &name)).await;
    put_secret(&name, &secret("new-key")).await;

    let token = mint_hs(&claims());
    let r = t.call(post("/widget-auth").bearer(&token)).await;
    assert_eq!(r.status, 200, "{}", r.body);
    // The new key is now the cached one: no second refusal.
    let r = t.call(post("/widget-auth").bearer(&token)).await;
    assert_eq!(r.status, 200, "{}", r.body);
}

#[tokio::test]
async fn a_rotated_access_key_is_picked_up_on_403() {
    let rai = rai().await;
    Mock::given(method("POST"))
        .and(path(EMBED_PATH))
        .and(wiremock::matchers::body_partial_json(
            json!({ "accessKey": "old" }),
        ))
        .respond_with(ResponseTemplate::new(403))
        .expect(1)
        .mount(&rai)
        .await;
    Mock::given(method("POST"))
        .and(path(EMBED_PATH))
        .and(wiremock::matchers::body_partial_json(
            json!({ "accessKey": "new" }),
        ))
        .respond_with(embed_ok())
        .expect(1)
        .mount(&rai)
        .await;
    let secret = |key: &str| {
        json!({ "accessId": ACCESS_ID, "accessKey": key, "sessionSecret": SESSION_SECRET })
            .to_string()
    };
    let name = create_secret(&secret("old")).await;
    let t = app(&secret_vars(&rai, &name)).await;
    put_secret(&name, &secret("new")).await;
    let r = t
        .call(post("/embed-token").bearer(&mint_hs(&claims())))
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
}

#[tokio::test]
async fn a_rotation_that_drops_the_route_credentials_is_not_configured() {
    let rai = rai_expecting(SIGNIN_PATH, ResponseTemplate::new(401), 1).await;
    let name = create_secret(&full_secret()).await;
    let t = app(&secret_vars(&rai, &name)).await;
    put_secret(
        &name,
        &json!({ "sessionSecret": SESSION_SECRET }).to_string(),
    )
    .await;
    t.call(post("/widget-auth").bearer(&mint_hs(&claims())))
        .await
        .assert_error(503, "not_configured");
}

#[tokio::test]
async fn an_unchanged_secret_is_not_retried() {
    let rai = rai_expecting(SIGNIN_PATH, ResponseTemplate::new(401), 1).await;
    let name = create_secret(&full_secret()).await;
    let t = app(&secret_vars(&rai, &name)).await;
    t.call(post("/widget-auth").bearer(&mint_hs(&claims())))
        .await
        .assert_error(502, "upstream_error");
}

#[tokio::test]
async fn the_last_good_secret_is_kept_when_a_refresh_fails() {
    let rai = rai_both().await;
    let name = create_secret(&full_secret()).await;
    let t = app(&with(
        &secret_vars(&rai, &name),
        &[("RAI_SECRET_TTL_SECONDS", "1")],
    ))
    .await;
    secrets_client()
        .await
        .delete_secret()
        .secret_id(&name)
        .force_delete_without_recovery(true)
        .send()
        .await
        .expect("delete the secret");
    tokio::time::sleep(Duration::from_millis(1100)).await;

    let r = t
        .call(post("/widget-auth").bearer(&mint_hs(&claims())))
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(t.logs.contents().contains("keeping the last value"));
}

#[tokio::test]
async fn the_secret_is_cached_for_its_ttl() {
    let rai = rai().await;
    Mock::given(method("POST"))
        .and(path(SIGNIN_PATH))
        .and(header("returningai-api-key", API_KEY))
        .respond_with(signin_ok())
        .expect(2)
        .mount(&rai)
        .await;
    let name = create_secret(&full_secret()).await;
    let t = app(&secret_vars(&rai, &name)).await;
    // A new value within the TTL is not seen (nothing refused the cached one).
    put_secret(
        &name,
        &json!({ "apiKey": "other", "sessionSecret": SESSION_SECRET }).to_string(),
    )
    .await;
    for _ in 0..2 {
        let r = t
            .call(post("/widget-auth").bearer(&mint_hs(&claims())))
            .await;
        assert_eq!(r.status, 200, "{}", r.body);
    }
}

#[tokio::test]
async fn an_unreachable_secrets_manager_is_503_not_a_crash() {
    let rai = rai_both().await;
    let idp = Idp::standard().await;
    let closed = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let endpoint = format!("http://{}", closed.local_addr().expect("addr"));
    drop(closed);
    let sdk = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .endpoint_url(&endpoint)
        .region(aws_config::Region::new("us-east-1"))
        .credentials_provider(aws_sdk_secretsmanager::config::Credentials::new(
            "testing", "testing", None, None, "test",
        ))
        .load()
        .await;
    let vars = with(
        &secret_vars(&rai, "rai/unreachable"),
        &[("SESSION_JWKS_URL", &idp.jwks_url())],
    );
    let map: std::collections::HashMap<_, _> = vars.into_iter().collect();
    let config = Config::from_lookup(|n| map.get(n).cloned()).expect("config");
    let logs = MemorySink::default();
    let app = App::init_with(config, Some(&sdk), Logger::to(logs.clone()))
        .await
        .expect("init survives an unreachable Secrets Manager");
    let t = TestApp { app, logs };
    assert!(t.logs.contents().contains("secret_read_failed"));
    t.call(post("/widget-auth").bearer(&mint(Algorithm::RS256, &rsa(), Some("rsa-1"), &claims())))
        .await
        .assert_error(503, "secret_unavailable");
}
