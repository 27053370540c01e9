//! Every file in events/ through lambda_http end to end: the real deserializer picks the front
//! door, the app answers, and lambda_http shapes the response for that front door.

use std::convert::Infallible;
use std::path::Path;

use lambda_http::request::LambdaRequest;
use lambda_http::{Adapter, Context, LambdaEvent, Request, Service, service_fn};
use serde_json::Value;
use wiremock::Mock;
use wiremock::matchers::{method, path};

use crate::support::*;

/// The status each sample event must get. A new file in events/ must be added here.
const EXPECTED: &[(&str, u16)] = &[
    ("function-url-widget-auth.json", 200),
    ("http-api-embed-token.json", 200),
    ("rest-api-widget-auth.json", 200),
    ("preflight.json", 204),
    ("missing-session.json", 401),
];

const PLACEHOLDER: &str = "REPLACE_WITH_SESSION_JWT";

#[tokio::test]
async fn every_sample_event_gets_its_status() {
    let rai = rai().await;
    Mock::given(method("POST"))
        .and(path(SIGNIN_PATH))
        .and(wiremock::matchers::header("email", EMAIL))
        .respond_with(signin_ok())
        .mount(&rai)
        .await;
    Mock::given(method("POST"))
        .and(path(EMBED_PATH))
        .respond_with(embed_ok())
        .mount(&rai)
        .await;
    let t = app(&with(
        &local_vars(&rai),
        &[
            ("SESSION_COOKIE", "rai_session"),
            ("CORS_ALLOWED_ORIGINS", "http://localhost:3000"),
        ],
    ))
    .await;
    let app = &t.app;
    let mut adapter = Adapter::from(service_fn(move |request: Request| async move {
        Ok::<_, Infallible>(app.handle(request).await)
    }));

    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("events");
    let mut files: Vec<String> = std::fs::read_dir(&dir)
        .expect("events/ exists")
        .map(|e| {
            e.expect("dir entry")
                .file_name()
                .to_string_lossy()
                .into_owned()
        })
        .filter(|name| name.ends_with(".json"))
        .collect();
    files.sort();
    let mut expected: Vec<&str> = EXPECTED.iter().map(|(f, _)| *f).collect();
    expected.sort();
    assert_eq!(
        files, expected,
        "every file in events/ has an expected status"
    );

    let token = mint_hs(&claims());
    for (file, status) in EXPECTED {
        let text = std::fs::read_to_string(dir.join(file)).expect("read the event");
        let payload: LambdaRequest = serde_json::from_str(&text.replace(PLACEHOLDER, &token))
            .unwrap_or_else(|e| panic!("{file}: lambda_http cannot read it: {e}"));
        let mut context = Context::default();
        context.request_id = format!("event-{file}");
        let response = adapter
            .call(LambdaEvent::new(payload, context))
            .await
            .expect("the adapter answers");
        let response = serde_json::to_value(&response).expect("a serializable response");

        assert_eq!(response["statusCode"], *status, "{file}: {response}");
        // REST (v1) responses put headers in multiValueHeaders, the others in headers.
        let content_type = response["headers"]["content-type"]
            .as_str()
            .or_else(|| response["multiValueHeaders"]["content-type"][0].as_str());
        assert_eq!(content_type, Some("application/json"), "{file}: {response}");
        if *status == 200 {
            let body: Value = serde_json::from_str(response["body"].as_str().expect("a body"))
                .expect("a JSON body");
            assert!(
                body.get("token")
                    .or_else(|| body.get("embedToken"))
                    .is_some(),
                "{file}: {body}"
            );
        }
    }
    assert_eq!(secrets_in(&t.logs.contents()), Vec::<&str>::new());
}
