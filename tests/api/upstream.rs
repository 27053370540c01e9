//! What Returning.AI answers, and what the caller gets back.

use std::time::{Duration, Instant};

use serde_json::json;
use wiremock::ResponseTemplate;

use crate::helpers::*;

async fn widget_auth_against(response: ResponseTemplate) -> Resp {
    let rai = ReturningAi::answering(SIGNIN_PATH, response).await;
    let t = spawn_app().rai(rai).await;
    t.widget_auth(&mint_hs(&claims())).await
}

#[tokio::test]
async fn rate_limiting_is_passed_on_with_retry_after() {
    let r = widget_auth_against(ResponseTemplate::new(429).insert_header("retry-after", "7")).await;
    r.assert_error(429, "upstream_rate_limited");
    assert_eq!(r.header("retry-after"), Some("7"));

    let r = widget_auth_against(
        ResponseTemplate::new(429).insert_header("retry-after", "Wed, 25 Nov 2026 10:00:00 GMT"),
    )
    .await;
    assert_eq!(
        r.header("retry-after"),
        Some("Wed, 25 Nov 2026 10:00:00 GMT")
    );

    let r =
        widget_auth_against(ResponseTemplate::new(429).insert_header("retry-after", "<script>"))
            .await;
    r.assert_error(429, "upstream_rate_limited");
    assert_eq!(
        r.header("retry-after"),
        None,
        "only well-formed values are passed on"
    );
}

#[tokio::test]
async fn upstream_failures_are_502_without_their_body() {
    let leaky = format!("internal error for {EMAIL} with key {API_KEY}");
    for response in [
        ResponseTemplate::new(500).set_body_string(leaky.clone()),
        ResponseTemplate::new(503),
        ResponseTemplate::new(404).set_body_string(leaky.clone()),
        ResponseTemplate::new(400).set_body_json(json!({ "message": leaky })),
        ResponseTemplate::new(401),
        ResponseTemplate::new(302).insert_header("location", "https://elsewhere.example/"),
        ResponseTemplate::new(200).set_body_string("<html>not json</html>"),
        ResponseTemplate::new(200).set_body_json(json!(["token"])),
        ResponseTemplate::new(200).set_body_json(json!({ "token": "" })),
        ResponseTemplate::new(200).set_body_json(json!({ "token": 42 })),
        ResponseTemplate::new(200).set_body_json(json!({ "data": { "token": "nested" } })),
        ResponseTemplate::new(200)
            .set_body_string(format!("{{\"token\":\"{}\"}}", "x".repeat(100_000))),
    ] {
        let r = widget_auth_against(response).await;
        r.assert_error(502, "upstream_error");
        assert_eq!(secrets_in(&r.body.to_string()), Vec::<&str>::new());
        assert!(!r.body.to_string().contains("internal error"));
    }
}

#[tokio::test]
async fn embed_token_needs_data_embed_token() {
    for body in [
        json!({ "embedToken": "top-level" }),
        json!({ "data": {} }),
        json!({ "data": { "embedToken": null } }),
        json!({ "data": "rai-embed-token" }),
    ] {
        let rai = ReturningAi::answering(
            EMBED_PATH,
            ResponseTemplate::new(200).set_body_json(body.clone()),
        )
        .await;
        let t = spawn_app().rai(rai).await;
        t.embed_token(&mint_hs(&claims()))
            .await
            .assert_error(502, "upstream_error");
    }
    // expiresIn is optional upstream; the token alone is passed on.
    let rai = ReturningAi::answering(
        EMBED_PATH,
        ResponseTemplate::new(200).set_body_json(json!({ "data": { "embedToken": "t" } })),
    )
    .await;
    let t = spawn_app().rai(rai).await;
    let r = t.embed_token(&mint_hs(&claims())).await;
    assert_eq!(r.body, json!({ "embedToken": "t" }));
}

#[tokio::test]
async fn a_slow_upstream_times_out() {
    let rai =
        ReturningAi::answering(SIGNIN_PATH, signin_ok().set_delay(Duration::from_secs(3))).await;
    let t = spawn_app()
        .rai(rai)
        .vars(&[("RAI_UPSTREAM_TIMEOUT_MS", "300")])
        .await;
    let r = t.widget_auth(&mint_hs(&claims())).await;
    r.assert_error(504, "upstream_timeout");
}

#[tokio::test]
async fn the_invocation_deadline_caps_the_timeout() {
    let rai =
        ReturningAi::answering(SIGNIN_PATH, signin_ok().set_delay(Duration::from_secs(4))).await;
    // The configured timeout is long; the invocation has under a second left.
    let t = spawn_app()
        .rai(rai)
        .vars(&[("RAI_UPSTREAM_TIMEOUT_MS", "20000")])
        .await;
    let started = Instant::now();
    let r = t
        .call(
            post("/widget-auth")
                .bearer(&mint_hs(&claims()))
                .deadline_in(800),
        )
        .await;
    r.assert_error(504, "upstream_timeout");
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "answered before the upstream's 4 s: {:?}",
        started.elapsed()
    );
    // The call was made and cut off by the deadline: its time is logged, not lost.
    let line = &t.log_lines()[0];
    let upstream_ms = line["upstreamMs"].as_u64().expect("upstreamMs is a number");
    assert!((300..800).contains(&upstream_ms), "{line}");
}

#[tokio::test]
async fn no_call_is_made_when_the_deadline_has_passed() {
    let rai = ReturningAi::never_called().await;
    let t = spawn_app().rai(rai).await;
    t.call(
        post("/widget-auth")
            .bearer(&mint_hs(&claims()))
            .deadline_in(100),
    )
    .await
    .assert_error(504, "upstream_timeout");
}

#[tokio::test]
async fn redirects_are_not_followed_with_the_api_key() {
    let elsewhere = ReturningAi::never_called().await;
    let r = widget_auth_against(
        ResponseTemplate::new(307).insert_header("location", format!("{}/steal", elsewhere.uri())),
    )
    .await;
    r.assert_error(502, "upstream_error");
}

#[tokio::test]
async fn an_unreachable_upstream_is_502() {
    let closed = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let url = format!("http://{}", closed.local_addr().expect("addr"));
    drop(closed);
    let rai = ReturningAi::bare().await;
    let t = spawn_app()
        .rai(rai)
        .vars(&[("RAI_WIDGET_API_URL", &url), ("RAI_API_V2_URL", &url)])
        .await;
    for route in ["/widget-auth", "/embed-token"] {
        let r = t.call(post(route).bearer(&mint_hs(&claims()))).await;
        r.assert_error(502, "upstream_error");
    }
    let logs = t.logs.contents();
    assert!(logs.contains("transport error"), "{logs}");
}

#[tokio::test]
async fn success_false_is_an_upstream_error_even_with_a_token() {
    for (route, path, body) in [
        (
            "/widget-auth",
            SIGNIN_PATH,
            json!({ "success": false, "token": "rai-widget-token" }),
        ),
        (
            "/embed-token",
            EMBED_PATH,
            json!({ "success": false, "data": { "embedToken": "rai-embed-token" } }),
        ),
    ] {
        let rai =
            ReturningAi::answering(path, ResponseTemplate::new(200).set_body_json(body)).await;
        let t = spawn_app().rai(rai).await;
        let r = t.call(post(route).bearer(&mint_hs(&claims()))).await;
        r.assert_error(502, "upstream_error");
        assert_eq!(secrets_in(&r.body.to_string()), Vec::<&str>::new());
        assert_eq!(
            t.log_lines()[0]["detail"],
            "Returning.AI unusable body: success: false"
        );
    }
}
