//! Verified session tokens are remembered (src/session/verified.rs): a token that passed is not
//! checked again, and the reuse ends exactly where a new check would come out otherwise.

use std::time::Duration;

use jsonwebtoken::Algorithm;
use serde_json::{Value, json};
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::helpers::*;

/// What Returning.AI was sent, call by call: the email header of each sign-in and the body of
/// each access-key call.
async fn sent(rai: &ReturningAi) -> Vec<(Option<String>, Option<Value>)> {
    rai.server
        .received_requests()
        .await
        .unwrap_or_default()
        .iter()
        .map(|r| {
            let email = r
                .headers
                .get("email")
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned);
            (email, serde_json::from_slice(&r.body).ok())
        })
        .collect()
}

#[tokio::test]
async fn a_remembered_token_gives_the_same_email_and_identifiers() {
    let t = spawn_app()
        .var("USER_IDENTIFIERS", "data-email=email,data-user-id=sub")
        .await;
    let token = mint_hs(&claims());
    for _ in 0..3 {
        t.widget_auth(&token).await.assert_ok();
        t.embed_token(&token).await.assert_ok();
    }
    let calls = sent(&t.rai).await;
    assert_eq!(calls.len(), 6);
    for (n, call) in calls.iter().enumerate() {
        assert_eq!(call, &calls[n % 2], "call {n}");
    }
    assert_eq!(calls[0].0.as_deref(), Some(EMAIL));
    assert_eq!(
        calls[1].1.as_ref().map(|b| b["userIdentifiers"].clone()),
        Some(json!({ "data-email": EMAIL, "data-user-id": "user-1" }))
    );
}

#[tokio::test]
async fn a_token_is_reused_only_until_its_exp() {
    let t = spawn_app().var("SESSION_LEEWAY_SECONDS", "0").await;
    let token = mint_hs(&claims_with(json!({ "exp": now() + 2 })));
    t.widget_auth(&token).await.assert_ok();
    t.widget_auth(&token).await.assert_ok();
    tokio::time::sleep(Duration::from_millis(3100)).await;
    t.widget_auth(&token)
        .await
        .assert_error(401, "invalid_session");
}

#[tokio::test]
async fn a_new_session_secret_ends_the_reuse() {
    let secret = |session: &str| {
        json!({ "apiKey": API_KEY, "accessId": ACCESS_ID, "accessKey": ACCESS_KEY, "sessionSecret": session })
            .to_string()
    };
    let name = create_secret(&secret(SESSION_SECRET)).await;
    let t = spawn_app()
        .secret(&name)
        .var("RAI_SECRET_TTL_SECONDS", "1")
        .await;
    let old = mint_hs(&claims());
    t.widget_auth(&old).await.assert_ok();
    t.widget_auth(&old).await.assert_ok();

    let new_secret = "a-rotated-session-secret-also-long-enough";
    put_secret(&name, &secret(new_secret)).await;
    tokio::time::sleep(Duration::from_millis(1100)).await;
    // Past the TTL the cached secret answers while one background read fetches the new one, so
    // the old token passes until that read lands, and never after.
    let mut refused = false;
    for _ in 0..50 {
        let r = t.widget_auth(&old).await;
        if r.status == 401 {
            r.assert_error(401, "invalid_session");
            refused = true;
            break;
        }
        r.assert_ok();
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(refused, "a token of the old secret still passes");
    let new = mint(
        Algorithm::HS256,
        &jsonwebtoken::EncodingKey::from_secret(new_secret.as_bytes()),
        None,
        &claims(),
    );
    t.widget_auth(&new).await.assert_ok();
    t.widget_auth(&old)
        .await
        .assert_error(401, "invalid_session");
}

/// Slow (the key set's 30 s refetch cooldown), and the one case where a cached check would be
/// wrong if only the `kid` were compared.
#[tokio::test]
async fn new_material_under_the_same_kid_ends_the_reuse() {
    let idp = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/jwks.json"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(json!({ "keys": [jwk("rsa-1", Algorithm::RS256, &rsa())] })),
        )
        .up_to_n_times(1)
        .mount(&idp)
        .await;
    let t = spawn_app()
        .vars(&[
            ("SESSION_SECRET", ""),
            ("SESSION_JWKS_URL", &format!("{}/jwks.json", idp.uri())),
        ])
        .await;
    let token = mint_rs(&claims());
    t.widget_auth(&token).await.assert_ok();
    t.widget_auth(&token).await.assert_ok();

    // The provider now signs with other material under the same kid.
    Mock::given(method("GET"))
        .and(path("/jwks.json"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(json!({ "keys": [jwk("rsa-1", Algorithm::RS256, &rsa_other())] })),
        )
        .mount(&idp)
        .await;
    tokio::time::sleep(Duration::from_millis(30_100)).await;
    // An unknown kid makes the function fetch the key set again.
    let unknown = mint(Algorithm::RS256, &rsa_other(), Some("rsa-2"), &claims());
    t.widget_auth(&unknown)
        .await
        .assert_error(401, "invalid_session");
    assert_eq!(idp.received_requests().await.unwrap_or_default().len(), 2);

    t.widget_auth(&token)
        .await
        .assert_error(401, "invalid_session");
    let fresh = mint(Algorithm::RS256, &rsa_other(), Some("rsa-1"), &claims());
    t.widget_auth(&fresh).await.assert_ok();
}
