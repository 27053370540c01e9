//! Session tokens: sources, key sources and every refusal of the contract and RFC 8725.

use jsonwebtoken::{Algorithm, EncodingKey};
use serde_json::{Value, json};
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

use rai_widget_auth::session::MAX_TOKEN_BYTES;

use crate::helpers::*;

/// Returning.AI answering every sign-in, so only the session decides the outcome.
async fn rai_signin() -> ReturningAi {
    ReturningAi::answering(SIGNIN_PATH, signin_ok()).await
}

#[tokio::test]
async fn every_accepted_asymmetric_algorithm_verifies() {
    let rai = rai_signin().await;
    let rsa = rsa();
    let cases: Vec<(&str, Algorithm, &EncodingKey)> = vec![
        ("rs256", Algorithm::RS256, &rsa),
        ("rs384", Algorithm::RS384, &rsa),
        ("rs512", Algorithm::RS512, &rsa),
        ("ps256", Algorithm::PS256, &rsa),
    ];
    let (ec, ed) = (ec(), ed());
    let mut keys: Vec<Value> = cases
        .iter()
        .map(|(kid, alg, key)| jwk(kid, *alg, key))
        .collect();
    keys.push(jwk("es256", Algorithm::ES256, &ec));
    keys.push(jwk("eddsa", Algorithm::EdDSA, &ed));
    let idp = Idp::start(keys).await;
    let t = spawn_app().rai(rai).jwks(idp).await;
    let idp = t.idp();

    let mut all = cases;
    all.push(("es256", Algorithm::ES256, &ec));
    all.push(("eddsa", Algorithm::EdDSA, &ed));
    for (kid, alg, key) in all {
        let token = mint(alg, key, Some(kid), &claims());
        let r = t.widget_auth(&token).await;
        assert_eq!(r.status, 200, "{alg:?}: {}", r.body);
    }
    assert_eq!(
        idp.jwks_fetches().await,
        1,
        "the key set is fetched once and cached"
    );
}

#[tokio::test]
async fn oidc_discovery_finds_the_keys() {
    let rai = rai_signin().await;
    let idp = Idp::standard().await;
    let issuer = idp.issuer();
    let t = spawn_app()
        .rai(rai)
        .discovery(idp)
        .var("SESSION_AUDIENCE", "rai-widgets")
        .await;
    let idp = t.idp();
    assert_eq!(
        idp.requests_to("/.well-known/openid-configuration").await,
        1
    );
    assert_eq!(idp.jwks_fetches().await, 1);

    let good = claims_with(json!({ "iss": issuer, "aud": "rai-widgets" }));
    let r = t.widget_auth(&mint_rs(&good)).await;
    r.assert_ok();

    let wrong_iss = claims_with(json!({ "iss": "https://other.example", "aud": "rai-widgets" }));
    t.widget_auth(&mint_rs(&wrong_iss))
        .await
        .assert_error(401, "invalid_session");
    let wrong_aud = claims_with(json!({ "iss": issuer, "aud": "someone-else" }));
    t.widget_auth(&mint_rs(&wrong_aud))
        .await
        .assert_error(401, "invalid_session");
    let no_aud = claims_with(json!({ "iss": issuer }));
    t.widget_auth(&mint_rs(&no_aud))
        .await
        .assert_error(401, "invalid_session");
    let list_aud = claims_with(json!({ "iss": issuer, "aud": ["x", "rai-widgets"] }));
    assert_eq!(t.widget_auth(&mint_rs(&list_aud)).await.status, 200);
}

