//! Every file in events/ through the real event path: `App::handle` reads the front door's event
//! and answers in the proxy response shape every front door reads.

use std::path::Path;

use serde_json::Value;

use crate::helpers::*;

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
    // The standard Returning.AI answers the sign-in only for the session's email.
    let t = spawn_app()
        .vars(&[
            ("SESSION_COOKIE", "rai_session"),
            ("CORS_ALLOWED_ORIGINS", "http://localhost:3000"),
        ])
        .await;

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
    expected.sort_unstable();
    assert_eq!(
        files, expected,
        "every file in events/ has an expected status"
    );

    let token = mint_hs(&claims());
    for (file, status) in EXPECTED {
        let text = std::fs::read_to_string(dir.join(file)).expect("read the event");
        let r = t
            .send_event(&text.replace(PLACEHOLDER, &token), &post("/").invocation())
            .await;
        assert_eq!(r.status, *status, "{file}: {}", r.body);
        if *status == 200 {
            let token: Option<&Value> = r.body.get("token").or_else(|| r.body.get("embedToken"));
            assert!(token.is_some(), "{file}: {}", r.body);
        }
    }
    assert_eq!(secrets_in(&t.logs.contents()), Vec::<&str>::new());
}
