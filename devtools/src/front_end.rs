//! The function's two local front doors on one HTTP/1.1 port:
//! - a function URL: every other request becomes a payload 2.0 event, and the function's answer
//!   the HTTP response, with nothing added (no CORS: the function answers CORS itself);
//! - the Lambda Invoke API (`POST /2015-03-31/functions/{name}/invocations`): the raw event in,
//!   the raw answer out, which is what `cargo lambda invoke --invoke-address/--invoke-port`
//!   speaks.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use hyper::body::Incoming;
use hyper::header::HeaderValue;
use hyper::{Method, Request, Response, StatusCode};
use serde_json::json;

use crate::function_url;
use crate::net::{self, Body, Server};
use crate::runtime_api::{InvokeError, RuntimeApi};

pub struct FrontEnd {
    server: Server,
}

impl FrontEnd {
    /// `timeout` is each invocation's deadline, as a function's configured timeout is.
    pub async fn start(
        addr: SocketAddr,
        runtime: Arc<RuntimeApi>,
        timeout: Duration,
    ) -> std::io::Result<Self> {
        let counter = Arc::new(AtomicU64::new(0));
        let server = net::serve(addr, move |request, peer| {
            handle(runtime.clone(), counter.clone(), timeout, request, peer)
        })
        .await?;
        Ok(Self { server })
    }

    pub fn url(&self) -> String {
        self.server.url()
    }

    pub fn addr(&self) -> SocketAddr {
        self.server.addr
    }
}

fn invoke_path(path: &str) -> bool {
    let parts: Vec<&str> = path.trim_matches('/').split('/').collect();
    matches!(parts.as_slice(), ["2015-03-31", "functions", name, "invocations"] if !name.is_empty())
}

async fn handle(
    runtime: Arc<RuntimeApi>,
    counter: Arc<AtomicU64>,
    timeout: Duration,
    request: Request<Incoming>,
    peer: SocketAddr,
) -> Response<Body> {
    let (parts, body) = request.into_parts();
    let body = match net::read_body(body).await {
        Ok(body) => body,
        Err(e) => return net::text(StatusCode::PAYLOAD_TOO_LARGE, e),
    };
    if parts.method == Method::POST && invoke_path(parts.uri.path()) {
        return match runtime.invoke_raw(body, timeout).await {
            Ok(answer) => net::respond(StatusCode::OK, "application/json", answer),
            // The Invoke API answers 200 for a failed function too, and says so in a header.
            Err(e) => {
                let (kind, error) = function_error(&e);
                let mut r = net::json(
                    StatusCode::OK,
                    &json!({"errorType": kind, "errorMessage": error}),
                );
                r.headers_mut().insert(
                    "x-amz-function-error",
                    HeaderValue::from_static("Unhandled"),
                );
                r
            }
        };
    }
    let n = counter.fetch_add(1, Ordering::Relaxed);
    let request_id = format!("{:08x}-0000-4000-9000-{n:012x}", std::process::id());
    let event = function_url::event(&parts, &body, peer.ip(), &request_id);
    match runtime.invoke(&event, timeout).await {
        Ok(answer) => function_url::response(&answer).unwrap_or_else(|e| {
            eprintln!("rai-dev: the function's answer is not a function URL response: {e}");
            internal_error(StatusCode::BAD_GATEWAY)
        }),
        Err(InvokeError::Timeout) => internal_error(StatusCode::GATEWAY_TIMEOUT),
        Err(e) => {
            eprintln!("rai-dev: {e}");
            internal_error(StatusCode::BAD_GATEWAY)
        }
    }
}

fn function_error(e: &InvokeError) -> (String, String) {
    match e {
        InvokeError::Init(f) | InvokeError::Invocation(f) | InvokeError::Exited(f) => {
            let message = f.body["errorMessage"].as_str().unwrap_or("").to_owned();
            (f.error_type.clone(), message)
        }
        InvokeError::Timeout => ("Sandbox.Timedout".into(), "Task timed out".into()),
        InvokeError::NotJson(m) => ("Runtime.InvalidResponse".into(), m.clone()),
    }
}

