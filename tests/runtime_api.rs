//! The function's Runtime API loop (`rai_widget_auth::runtime_api`) with handlers of these tests'
//! own, under rai-dev's Runtime API stand-in over loopback: what the real handler never does on
//! purpose (panic, outlive its invocation) and a Runtime API that is gone. `tests/runtime.rs`
//! runs the built binary, with its real handler, through the same loop.

use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rai_devtools::runtime_api::{InvokeError, RuntimeApi as StandIn, TraceIds};
use rai_widget_auth::log::Logger;
use rai_widget_auth::runtime_api::{RuntimeApi, RuntimeApiError};
use rai_widget_auth::runtime_log;
use serde_json::{Value, json};

/// What a handler that is told to panic quotes, as a real panic might quote a request.
const PAYLOAD: &str = "eyJhbGciOiJSUzI1NiJ9.payload";

#[derive(Clone, Default)]
struct Sink(Arc<Mutex<Vec<u8>>>);

impl Write for Sink {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Sink {
    fn lines(&self) -> Vec<Value> {
        let text = String::from_utf8(self.0.lock().unwrap().clone()).unwrap();
        assert!(!text.contains(PAYLOAD), "a payload in the log: {text}");
        text.lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    }

    /// Waits until a line satisfies `wanted`.
    async fn wait_for(&self, wanted: impl Fn(&Value) -> bool) -> Value {
        let started = Instant::now();
        loop {
            if let Some(line) = self.lines().into_iter().find(&wanted) {
                return line;
            }
            assert!(
                started.elapsed() < Duration::from_secs(5),
                "no such line in {:?}",
                self.lines()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

/// The stand-in, the loop serving it, its log, and the request ids of the invocations its handler
/// panicked in.
struct Serving {
    stand_in: StandIn,
    log: Sink,
    panicked: Arc<Mutex<Vec<String>>>,
}

/// The event `{"panic": true}` panics, `{"sleep_ms": n}` answers after n ms, any other is echoed
/// with its request id.
async fn serving(pollers: usize) -> Serving {
    let stand_in = StandIn::start("127.0.0.1:0".parse().unwrap())
        .await
        .unwrap();
    let log = Sink::default();
    let panicked = Arc::new(Mutex::new(Vec::new()));
    let api = RuntimeApi::new(&stand_in.address(), pollers, Logger::to(log.clone())).unwrap();
    let record = panicked.clone();
    tokio::spawn(api.serve(move |event, invocation| {
        let record = record.clone();
        async move {
            let event: Value = serde_json::from_slice(&event).unwrap_or(Value::Null);
            if let Some(ms) = event["sleep_ms"].as_u64() {
                tokio::time::sleep(Duration::from_millis(ms)).await;
            }
            if event["panic"] == true {
                record.lock().unwrap().push(invocation.request_id.clone());
                panic!("{PAYLOAD}");
            }
            json!({"requestId": invocation.request_id, "event": event})
        }
    }));
    Serving {
        stand_in,
        log,
        panicked,
    }
}

/// Two at once on a multi-thread runtime, as under Lambda Managed Instances, so that a panic line
/// could take the request id of the invocation beside it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_panic_fails_its_invocation_only_and_is_logged_without_its_message() {
    let sink = Sink::default();
    let ours = runtime_log::panic_hook(Logger::to(sink.clone()));
    // The default hook stays, so that a failing assertion here still prints.
    let default = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        ours(info);
        default(info);
    }));
    let serving = serving(2).await;
    let panics = json!({"sleep_ms": 100, "panic": true});
    let beside = json!({"sleep_ms": 300, "n": 1});
    let (failed, served) = tokio::join!(
        serving.stand_in.invoke(&panics, Duration::from_secs(5)),
        serving.stand_in.invoke(&beside, Duration::from_secs(5)),
    );
    let Err(InvokeError::Invocation(error)) = failed else {
        panic!("a panic must fail its invocation: {failed:?}");
    };
    assert_eq!(error.error_type, "Runtime.Panic");
    assert_eq!(error.body["errorType"], "Runtime.Panic");
    assert!(!error.body.to_string().contains(PAYLOAD), "{}", error.body);
    let served = served.expect("the invocation beside the panic is served");
    assert_eq!(served["event"], beside);

