//! The Lambda Runtime API loop (`AWS_LAMBDA_RUNTIME_API`): ask for the next invocation, hand its
//! event to the handler, post the answer, ask again. One poller; with Lambda Managed Instances,
//! one per `AWS_LAMBDA_MAX_CONCURRENCY` slot, each with its own invocation.
//!
//! Ours rather than lambda_runtime's, on lambda_runtime's own HTTP client: lambda_runtime 1.5
//! puts each invocation's X-Ray trace id into the process environment when it polls one at a
//! time, and glibc keeps every value `setenv` ever held, so an execution environment grew by the
//! size of a trace id per invocation (README, Soak). The function needs two headers of an
//! invocation, the request id and the deadline, and answers every event itself; what is left is
//! this loop.

use std::future::Future;
use std::panic::AssertUnwindSafe;

use bytes::Bytes;
use futures_util::FutureExt;
use http::{Method, Request, Response, Uri};
use http_body_util::BodyExt;
use hyper::body::Incoming;
use lambda_runtime_api_client::PooledClient;
use lambda_runtime_api_client::body::Body;
use serde::Serialize;

use crate::app::Invocation;
use crate::log::Logger;
use crate::runtime_log;

const NEXT: &str = "/2018-06-01/runtime/invocation/next";
const REQUEST_ID: &str = "lambda-runtime-aws-request-id";
const DEADLINE_MS: &str = "lambda-runtime-deadline-ms";
/// What an invocation's error is called when its handler panicked (the Runtime API takes any
/// `Category.Reason`).
const PANIC_ERROR_TYPE: &str = "Runtime.Panic";

/// Why a poller stopped: the Runtime API could not be reached or answered out of protocol. Lambda
/// then ends the execution environment, so the process exits.
#[derive(Debug, thiserror::Error)]
pub enum RuntimeApiError {
    #[error("AWS_LAMBDA_RUNTIME_API: {0}")]
    Address(String),
    #[error("{what}: {source}")]
    Exchange {
        what: &'static str,
        source: lambda_runtime_api_client::BoxError,
    },
    #[error("a poller ended: {0}")]
    Poller(String),
    #[error("{what}: the Runtime API answered {status}")]
    Status {
        what: &'static str,
        status: http::StatusCode,
    },
}

/// How many invocations one process serves at once: `AWS_LAMBDA_MAX_CONCURRENCY` (Lambda
/// Managed Instances), else one.
pub fn pollers(max_concurrency: Option<&str>) -> usize {
    max_concurrency
        .and_then(|v| v.trim().parse::<usize>().ok())
        .map_or(1, |n| n.max(1))
}

/// The Runtime API of `AWS_LAMBDA_RUNTIME_API`, polled by `pollers` loops that each serve one
/// invocation at a time.
pub struct RuntimeApi {
    client: PooledClient,
    pollers: usize,
    log: Logger,
}

impl RuntimeApi {
    /// `address` is `AWS_LAMBDA_RUNTIME_API`: `host:port` on Lambda, a URL with a path under
    /// `cargo lambda watch` (`http://[::]:9000/.rt/name`).
    pub fn new(address: &str, pollers: usize, log: Logger) -> Result<Self, RuntimeApiError> {
        let url = if address.contains("://") {
            address.to_owned()
        } else {
            format!("http://{address}")
        };
        let base = url
            .parse::<Uri>()
            .ok()
            .filter(|uri| {
                uri.scheme_str() == Some("http") && uri.host().is_some() && uri.query().is_none()
            })
            .ok_or_else(|| {
                RuntimeApiError::Address(format!("'{address}' is not host:port or an http URL"))
            })?;
        let client = PooledClient::builder()
            .with_endpoint(base)
            .with_pool_size(pollers)
            .build();
        Ok(Self {
            client,
            pollers,
            log,
        })
    }

