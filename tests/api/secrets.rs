//! The secret, through the real aws-sdk-secretsmanager client and moto's server.

use std::time::Duration;

use jsonwebtoken::Algorithm;
use serde_json::json;
use wiremock::matchers::{header, method, path};
use wiremock::{Mock, ResponseTemplate};

use crate::helpers::*;

fn full_secret() -> String {
    json!({
        "apiKey": API_KEY,
        "accessId": ACCESS_ID,
        "accessKey": ACCESS_KEY,
        "sessionSecret": SESSION_SECRET,
    })
    .to_string()
}

#[tokio::test]
async fn a_json_secret_serves_both_routes_by_name_and_by_arn() {
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
        let t = spawn_app().secret(&id).await;
        let token = mint_hs(&claims());
        let r = t.widget_auth(&token).await;
        assert_eq!(r.status, 200, "{id}: {}", r.body);
        let r = t.call(get("/embed-token").bearer(&token)).await;
        assert_eq!(r.status, 200, "{id}: {}", r.body);
        assert_eq!(secrets_in(&t.logs.contents()), Vec::<&str>::new());
    }
}

#[tokio::test]
async fn a_plain_string_secret_is_the_api_key() {
    let rai = ReturningAi::standard().await;
    let idp = Idp::standard().await;
    let name = create_secret(API_KEY).await;
    let t = spawn_app()
        .rai(rai)
        .secret(&name)
        .vars(&[("SESSION_JWKS_URL", &idp.jwks_url())])
        .await;
    let r = t.widget_auth(&mint_rs(&claims())).await;
    r.assert_ok();
    // No access key pair in a plain-string secret.
    t.embed_token(&mint_rs(&claims()))
        .await
        .assert_error(503, "not_configured");
}

#[tokio::test]
async fn local_credentials_are_ignored_when_a_secret_is_set() {
    let rai = ReturningAi::standard().await;
    let idp = Idp::standard().await;
    let name =
        create_secret(&json!({ "accessId": ACCESS_ID, "accessKey": ACCESS_KEY }).to_string()).await;
    let t = spawn_app()
        .rai(rai)
        .secret(&name)
        .vars(&[
            ("SESSION_JWKS_URL", &idp.jwks_url()),
            ("RAI_API_KEY", API_KEY),
        ])
        .await;
    t.widget_auth(&mint_rs(&claims()))
        .await
        .assert_error(503, "not_configured");
}

#[tokio::test]
async fn a_missing_secret_answers_503_until_it_exists() {
    let rai = ReturningAi::standard().await;
    let idp = Idp::standard().await;
    let name = format!(
        "rai-widget-auth-test/not-yet-{}-{}",
        std::process::id(),
        now()
    );
    let t = spawn_app()
        .rai(rai)
        .secret(&name)
        .vars(&[
            ("SESSION_JWKS_URL", &idp.jwks_url()),
            ("RAI_SECRET_TTL_SECONDS", "1"),
        ])
        .await;
    assert!(t.logs.contents().contains("secret_read_failed"));

    let token = mint_rs(&claims());
    t.widget_auth(&token)
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
    let r = t.widget_auth(&token).await;
    r.assert_ok();
}

#[tokio::test]
async fn with_the_session_key_in_an_unreadable_secret_requests_wait_for_it() {
    let rai = ReturningAi::standard().await;
    let name = format!(
        "rai-widget-auth-test/absent-{}-{}",
        std::process::id(),
        now()
    );
    let t = spawn_app().rai(rai).secret(&name).await;
    t.widget_auth(&mint_hs(&claims()))
        .await
        .assert_error(503, "secret_unavailable");
}

#[tokio::test]
async fn a_secret_without_any_session_key_stops_the_start() {
    let rai = ReturningAi::standard().await;
    let name = create_secret(&json!({ "apiKey": API_KEY }).to_string()).await;
    let err = spawn_app()
        .rai(rai)
        .secret(&name)
        .try_start()
        .await
        .err()
        .expect("no key source");
    assert!(err.to_string().starts_with("SESSION_JWKS_URL:"), "{err}");
}

#[tokio::test]
async fn a_rotated_api_key_is_picked_up_on_401_and_the_call_retried_once() {
    let rai = ReturningAi::bare().await;
    Mock::given(method("POST"))
        .and(path(SIGNIN_PATH))
        .and(header("returningai-api-key", "old-key"))
        .respond_with(ResponseTemplate::new(401))
        .expect(1)
        .mount(&rai.server)
        .await;
    Mock::given(method("POST"))
        .and(path(SIGNIN_PATH))
        .and(header("returningai-api-key", "new-key"))
        .respond_with(signin_ok())
        .expect(2)
        .mount(&rai.server)
        .await;
    let secret = |key: &str| json!({ "apiKey": key, "sessionSecret": SESSION_SECRET }).to_string();
    let name = create_secret(&secret("old-key")).await;
    let t = spawn_app().rai(rai).secret(&name).await;
    put_secret(&name, &secret("new-key")).await;

    let token = mint_hs(&claims());
    let r = t.widget_auth(&token).await;
    r.assert_ok();
    // The new key is now the cached one: no second refusal.
    let r = t.widget_auth(&token).await;
    r.assert_ok();
}

