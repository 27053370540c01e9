//! JSON log lines on stdout, which Lambda ships to CloudWatch; each request line and each
//! background failure is also a CloudWatch Embedded Metric Format record, so metrics cost no API
//! call.
//!
//! Callers pass only values that are safe to store: codes, ids, timings and fixed texts. Nothing
//! from a token, the secret, an upstream body or a raw email is ever handed to this module, and
//! the metric dimensions are fixed names (function, route, error code), never request data.

use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};

use serde::Serialize;

use crate::lock::lock;

/// Where log lines go, and the metric context they carry. Cloned into every component that
/// logs; tests swap stdout for a buffer.
#[derive(Clone)]
pub struct Logger {
    sink: Arc<Mutex<dyn Write + Send>>,
    metrics: Arc<MetricContext>,
}

/// The namespace and the `FunctionName` dimension of every metric.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MetricContext {
    pub namespace: String,
    pub function_name: String,
}

impl Default for MetricContext {
    fn default() -> Self {
        Self {
            namespace: "RaiWidgetAuth".to_owned(),
            function_name: "local".to_owned(),
        }
    }
}

/// The one line written for each request.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RequestLine<'a> {
    pub level: &'static str,
    pub request_id: &'a str,
    pub route: Option<&'static str>,
    pub method: Option<&'static str>,
    pub status: u16,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<&'static str>,
    /// Why, for operators: a reason name, a claim name, an upstream status.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<&'a str>,
    pub total_ms: u64,
    /// `None` when no Returning.AI call was made.
    pub upstream_ms: Option<u64>,
    pub cold_start: bool,
}

/// A failure outside any request that operators alarm on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Background {
    SecretRead,
    SessionKeysFetch,
    UserinfoFetch,
}

impl Background {
    fn event(self) -> &'static str {
        match self {
            Self::SecretRead => "secret_read_failed",
            Self::SessionKeysFetch => "jwks_fetch_failed",
            Self::UserinfoFetch => "userinfo_fetch_failed",
        }
    }

    fn metrics(self) -> &'static [Metric] {
        match self {
            Self::SecretRead => SECRET_READ_FAILED,
            Self::SessionKeysFetch | Self::UserinfoFetch => KEYS_FETCH_FAILED,
        }
    }
}

/// A line about something outside a request: init, the runtime loop.
#[derive(Debug, Serialize)]
struct EventLine<'a> {
    level: &'a str,
    event: &'a str,
    detail: &'a str,
}

/// EMF's `_aws` member: which members of the record are metrics, by which dimensions.
#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct Emf<'a> {
    timestamp: u64,
    #[serde(rename = "CloudWatchMetrics")]
    directives: &'a [Directive<'a>],
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct Directive<'a> {
    namespace: &'a str,
    dimensions: &'static [&'static [&'static str]],
    metrics: &'static [Metric],
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct Metric {
    name: &'static str,
    unit: &'static str,
}

const BY_ROUTE: &[&[&str]] = &[&["FunctionName", "Route"]];
const BY_CODE: &[&[&str]] = &[&["FunctionName", "Route", "ErrorCode"]];
const BY_FUNCTION: &[&[&str]] = &[&["FunctionName"]];

const fn metric(name: &'static str, unit: &'static str) -> Metric {
    Metric { name, unit }
}

const REQUEST_METRICS: &[Metric] = &[
    metric("TokensIssued", "Count"),
    metric("Errors", "Count"),
    metric("Latency", "Milliseconds"),
    metric("ColdStart", "Count"),
];
const REQUEST_METRICS_WITH_UPSTREAM: &[Metric] = &[
    metric("TokensIssued", "Count"),
    metric("Errors", "Count"),
    metric("Latency", "Milliseconds"),
    metric("UpstreamLatency", "Milliseconds"),
    metric("ColdStart", "Count"),
];
const ERROR_METRICS: &[Metric] = &[metric("Errors", "Count")];
const SECRET_READ_FAILED: &[Metric] = &[metric("SecretReadFailed", "Count")];
const KEYS_FETCH_FAILED: &[Metric] = &[metric("SessionKeysFetchFailed", "Count")];

/// A request line with its metrics.
#[derive(Serialize)]
struct RequestRecord<'a> {
    #[serde(flatten)]
    line: &'a RequestLine<'a>,
    #[serde(rename = "_aws")]
    emf: Emf<'a>,
    #[serde(rename = "FunctionName")]
    function_name: &'a str,
    #[serde(rename = "Route")]
    route: &'static str,
    #[serde(rename = "ErrorCode", skip_serializing_if = "Option::is_none")]
    error_code: Option<&'static str>,
    #[serde(rename = "TokensIssued")]
    tokens_issued: u8,
    #[serde(rename = "Errors")]
    errors: u8,
    #[serde(rename = "Latency")]
    latency: u64,
    #[serde(rename = "UpstreamLatency", skip_serializing_if = "Option::is_none")]
    upstream_latency: Option<u64>,
    #[serde(rename = "ColdStart")]
    cold_start: u8,
}