    let line = sink.wait_for(|l| l["event"] == "panic").await;
    assert_eq!(line["level"], "error");
    let panicked = serving.panicked.lock().unwrap().clone();
    assert_eq!(panicked.len(), 1);
    assert_eq!(
        line["requestId"], panicked[0],
        "the panicking invocation's id"
    );
    assert_ne!(served["requestId"], panicked[0]);
    assert!(
        line["detail"]
            .as_str()
            .unwrap()
            .starts_with("panicked at tests/runtime_api.rs:"),
        "{line}"
    );

    let answer = serving
        .stand_in
        .invoke(&json!({"n": 2}), Duration::from_secs(5))
        .await
        .expect("the invocation after a panic is served");
    assert_eq!(answer["event"], json!({"n": 2}));
    // lambda_runtime put every invocation's trace id here (README, Soak); this loop never does.
    assert!(std::env::var_os("_X_AMZN_TRACE_ID").is_none());
}

#[tokio::test]
async fn an_answer_the_runtime_api_refuses_is_logged_and_the_next_invocation_served() {
    let serving = serving(1).await;
    // The caller gives up before the answer: like Lambda, the stand-in then refuses it (400).
    let late = serving
        .stand_in
        .invoke(&json!({"sleep_ms": 800}), Duration::from_millis(100))
        .await;
    assert!(matches!(late, Err(InvokeError::Timeout)), "{late:?}");
    let line = serving.log.wait_for(|l| l["event"] == "runtime").await;
    assert_eq!(line["level"], "error");
    assert!(line["requestId"].is_string(), "{line}");
    let detail = line["detail"].as_str().unwrap();
    assert!(
        detail.starts_with("POST /invocation/{id}/response") && detail.contains("400"),
        "{detail}"
    );

    let answer = serving
        .stand_in
        .invoke(&json!({"n": 3}), Duration::from_secs(5))
        .await
        .expect("the next invocation is served");
    assert_eq!(answer["event"], json!({"n": 3}));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_poller_serves_its_own_invocation_at_once() {
    let serving = serving(4).await;
    let started = Instant::now();
    let events: Vec<Value> = (0..4).map(|n| json!({"sleep_ms": 400, "n": n})).collect();
    let calls = events
        .iter()
        .map(|e| serving.stand_in.invoke(e, Duration::from_secs(5)));
    let answers = futures::future::join_all(calls).await;
    let mut ids: Vec<String> = answers
        .into_iter()
        .enumerate()
        .map(|(n, a)| {
            let a = a.expect("an answer");
            assert_eq!(a["event"]["n"], n, "each invocation its own answer");
            a["requestId"].as_str().unwrap().to_owned()
        })
        .collect();
    // Four sleeps of 400 ms at once, not one after another (1.6 s).
    assert!(
        started.elapsed() < Duration::from_millis(1200),
        "{:?}",
        started.elapsed()
    );
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), 4);
}

/// A Runtime API that closes every connection without an answer, as one that is going away.
async fn gone() -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap().to_string();
    tokio::spawn(async move {
        while let Ok((connection, _)) = listener.accept().await {
            drop(connection);
        }
    });
    address
}

#[tokio::test]
async fn the_loop_ends_when_the_runtime_api_is_gone() {
    let address = gone().await;
    for pollers in [1, 3] {
        let api = RuntimeApi::new(&address, pollers, Logger::to(std::io::sink())).unwrap();
        let stopped = tokio::time::timeout(Duration::from_secs(5), api.serve(|_, _| async { 0 }))
            .await
            .expect("the loop ends");
        assert!(
            matches!(
                stopped,
                RuntimeApiError::Exchange {
                    what: "GET /invocation/next",
                    ..
                }
            ),
            "{stopped}"
        );
    }
}

/// `cargo lambda watch` serves each function's Runtime API under a path of its own and sets
/// `AWS_LAMBDA_RUNTIME_API` to that URL (`http://[::]:9000/.rt/<name>`), where Lambda gives
/// `host:port`.
#[tokio::test]
async fn a_runtime_api_under_a_path_as_cargo_lambda_watch_serves_it() {
    let stand_in = StandIn::start_under(
        "127.0.0.1:0".parse().unwrap(),
        TraceIds::PerInvocation,
        "/.rt/rai-widget-auth",
    )
    .await
    .unwrap();
    let api = RuntimeApi::new(&stand_in.url(), 1, Logger::to(std::io::sink())).unwrap();
    tokio::spawn(api.serve(|event, _| async move {
        serde_json::from_slice::<Value>(&event).unwrap_or(Value::Null)
    }));
    let answer = stand_in
        .invoke(&json!({"n": 5}), Duration::from_secs(5))
        .await
        .expect("served under the path");
    assert_eq!(answer, json!({"n": 5}));
}