#[tokio::test]
async fn a_rotated_access_key_is_picked_up_on_403() {
    let rai = ReturningAi::bare().await;
    Mock::given(method("POST"))
        .and(path(EMBED_PATH))
        .and(wiremock::matchers::body_partial_json(
            json!({ "accessKey": "old" }),
        ))
        .respond_with(ResponseTemplate::new(403))
        .expect(1)
        .mount(&rai.server)
        .await;
    Mock::given(method("POST"))
        .and(path(EMBED_PATH))
        .and(wiremock::matchers::body_partial_json(
            json!({ "accessKey": "new" }),
        ))
        .respond_with(embed_ok())
        .expect(1)
        .mount(&rai.server)
        .await;
    let secret = |key: &str| {
        json!({ "accessId": ACCESS_ID, "accessKey": key, "sessionSecret": SESSION_SECRET })
            .to_string()
    };
    let name = create_secret(&secret("old")).await;
    let t = spawn_app().rai(rai).secret(&name).await;
    put_secret(&name, &secret("new")).await;
    let r = t.embed_token(&mint_hs(&claims())).await;
    r.assert_ok();
}

#[tokio::test]
async fn a_rotation_that_drops_the_route_credentials_is_not_configured() {
    let rai = ReturningAi::expecting(SIGNIN_PATH, ResponseTemplate::new(401), 1).await;
    let name = create_secret(&full_secret()).await;
    let t = spawn_app().rai(rai).secret(&name).await;
    put_secret(
        &name,
        &json!({ "sessionSecret": SESSION_SECRET }).to_string(),
    )
    .await;
    t.widget_auth(&mint_hs(&claims()))
        .await
        .assert_error(503, "not_configured");
}

#[tokio::test]
async fn an_unchanged_secret_is_not_retried() {
    let rai = ReturningAi::expecting(SIGNIN_PATH, ResponseTemplate::new(401), 1).await;
    let name = create_secret(&full_secret()).await;
    let t = spawn_app().rai(rai).secret(&name).await;
    t.widget_auth(&mint_hs(&claims()))
        .await
        .assert_error(502, "upstream_error");
}