#[tokio::test]
async fn a_discovery_document_for_another_issuer_is_not_trusted() {
    let rai = rai_signin().await;
    let idp = MockServer::start().await;
    let keys = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/.well-known/openid-configuration"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "issuer": "https://attacker.example",
            "jwks_uri": format!("{}/jwks.json", keys.uri()),
        })))
        .mount(&idp)
        .await;
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "keys": [jwk("rsa-1", Algorithm::RS256, &rsa())]
        })))
        .expect(0)
        .mount(&keys)
        .await;
    let t = spawn_app()
        .rai(rai)
        .vars(&[("SESSION_SECRET", ""), ("SESSION_ISSUER", &idp.uri())])
        .await;
    let token = mint_rs(&claims_with(json!({ "iss": idp.uri() })));
    let r = t.widget_auth(&token).await;
    r.assert_error(502, "upstream_error");
    assert!(t.logs.contents().contains("another issuer"));
}

#[tokio::test]
async fn every_bad_token_is_refused() {
    let rai = ReturningAi::never_called().await;
    let idp = Idp::standard().await;
    let issuer = idp.issuer();
    let t = spawn_app()
        .rai(rai)
        .vars(&[
            ("SESSION_ISSUER", &issuer),
            ("SESSION_AUDIENCE", "rai-widgets"),
        ])
        .jwks(idp)
        .await;
    let idp = t.idp();
    let valid = claims_with(json!({ "iss": issuer, "aud": "rai-widgets" }));
    let with_changes = |changes: Value| changed(&valid, changes);
    let rsa_public_jwk = jwk("rsa-1", Algorithm::RS256, &rsa());
    // HS/RS confusion: HS256 keyed with the RSA public key the attacker can download.
    let confused_key = EncodingKey::from_secret(rsa_public_jwk["n"].as_str().unwrap().as_bytes());
    let unsigned = {
        let header = b64(br#"{"alg":"none","typ":"JWT"}"#);
        format!("{header}.{}.", b64(valid.to_string().as_bytes()))
    };
    let lowercase_none = {
        let header = b64(br#"{"alg":"None","kid":"rsa-1"}"#);
        format!("{header}.{}.", b64(valid.to_string().as_bytes()))
    };
    // Validly signed with a key the attacker serves at the jku URL: only following jku would
    // accept it.
    Mock::given(method("GET"))
        .and(path("/attacker-keys"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "keys": [jwk("attacker", Algorithm::RS256, &rsa_other())]
        })))
        .mount(&idp.server)
        .await;
    let with_jku = {
        let mut header = jsonwebtoken::Header::new(Algorithm::RS256);
        header.kid = Some("attacker".into());
        header.jku = Some(format!("{}/attacker-keys", idp.issuer()));
        jsonwebtoken::encode(&header, &valid, &rsa_other()).unwrap()
    };
    // Validly signed by the real key, but with a critical extension nobody here understands.
    let with_crit = {
        let mut header = jsonwebtoken::Header::new(Algorithm::RS256);
        header.kid = Some("rsa-1".into());
        header.crit = Some(vec!["exp-ext".into()]);
        jsonwebtoken::encode(&header, &valid, &rsa()).unwrap()
    };
    let swapped_payload = {
        let signed = mint_rs(&valid);
        let parts: Vec<&str> = signed.split('.').collect();
        let other = with_changes(json!({ "email": "someone.else@example.com" }));
        format!(
            "{}.{}.{}",
            parts[0],
            b64(other.to_string().as_bytes()),
            parts[2]
        )
    };
    // Validly signed: only the size cap refuses it (see the_size_cap_is_what_refuses_big_tokens).
    let oversized = mint_rs(&with_changes(json!({ "pad": "x".repeat(MAX_TOKEN_BYTES) })));

    let refused: Vec<(&str, String)> = vec![
        ("alg none", unsigned),
        ("alg None", lowercase_none),
        (
            "HS256 keyed with the public key",
            mint(Algorithm::HS256, &confused_key, Some("rsa-1"), &valid),
        ),
        (
            "RS256 signed by an unknown key under a known kid",
            mint(Algorithm::RS256, &rsa_other(), Some("rsa-1"), &valid),
        ),
        (
            "ES256 header on an RSA kid",
            mint(Algorithm::ES256, &ec(), Some("rsa-1"), &valid),
        ),
        (
            "PS384 is not on the list",
            mint(Algorithm::PS384, &rsa(), Some("rsa-1"), &valid),
        ),
        ("jku pointing elsewhere is not followed", with_jku),
        ("unknown crit header", with_crit),
        ("payload swapped", swapped_payload),
        (
            "expired",
            mint_rs(&with_changes(json!({ "exp": now() - 120 }))),
        ),
        (
            "not yet valid",
            mint_rs(&with_changes(json!({ "nbf": now() + 600 }))),
        ),
        (
            "issued in the future",
            mint_rs(&with_changes(json!({ "iat": now() + 600 }))),
        ),
        (
            "iat not a number",
            mint_rs(&with_changes(json!({ "iat": "yesterday" }))),
        ),
        ("no exp", mint_rs(&with_changes(json!({ "exp": null })))),
        (
            "exp not a number",
            mint_rs(&with_changes(json!({ "exp": "tomorrow" }))),
        ),
        (
            "wrong issuer",
            mint_rs(&with_changes(json!({ "iss": "https://evil.example" }))),
        ),
        ("no issuer", mint_rs(&with_changes(json!({ "iss": null })))),
        (
            "wrong audience",
            mint_rs(&with_changes(json!({ "aud": "other-app" }))),
        ),
        (
            "unknown kid",
            mint(Algorithm::RS256, &rsa_other(), Some("rotated-away"), &valid),
        ),
        (
            "no email claim",
            mint_rs(&with_changes(json!({ "email": null }))),
        ),
        (
            "email claim not an email",
            mint_rs(&with_changes(json!({ "email": "nobody" }))),
        ),
        (
            "email claim not a string",
            mint_rs(&with_changes(json!({ "email": ["a@b.c"] }))),
        ),
        (
            "email with a line break",
            mint_rs(&with_changes(json!({ "email": "a@b.c\r\nx-admin: 1" }))),
        ),
        ("oversized", oversized),
        (
            "the email named twice",
            mint_raw(
                Algorithm::RS256,
                &rsa(),
                r#"{"alg":"RS256","kid":"rsa-1"}"#,
                &raw_claims(
                    &valid,
                    r#""email":"mallory@evil.example","email":"jane.doe@example.com""#,
                ),
            ),
        ),
        (
            "the kid named twice",
            mint_raw(
                Algorithm::RS256,
                &rsa(),
                r#"{"alg":"RS256","kid":"unknown","kid":"rsa-1"}"#,
                &raw_claims(&valid, r#""email":"jane.doe@example.com""#),
            ),
        ),
        (
            "iss as an array",
            mint_rs(&with_changes(
                json!({ "iss": [issuer, "https://other.example"] }),
            )),
        ),
        (
            "two addresses in the email",
            mint_rs(&with_changes(
                json!({ "email": "jane.doe@example.com, mallory@evil.example" }),
            )),
        ),
        (
            "a display name in the email",
            mint_rs(&with_changes(
                json!({ "email": "Jane <jane.doe@example.com>" }),
            )),
        ),
        (
            "a tab in the email",
            mint_rs(&with_changes(json!({ "email": "jane.doe@example.com\tx" }))),
        ),
        (
            "a line separator in the email",
            mint_rs(&with_changes(
                json!({ "email": "jane.doe@example.com\u{2028}" }),
            )),
        ),
        (
            "a leading space in the email",
            mint_rs(&with_changes(json!({ "email": " jane.doe@example.com" }))),
        ),
        (
            "two @ in the email",
            mint_rs(&with_changes(json!({ "email": "jane@doe@example.com" }))),
        ),
    ];
    for (name, token) in refused {
        let r = t.widget_auth(&token).await;
        assert_eq!(
            (r.status, r.error()),
            (401, "invalid_session"),
            "{name}: {}",
            r.body
        );
        assert_eq!(
            r.header("www-authenticate"),
            Some("Bearer error=\"invalid_token\""),
            "{name}"
        );
    }
    for unverified in [
        json!(false),
        json!("false"),
        json!("False"),
        json!("FALSE"),
        json!(0),
        json!("no"),
    ] {
        let token = mint_rs(&with_changes(json!({ "email_verified": unverified })));
        t.widget_auth(&token)
            .await
            .assert_error(403, "email_not_verified");
    }
    // `null` is present and not true (and `changed` would remove the member instead).
    let null = mint_raw(
        Algorithm::RS256,
        &rsa(),
        r#"{"alg":"RS256","kid":"rsa-1"}"#,
        &raw_claims(
            &with_changes(json!({ "email_verified": null })),
            r#""email":"jane.doe@example.com","email_verified":null"#,
        ),
    );
    t.widget_auth(&null)
        .await
        .assert_error(403, "email_not_verified");
    assert_eq!(
        idp.requests_to("/attacker-keys").await,
        0,
        "jku is never followed"
    );
}

#[tokio::test]
async fn the_size_cap_is_what_refuses_big_tokens() {
    let rai = rai_signin().await;
    let t = spawn_app().rai(rai).await;
    let token = |pad: usize| mint_hs(&claims_with(json!({ "pad": "x".repeat(pad) })));
    let under = token(MAX_TOKEN_BYTES / 2);
    assert!(under.len() < MAX_TOKEN_BYTES);
    let r = t.widget_auth(&under).await;
    r.assert_ok();
    let over = token(MAX_TOKEN_BYTES);
    t.widget_auth(&over)
        .await
        .assert_error(401, "invalid_session");
    assert!(
        t.logs
            .contents()
            .contains(&format!("\"detail\":\"{} bytes\"", over.len()))
    );
}

#[tokio::test]
async fn an_empty_session_header_falls_back_to_the_cookie() {
    let rai = rai_signin().await;
    let t = spawn_app()
        .rai(rai)
        .vars(&[
            ("SESSION_HEADER", "x-session-token"),
            ("SESSION_COOKIE", "sid"),
        ])
        .await;
    let token = mint_hs(&claims());
    let r = t
        .call(
            post("/widget-auth")
                .header("x-session-token", "")
                .cookie(&format!("sid={token}")),
        )
        .await;
    r.assert_ok();
}

#[tokio::test]
async fn one_kid_for_two_algorithms_finds_the_right_key() {
    let rai = rai_signin().await;
    let idp = Idp::start(vec![
        jwk("shared-kid", Algorithm::ES256, &ec()),
        jwk("shared-kid", Algorithm::RS256, &rsa()),
    ])
    .await;
    let t = spawn_app().rai(rai).jwks(idp).await;
    let idp = t.idp();
    for (alg, key) in [(Algorithm::ES256, ec()), (Algorithm::RS256, rsa())] {
        let token = mint(alg, &key, Some("shared-kid"), &claims());
        let r = t.widget_auth(&token).await;
        assert_eq!(r.status, 200, "{alg:?}: {}", r.body);
    }
    let other_alg = mint(Algorithm::EdDSA, &ed(), Some("shared-kid"), &claims());
    t.widget_auth(&other_alg)
        .await
        .assert_error(401, "invalid_session");
    assert_eq!(idp.jwks_fetches().await, 1);
}

#[tokio::test]
async fn a_slow_identity_provider_cannot_outlast_the_invocation() {
    let rai = rai_signin().await;
    let idp = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(503))
        .up_to_n_times(1)
        .mount(&idp)
        .await;
    let t = spawn_app()
        .rai(rai)
        .vars(&[
            ("SESSION_SECRET", ""),
            ("SESSION_JWKS_URL", &format!("{}/jwks.json", idp.uri())),
            ("RAI_UPSTREAM_TIMEOUT_MS", "20000"),
        ])
        .await;
    Mock::given(method("GET"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(json!({ "keys": [jwk("rsa-1", Algorithm::RS256, &rsa())] }))
                .set_delay(std::time::Duration::from_secs(4)),
        )
        .mount(&idp)
        .await;
    // Past the retry interval, the next request fetches the keys: slowly.
    tokio::time::sleep(std::time::Duration::from_millis(5100)).await;
    let started = std::time::Instant::now();
    let r = t
        .call(
            post("/widget-auth")
                .bearer(&mint_rs(&claims()))
                .deadline_in(1000),
        )
        .await;
    r.assert_error(504, "upstream_timeout");
    assert!(
        started.elapsed() < std::time::Duration::from_secs(3),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(
        t.log_lines().last().unwrap()["detail"],
        "the invocation deadline came first"
    );
}

#[tokio::test]
async fn leeway_applies_to_exp_and_nbf() {
    let rai = rai_signin().await;
    let t = spawn_app()
        .rai(rai)
        .var("SESSION_LEEWAY_SECONDS", "120")
        .await;
    let just_expired = claims_with(json!({ "exp": now() - 60, "nbf": now() + 60 }));
    let r = t.widget_auth(&mint_hs(&just_expired)).await;
    assert_eq!(r.status, 200, "within the leeway: {}", r.body);

    let strict = spawn_app()
        .rai(rai_signin().await)
        .var("SESSION_LEEWAY_SECONDS", "0")
        .await;
    strict
        .widget_auth(&mint_hs(&just_expired))
        .await
        .assert_error(401, "invalid_session");
}

#[tokio::test]
async fn the_shared_secret_accepts_only_hs256() {
    let rai = rai_signin().await;
    let t = spawn_app().rai(rai).await;
    let ok = t.widget_auth(&mint_hs(&claims())).await;
    assert_eq!(ok.status, 200, "{}", ok.body);
    for (alg, key) in [
        (Algorithm::HS384, hs()),
        (Algorithm::HS512, hs()),
        (Algorithm::RS256, rsa()),
    ] {
        let token = mint(alg, &key, None, &claims());
        t.widget_auth(&token)
            .await
            .assert_error(401, "invalid_session");
    }
    let wrong_secret = mint(
        Algorithm::HS256,
        &EncodingKey::from_secret(b"not-the-session-secret"),
        None,
        &claims(),
    );
    t.widget_auth(&wrong_secret)
        .await
        .assert_error(401, "invalid_session");
}

#[tokio::test]
async fn header_first_then_cookie() {
    let rai = rai_signin().await;
    let t = spawn_app()
        .rai(rai)
        .vars(&[("SESSION_COOKIE", "__Host-session")])
        .await;
    let good = mint_hs(&claims());
    let bad = mint_hs(&claims_with(json!({ "exp": now() - 3600 })));

    let r = t
        .call(post("/widget-auth").cookie(&format!("__Host-session={good}")))
        .await;
    assert_eq!(r.status, 200, "cookie session: {}", r.body);
    let r = t
        .call(post("/widget-auth").cookie(&format!("theme=dark; __Host-session={good}; lang=en")))
        .await;
    assert_eq!(r.status, 200, "among other cookies: {}", r.body);
    // The header wins when both are present.
    t.call(
        post("/widget-auth")
            .bearer(&bad)
            .cookie(&format!("__Host-session={good}")),
    )
    .await
    .assert_error(401, "invalid_session");
    let r = t
        .call(
            post("/widget-auth")
                .bearer(&good)
                .cookie(&format!("__Host-session={bad}")),
        )
        .await;
    r.assert_ok();
    // A non-Bearer Authorization header is not a session, so the cookie is used.
    let r = t
        .call(
            post("/widget-auth")
                .header("authorization", "Basic dXNlcjpwYXNz")
                .cookie(&format!("__Host-session={good}")),
        )
        .await;
    r.assert_ok();
    // Two different session cookies: refuse rather than guess.
    t.call(
        post("/widget-auth")
            .cookie(&format!("__Host-session={good}"))
            .cookie(&format!(
                "__Host-session={}",
                mint_hs(&claims_with(json!({ "sub": "x" })))
            )),
    )
    .await
    .assert_error(401, "invalid_session");

    let r = t.call(post("/widget-auth").cookie("other=1")).await;
    r.assert_error(401, "missing_session");
    assert_eq!(r.header("www-authenticate"), Some("Bearer"));
}

#[tokio::test]
async fn cookies_are_not_read_unless_configured() {
    let rai = rai_signin().await;
    let t = spawn_app().rai(rai).await;
    let r = t
        .call(post("/widget-auth").cookie(&format!("session={}", mint_hs(&claims()))))
        .await;
    r.assert_error(401, "missing_session");
}

#[tokio::test]
async fn a_custom_header_carries_the_bare_token() {
    let rai = rai_signin().await;
    let t = spawn_app()
        .rai(rai)
        .vars(&[("SESSION_HEADER", "X-Session-JWT")])
        .await;
    let token = mint_hs(&claims());
    let r = t
        .call(post("/widget-auth").header("x-session-jwt", &token))
        .await;
    r.assert_ok();
    // The default header is no longer read.
    t.widget_auth(&token)
        .await
        .assert_error(401, "missing_session");
}

#[tokio::test]
async fn the_email_claim_and_identifiers_are_configurable() {
    let rai = ReturningAi::bare().await;
    Mock::given(method("POST"))
        .and(path(SIGNIN_PATH))
        .and(wiremock::matchers::header("email", "work@corp.example"))
        .respond_with(signin_ok())
        .expect(1)
        .mount(&rai.server)
        .await;
    Mock::given(method("POST"))
        .and(path(EMBED_PATH))
        .and(wiremock::matchers::body_partial_json(json!({
            "userIdentifiers": { "data-customer-id": "12345" }
        })))
        .respond_with(embed_ok())
        .expect(1)
        .mount(&rai.server)
        .await;
    let t = spawn_app()
        .rai(rai)
        .vars(&[
            ("SESSION_EMAIL_CLAIM", "https://corp.example/email"),
            ("USER_IDENTIFIERS", "data-customer-id=customer_id"),
        ])
        .await;
    let c = claims_with(
        json!({ "https://corp.example/email": "work@corp.example", "customer_id": 12345 }),
    );
    assert_eq!(t.widget_auth(&mint_hs(&c)).await.status, 200);
    assert_eq!(t.embed_token(&mint_hs(&c)).await.status, 200);

    let missing = claims_with(json!({ "customer_id": null }));
    t.embed_token(&mint_hs(&missing))
        .await
        .assert_error(401, "invalid_session");
}

#[tokio::test]
async fn unknown_kids_cannot_make_the_function_hammer_the_identity_provider() {
    let rai = rai_signin().await;
    let idp = Idp::standard().await;
    let t = spawn_app().rai(rai).jwks(idp).await;
    let idp = t.idp();
    assert_eq!(idp.jwks_fetches().await, 1);

    // Fifty tokens with random kids, half of them at once.
    let tokens: Vec<String> = (0..50)
        .map(|i| {
            mint(
                Algorithm::RS256,
                &rsa_other(),
                Some(&format!("random-{i}")),
                &claims(),
            )
        })
        .collect();
    let concurrent = tokens[..25]
        .iter()
        .map(|token| t.call(post("/widget-auth").bearer(token)));
    for r in futures::future::join_all(concurrent).await {
        r.assert_error(401, "invalid_session");
    }
    for token in &tokens[25..] {
        t.widget_auth(token)
            .await
            .assert_error(401, "invalid_session");
    }
    // The init fetch was moments ago, so the cooldown allows no refetch at all yet.
    assert_eq!(idp.jwks_fetches().await, 1);
    // A good token is still served from the cache.
    assert_eq!(t.widget_auth(&mint_rs(&claims())).await.status, 200);
}

#[tokio::test]
async fn keys_missing_at_init_are_fetched_later() {
    let rai = rai_signin().await;
    let idp = MockServer::start().await;
    // The provider is down at init.
    Mock::given(method("GET"))
        .and(path("/jwks.json"))
        .respond_with(ResponseTemplate::new(503))
        .up_to_n_times(1)
        .mount(&idp)
        .await;
    let t = spawn_app()
        .rai(rai)
        .vars(&[
            ("SESSION_SECRET", ""),
            ("SESSION_JWKS_URL", &format!("{}/jwks.json", idp.uri())),
        ])
        .await;
    assert!(t.logs.contents().contains("jwks_fetch_failed"));
    Mock::given(method("GET"))
        .and(path("/jwks.json"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "keys": [jwk("rsa-1", Algorithm::RS256, &rsa())]
        })))
        .mount(&idp)
        .await;

    // Right after the failure, the retry interval holds: no keys, no fetch.
    let r = t.widget_auth(&mint_rs(&claims())).await;
    r.assert_error(502, "upstream_error");
    assert_eq!(idp.received_requests().await.unwrap().len(), 1);

    tokio::time::sleep(std::time::Duration::from_millis(5100)).await;
    let r = t.widget_auth(&mint_rs(&claims())).await;
    r.assert_ok();
    assert_eq!(idp.received_requests().await.unwrap().len(), 2);
}

