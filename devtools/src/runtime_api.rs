//! A stand-in for the Lambda Runtime API (the `AWS_LAMBDA_RUNTIME_API` a function polls), so the
//! real function binary runs here exactly as in Lambda: it asks for the next event, answers it,
//! and reports errors, over HTTP on loopback.
//!
//! Any number of pollers may wait on `/next` at once: one process may poll with several
//! connections (Lambda Managed Instances, `AWS_LAMBDA_MAX_CONCURRENCY`), and each event goes to
//! exactly one of them.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock, PoisonError};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use hyper::body::Incoming;
use hyper::header::{CONTENT_TYPE, HeaderValue};
use hyper::{Method, Request, Response, StatusCode};
use serde_json::{Value, json};
use tokio::sync::{mpsc, oneshot, watch};

use crate::net::{self, Body, Server};

const PREFIX: &str = "/2018-06-01/runtime";
/// What the stand-in calls the function, in the ARN it hands out.
pub const FUNCTION_NAME: &str = "rai-widget-auth";
/// Real Lambda gives a function a moment past its deadline before it reports a timeout; a
/// response racing the deadline is then still taken.
const DEADLINE_GRACE: Duration = Duration::from_millis(200);

/// An error the function reported, as it reported it.
#[derive(Debug, Clone, PartialEq)]
pub struct FunctionError {
    /// `Lambda-Runtime-Function-Error-Type`, else the body's `errorType`.
    pub error_type: String,
    /// The body the function posted (`{"errorType", "errorMessage", ...}`), or `null`.
    pub body: Value,
}

#[derive(Debug)]
pub enum InvokeError {
    /// The function failed before it served anything: it posted to `/init/error`, or its
    /// process ended before it first asked for an event.
    Init(FunctionError),
    /// The function posted to `/invocation/{id}/error` for this event.
    Invocation(FunctionError),
    /// The function's process ended after it had started serving.
    Exited(FunctionError),
    /// No answer before the deadline.
    Timeout,
    /// The function answered with something that is not JSON.
    NotJson(String),
}

impl std::fmt::Display for InvokeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Init(e) => write!(f, "init error {}: {}", e.error_type, e.body),
            Self::Invocation(e) => write!(f, "invocation error {}: {}", e.error_type, e.body),
            Self::Exited(e) => write!(f, "the function exited: {}", e.body),
            Self::Timeout => write!(f, "the function did not answer before the deadline"),
            Self::NotJson(e) => write!(f, "the function's answer is not JSON: {e}"),
        }
    }
}

impl std::error::Error for InvokeError {}

#[derive(Debug, Clone)]
enum Failure {
    Init(FunctionError),
    Exited(FunctionError),
}

enum Outcome {
    Response(Bytes),
    Error(FunctionError),
}

struct Invocation {
    id: String,
    event: Bytes,
    deadline_ms: u128,
    trace_id: String,
}

/// The `Lambda-Runtime-Trace-Id` each invocation gets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TraceIds {
    /// A new one per invocation, as Lambda sends them.
    PerInvocation,
    /// One for all, so that the benchmark's soak can tell what a runtime keeps per distinct
    /// trace id (lambda_runtime puts each into the environment) from everything else.
    Same,
}

struct State {
    trace_ids: TraceIds,
    /// The path the Runtime API's own paths sit under: empty, as on Lambda, or a function's
    /// prefix, as `cargo lambda watch` serves several functions from one port.
    base: String,
    queue: mpsc::UnboundedSender<Invocation>,
    // Pollers take turns at the receiver; one waits while the others wait for the lock, and
    // `recv` is cancel-safe, so a poller that hangs up loses no event.
    next: tokio::sync::Mutex<mpsc::UnboundedReceiver<Invocation>>,
    waiting: Mutex<HashMap<String, oneshot::Sender<Outcome>>>,
    failure: watch::Sender<Option<Failure>>,
    polled: AtomicBool,
    /// When the function first asked for an event (the end of its init).
    first_poll: OnceLock<Instant>,
    counter: AtomicU64,
}

pub struct RuntimeApi {
    server: Server,
    state: Arc<State>,
}

impl RuntimeApi {
    pub async fn start(addr: SocketAddr) -> std::io::Result<Self> {
        Self::start_with(addr, TraceIds::PerInvocation).await
    }

