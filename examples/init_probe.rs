//! The function's init steps one by one, each timed, in the environment the function gets
//! (`rai-dev bench` runs this with it): the AWS configuration load, one load of the root
//! store, the outbound client's build (which loads the roots for reqwest's verifier), then each
//! upstream called twice, so that the first call (DNS, TCP, TLS handshake, the AWS SDK's own
//! root load) can be set against a warm one. Figures for the README's TLS breakdown; not part of
//! the function.
//!
//! `cargo build --release --example init_probe`

use std::time::Instant;

use aws_config::BehaviorVersion;
use rai_widget_auth::outbound;

fn var(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.is_empty())
}

fn row(step: &str, started: Instant) -> Instant {
    println!(
        "| {step} | {:.2} |",
        started.elapsed().as_secs_f64() * 1000.0
    );
    Instant::now()
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    println!("| step | ms |\n|---|---|");
    let t = Instant::now();
    let sdk = aws_config::load_defaults(BehaviorVersion::latest()).await;
    let t = row("AWS config load (`aws_config::load_defaults`)", t);
    let roots = rustls_native_certs::load_native_certs();
    let mut store = rustls::RootCertStore::empty();
    let (added, _) = store.add_parsable_certificates(roots.certs);
    let t = row(
        &format!("root store load ({added} roots, SSL_CERT_FILE)"),
        t,
    );
    let http = outbound::client().expect("the outbound client");
    let mut t = row(
        "reqwest client build (its verifier loads the roots again)",
        t,
    );
    if let Some(secret_id) = var("RAI_SECRET_ID") {
        let sm = aws_sdk_secretsmanager::Client::new(&sdk);
        for n in ["first (SDK root load, connect, handshake)", "second (warm)"] {
            let read = sm.get_secret_value().secret_id(&secret_id).send().await;
            t = row(
                &format!("Secrets Manager GetSecretValue, {n}, ok={}", read.is_ok()),
                t,
            );
        }
    }
    if let Some(jwks) = var("SESSION_JWKS_URL") {
        for n in ["first (connect, handshake)", "second (warm)"] {
            let got = http.get(&jwks).send().await;
            t = row(
                &format!("identity provider JWKS GET, {n}, ok={}", got.is_ok()),
                t,
            );
        }
    }
    if let (Some(base), Some(community)) = (var("RAI_WIDGET_API_URL"), var("RAI_COMMUNITY_ID")) {
        let url = format!("{}/widget/{community}/signin", base.trim_end_matches('/'));
        for n in ["first (connect, handshake)", "second (warm)"] {
            let got = http
                .post(&url)
                .header(
                    "returningai-api-key",
                    var("RAI_API_KEY").unwrap_or_default(),
                )
                .header("email", "probe@example.com")
                .header("content-type", "application/json")
                .body("{}")
                .send()
                .await;
            t = row(
                &format!(
                    "Returning.AI sign-in POST, {n}, status={:?}",
                    got.map(|r| r.status().as_u16())
                ),
                t,
            );
        }
    }
}
