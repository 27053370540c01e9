//! Every file in events/ through the real event path: `App::handle` reads the front door's event
//! and answers in the proxy response shape every front door reads. What each file must get is
//! the one table in `rai_devtools::events`, which the binary test and the demo share.

use std::path::Path;

use rai_devtools::events::{Deployment, PLACEHOLDER, expected};
use serde_json::Value;

use crate::helpers::*;

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
    assert!(files.len() >= 9, "{files:?}");

    let token = mint_hs(&claims());
    for file in &files {
        let (deployment, status) = expected(file)
            .unwrap_or_else(|| panic!("events/{file} has no expectation in rai_devtools::events"));
        let text = std::fs::read_to_string(dir.join(file)).expect("read the event");
        let t = match deployment {
            Deployment::Jwt => &jwt,
            Deployment::Authorizer => &authorizer,
        };
        let r = t
            .send_event(&text.replace(PLACEHOLDER, &token), &post("/").invocation())
            .await;
        assert_eq!(r.status, status, "{file}: {}", r.body);
        if status == 200 {
            let token: Option<&Value> = r.body.get("token").or_else(|| r.body.get("embedToken"));
            assert!(token.is_some(), "{file}: {}", r.body);
        }
        // With the authorizer source, a JWT sample (no authorizer claims) has no session.
        if deployment == Deployment::Jwt && file.contains("widget-auth") {
            authorizer
                .send_event(&text.replace(PLACEHOLDER, &token), &post("/").invocation())
                .await
                .assert_error(401, "missing_session");
        }
    }
    for t in [&jwt, &authorizer] {
        assert_eq!(secrets_in(&t.logs.contents()), Vec::<&str>::new());
    }
}
