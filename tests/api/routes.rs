//! Both routes end to end, CORS, routing, logs and hostile input.

use serde_json::json;
use wiremock::matchers::{body_json, header, method, path};
use wiremock::{Mock, ResponseTemplate};

use crate::helpers::*;

#[tokio::test]
async fn widget_auth_signs_in_the_session_user_and_ignores_client_identities() {
    let rai = ReturningAi::bare().await;
    // The exact headers the sign-in API needs; a request with any other email is not answered.
    Mock::given(method("POST"))
        .and(path(SIGNIN_PATH))
        .and(header("returningai-api-key", API_KEY))
        .and(header("email", EMAIL))
        .and(header("content-type", "application/json"))
        .respond_with(signin_ok())
        .expect(1)
        .mount(&rai.server)
        .await;
    let t = spawn_app().rai(rai).await;

    let r = t
        .call(
            post("/widget-auth?email=attacker@evil.test")
                .bearer(&mint_hs(&claims()))
                .header("email", "attacker@evil.test")
                .header("x-user-email", "attacker@evil.test")
                .body(r#"{"email":"attacker@evil.test","userId":"admin"}"#),
        )
        .await;

    r.assert_ok();
    assert_eq!(
        r.body,
        json!({ "token": "rai-widget-token", "refreshToken": "rai-refresh-token", "expiresIn": 300 })
    );
}

#[tokio::test]
async fn widget_auth_passes_on_only_the_token_when_that_is_all_there_is() {
    let rai = ReturningAi::expecting(
        SIGNIN_PATH,
        ResponseTemplate::new(200).set_body_json(json!({ "token": "only-token" })),
        1,
    )
    .await;
    let t = spawn_app().rai(rai).await;
    let r = t
        .call(get("/widget-auth").bearer(&mint_hs(&claims())))
        .await;
    assert_eq!(r.status, 200);
    assert_eq!(r.body, json!({ "token": "only-token" }));
}

#[tokio::test]
async fn embed_token_sends_the_session_identifiers() {
    let rai = ReturningAi::bare().await;
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
        .mount(&rai.server)
        .await;
    let t = spawn_app()
        .rai(rai)
        .vars(&[("USER_IDENTIFIERS", "data-email=email,data-user-id=sub")])
        .await;

    let r = t
        .call(
            post("/embed-token")
                .bearer(&mint_hs(&claims()))
                .body(r#"{"userIdentifiers":{"data-email":"attacker@evil.test"}}"#),
        )
        .await;

    r.assert_ok();
    assert_eq!(
        r.body,
        json!({ "embedToken": "rai-embed-token", "expiresIn": 900 })
    );
}

#[tokio::test]
async fn routes_match_behind_any_prefix() {
    let rai = ReturningAi::expecting(EMBED_PATH, embed_ok(), 3).await;
    let t = spawn_app().rai(rai).await;
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
    let rai = ReturningAi::never_called().await;
    let t = spawn_app().rai(rai).await;
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
    let rai = ReturningAi::never_called().await;
    let token = mint_hs(&claims());

    let no_access_key = spawn_app()
        .rai(ReturningAi::never_called().await)
        .var("RAI_ACCESS_KEY", "")
        .await;
    no_access_key
        .call(post("/embed-token").bearer(&token))
        .await
        .assert_error(503, "not_configured");

    let no_api_key = spawn_app()
        .rai(ReturningAi::never_called().await)
        .var("RAI_API_KEY", "")
        .await;
    no_api_key
        .call(post("/widget-auth").bearer(&token))
        .await
        .assert_error(503, "not_configured");

    let no_community = spawn_app().rai(rai).var("RAI_COMMUNITY_ID", "").await;
    no_community
        .call(post("/widget-auth").bearer(&token))
        .await
        .assert_error(503, "not_configured");
}

#[tokio::test]
async fn cors_for_an_allowed_origin() {
    let rai = ReturningAi::expecting(SIGNIN_PATH, signin_ok(), 1).await;
    let t = spawn_app()
        .rai(rai)
        .vars(&[
            (
                "CORS_ALLOWED_ORIGINS",
                "https://app.example.com,https://www.example.com",
            ),
            ("SESSION_HEADER", "x-session-token"),
        ])
        .await;

    let r = t
        .call(
            post("/widget-auth")
                .header("origin", "https://www.example.com")
                .header("x-session-token", &mint_hs(&claims())),
        )
        .await;
    r.assert_ok();
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
    let rai = ReturningAi::never_called().await;
    let t = spawn_app()
        .rai(rai)
        .vars(&[("CORS_ALLOWED_ORIGINS", "https://app.example.com")])
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
    assert_eq!(t.rai.calls().await, 0);
}

#[tokio::test]
async fn without_an_allowlist_no_cors_headers_are_sent() {
    let rai = ReturningAi::answering(SIGNIN_PATH, signin_ok()).await;
    let t = spawn_app().rai(rai).await;
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
    let rai = ReturningAi::bare().await;
    Mock::given(method("POST"))
        .and(path(SIGNIN_PATH))
        .respond_with(signin_ok())
        .mount(&rai.server)
        .await;
    Mock::given(method("POST"))
        .and(path(EMBED_PATH))
        .respond_with(ResponseTemplate::new(500).set_body_string(format!("boom {API_KEY} {EMAIL}")))
        .mount(&rai.server)
        .await;
    let t = spawn_app()
        .rai(rai)
        .vars(&[("SESSION_COOKIE", "sid")])
        .await;
    let token = mint_hs(&claims());

    let ok = t
        .call(post("/widget-auth").cookie(&format!("sid={token}")))
        .await;
    assert_eq!(ok.status, 200);
    let failed = t.embed_token(&token).await;
    failed.assert_error(502, "upstream_error");
    let anonymous = t.call(post("/widget-auth")).await;
    anonymous.assert_error(401, "missing_session");
    let bad = t.widget_auth(&format!("{token}x")).await;
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
    let rai = ReturningAi::answering(SIGNIN_PATH, signin_ok()).await;
    let t = spawn_app()
        .rai(rai)
        .vars(&[("SESSION_COOKIE", "sid")])
        .await;
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
            r.assert_ok();
        } else {
            r.assert_error(status, code);
        }
    }

    // A body is never read, whatever its encoding says.
    for body in ["////AAAA/w==", "%%% not base64 %%%"] {
        let mut event = post("/widget-auth").bearer(&token).event();
        event["isBase64Encoded"] = true.into();
        event["body"] = body.into();
        let r = t
            .send_event(&event.to_string(), &post("/").invocation())
            .await;
        assert_eq!(r.status, 200, "{body}: {}", r.body);
    }

    // An Authorization header no Bearer token can be read from (not ASCII) is no session; the
    // cookie is next.
    let garbled = "Bearer \u{ff}\u{fe}";
    t.call(post("/widget-auth").header("authorization", garbled))
        .await
        .assert_error(401, "missing_session");
    let r = t
        .call(
            post("/widget-auth")
                .header("authorization", garbled)
                .cookie(&format!("sid={token}")),
        )
        .await;
    r.assert_ok();
    t.call(
        post("/widget-auth")
            .cookie("sid=\u{ff}\u{fe}")
            .cookie("other=1"),
    )
    .await
    .assert_error(401, "invalid_session");
}