    /// Serves invocations until the Runtime API fails one poller, and returns that failure; the
    /// other pollers end with it (AWS: a Runtime API that answers 5xx is in a non-recoverable
    /// state, and the runtime should exit promptly). `handle` gets the event's bytes and the
    /// invocation and gives the answer; a panic in it fails that invocation only.
    pub async fn serve<H, F, A>(self, handle: H) -> RuntimeApiError
    where
        H: Fn(Bytes, Invocation) -> F + Clone + Send + Sync + 'static,
        F: Future<Output = A> + Send + 'static,
        A: Serialize + Send + 'static,
    {
        let api = std::sync::Arc::new(self);
        let mut pollers = tokio::task::JoinSet::new();
        for _ in 0..api.pollers {
            let (api, handle) = (api.clone(), handle.clone());
            pollers.spawn(async move { api.poll(handle).await });
        }
        // Dropping the set when this returns aborts the other pollers.
        match pollers.join_next().await {
            Some(Ok(stopped)) => stopped,
            Some(Err(e)) => RuntimeApiError::Poller(e.to_string()),
            None => RuntimeApiError::Poller("no poller was started".into()),
        }
    }

    /// One poller: serves invocations one after another until the Runtime API fails.
    async fn poll<H, F, A>(&self, handle: H) -> RuntimeApiError
    where
        H: Fn(Bytes, Invocation) -> F,
        F: Future<Output = A> + Send + 'static,
        A: Serialize + Send + 'static,
    {
        loop {
            let next = match self.next().await {
                Ok(next) => next,
                Err(e) => return e,
            };
            let Some((request_id, invocation, event)) = next else {
                continue;
            };
            let handling = runtime_log::for_request(request_id.clone(), async {
                serde_json::to_vec(&handle(event, invocation).await)
            });
            // Unwind safe in fact: what a handler shares between invocations sits behind locks
            // that recover from a panicking holder (`crate::lock`) and caches that stay whole
            // between statements; its own state is dropped here with the panic.
            let answer = AssertUnwindSafe(handling).catch_unwind().await;
            let posted = match answer {
                Ok(Ok(body)) => self.post(&request_id, "response", None, body).await,
                Ok(Err(e)) => {
                    self.report(Some(&request_id), &format!("answer not serialized: {e}"));
                    self.post_error(&request_id, "Runtime.SerializationError")
                        .await
                }
                // The panic hook has written the panic's line, with this request id.
                Err(_) => self.post_error(&request_id, PANIC_ERROR_TYPE).await,
            };
            match posted {
                Ok(()) => {}
                // Refused (an unknown request id, a body too large): this invocation is lost, the
                // next one is not. A 5xx is the Runtime API's own failure: the process should exit.
                Err(e @ RuntimeApiError::Status { status, .. }) if status.is_client_error() => {
                    self.report(Some(&request_id), &e.to_string());
                }
                Err(e) => return e,
            }
        }
    }