    pub async fn start_with(addr: SocketAddr, trace_ids: TraceIds) -> std::io::Result<Self> {
        Self::start_under(addr, trace_ids, "").await
    }

    /// Serves the Runtime API under `base` (`/.rt/name`, as `cargo lambda watch` does); its
    /// [`RuntimeApi::url`] is then the value of `AWS_LAMBDA_RUNTIME_API`.
    pub async fn start_under(
        addr: SocketAddr,
        trace_ids: TraceIds,
        base: &str,
    ) -> std::io::Result<Self> {
        let (queue, next) = mpsc::unbounded_channel();
        let state = Arc::new(State {
            trace_ids,
            base: base.trim_end_matches('/').to_owned(),
            queue,
            next: tokio::sync::Mutex::new(next),
            waiting: Mutex::new(HashMap::new()),
            failure: watch::Sender::new(None),
            polled: AtomicBool::new(false),
            first_poll: OnceLock::new(),
            counter: AtomicU64::new(0),
        });
        let shared = state.clone();
        let server = net::serve(addr, move |request, _| route(shared.clone(), request)).await?;
        Ok(Self { server, state })
    }

    /// `host:port`, the value of `AWS_LAMBDA_RUNTIME_API` on Lambda.
    pub fn address(&self) -> String {
        self.server.addr.to_string()
    }

    /// `http://host:port/base`, the value of `AWS_LAMBDA_RUNTIME_API` under `cargo lambda watch`.
    pub fn url(&self) -> String {
        format!("http://{}{}", self.server.addr, self.state.base)
    }

    /// Hands `event` to the next poller and waits for the function's answer until `timeout`
    /// (which is also the deadline the function is told).
    pub async fn invoke(&self, event: &Value, timeout: Duration) -> Result<Value, InvokeError> {
        let raw = self
            .invoke_raw(Bytes::from(event.to_string()), timeout)
            .await?;
        serde_json::from_slice(&raw).map_err(|e| InvokeError::NotJson(e.to_string()))
    }

    /// As `invoke`, with the event and the answer as the bytes that travel.
    pub async fn invoke_raw(&self, event: Bytes, timeout: Duration) -> Result<Bytes, InvokeError> {
        let mut failure = self.state.failure.subscribe();
        if let Some(f) = failure.borrow_and_update().clone() {
            return Err(f.into());
        }
        let n = self.state.counter.fetch_add(1, Ordering::Relaxed);
        let id = request_id(n);
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default();
        let (answer, answered) = oneshot::channel();
        lock(&self.state.waiting).insert(id.clone(), answer);
        let invocation = Invocation {
            id: id.clone(),
            event,
            deadline_ms: (now + timeout).as_millis(),
            trace_id: match self.state.trace_ids {
                TraceIds::PerInvocation => {
                    format!("Root=1-{:08x}-{:024x};Sampled=0", now.as_secs(), n)
                }
                TraceIds::Same => "Root=1-00000000-000000000000000000000000;Sampled=0".into(),
            },
        };
        // The receiver lives in `state`, which `self` holds: sending cannot fail.
        let _ = self.state.queue.send(invocation);

        let outcome = tokio::select! {
            outcome = answered => outcome.ok(),
            () = tokio::time::sleep(timeout + DEADLINE_GRACE) => None,
            failed = failure.wait_for(Option::is_some) => {
                let f = failed.ok().and_then(|f| f.clone());
                lock(&self.state.waiting).remove(&id);
                return Err(f.map_or(InvokeError::Timeout, Into::into));
            }
        };
        lock(&self.state.waiting).remove(&id);
        match outcome {
            Some(Outcome::Response(body)) => Ok(body),
            Some(Outcome::Error(e)) => Err(InvokeError::Invocation(e)),
            None => Err(InvokeError::Timeout),
        }
    }

    /// Called when the function's process ends: like Lambda, an exit before the first poll is an
    /// init error, a later one fails what is in flight and everything after it.
    pub fn function_exited(&self, status: &str) {
        let error = FunctionError {
            error_type: "Runtime.ExitError".into(),
            body: json!({"errorType": "Runtime.ExitError", "errorMessage": format!("Runtime exited: {status}")}),
        };
        let failure = if self.state.polled.load(Ordering::SeqCst) {
            Failure::Exited(error)
        } else {
            Failure::Init(error)
        };
        self.state.failure.send_if_modified(|f| {
            let first = f.is_none();
            if first {
                *f = Some(failure);
            }
            first
        });
    }