#[tokio::test]
async fn the_last_good_secret_is_kept_when_a_refresh_fails() {
    let rai = ReturningAi::standard().await;
    let name = create_secret(&full_secret()).await;
    let t = spawn_app()
        .rai(rai)
        .secret(&name)
        .vars(&[("RAI_SECRET_TTL_SECONDS", "1")])
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

    let r = t.widget_auth(&mint_hs(&claims())).await;
    r.assert_ok();
    // The refresh runs in the background, after the answer.
    for _ in 0..300 {
        if t.logs.contents().contains("keeping the last value") {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("no failed refresh logged: {}", t.logs.contents());
}

#[tokio::test]
async fn the_secret_is_cached_for_its_ttl() {
    let rai = ReturningAi::bare().await;
    Mock::given(method("POST"))
        .and(path(SIGNIN_PATH))
        .and(header("returningai-api-key", API_KEY))
        .respond_with(signin_ok())
        .expect(2)
        .mount(&rai.server)
        .await;
    let name = create_secret(&full_secret()).await;
    let t = spawn_app().rai(rai).secret(&name).await;
    // A new value within the TTL is not seen (nothing refused the cached one).
    put_secret(
        &name,
        &json!({ "apiKey": "other", "sessionSecret": SESSION_SECRET }).to_string(),
    )
    .await;
    for _ in 0..2 {
        let r = t.widget_auth(&mint_hs(&claims())).await;
        r.assert_ok();
    }
}

#[tokio::test]
async fn an_unreachable_secrets_manager_is_503_not_a_crash() {
    let rai = ReturningAi::standard().await;
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
    let t = spawn_app()
        .rai(rai)
        .secret("rai/unreachable")
        .jwks(idp)
        .aws(sdk)
        .await;
    assert!(t.logs.contents().contains("secret_read_failed"));
    t.call(post("/widget-auth").bearer(&mint(Algorithm::RS256, &rsa(), Some("rsa-1"), &claims())))
        .await
        .assert_error(503, "secret_unavailable");
}

#[tokio::test]
async fn a_request_the_sdk_cannot_build_is_logged_as_such() {
    // A region that is no host label: the SDK cannot build the endpoint, so it sends nothing.
    let sdk = aws_config::SdkConfig::builder()
        .behavior_version(aws_config::BehaviorVersion::latest())
        .region(aws_config::Region::new("us east 1"))
        .credentials_provider(
            aws_sdk_secretsmanager::config::SharedCredentialsProvider::new(
                aws_sdk_secretsmanager::config::Credentials::new(
                    "testing", "testing", None, None, "test",
                ),
            ),
        )
        .build();
    let t = spawn_app()
        .secret("rai/no-region")
        .jwks(Idp::standard().await)
        .aws(sdk)
        .await;
    let logs = t.logs.contents();
    assert!(logs.contains("could not build the request"), "{logs}");
    assert!(!logs.contains("unreadable response"), "{logs}");

    // No region at all: nothing is sent either, and the log says it is configuration.
    let sdk = aws_config::SdkConfig::builder()
        .behavior_version(aws_config::BehaviorVersion::latest())
        .build();
    let t = spawn_app()
        .secret("rai/no-region")
        .jwks(Idp::standard().await)
        .aws(sdk)
        .await;
    let logs = t.logs.contents();
    assert!(logs.contains("region, endpoint or credentials"), "{logs}");
}

#[tokio::test]
async fn past_its_ttl_the_secret_answers_at_once_while_one_background_read_refreshes_it() {
    let sm = SlowSecretsManager::start().await;
    sm.answer(&full_secret(), Duration::ZERO).await;
    let t = spawn_app()
        .secret("rai")
        .var("RAI_SECRET_TTL_SECONDS", "1")
        .aws(aws_at(&sm.server.uri()).await)
        .await;
    assert_eq!(sm.reads().await, 1, "read at init");
    // Secrets Manager now hangs past the SDK's own limits.
    sm.answer(&full_secret(), Duration::from_secs(30)).await;
    tokio::time::sleep(Duration::from_millis(1100)).await;

    let started = std::time::Instant::now();
    for _ in 0..3 {
        let r = t
            .call(
                post("/widget-auth")
                    .bearer(&mint_hs(&claims()))
                    .deadline_in(3000),
            )
            .await;
        r.assert_ok();
    }
    assert!(
        started.elapsed() < Duration::from_secs(1),
        "no caller waited on Secrets Manager: {:?}",
        started.elapsed()
    );
    // One background read for the three callers.
    for _ in 0..100 {
        if sm.reads().await >= 1 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(sm.reads().await, 1);
}

#[tokio::test]
async fn init_ends_within_its_budget_when_secrets_manager_hangs() {
    let sm = SlowSecretsManager::start().await;
    sm.answer(&full_secret(), Duration::from_secs(30)).await;
    let started = std::time::Instant::now();
    let t = spawn_app()
        .secret("rai")
        .aws(aws_at(&sm.server.uri()).await)
        .await;
    let init = started.elapsed();
    assert!(
        init < rai_widget_auth::app::WARM_UP_BUDGET + Duration::from_secs(1),
        "init took {init:?}"
    );
    // What is not ready is answered per request, within the invocation's deadline.
    let started = std::time::Instant::now();
    let r = t
        .call(
            post("/widget-auth")
                .bearer(&mint_hs(&claims()))
                .deadline_in(1500),
        )
        .await;
    assert!(
        matches!(r.error(), "secret_unavailable" | "upstream_timeout"),
        "{}",
        r.body
    );
    assert!(started.elapsed() < Duration::from_millis(1500));
}

#[tokio::test]
async fn init_ends_within_its_budget_when_discovery_hangs() {
    let sm = SlowSecretsManager::start().await;
    sm.answer(&json!({ "apiKey": API_KEY }).to_string(), Duration::ZERO)
        .await;
    let idp = wiremock::MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(200).set_delay(Duration::from_secs(30)))
        .mount(&idp)
        .await;
    let started = std::time::Instant::now();
    let t = spawn_app()
        .secret("rai")
        .vars(&[
            ("SESSION_ISSUER", &idp.uri()),
            ("RAI_UPSTREAM_TIMEOUT_MS", "9000"),
        ])
        .aws(aws_at(&sm.server.uri()).await)
        .await;
    let init = started.elapsed();
    assert!(
        init < rai_widget_auth::app::WARM_UP_BUDGET + Duration::from_secs(1),
        "init took {init:?}"
    );
    let r = t
        .call(
            post("/widget-auth")
                .bearer(&mint_rs(&claims_with(json!({ "iss": idp.uri() }))))
                .deadline_in(1000),
        )
        .await;
    r.assert_error(504, "upstream_timeout");
}
