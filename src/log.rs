//! JSON log lines on stdout, which Lambda ships to CloudWatch.
//!
//! Callers pass only values that are safe to store: codes, ids, timings and fixed texts. Nothing
//! from a token, the secret, an upstream body or a raw email is ever handed to this module.

use std::io::Write;
use std::sync::{Arc, Mutex};

use serde::Serialize;

use crate::lock::lock;

/// Where log lines go. Cloned into every component that logs; tests swap stdout for a buffer.
#[derive(Clone)]
pub struct Logger {
    sink: Arc<Mutex<dyn Write + Send>>,
}

/// The one line written for each request.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RequestLine<'a> {
    pub level: &'static str,
    pub request_id: &'a str,
    pub route: Option<&'static str>,
    pub method: Option<&'a str>,
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

/// A line about something outside a request: init, a background refresh that failed.
#[derive(Debug, Serialize)]
struct EventLine<'a> {
    level: &'a str,
    event: &'a str,
    detail: &'a str,
}

impl Logger {
    pub fn stdout() -> Self {
        Self::to(std::io::stdout())
    }

    pub fn to(sink: impl Write + Send + 'static) -> Self {
        Self {
            sink: Arc::new(Mutex::new(sink)),
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

    pub fn event(&self, level: &str, event: &str, detail: &str) {
        self.line(&EventLine {
            level,
            event,
            detail,
        });
    }
}