#[tokio::test]
async fn malformed_events_get_a_contract_answer() {
    let t = spawn_app().rai(ReturningAi::never_called().await).await;
    for (event, code) in [
        ("", "bad_request"),
        ("{}", "bad_request"),
        ("[]", "bad_request"),
        ("null", "bad_request"),
        (r#"{"version":"2.0"}"#, "bad_request"),
        (r#"{"httpMethod": 42}"#, "bad_request"),
        (r#"{"rawPath": "/widget-auth", "#, "bad_request"),
        (
            r#"{"version":"2.0","rawPath":"/widget-auth","requestContext":{"http":{"method":"BREW"}}}"#,
            "method_not_allowed",
        ),
        (
            r#"{"version":"2.0","rawPath":"/widget-auth","requestContext":{"http":{"method":"POST"}}}"#,
            "missing_session",
        ),
    ] {
        let r = t.send_event(event, &post("/").invocation()).await;
        r.assert_error(
            match code {
                "bad_request" => 400,
                "method_not_allowed" => 405,
                _ => 401,
            },
            code,
        );
    }
    let lines = t.log_lines();
    assert_eq!(lines.len(), 9, "one log line per event: {lines:#?}");
    assert!(lines[..7].iter().all(|l| l["error"] == "bad_request"));
}

/// A REST API event (payload 1.0) from events/, with its `multiValueHeaders` replaced.
fn rest_event(headers: serde_json::Value) -> String {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/events/rest-api-widget-auth.json"
    );
    let mut event: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(path).expect("the REST event"))
            .expect("JSON");
    // API Gateway puts the last of each header's lines in `headers`.
    let last: serde_json::Map<String, serde_json::Value> = headers
        .as_object()
        .expect("an object")
        .iter()
        .map(|(k, v)| {
            (
                k.clone(),
                v.as_array()
                    .and_then(|a| a.last())
                    .cloned()
                    .unwrap_or_default(),
            )
        })
        .collect();
    event["headers"] = last.into();
    event["multiValueHeaders"] = headers;
    event.to_string()
}

#[tokio::test]
async fn a_session_sent_twice_through_a_rest_api_is_refused() {
    let t = spawn_app().var("SESSION_COOKIE", "sid").await;
    let good = mint_hs(&claims());
    let other = mint_hs(&claims_with(json!({ "email": "mallory@evil.example" })));
    let invocation = post("/").invocation();

    for headers in [
        json!({ "Authorization": [format!("Bearer {other}"), format!("Bearer {good}")] }),
        json!({ "Cookie": [format!("sid={other}"), format!("sid={good}")] }),
        json!({ "cookie": [format!("sid={other}")], "Cookie": [format!("sid={good}")] }),
    ] {
        t.send_event(&rest_event(headers.clone()), &invocation)
            .await
            .assert_error(401, "invalid_session");
    }
    // The same session twice is still that session.
    let r = t
        .send_event(
            &rest_event(json!({ "Cookie": [format!("sid={good}"), format!("sid={good}")] })),
            &invocation,
        )
        .await;
    r.assert_ok();
    assert_eq!(t.rai.calls().await, 1);
}
