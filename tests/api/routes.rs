//! Both routes end to end, CORS, routing, logs and hostile input.

use serde_json::json;
use wiremock::matchers::{body_json, header, method, path};
use wiremock::{Mock, ResponseTemplate};

use crate::support::*;

#[tokio::test]
async fn widget_auth_signs_in_the_session_user_and_ignores_client_identities() {
    let rai = rai().await;
    // The exact headers the sign-in API needs; a request with any other email is not answered.
    Mock::given(method("POST"))
        .and(path(SIGNIN_PATH))
        .and(header("returningai-api-key", API_KEY))
        .and(header("email", EMAIL))
        .and(header("content-type", "application/json"))
        .respond_with(signin_ok())
        .expect(1)
        .mount(&rai)
        .await;
    let t = app(&local_vars(&rai)).await;

    let r = t
        .call(
            post("/widget-auth?email=attacker@evil.test")
                .bearer(&mint_hs(&claims()))
                .header("email", "attacker@evil.test")
                .header("x-user-email", "attacker@evil.test")
                .body(r#"{"email":"attacker@evil.test","userId":"admin"}"#),
        )
        .await;

    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(
        r.body,
        json!({ "token": "rai-widget-token", "refreshToken": "rai-refresh-token", "expiresIn": 300 })
    );
}

#[tokio::test]
async fn widget_auth_passes_on_only_the_token_when_that_is_all_there_is() {
    let rai = rai_expecting(
        SIGNIN_PATH,
        ResponseTemplate::new(200).set_body_json(json!({ "token": "only-token" })),
        1,
    )
    .await;
    let t = app(&local_vars(&rai)).await;
    let r = t
        .call(get("/widget-auth").bearer(&mint_hs(&claims())))
        .await;
    assert_eq!(r.status, 200);
    assert_eq!(r.body, json!({ "token": "only-token" }));
}

#[tokio::test]
async fn embed_token_sends_the_session_identifiers() {
    let rai = rai().await;
    Mock::given(method("POST"))
        .and(path(EMBED_PATH))
        .and(header("content-type", "application/json"))
        .and(body_json(json!({
            "accessId": ACCESS_ID,
            "accessKey": ACCESS_KEY,
            "userIdentifiers": { "data-email": EMAIL, "data-user-id": "user-1" }
        })))
        .respond_with(embed_ok())
        .expect(1)
        .mount(&rai)
        .await;
    let t = app(&with(
        &local_vars(&rai),
        &[("USER_IDENTIFIERS", "data-email=email,data-user-id=sub")],
    ))
    .await;

    let r = t
        .call(
            post("/embed-token")
                .bearer(&mint_hs(&claims()))
                .body(r#"{"userIdentifiers":{"data-email":"attacker@evil.test"}}"#),
        )
        .await;

    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(
        r.body,
        json!({ "embedToken": "rai-embed-token", "expiresIn": 900 })
    );
}

#[tokio::test]
async fn routes_match_behind_any_prefix() {
    let rai = rai_expecting(EMBED_PATH, embed_ok(), 3).await;
    let t = app(&local_vars(&rai)).await;
    for p in [
        "/embed-token",
        "/Prod/embed-token",
        "/api/auth/embed-token/",
    ] {
        let r = t.call(get(p).bearer(&mint_hs(&claims()))).await;
        assert_eq!(r.status, 200, "{p}: {}", r.body);
    }
}

#[tokio::test]
async fn unknown_routes_and_methods_are_refused() {
    let rai = rai_never_called().await;
    let t = app(&local_vars(&rai)).await;
    let token = mint_hs(&claims());

    for p in ["/", "/widget-auth/x", "/widget-authx", "/signin"] {
        t.call(post(p).bearer(&token))
            .await
            .assert_error(404, "not_found");
    }
    for m in ["PUT", "DELETE", "PATCH", "HEAD"] {
        let r = t.call(Req::new(m, "/widget-auth").bearer(&token)).await;
        r.assert_error(405, "method_not_allowed");
        assert_eq!(r.header("allow"), Some("GET, POST, OPTIONS"));
    }
}

#[tokio::test]
async fn a_route_without_credentials_is_not_configured() {
    let rai = rai_never_called().await;
    let token = mint_hs(&claims());

    let no_access_key = app(&with(&local_vars(&rai), &[("RAI_ACCESS_KEY", "")])).await;
    no_access_key
        .call(post("/embed-token").bearer(&token))
        .await
        .assert_error(503, "not_configured");

    let no_api_key = app(&with(&local_vars(&rai), &[("RAI_API_KEY", "")])).await;
    no_api_key
        .call(post("/widget-auth").bearer(&token))
        .await
        .assert_error(503, "not_configured");

    let no_community = app(&with(&local_vars(&rai), &[("RAI_COMMUNITY_ID", "")])).await;
    no_community
        .call(post("/widget-auth").bearer(&token))
        .await
        .assert_error(503, "not_configured");
}

#[tokio::test]
async fn cors_for_an_allowed_origin() {
    let rai = rai_expecting(SIGNIN_PATH, signin_ok(), 1).await;
    let t = app(&with(
        &local_vars(&rai),
        &[
            (
                "CORS_ALLOWED_ORIGINS",
                "https://app.example.com,https://www.example.com",
            ),
            ("SESSION_HEADER", "x-session-token"),
        ],
    ))
    .await;

    let r = t
        .call(
            post("/widget-auth")
                .header("origin", "https://www.example.com")
                .header("x-session-token", &mint_hs(&claims())),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(
        r.headers
            .get_all("access-control-allow-origin")
            .iter()
            .count(),
        1
    );
    assert_eq!(
        r.header("access-control-allow-origin"),
        Some("https://www.example.com")
    );
    assert_eq!(r.header("access-control-allow-credentials"), Some("true"));
    assert_eq!(r.header("vary"), Some("Origin"));

    // Errors carry the headers too, so the page can read them.
    let r = t
        .call(post("/widget-auth").header("origin", "https://app.example.com"))
        .await;
    r.assert_error(401, "missing_session");
    assert_eq!(
        r.header("access-control-allow-origin"),
        Some("https://app.example.com")
    );

    let r = t
        .call(
            Req::new("OPTIONS", "/widget-auth")
                .header("origin", "https://app.example.com")
                .header("access-control-request-method", "POST")
                .header("access-control-request-headers", "x-session-token"),
        )
        .await;
    assert_eq!(r.status, 204);
    assert_eq!(
        r.header("access-control-allow-origin"),
        Some("https://app.example.com")
    );
    assert_eq!(
        r.header("access-control-allow-methods"),
        Some("GET, POST, OPTIONS")
    );
    let allowed = r.header("access-control-allow-headers").unwrap_or_default();
    for h in ["authorization", "content-type", "x-session-token"] {
        assert!(allowed.split(", ").any(|a| a == h), "{h} in {allowed}");
    }
    assert_eq!(r.header("access-control-max-age"), Some("7200"));
}

#[tokio::test]
async fn a_foreign_origin_is_refused_before_any_upstream_call() {
    let rai = rai_never_called().await;
    let t = app(&with(
        &local_vars(&rai),
        &[("CORS_ALLOWED_ORIGINS", "https://app.example.com")],
    ))
    .await;

    for origin in [
        "https://evil.example",
        "null",
        "https://app.example.com.evil.example",
    ] {
        for m in ["POST", "GET", "OPTIONS"] {
            let r = t
                .call(
                    Req::new(m, "/widget-auth")
                        .header("origin", origin)
                        .header("access-control-request-method", "POST")
                        .bearer(&mint_hs(&claims())),
                )
                .await;
            r.assert_error(403, "origin_not_allowed");
            assert!(r.header("access-control-allow-origin").is_none());
        }
    }
}

#[tokio::test]
async fn without_an_allowlist_no_cors_headers_are_sent() {
    let rai = rai_answering(SIGNIN_PATH, signin_ok()).await;
    let t = app(&local_vars(&rai)).await;
    let r = t
        .call(
            post("/widget-auth")
                .header("origin", "https://anywhere.example")
                .bearer(&mint_hs(&claims())),
        )
        .await;
    assert_eq!(r.status, 200);
    assert!(
        r.headers
            .keys()
            .all(|k| !k.as_str().starts_with("access-control-"))
    );
    let preflight = t
        .call(
            Req::new("OPTIONS", "/widget-auth")
                .header("origin", "https://anywhere.example")
                .header("access-control-request-method", "POST"),
        )
        .await;
    assert_eq!(preflight.status, 204);
    assert!(
        preflight
            .headers
            .keys()
            .all(|k| !k.as_str().starts_with("access-control-"))
    );
}

#[tokio::test]
async fn one_log_line_per_request_with_no_secrets() {
    let rai = rai().await;
    Mock::given(method("POST"))
        .and(path(SIGNIN_PATH))
        .respond_with(signin_ok())
        .mount(&rai)
        .await;
    Mock::given(method("POST"))
        .and(path(EMBED_PATH))
        .respond_with(ResponseTemplate::new(500).set_body_string(format!("boom {API_KEY} {EMAIL}")))
        .mount(&rai)
        .await;
    let t = app(&with(&local_vars(&rai), &[("SESSION_COOKIE", "sid")])).await;
    let token = mint_hs(&claims());

    let ok = t
        .call(post("/widget-auth").cookie(&format!("sid={token}")))
        .await;
    assert_eq!(ok.status, 200);
    let failed = t.call(post("/embed-token").bearer(&token)).await;
    failed.assert_error(502, "upstream_error");
    let anonymous = t.call(post("/widget-auth")).await;
    anonymous.assert_error(401, "missing_session");
    let bad = t
        .call(post("/widget-auth").bearer(&format!("{token}x")))
        .await;
    bad.assert_error(401, "invalid_session");

    let lines = t.log_lines();
    assert_eq!(lines.len(), 4, "{lines:#?}");
    let first = &lines[0];
    assert_eq!(first["requestId"], "test-request-id");
    assert_eq!(first["route"], "widget-auth");
    assert_eq!(first["status"], 200);
    assert_eq!(first["coldStart"], true);
    assert!(first["totalMs"].is_u64());
    assert!(first["upstreamMs"].is_u64());
    assert!(first.get("error").is_none());
    assert_eq!(lines[1]["coldStart"], false);
    assert_eq!(lines[1]["error"], "upstream_error");
    assert_eq!(lines[1]["detail"], "Returning.AI answered 500");
    assert_eq!(lines[2]["error"], "missing_session");
    assert!(lines[2]["upstreamMs"].is_null());
    assert_eq!(lines[3]["error"], "invalid_session");

    let logs = t.logs.contents();
    assert_eq!(secrets_in(&logs), Vec::<&str>::new(), "{logs}");
    for r in [&failed, &anonymous, &bad] {
        let body = r.body.to_string();
        assert_eq!(secrets_in(&body), Vec::<&str>::new(), "{body}");
    }
}

#[tokio::test]
async fn hostile_input_gets_a_clear_answer_never_a_panic() {
    let rai = rai_answering(SIGNIN_PATH, signin_ok()).await;
    let t = app(&with(&local_vars(&rai), &[("SESSION_COOKIE", "sid")])).await;
    let token = mint_hs(&claims());
    let huge = "a".repeat(200_000);

    let cases: Vec<(Req, u16, &str)> = vec![
        (post("/widget-auth").bearer(&huge), 401, "invalid_session"),
        (
            post("/widget-auth").header("authorization", &huge),
            401,
            "missing_session",
        ),
        (
            post("/widget-auth").cookie(&format!("sid={huge}")),
            401,
            "invalid_session",
        ),
        (
            post("/widget-auth").cookie(&format!("x={huge}")),
            401,
            "missing_session",
        ),
        (
            post("/widget-auth").bearer("not.a.jwt"),
            401,
            "invalid_session",
        ),
        (post("/widget-auth").bearer("...."), 401, "invalid_session"),
        (
            post("/widget-auth").bearer("%00%ff"),
            401,
            "invalid_session",
        ),
        (
            post("/widget-auth").bearer("e30.e30.e30"),
            401,
            "invalid_session",
        ),
        (
            post("/widget-auth").cookie("sid=one").cookie("sid=two"),
            401,
            "invalid_session",
        ),
        (post("/widget-auth").cookie("sid"), 401, "missing_session"),
        (post("/widget-auth").cookie("=;=;;"), 401, "missing_session"),
        (
            post("/widget-auth").header("authorization", "Basic dXNlcjpwYXNz"),
            401,
            "missing_session",
        ),
        (post("/widget-auth").bearer(&token).body(&huge), 200, ""),
        (
            post("/widget-auth")
                .bearer(&token)
                .body("\u{0}\u{fffd}{not json"),
            200,
            "",
        ),
        (
            post("/widget-auth")
                .cookie(&format!("sid={token}"))
                .cookie(&format!("sid={token}")),
            200,
            "",
        ),
    ];
    for (req, status, code) in cases {
        let r = t.call(req).await;
        if status == 200 {
            assert_eq!(r.status, 200, "{}", r.body);
        } else {
            r.assert_error(status, code);
        }
    }

    // Bytes no UTF-8 header string can hold, and a base64 body, through the real deserializer.
    let mut event = post("/widget-auth").bearer(&token).event();
    event["isBase64Encoded"] = true.into();
    event["body"] = "////AAAA/w==".into();
    let r = t
        .send(
            lambda_http::request::from_str(&event.to_string())
                .expect("lambda_http reads a base64 body"),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);

    // An Authorization header no Bearer token can be read from is no session; the cookie is next.
    let mut request = post("/widget-auth").request();
    request.headers_mut().insert(
        "authorization",
        lambda_http::http::HeaderValue::from_bytes(b"Bearer \xff\xfe").unwrap(),
    );
    t.send(request).await.assert_error(401, "missing_session");
    let mut request = post("/widget-auth")
        .cookie(&format!("sid={token}"))
        .request();
    request.headers_mut().insert(
        "authorization",
        lambda_http::http::HeaderValue::from_bytes(b"Bearer \xff\xfe").unwrap(),
    );
    assert_eq!(t.send(request).await.status, 200);
    let mut request = post("/widget-auth").request();
    request.headers_mut().insert(
        "cookie",
        lambda_http::http::HeaderValue::from_bytes(b"sid=\xff\xfe; other=1").unwrap(),
    );
    t.send(request).await.assert_error(401, "invalid_session");
}

#[tokio::test]
async fn malformed_events_are_refused_or_answered_never_panicked_on() {
    let t = app(&local_vars(&rai().await)).await;
    let mut answered = 0;
    for event in [
        "",
        "{}",
        "[]",
        "null",
        r#"{"version":"2.0"}"#,
        r#"{"httpMethod": 42}"#,
        r#"{"rawPath": "/widget-auth", "#,
        r#"{"version":"2.0","rawPath":"/widget-auth","requestContext":{"http":{"method":"BREW"}}}"#,
    ] {
        // lambda_http refuses what it cannot read (the runtime then reports an invocation
        // error); what it does read must get a contract answer.
        if let Ok(request) = lambda_http::request::from_str(event) {
            answered += 1;
            let r = t.send(request).await;
            assert!(
                matches!(
                    r.error(),
                    "not_found" | "method_not_allowed" | "missing_session"
                ),
                "{event:?}: {} {}",
                r.status,
                r.body
            );
        }
    }
    assert!(
        answered >= 1,
        "the last event is readable and must be answered"
    );
}