#[tokio::test]
async fn a_key_set_with_unusable_keys_keeps_the_usable_ones() {
    let rai = rai_signin().await;
    let idp = Idp::start(vec![
        json!({ "kty": "oct", "kid": "shared", "k": "c2VjcmV0" }),
        json!({ "kty": "RSA", "kid": "enc", "use": "enc", "n": "AQAB", "e": "AQAB" }),
        json!({ "kty": "EC", "kid": "weird", "crv": "P-521", "x": "AA", "y": "AA" }),
        json!({ "kty": "XYZ", "kid": "unknown-type" }),
        json!("not even an object"),
        jwk("rsa-1", Algorithm::RS256, &rsa()),
    ])
    .await;
    let t = spawn_app().rai(rai).jwks(idp).await;
    assert_eq!(t.widget_auth(&mint_rs(&claims())).await.status, 200);
    // A symmetric key published in the JWKS would let anyone who reads it mint sessions.
    let forged = mint(
        Algorithm::HS256,
        &EncodingKey::from_secret(b"secret"),
        Some("shared"),
        &claims(),
    );
    t.widget_auth(&forged)
        .await
        .assert_error(401, "invalid_session");
}

#[tokio::test]
async fn without_a_kid_exactly_one_key_must_fit() {
    let rai = rai_signin().await;
    let idp = Idp::standard().await;
    let t = spawn_app().rai(rai).jwks(idp).await;
    // One RSA key in the set: a kid-less RS256 token can only mean that one.
    let token = mint(Algorithm::RS256, &rsa(), None, &claims());
    assert_eq!(t.widget_auth(&token).await.status, 200);

    let two_rsa = Idp::start(vec![
        jwk("rsa-1", Algorithm::RS256, &rsa()),
        jwk("rsa-2", Algorithm::RS256, &rsa_other()),
    ])
    .await;
    let t = spawn_app().rai(rai_signin().await).jwks(two_rsa).await;
    t.widget_auth(&token)
        .await
        .assert_error(401, "invalid_session");
}

#[tokio::test]
async fn no_session_key_source_stops_the_start() {
    let rai = ReturningAi::bare().await;
    let err = spawn_app()
        .rai(rai)
        .var("SESSION_SECRET", "")
        .try_start()
        .await
        .err()
        .expect("no key source is a start-up error");
    assert!(err.to_string().starts_with("SESSION_JWKS_URL:"), "{err}");
}

/// The JSON text of `claims` without `email`, then `members` (raw JSON members) appended.
fn raw_claims(claims: &Value, members: &str) -> String {
    let mut without = claims.clone();
    if let Some(map) = without.as_object_mut() {
        map.remove("email");
    }
    let text = without.to_string();
    format!("{},{members}}}", text.trim_end_matches('}'))
}
