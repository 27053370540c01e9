//! Prints what one request costs: time per request through `App::handle` (the event read, the
//! session check, the cached secret, a real HTTP call to a loopback stand-in, the response and
//! the log line), the session check on its own, init time, and peak memory. Figures, not
//! assertions: these machines are shared.
//!
//! Run with `cargo bench --bench handle`.

#[allow(dead_code, unused_imports)]
#[path = "../tests/api/helpers/mod.rs"]
mod helpers;

use std::time::{Duration, Instant};

use helpers::*;

const REQUESTS: usize = 2000;

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let started = Instant::now();
    let hs = spawn_app().await;
    report_once(
        "init, HS256 session secret from the environment",
        started.elapsed(),
    );
    let started = Instant::now();
    let rs = spawn_app().jwks(Idp::standard().await).await;
    report_once(
        "init, JWKS fetched from a loopback identity provider",
        started.elapsed(),
    );

    let hs_token = mint_hs(&claims());
    let rs_token = mint_rs(&claims());

    measure(
        "widget-auth, HS256 session, upstream on loopback",
        &hs,
        || post("/widget-auth").bearer(&hs_token),
    )
    .await;
    measure(
        "embed-token, RS256 session, upstream on loopback",
        &rs,
        || post("/embed-token").bearer(&rs_token),
    )
    .await;

    // Session checks alone: an expired token is fully parsed and verified, then refused, and
    // nobody answers upstream.
    let expired = |token_for: &dyn Fn(&serde_json::Value) -> String| {
        token_for(&claims_with(serde_json::json!({ "exp": now() - 3600 })))
    };
    let hs_expired = expired(&mint_hs);
    let rs_expired = expired(&mint_rs);
    let es_expired = expired(&|c| mint(jsonwebtoken::Algorithm::ES256, &ec(), Some("ec-1"), c));
    let refused = spawn_app()
        .rai(ReturningAi::bare().await)
        .jwks(Idp::standard().await)
        .await;
    let hs_refused = spawn_app().rai(ReturningAi::bare().await).await;
    measure(
        "session check only, HS256 (refused as expired)",
        &hs_refused,
        || post("/widget-auth").bearer(&hs_expired),
    )
    .await;
    measure(
        "session check only, RS256 (refused as expired)",
        &refused,
        || post("/widget-auth").bearer(&rs_expired),
    )
    .await;
    measure(
        "session check only, ES256 (refused as expired)",
        &refused,
        || post("/widget-auth").bearer(&es_expired),
    )
    .await;
    measure("no session (401 before any crypto)", &refused, || {
        post("/widget-auth")
    })
    .await;

    println!("peak resident memory of this process: {}", peak_rss());
}

async fn measure(name: &str, t: &TestApp, request: impl Fn() -> Req) {
    // Warm the connection pool and caches, as a warm Lambda would be.
    for _ in 0..50 {
        let req = request();
        t.app
            .handle(&req.event().to_string(), &req.invocation())
            .await;
    }
    let mut times = Vec::with_capacity(REQUESTS);
    for _ in 0..REQUESTS {
        let req = request();
        let (event, invocation) = (req.event().to_string(), req.invocation());
        let started = Instant::now();
        let response = t.app.handle(&event, &invocation).await;
        times.push(started.elapsed());
        std::hint::black_box(response);
    }
    times.sort();
    let mean = times.iter().sum::<Duration>() / u32::try_from(times.len()).unwrap_or(u32::MAX);
    println!(
        "{name}: mean {:?}, p50 {:?}, p99 {:?} over {REQUESTS} requests",
        mean,
        times[times.len() / 2],
        times[times.len() * 99 / 100]
    );
}

fn report_once(name: &str, d: Duration) {
    println!("{name}: {d:?}");
}

fn peak_rss() -> String {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM"))
                .map(|l| l.split_whitespace().skip(1).collect::<Vec<_>>().join(" "))
        })
        .unwrap_or_else(|| "unknown".into())
}