    /// Why the function cannot serve, once it cannot (init error or exit).
    pub fn failure(&self) -> Option<String> {
        self.state
            .failure
            .borrow()
            .as_ref()
            .map(|f| InvokeError::from(f.clone()).to_string())
    }

    /// Whether the function has asked for an event at least once (it finished its init).
    pub fn has_polled(&self) -> bool {
        self.state.polled.load(Ordering::SeqCst)
    }

    /// When the function first asked for an event, if it has.
    pub fn first_poll(&self) -> Option<Instant> {
        self.state.first_poll.get().copied()
    }
}

impl From<Failure> for InvokeError {
    fn from(f: Failure) -> Self {
        match f {
            Failure::Init(e) => Self::Init(e),
            Failure::Exited(e) => Self::Exited(e),
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    // The maps hold plain data, whole after any panic.
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// A request id shaped like Lambda's (a UUID), unique per stand-in and process.
fn request_id(n: u64) -> String {
    let pid = std::process::id();
    format!("{pid:08x}-0000-4000-8000-{n:012x}")
}

async fn route(state: Arc<State>, request: Request<Incoming>) -> Response<Body> {
    let path = request.uri().path().to_owned();
    let Some(rest) = path
        .strip_prefix(state.base.as_str())
        .and_then(|p| p.strip_prefix(PREFIX))
    else {
        return net::text(StatusCode::NOT_FOUND, "not a Runtime API path");
    };
    let parts: Vec<&str> = rest.trim_start_matches('/').split('/').collect();
    match (request.method(), parts.as_slice()) {
        (&Method::GET, ["invocation", "next"]) => next(&state).await,
        (&Method::POST, ["invocation", id, "response"]) => {
            let id = (*id).to_owned();
            match net::read_body(request.into_body()).await {
                Ok(body) => answer(&state, &id, Outcome::Response(body)),
                Err(e) => net::text(StatusCode::BAD_REQUEST, e),
            }
        }
        (&Method::POST, ["invocation", id, "error"]) => {
            let id = (*id).to_owned();
            match function_error(request).await {
                Ok(error) => answer(&state, &id, Outcome::Error(error)),
                Err(e) => net::text(StatusCode::BAD_REQUEST, e),
            }
        }
        (&Method::POST, ["init", "error"]) => match function_error(request).await {
            Ok(error) => {
                state.failure.send_if_modified(|f| {
                    let first = f.is_none();
                    if first {
                        *f = Some(Failure::Init(error));
                    }
                    first
                });
                accepted()
            }
            Err(e) => net::text(StatusCode::BAD_REQUEST, e),
        },
        _ => net::text(StatusCode::NOT_FOUND, "not a Runtime API path"),
    }
}

async fn next(state: &State) -> Response<Body> {
    state.first_poll.get_or_init(Instant::now);
    state.polled.store(true, Ordering::SeqCst);
    let invocation = loop {
        let received = state.next.lock().await.recv().await;
        let Some(invocation) = received else {
            return net::text(
                StatusCode::INTERNAL_SERVER_ERROR,
                "the stand-in is shutting down",
            );
        };
        // An event whose caller gave up (timed out) is not handed out.
        if lock(&state.waiting).contains_key(&invocation.id) {
            break invocation;
        }
    };
    let mut response = net::respond(StatusCode::OK, "application/json", invocation.event);
    let headers = response.headers_mut();
    let arn = format!("arn:aws:lambda:us-east-1:000000000000:function:{FUNCTION_NAME}");
    for (name, value) in [
        ("lambda-runtime-aws-request-id", invocation.id),
        (
            "lambda-runtime-deadline-ms",
            invocation.deadline_ms.to_string(),
        ),
        ("lambda-runtime-invoked-function-arn", arn),
        ("lambda-runtime-trace-id", invocation.trace_id),
    ] {
        // Built from digits, hex and fixed ASCII above: always a valid header value.
        if let Ok(value) = HeaderValue::from_str(&value) {
            headers.insert(name, value);
        }
    }
    response
}

fn answer(state: &State, id: &str, outcome: Outcome) -> Response<Body> {
    match lock(&state.waiting).remove(id) {
        Some(waiter) => {
            // The caller may have just timed out; the answer is then dropped, as Lambda does.
            let _ = waiter.send(outcome);
            accepted()
        }
        None => net::json(
            StatusCode::BAD_REQUEST,
            &json!({"errorType": "InvalidRequestID", "errorMessage": "unknown or answered request id"}),
        ),
    }
}

async fn function_error(request: Request<Incoming>) -> Result<FunctionError, String> {
    let header_type = request
        .headers()
        .get("lambda-runtime-function-error-type")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let is_json = request
        .headers()
        .get(CONTENT_TYPE)
        .is_none_or(|v| v.as_bytes().starts_with(b"application/"));
    let raw = net::read_body(request.into_body()).await?;
    let body: Value = if is_json {
        serde_json::from_slice(&raw).unwrap_or(Value::Null)
    } else {
        Value::Null
    };
    let error_type = header_type
        .or_else(|| body["errorType"].as_str().map(str::to_owned))
        .unwrap_or_else(|| "Unhandled".into());
    Ok(FunctionError { error_type, body })
}

fn accepted() -> Response<Body> {
    net::json(StatusCode::ACCEPTED, &json!({"status": "OK"}))
}

#[cfg(test)]
mod tests {
    use super::*;

    const RUNTIME: &str = "2018-06-01/runtime";

    async fn api() -> RuntimeApi {
        RuntimeApi::start("127.0.0.1:0".parse().unwrap())
            .await
            .unwrap()
    }

    /// One poll, as a function's runtime client does it: returns the request id, the deadline
    /// header and the event.
    async fn poll(client: &reqwest::Client, api: &str) -> (String, u128, Value) {
        let r = client
            .get(format!("http://{api}/{RUNTIME}/invocation/next"))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        let h = r.headers().clone();
        for name in [
            "lambda-runtime-invoked-function-arn",
            "lambda-runtime-trace-id",
        ] {
            assert!(h.contains_key(name), "{name}");
        }
        let id = h["lambda-runtime-aws-request-id"]
            .to_str()
            .unwrap()
            .to_owned();
        let deadline = h["lambda-runtime-deadline-ms"]
            .to_str()
            .unwrap()
            .parse()
            .unwrap();
        (id, deadline, r.json().await.unwrap())
    }

    /// The trace ids of two invocations, in order.
    async fn two_trace_ids(trace_ids: TraceIds) -> Vec<String> {
        let api = RuntimeApi::start_with("127.0.0.1:0".parse().unwrap(), trace_ids)
            .await
            .unwrap();
        let addr = api.address();
        let function = tokio::spawn(async move {
            let client = reqwest::Client::new();
            let mut seen = Vec::new();
            for _ in 0..2 {
                let r = client
                    .get(format!("http://{addr}/{RUNTIME}/invocation/next"))
                    .send()
                    .await
                    .unwrap();
                let h = r.headers();
                seen.push(h["lambda-runtime-trace-id"].to_str().unwrap().to_owned());
                let id = h["lambda-runtime-aws-request-id"]
                    .to_str()
                    .unwrap()
                    .to_owned();
                client
                    .post(format!("http://{addr}/{RUNTIME}/invocation/{id}/response"))
                    .body("{}")
                    .send()
                    .await
                    .unwrap();
            }
            seen
        });
        for n in 0..2 {
            api.invoke(&json!({ "n": n }), Duration::from_secs(5))
                .await
                .unwrap();
        }
        function.await.unwrap()
    }

    #[tokio::test]
    async fn trace_ids_are_new_per_invocation_unless_asked_to_stay_the_same() {
        let distinct = two_trace_ids(TraceIds::PerInvocation).await;
        assert_ne!(distinct[0], distinct[1]);
        assert!(distinct[0].starts_with("Root=1-"), "{}", distinct[0]);
        let same = two_trace_ids(TraceIds::Same).await;
        assert_eq!(same[0], same[1]);
    }

    #[tokio::test]
    async fn hands_out_an_event_and_returns_the_answer() {
        let api = api().await;
        assert!(api.first_poll().is_none());
        let addr = api.address();
        let function = tokio::spawn(async move {
            let client = reqwest::Client::new();
            let (id, deadline, event) = poll(&client, &addr).await;
            let now = SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .unwrap()
                .as_millis();
            assert!(
                deadline > now && deadline <= now + 5_000,
                "{deadline} vs {now}"
            );
            let r = client
                .post(format!("http://{addr}/{RUNTIME}/invocation/{id}/response"))
                .body(json!({"echo": event}).to_string())
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), 202);
            // A second answer to the same id is refused.
            let again = client
                .post(format!("http://{addr}/{RUNTIME}/invocation/{id}/response"))
                .body("{}")
                .send()
                .await
                .unwrap();
            assert_eq!(again.status(), 400);
        });
        let answer = api
            .invoke(&json!({"n": 1}), Duration::from_secs(5))
            .await
            .unwrap();
        assert_eq!(answer, json!({"echo": {"n": 1}}));
        function.await.unwrap();
        assert!(api.first_poll().is_some());
    }

    #[tokio::test]
    async fn serves_concurrent_pollers_each_event_once() {
        let api = Arc::new(api().await);
        let addr = api.address();
        // Eight pollers on their own connections, as one Managed Instances process polls.
        let mut pollers = Vec::new();
        for _ in 0..8 {
            let addr = addr.clone();
            pollers.push(tokio::spawn(async move {
                let client = reqwest::Client::new();
                let mut served = Vec::new();
                for _ in 0..2 {
                    let (id, _, event) = poll(&client, &addr).await;
                    // Hold each event a while, so that all sixteen are in flight together.
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    client
                        .post(format!("http://{addr}/{RUNTIME}/invocation/{id}/response"))
                        .body(event.to_string())
                        .send()
                        .await
                        .unwrap();
                    served.push(event["n"].as_u64().unwrap());
                }
                served
            }));
        }
        let started = std::time::Instant::now();
        let calls: Vec<_> = (0..16)
            .map(|n| {
                let api = api.clone();
                tokio::spawn(
                    async move { api.invoke(&json!({"n": n}), Duration::from_secs(5)).await },
                )
            })
            .collect();
        for (n, call) in calls.into_iter().enumerate() {
            assert_eq!(call.await.unwrap().unwrap(), json!({"n": n}));
        }
        // Sixteen events held 100 ms each by eight pollers: two rounds, not sixteen.
        assert!(
            started.elapsed() < Duration::from_millis(1_000),
            "{:?}",
            started.elapsed()
        );
        let mut served: Vec<u64> = Vec::new();
        for p in pollers {
            served.extend(p.await.unwrap());
        }
        served.sort_unstable();
        assert_eq!(served, (0..16).collect::<Vec<_>>());
    }

    #[tokio::test]
    async fn reports_invocation_and_init_errors_distinctly() {
        let api = api().await;
        let addr = api.address();
        let function = tokio::spawn(async move {
            let client = reqwest::Client::new();
            let (id, _, _) = poll(&client, &addr).await;
            client
                .post(format!("http://{addr}/{RUNTIME}/invocation/{id}/error"))
                .header("lambda-runtime-function-error-type", "Runtime.Panic")
                .header("content-type", "application/json")
                .body(r#"{"errorType":"Runtime.Panic","errorMessage":"boom"}"#)
                .send()
                .await
                .unwrap();
            client
                .post(format!("http://{addr}/{RUNTIME}/init/error"))
                .body(r#"{"errorType":"Config","errorMessage":"bad"}"#)
                .send()
                .await
                .unwrap();
        });
        match api.invoke(&json!({}), Duration::from_secs(5)).await {
            Err(InvokeError::Invocation(e)) => {
                assert_eq!(e.error_type, "Runtime.Panic");
                assert_eq!(e.body["errorMessage"], "boom");
            }
            other => panic!("{other:?}"),
        }
        function.await.unwrap();
        match api.invoke(&json!({}), Duration::from_secs(5)).await {
            Err(InvokeError::Init(e)) => assert_eq!(e.error_type, "Config"),
            other => panic!("{other:?}"),
        }
    }

    #[tokio::test]
    async fn times_out_and_sees_process_exit() {
        let api = api().await;
        let started = std::time::Instant::now();
        assert!(matches!(
            api.invoke(&json!({}), Duration::from_millis(100)).await,
            Err(InvokeError::Timeout)
        ));
        assert!(started.elapsed() < Duration::from_secs(2));
        // Never polled, then gone: that is an init failure, and it ends a waiting call at once.
        let event = json!({});
        let pending = api.invoke(&event, Duration::from_secs(30));
        let exit = async {
            tokio::time::sleep(Duration::from_millis(50)).await;
            api.function_exited("exit status: 1");
        };
        let (result, ()) = tokio::join!(pending, exit);
        assert!(matches!(result, Err(InvokeError::Init(e)) if e.error_type == "Runtime.ExitError"));
    }
}