/// A background failure with its count.
#[derive(Serialize)]
struct FailureRecord<'a> {
    level: &'static str,
    event: &'static str,
    detail: &'a str,
    #[serde(rename = "_aws")]
    emf: Emf<'a>,
    #[serde(rename = "FunctionName")]
    function_name: &'a str,
    #[serde(rename = "SecretReadFailed", skip_serializing_if = "Option::is_none")]
    secret_read_failed: Option<u8>,
    #[serde(
        rename = "SessionKeysFetchFailed",
        skip_serializing_if = "Option::is_none"
    )]
    session_keys_fetch_failed: Option<u8>,
}

impl Logger {
    pub fn stdout() -> Self {
        Self::to(std::io::stdout())
    }

    pub fn to(sink: impl Write + Send + 'static) -> Self {
        Self {
            sink: Arc::new(Mutex::new(sink)),
            metrics: Arc::new(MetricContext::default()),
        }
    }

    /// The same sink, with the namespace and function name of the metrics.
    #[must_use]
    pub fn with_metrics(&self, metrics: MetricContext) -> Self {
        Self {
            sink: self.sink.clone(),
            metrics: Arc::new(metrics),
        }
    }

    /// Writes one line. A failing sink is ignored: losing a log line must not fail a request.
    pub fn line(&self, fields: &impl Serialize) {
        let Ok(mut text) = serde_json::to_vec(fields) else {
            return;
        };
        text.push(b'\n');
        let mut sink = lock(&self.sink);
        let _ = sink.write_all(&text);
        let _ = sink.flush();
    }

    /// The request's line, with its metrics: `TokensIssued` and `Errors` (0 or 1), `Latency`,
    /// `UpstreamLatency` when Returning.AI was called, `ColdStart`, by function and route;
    /// `Errors` also by error code.
    pub fn request(&self, line: &RequestLine<'_>) {
        let with_code;
        let plain;
        let metrics = if line.upstream_ms.is_some() {
            REQUEST_METRICS_WITH_UPSTREAM
        } else {
            REQUEST_METRICS
        };
        let by_route = Directive {
            namespace: &self.metrics.namespace,
            dimensions: BY_ROUTE,
            metrics,
        };
        let directives: &[Directive<'_>] = if line.error.is_some() {
            with_code = [
                by_route,
                Directive {
                    namespace: &self.metrics.namespace,
                    dimensions: BY_CODE,
                    metrics: ERROR_METRICS,
                },
            ];
            &with_code
        } else {
            plain = [by_route];
            &plain
        };
        self.line(&RequestRecord {
            line,
            emf: Emf {
                timestamp: now_ms(),
                directives,
            },
            function_name: &self.metrics.function_name,
            route: line.route.unwrap_or("none"),
            error_code: line.error,
            tokens_issued: u8::from(line.status == 200),
            errors: u8::from(line.error.is_some()),
            latency: line.total_ms,
            upstream_latency: line.upstream_ms,
            cold_start: u8::from(line.cold_start),
        });
    }

    /// A background failure (a secret read, a key-set or userinfo fetch): its own line, counted.
    pub fn failure(&self, what: Background, detail: &str) {
        let secret = what == Background::SecretRead;
        self.line(&FailureRecord {
            level: "warn",
            event: what.event(),
            detail,
            emf: Emf {
                timestamp: now_ms(),
                directives: &[Directive {
                    namespace: &self.metrics.namespace,
                    dimensions: BY_FUNCTION,
                    metrics: what.metrics(),
                }],
            },
            function_name: &self.metrics.function_name,
            secret_read_failed: secret.then_some(1),
            session_keys_fetch_failed: (!secret).then_some(1),
        });
    }

    pub fn event(&self, level: &str, event: &str, detail: &str) {
        self.line(&EventLine {
            level,
            event,
            detail,
        });
    }
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}