/// What a function URL itself answers when the function fails: Lambda's own body, no more.
fn internal_error(status: StatusCode) -> Response<Body> {
    net::json(status, &json!({"Message": "Internal Server Error"}))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Value;

    /// A function written against the Runtime API by hand, standing in for a real one: it
    /// answers each event with its method, path, cookies and a header, as a response object.
    async fn echo_function(api: String, rounds: usize) {
        let client = reqwest::Client::new();
        let base = format!("http://{api}/2018-06-01/runtime/invocation");
        for _ in 0..rounds {
            let r = client.get(format!("{base}/next")).send().await.unwrap();
            let id = r.headers()["lambda-runtime-aws-request-id"]
                .to_str()
                .unwrap()
                .to_owned();
            let event: Value = r.json().await.unwrap();
            let answer = if event.get("rawPath").is_some() {
                json!({
                    "statusCode": 201,
                    "headers": {"content-type": "application/json", "x-seen-widget": event["headers"]["x-rai-widget"]},
                    "cookies": ["seen=1; Path=/"],
                    "body": json!({"method": event["requestContext"]["http"]["method"], "path": event["rawPath"], "cookies": event["cookies"], "body": event["body"]}).to_string(),
                })
            } else {
                json!({"raw": event})
            };
            client
                .post(format!("{base}/{id}/response"))
                .body(answer.to_string())
                .send()
                .await
                .unwrap();
        }
    }

    #[tokio::test]
    async fn serves_http_as_function_url_events_and_the_invoke_api() {
        let runtime = Arc::new(
            RuntimeApi::start("127.0.0.1:0".parse().unwrap())
                .await
                .unwrap(),
        );
        let front = FrontEnd::start(
            "127.0.0.1:0".parse().unwrap(),
            runtime.clone(),
            Duration::from_secs(5),
        )
        .await
        .unwrap();
        let function = tokio::spawn(echo_function(runtime.address(), 2));
        let client = reqwest::Client::new();

        let r = client
            .post(format!("{}/api/widget-auth", front.url()))
            .header("cookie", "a=1; b=2")
            .header("x-rai-widget", "w")
            .body("hello")
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 201);
        assert_eq!(r.headers()["x-seen-widget"], "w");
        assert_eq!(r.headers()["set-cookie"], "seen=1; Path=/");
        assert!(r.headers().get("access-control-allow-origin").is_none());
        let body: Value = r.json().await.unwrap();
        assert_eq!(
            body,
            json!({"method": "POST", "path": "/api/widget-auth", "cookies": ["a=1", "b=2"], "body": "hello"})
        );

        let r = client
            .post(format!(
                "{}/2015-03-31/functions/rai-widget-auth/invocations",
                front.url()
            ))
            .body(r#"{"any":"event"}"#)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        assert_eq!(
            r.json::<Value>().await.unwrap(),
            json!({"raw": {"any": "event"}})
        );
        function.await.unwrap();
    }

    #[tokio::test]
    async fn reports_a_dead_function_as_lambda_does() {
        let runtime = Arc::new(
            RuntimeApi::start("127.0.0.1:0".parse().unwrap())
                .await
                .unwrap(),
        );
        let front = FrontEnd::start(
            "127.0.0.1:0".parse().unwrap(),
            runtime.clone(),
            Duration::from_secs(5),
        )
        .await
        .unwrap();
        runtime.function_exited("exit status: 1");
        let client = reqwest::Client::new();
        let r = client
            .get(format!("{}/widget-auth", front.url()))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 502);
        let r = client
            .post(format!(
                "{}/2015-03-31/functions/f/invocations",
                front.url()
            ))
            .body("{}")
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        assert_eq!(r.headers()["x-amz-function-error"], "Unhandled");
        assert_eq!(
            r.json::<Value>().await.unwrap()["errorType"],
            "Runtime.ExitError"
        );
    }

    #[test]
    fn recognises_only_the_invoke_path() {
        assert!(invoke_path(
            "/2015-03-31/functions/rai-widget-auth/invocations"
        ));
        assert!(!invoke_path("/2015-03-31/functions//invocations"));
        assert!(!invoke_path("/widget-auth"));
    }
}