    /// The next invocation: its request id, what the function is told of it, and its event.
    /// `None` for one that cannot be answered (no request id), which Lambda never sends.
    async fn next(&self) -> Result<Option<(String, Invocation, Bytes)>, RuntimeApiError> {
        const WHAT: &str = "GET /invocation/next";
        let request = lambda_runtime_api_client::build_request()
            .method(Method::GET)
            .uri(NEXT)
            .body(Body::empty())
            .map_err(|e| exchange(WHAT, e))?;
        let response = self.exchange(WHAT, request).await?;
        let header = |name: &str| {
            response
                .headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned)
        };
        let request_id = header(REQUEST_ID).filter(|id| is_request_id(id));
        let deadline_ms = header(DEADLINE_MS)
            .and_then(|v| v.parse::<u64>().ok())
            .unwrap_or(0);
        let event = response
            .into_body()
            .collect()
            .await
            .map_err(|e| exchange(WHAT, e))?
            .to_bytes();
        let Some(request_id) = request_id else {
            self.report(
                None,
                "an invocation without a usable request id, not answered",
            );
            return Ok(None);
        };
        let invocation = Invocation::new(request_id.clone(), deadline_ms);
        Ok(Some((request_id, invocation, event)))
    }

    /// Posts an invocation's answer (`response`) or failure (`error`).
    async fn post(
        &self,
        request_id: &str,
        outcome: &'static str,
        error_type: Option<&str>,
        body: Vec<u8>,
    ) -> Result<(), RuntimeApiError> {
        let what = if outcome == "response" {
            "POST /invocation/{id}/response"
        } else {
            "POST /invocation/{id}/error"
        };
        let mut request = lambda_runtime_api_client::build_request()
            .method(Method::POST)
            .uri(format!(
                "/2018-06-01/runtime/invocation/{request_id}/{outcome}"
            ))
            .header(http::header::CONTENT_TYPE, "application/json");
        if let Some(error_type) = error_type {
            request = request.header("lambda-runtime-function-error-type", error_type);
        }
        let request = request
            .body(Body::from(body))
            .map_err(|e| exchange(what, e))?;
        let response = self.exchange(what, request).await?;
        // Read to the end, so that the connection goes back to the pool for the next poll.
        let _ = response.into_body().collect().await;
        Ok(())
    }

    /// Fails an invocation. Only the type: a message could quote the event or a panic's payload.
    async fn post_error(&self, request_id: &str, error_type: &str) -> Result<(), RuntimeApiError> {
        let body = serde_json::json!({
            "errorType": error_type,
            "errorMessage": "the function failed this invocation; its log has the line",
        });
        self.post(
            request_id,
            "error",
            Some(error_type),
            body.to_string().into_bytes(),
        )
        .await
    }

    async fn exchange(
        &self,
        what: &'static str,
        request: Request<Body>,
    ) -> Result<Response<Incoming>, RuntimeApiError> {
        let response = self
            .client
            .call(request)
            .await
            .map_err(|source| RuntimeApiError::Exchange { what, source })?;
        let status = response.status();
        if status.is_success() {
            return Ok(response);
        }
        // Read to the end (a line of JSON), so that the connection goes back to the pool.
        let _ = response.into_body().collect().await;
        Err(RuntimeApiError::Status { what, status })
    }

    fn report(&self, request_id: Option<&str>, detail: &str) {
        runtime_log::runtime_error(&self.log, request_id, detail);
    }
}

fn exchange(
    what: &'static str,
    e: impl Into<lambda_runtime_api_client::BoxError>,
) -> RuntimeApiError {
    RuntimeApiError::Exchange {
        what,
        source: e.into(),
    }
}

/// Lambda's request ids are UUIDs; anything that could leave the id's path segment is refused.
fn is_request_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= 128
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || b == b'.')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pollers_follow_the_maximum_concurrency() {
        assert_eq!(pollers(None), 1);
        assert_eq!(pollers(Some("8")), 8);
        assert_eq!(pollers(Some(" 4 ")), 4);
        assert_eq!(pollers(Some("0")), 1);
        assert_eq!(pollers(Some("many")), 1);
    }

    #[test]
    fn only_request_ids_that_stay_in_their_path_segment() {
        assert!(is_request_id("8476a536-e9f4-11e8-9739-2dfe598c3fcd"));
        for bad in ["", "a/b", "../next", "a b", "a?b", "a%2F"] {
            assert!(!is_request_id(bad), "{bad}");
        }
    }

    #[test]
    fn the_address_is_host_and_port_or_an_http_url() {
        for good in [
            "127.0.0.1:9001",
            "http://[::]:9000/.rt/rai-widget-auth",
            "http://localhost:9000",
        ] {
            assert!(
                RuntimeApi::new(good, 1, Logger::to(std::io::sink())).is_ok(),
                "{good}"
            );
        }
        for bad in ["", "https://x:1", "ftp://x:1", "http://", "x:1?q=1"] {
            assert!(
                RuntimeApi::new(bad, 1, Logger::to(std::io::sink())).is_err(),
                "{bad}"
            );
        }
    }
}
