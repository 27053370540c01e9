//! Sessions from the site's userinfo endpoint: what is forwarded, how answers become statuses,
//! and the cache (per credential, refusals never kept, one call for concurrent requests).

use std::time::Duration;

use serde_json::json;
use wiremock::ResponseTemplate;

use rai_widget_auth::session::{MAX_TOKEN_BYTES, MAX_USERINFO_BYTES};

use crate::helpers::*;

const OPAQUE: &str = "opaque-access-token-7f3a9c";

async fn app_for(site: &Site) -> TestApp {
    spawn_app().userinfo(&site.me_url()).await
}

/// Every line of every response and log is free of the credential, the email and the userinfo body.
fn assert_no_leak(t: &TestApp, responses: &[&Resp]) {
    let logs = t.logs.contents();
    for needle in [OPAQUE, USERINFO_PRIVATE] {
        assert!(!logs.contains(needle), "{needle} in the logs: {logs}");
        for r in responses {
            assert!(
                !r.body.to_string().contains(needle),
                "{needle} in {}",
                r.body
            );
        }
    }
    assert_eq!(secrets_in(&logs), Vec::<&str>::new());
}

#[tokio::test]
async fn the_session_header_is_forwarded_as_it_came_and_nothing_else() {
    let site = Site::answering(userinfo_ok()).await;
    let t = app_for(&site).await;
    let r = t
        .call(
            post("/widget-auth")
                .header("authorization", &format!("bearer  {OPAQUE}"))
                .header("origin", "https://www.example.com")
                .header("x-api-key", "not-for-the-site")
                .cookie("other=1")
                .body(r#"{"email":"attacker@example.com"}"#),
        )
        .await;
    r.assert_ok();
    assert_eq!(r.body["token"], "rai-widget-token");

    let requests = site.requests().await;
    assert_eq!(requests.len(), 1);
    let sent = &requests[0];
    assert_eq!(sent.method.as_str(), "GET");
    assert_eq!(sent.url.query(), None);
    assert!(sent.body.is_empty());
    assert_eq!(
        sent.headers.get("authorization").map(|v| v.as_bytes()),
        Some(format!("bearer  {OPAQUE}").as_bytes()),
        "same name, same raw value"
    );
    let mut names: Vec<&str> = sent.headers.keys().map(|n| n.as_str()).collect();
    names.sort_unstable();
    assert_eq!(names, ["accept", "authorization", "host", "user-agent"]);
    assert_no_leak(&t, &[&r]);
}

#[tokio::test]
async fn only_the_session_cookie_is_forwarded() {
    let site = Site::answering(userinfo_ok()).await;
    let t = spawn_app()
        .userinfo(&site.me_url())
        .var("SESSION_COOKIE", "_app_session")
        .await;
    let r = t
        .call(
            post("/widget-auth")
                .cookie("theme=dark")
                .cookie(&format!("_app_session=\"{OPAQUE}\""))
                .cookie("csrftoken=abc"),
        )
        .await;
    r.assert_ok();
    let requests = site.requests().await;
    assert_eq!(requests.len(), 1);
    let cookies: Vec<&[u8]> = requests[0]
        .headers
        .get_all("cookie")
        .iter()
        .map(|v| v.as_bytes())
        .collect();
    assert_eq!(
        cookies,
        [format!("_app_session=\"{OPAQUE}\"").as_bytes()],
        "the one cookie, exactly as it arrived"
    );
    assert!(requests[0].headers.get("authorization").is_none());
    assert_no_leak(&t, &[&r]);
}

#[tokio::test]
async fn the_pointer_selects_the_claims_and_the_identifiers_come_from_them() {
    let site = Site::answering(ResponseTemplate::new(200).set_body_json(json!({
        "user": { "id": 1234, "email": EMAIL, "email_verified": "true" },
        "csrf": USERINFO_PRIVATE,
    })))
    .await;
    let t = spawn_app()
        .userinfo(&site.me_url())
        .vars(&[
            ("SESSION_USERINFO_POINTER", "/user"),
            ("USER_IDENTIFIERS", "data-email=email,data-user-id=id"),
        ])
        .await;
    let r = t.embed_token(OPAQUE).await;
    r.assert_ok();
    let sent = &t.rai.server.received_requests().await.unwrap_or_default()[0];
    let body: serde_json::Value = serde_json::from_slice(&sent.body).expect("JSON body");
    assert_eq!(
        body["userIdentifiers"],
        json!({ "data-email": EMAIL, "data-user-id": "1234" })
    );
    t.widget_auth(OPAQUE).await.assert_ok();
    assert_no_leak(&t, &[&r]);
}

#[tokio::test]
async fn each_answer_of_the_site_gets_the_contracts_status() {
    let big = "x".repeat(MAX_USERINFO_BYTES);
    let cases: Vec<(ResponseTemplate, Option<&str>, u16, &str)> = vec![
        (ResponseTemplate::new(401), None, 401, "invalid_session"),
        (ResponseTemplate::new(403), None, 401, "invalid_session"),
        (ResponseTemplate::new(500), None, 502, "upstream_error"),
        (ResponseTemplate::new(404), None, 502, "upstream_error"),
        (ResponseTemplate::new(204), None, 502, "upstream_error"),
        (
            ResponseTemplate::new(200).set_body_string("<html>sign in</html>"),
            None,
            502,
            "upstream_error",
        ),
        (
            ResponseTemplate::new(200).set_body_json(json!(["a"])),
            None,
            502,
            "upstream_error",
        ),
        (
            ResponseTemplate::new(200).set_body_json(json!({ "email": EMAIL, "pad": big })),
            None,
            502,
            "upstream_error",
        ),
        (
            ResponseTemplate::new(200).set_body_json(json!({ "user": null })),
            Some("/user"),
            401,
            "invalid_session",
        ),
        (
            ResponseTemplate::new(200).set_body_json(json!({ "email": EMAIL })),
            Some("/user"),
            502,
            "upstream_error",
        ),
        (
            ResponseTemplate::new(200).set_body_json(json!({ "user": "jane" })),
            Some("/user"),
            502,
            "upstream_error",
        ),
        (
            ResponseTemplate::new(200).set_body_json(json!({ "sub": "no-email" })),
            None,
            401,
            "invalid_session",
        ),
        (
            ResponseTemplate::new(200)
                .set_body_json(json!({ "email": EMAIL, "email_verified": false })),
            None,
            403,
            "email_not_verified",
        ),
    ];
    for (response, pointer, status, code) in cases {
        let site = Site::answering(response).await;
        let t = spawn_app()
            .rai(ReturningAi::never_called().await)
            .userinfo(&site.me_url())
            .var("SESSION_USERINFO_POINTER", pointer.unwrap_or(""))
            .await;
        let r = t.widget_auth(OPAQUE).await;
        r.assert_error(status, code);
        if status == 502 {
            let failures = t
                .log_lines()
                .into_iter()
                .filter(|l| l["event"] == "userinfo_fetch_failed")
                .count();
            assert_eq!(failures, 1, "one background line for a fetch failure");
        }
        assert_no_leak(&t, &[&r]);
    }
}

#[tokio::test]
async fn redirects_are_not_followed() {
    let elsewhere = Site::answering(userinfo_ok()).await;
    let site = Site::answering(
        ResponseTemplate::new(302).insert_header("location", elsewhere.me_url().as_str()),
    )
    .await;
    let t = app_for(&site).await;
    t.widget_auth(OPAQUE)
        .await
        .assert_error(502, "upstream_error");
    assert_eq!(
        elsewhere.calls().await,
        0,
        "the credential never went elsewhere"
    );
}

#[tokio::test]
async fn a_slow_site_is_a_timeout() {
    let site = Site::answering(userinfo_ok().set_delay(Duration::from_millis(1500))).await;
    let t = spawn_app()
        .userinfo(&site.me_url())
        .var("RAI_UPSTREAM_TIMEOUT_MS", "200")
        .await;
    let r = t.widget_auth(OPAQUE).await;
    r.assert_error(504, "upstream_timeout");
    let line = t
        .log_lines()
        .into_iter()
        .find(|l| l["event"] == "userinfo_fetch_failed")
        .expect("a background line");
    assert_eq!(line["level"], "warn");
    assert_no_leak(&t, &[&r]);
}

#[tokio::test]
async fn answers_are_cached_per_credential_for_the_ttl() {
    let site = Site::answering(userinfo_ok()).await;
    let t = spawn_app()
        .userinfo(&site.me_url())
        .var("SESSION_USERINFO_TTL_SECONDS", "1")
        .await;
    t.widget_auth(OPAQUE).await.assert_ok();
    t.embed_token(OPAQUE).await.assert_ok();
    assert_eq!(
        site.calls().await,
        1,
        "the second request used the cached answer"
    );
    t.widget_auth("another-credential").await.assert_ok();
    assert_eq!(site.calls().await, 2, "another credential is another entry");

    tokio::time::sleep(Duration::from_millis(1100)).await;
    t.widget_auth(OPAQUE).await.assert_ok();
    assert_eq!(
        site.calls().await,
        3,
        "after the TTL the site is asked again"
    );
}

#[tokio::test]
async fn a_zero_ttl_asks_every_time() {
    let site = Site::answering(userinfo_ok()).await;
    let t = spawn_app()
        .userinfo(&site.me_url())
        .var("SESSION_USERINFO_TTL_SECONDS", "0")
        .await;
    for _ in 0..3 {
        t.widget_auth(OPAQUE).await.assert_ok();
    }
    assert_eq!(site.calls().await, 3);
}

#[tokio::test]
async fn refusals_and_failures_are_never_cached() {
    for (response, status) in [
        (ResponseTemplate::new(401), 401),
        (ResponseTemplate::new(503), 502),
    ] {
        let site = Site::answering(response).await;
        let t = app_for(&site).await;
        for _ in 0..2 {
            assert_eq!(t.widget_auth(OPAQUE).await.status, status);
        }
        assert_eq!(site.calls().await, 2, "{status}: asked again");
    }
}

#[tokio::test]
async fn concurrent_requests_with_one_credential_share_one_call() {
    let site = Site::answering(userinfo_ok().set_delay(Duration::from_millis(300))).await;
    let t = app_for(&site).await;
    let requests = (0..10).map(|_| t.widget_auth(OPAQUE));
    for r in futures::future::join_all(requests).await {
        r.assert_ok();
    }
    assert_eq!(site.calls().await, 1);
}

#[tokio::test]
async fn a_waiter_whose_deadline_fires_does_not_cancel_the_shared_call() {
    let site = Site::answering(userinfo_ok().set_delay(Duration::from_millis(700))).await;
    let t = app_for(&site).await;
    // 500 ms less the 250 ms margin: this invocation gives up long before the site answers.
    let hurried = t.call(post("/widget-auth").bearer(OPAQUE).deadline_in(500));
    let patient = async {
        tokio::time::sleep(Duration::from_millis(50)).await;
        t.widget_auth(OPAQUE).await
    };
    let (hurried, patient) = tokio::join!(hurried, patient);
    hurried.assert_error(504, "upstream_timeout");
    patient.assert_ok();
    assert_eq!(
        site.calls().await,
        1,
        "the patient request joined the first call"
    );

    t.widget_auth(OPAQUE).await.assert_ok();
    assert_eq!(site.calls().await, 1, "and its answer was cached");
}

#[tokio::test]
async fn a_call_abandoned_by_every_waiter_still_fills_the_cache() {
    let site = Site::answering(userinfo_ok().set_delay(Duration::from_millis(500))).await;
    let t = app_for(&site).await;
    t.call(post("/widget-auth").bearer(OPAQUE).deadline_in(300))
        .await
        .assert_error(504, "upstream_timeout");
    tokio::time::sleep(Duration::from_millis(600)).await;
    t.widget_auth(OPAQUE).await.assert_ok();
    assert_eq!(site.calls().await, 1);
}

#[tokio::test]
async fn a_request_without_a_credential_never_reaches_the_site() {
    let site = Site::answering(userinfo_ok()).await;
    let t = app_for(&site).await;
    let r = t.call(post("/widget-auth")).await;
    r.assert_error(401, "missing_session");
    assert_eq!(r.header("www-authenticate"), Some("Bearer"));
    let r = t
        .call(post("/widget-auth").bearer(&"a".repeat(MAX_TOKEN_BYTES + 1)))
        .await;
    r.assert_error(401, "invalid_session");
    assert_eq!(site.calls().await, 0);
}
