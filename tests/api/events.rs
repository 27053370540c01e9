//! Every file in events/ through the real event path: `App::handle` reads the front door's event
//! and answers in the proxy response shape every front door reads.

use std::path::Path;

use serde_json::Value;

use crate::helpers::*;

/// Which deployment an event is meant for.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Source {
    /// Session JWTs (HS256 here), the placeholder replaced by a fresh token.
    Jwt,
    /// `SESSION_FROM_AUTHORIZER=true`: the claims are in the event itself.
    Authorizer,
}

/// The status each sample event must get. A new file in events/ must be added here.
const EXPECTED: &[(&str, Source, u16)] = &[
    ("function-url-widget-auth.json", Source::Jwt, 200),
    ("http-api-embed-token.json", Source::Jwt, 200),
    ("rest-api-widget-auth.json", Source::Jwt, 200),
    ("preflight.json", Source::Jwt, 204),
    ("missing-session.json", Source::Jwt, 401),
    ("http-api-jwt-authorizer.json", Source::Authorizer, 200),
    ("http-api-lambda-authorizer.json", Source::Authorizer, 200),
    ("rest-api-cognito-authorizer.json", Source::Authorizer, 200),
    ("rest-api-lambda-authorizer.json", Source::Authorizer, 200),
];

const PLACEHOLDER: &str = "REPLACE_WITH_SESSION_JWT";

#[tokio::test]
async fn every_sample_event_gets_its_status() {
    // The standard Returning.AI answers the sign-in only for the session's email.
    let jwt = spawn_app()
        .vars(&[
            ("SESSION_COOKIE", "rai_session"),
            ("CORS_ALLOWED_ORIGINS", "http://localhost:3000"),
        ])
        .await;
    let authorizer = spawn_app().authorizer().await;

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
    let mut expected: Vec<&str> = EXPECTED.iter().map(|(f, _, _)| *f).collect();
    expected.sort_unstable();
    assert_eq!(
        files, expected,
        "every file in events/ has an expected status"
    );

    let token = mint_hs(&claims());
    for (file, source, status) in EXPECTED {
        let text = std::fs::read_to_string(dir.join(file)).expect("read the event");
        let t = match source {
            Source::Jwt => &jwt,
            Source::Authorizer => &authorizer,
        };
        let r = t
            .send_event(&text.replace(PLACEHOLDER, &token), &post("/").invocation())
            .await;
        assert_eq!(r.status, *status, "{file}: {}", r.body);
        if *status == 200 {
            let token: Option<&Value> = r.body.get("token").or_else(|| r.body.get("embedToken"));
            assert!(token.is_some(), "{file}: {}", r.body);
        }
    }
    for t in [&jwt, &authorizer] {
        assert_eq!(secrets_in(&t.logs.contents()), Vec::<&str>::new());
    }
    // The authorizer events were answered from their claims: with the authorizer source, the
    // same events without them (through a function URL) have no session.
    for (file, source, _) in EXPECTED {
        if *source == Source::Jwt && file.contains("widget-auth") {
            let text = std::fs::read_to_string(dir.join(file)).expect("read the event");
            let r = authorizer
                .send_event(&text.replace(PLACEHOLDER, &token), &post("/").invocation())
                .await;
            r.assert_error(401, "missing_session");
        }
    }
}
