//! Sessions from API Gateway authorizer claims (`SESSION_FROM_AUTHORIZER=true`): each kind of
//! authorizer, claims passed as text, and nothing read from the request itself.

use serde_json::{Value, json};

use crate::helpers::*;

/// A payload 2.0 event (HTTP API) with `authorizer` as its request context's authorizer.
fn http_api(route: &str, authorizer: Value) -> Value {
    let mut event = post(route)
        .bearer("whatever-the-authorizer-checked")
        .event();
    event["requestContext"]["authorizer"] = authorizer;
    event
}

/// A payload 1.0 event (REST API) with `authorizer` as its request context's authorizer.
fn rest_api(route: &str, authorizer: Value) -> Value {
    json!({
        "resource": route,
        "path": route,
        "httpMethod": "POST",
        "headers": { "Authorization": "whatever-the-authorizer-checked" },
        "multiValueHeaders": { "Authorization": ["whatever-the-authorizer-checked"] },
        "requestContext": {
            "resourcePath": route,
            "httpMethod": "POST",
            "path": format!("/Prod{route}"),
            "stage": "Prod",
            "requestId": "r-1",
            "authorizer": authorizer
        },
        "body": null,
        "isBase64Encoded": false
    })
}

async fn send(t: &TestApp, event: &Value) -> Resp {
    t.send_event(&event.to_string(), &post("/").invocation())
        .await
}

#[tokio::test]
async fn each_kind_of_authorizer_signs_the_user_in() {
    let t = spawn_app()
        .authorizer()
        .var("USER_IDENTIFIERS", "data-email=email,data-user-id=sub")
        .await;
    let events = [
        (
            "HTTP API JWT authorizer",
            http_api(
                "/widget-auth",
                json!({ "jwt": { "claims": { "email": EMAIL, "email_verified": "true", "sub": "u-1", "exp": "1764092600" }, "scopes": null } }),
            ),
        ),
        (
            "HTTP API Lambda authorizer",
            http_api(
                "/widget-auth",
                json!({ "lambda": { "email": EMAIL, "email_verified": true, "sub": "u-1" } }),
            ),
        ),
        (
            "REST API Cognito authorizer",
            rest_api(
                "/widget-auth",
                json!({ "claims": { "email": EMAIL, "email_verified": "true", "sub": "u-1" } }),
            ),
        ),
        (
            "REST API Lambda authorizer",
            rest_api(
                "/widget-auth",
                json!({ "principalId": "u-1", "email": EMAIL, "integrationLatency": 9 }),
            ),
        ),
    ];
    for (kind, event) in &events {
        let r = send(&t, event).await;
        assert_eq!(r.status, 200, "{kind}: {}", r.body);
    }
    // The identifiers come from the same claims; a REST Lambda authorizer's principalId is one.
    let r = send(
        &t,
        &rest_api(
            "/embed-token",
            json!({ "principalId": "u-77", "email": EMAIL, "sub": "u-77", "integrationLatency": 3 }),
        ),
    )
    .await;
    r.assert_ok();
    let sent = t.rai.server.received_requests().await.unwrap_or_default();
    let body: Value = serde_json::from_slice(&sent.last().expect("a call").body).expect("JSON");
    assert_eq!(
        body["userIdentifiers"],
        json!({ "data-email": EMAIL, "data-user-id": "u-77" })
    );
    assert_eq!(secrets_in(&t.logs.contents()), Vec::<&str>::new());
}

#[tokio::test]
async fn numbers_passed_as_text_are_identifiers_as_they_are() {
    let t = spawn_app()
        .authorizer()
        .var("USER_IDENTIFIERS", "data-user-id=custom:id")
        .await;
    let r = send(
        &t,
        &http_api(
            "/embed-token",
            json!({ "jwt": { "claims": { "custom:id": "12345" } } }),
        ),
    )
    .await;
    r.assert_ok();
    let sent = t.rai.server.received_requests().await.unwrap_or_default();
    let body: Value = serde_json::from_slice(&sent[0].body).expect("JSON");
    assert_eq!(body["userIdentifiers"], json!({ "data-user-id": "12345" }));
}

#[tokio::test]
async fn email_verified_passed_as_text_is_honoured() {
    let t = spawn_app()
        .authorizer()
        .rai(ReturningAi::answering(SIGNIN_PATH, signin_ok()).await)
        .await;
    for verified in ["false", "False", "FALSE"] {
        let claims = json!({ "claims": { "email": EMAIL, "email_verified": verified } });
        send(&t, &rest_api("/widget-auth", claims))
            .await
            .assert_error(403, "email_not_verified");
    }
    for verified in ["true", "TRUE"] {
        let claims = json!({ "claims": { "email": EMAIL, "email_verified": verified } });
        send(&t, &rest_api("/widget-auth", claims))
            .await
            .assert_ok();
    }
}

#[tokio::test]
async fn an_array_claim_is_no_email() {
    let t = spawn_app()
        .authorizer()
        .rai(ReturningAi::never_called().await)
        .await;
    let event = http_api(
        "/widget-auth",
        json!({ "jwt": { "claims": { "email": format!("[{EMAIL} mallory@example.com]") } } }),
    );
    send(&t, &event).await.assert_error(401, "invalid_session");
}

#[tokio::test]
async fn without_authorizer_claims_there_is_no_session_whatever_the_request_says() {
    let t = spawn_app()
        .authorizer()
        .rai(ReturningAi::never_called().await)
        .vars(&[("SESSION_COOKIE", "sid")])
        .await;
    // A function URL request: a valid-looking session header, cookie and body are not read.
    let r = t
        .call(
            post("/widget-auth")
                .bearer(&mint_hs(&claims()))
                .cookie("sid=x")
                .header("x-amzn-oidc-data", "forged")
                .body(&json!({ "email": EMAIL, "requestContext": { "authorizer": { "claims": { "email": EMAIL } } } }).to_string()),
        )
        .await;
    r.assert_error(401, "missing_session");
    assert_eq!(r.header("www-authenticate"), Some("Bearer"));
    // An IAM authorizer's identity is not a user session either.
    let iam = http_api(
        "/widget-auth",
        json!({ "iam": { "accessKey": "AKIAEXAMPLE", "userArn": "arn:aws:iam::123456789012:user/x" } }),
    );
    send(&t, &iam).await.assert_error(401, "missing_session");
}
