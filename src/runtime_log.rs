//! The lines the function does not write itself: lambda_runtime's own reports (an event it could
//! not read, a handler that panicked, a Runtime API that refused an answer), which it sends through
//! `tracing`, and panics. Both become one JSON line with the request id, so that every line the
//! function prints is JSON and can be found by request. Neither carries a message: the runtime's
//! error fields and some of its messages quote the event or a panic's payload, so the line names
//! the place in the source (`target` and file:line) instead.
//!
//! A few dozen lines here instead of tracing-subscriber, which would add its weight to every
//! cold start for these rare lines.

use std::cell::RefCell;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use serde::Serialize;
use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing::{Event, Level, Metadata, Subscriber};

use crate::lock::lock;
use crate::log::Logger;

/// The request id of each open span (lambda_runtime opens one per invocation).
#[derive(Default)]
struct Spans {
    next: AtomicU64,
    open: Mutex<HashMap<u64, Span>>,
}

struct Span {
    request_id: Option<String>,
    references: usize,
}

thread_local! {
    /// The spans entered on this thread, innermost last: the invocation being polled.
    static ENTERED: RefCell<Vec<u64>> = const { RefCell::new(Vec::new()) };
}

impl Spans {
    fn current_request_id(&self) -> Option<String> {
        let entered = ENTERED.with(|e| e.borrow().clone());
        let open = lock(&self.open);
        entered
            .iter()
            .rev()
            .find_map(|id| open.get(id).and_then(|s| s.request_id.clone()))
    }
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct RuntimeLine<'a> {
    level: &'a str,
    event: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    request_id: Option<&'a str>,
    detail: &'a str,
}

/// Writes lambda_runtime's warnings and errors as JSON lines.
pub struct RuntimeLog {
    spans: Arc<Spans>,
    log: Logger,
}

impl RuntimeLog {
    pub fn new(log: Logger) -> Self {
        Self {
            spans: Arc::default(),
            log,
        }
    }

    /// Writes one JSON line for every panic, with the request id of the invocation that
    /// panicked and where (file and line), never the panic's message.
    pub fn install_panic_hook(&self) {
        let spans = self.spans.clone();
        let log = self.log.clone();
        std::panic::set_hook(Box::new(move |info| {
            let place = info
                .location()
                .map(|l| format!("panicked at {}:{}", l.file(), l.line()))
                .unwrap_or_else(|| "panicked".to_owned());
            let request_id = spans.current_request_id();
            log.line(&RuntimeLine {
                level: "error",
                event: "panic",
                request_id: request_id.as_deref(),
                detail: &place,
            });
        }));
    }
}

/// Takes the `requestId` field of a span.
struct RequestIdField(Option<String>);

impl Visit for RequestIdField {
    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == "requestId" {
            self.0 = Some(value.to_owned());
        }
    }

    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        if field.name() == "requestId" {
            self.0 = Some(format!("{value:?}").trim_matches('"').to_owned());
        }
    }
}

/// Only the runtime's own spans and reports: the AWS SDK traces too, and reports its failures
/// through this function's own log lines already.
fn from_the_runtime(metadata: &Metadata<'_>) -> bool {
    metadata.target().starts_with("lambda_runtime")
}

impl Subscriber for RuntimeLog {
    fn enabled(&self, metadata: &Metadata<'_>) -> bool {
        from_the_runtime(metadata) && (metadata.is_span() || *metadata.level() <= Level::WARN)
    }

    fn new_span(&self, span: &Attributes<'_>) -> Id {
        let mut field = RequestIdField(None);
        span.record(&mut field);
        let id = self.spans.next.fetch_add(1, Ordering::Relaxed) + 1;
        lock(&self.spans.open).insert(
            id,
            Span {
                request_id: field.0,
                references: 1,
            },
        );
        Id::from_u64(id)
    }

    fn record(&self, span: &Id, values: &Record<'_>) {
        let mut field = RequestIdField(None);
        values.record(&mut field);
        if let (Some(request_id), Some(open)) =
            (field.0, lock(&self.spans.open).get_mut(&span.into_u64()))
        {
            open.request_id = Some(request_id);
        }
    }

    fn record_follows_from(&self, _span: &Id, _follows: &Id) {}

    fn event(&self, event: &Event<'_>) {
        let metadata = event.metadata();
        let place = format!(
            "{} at {}:{}",
            metadata.target(),
            metadata.file().unwrap_or("?"),
            metadata.line().unwrap_or(0)
        );
        let request_id = self.spans.current_request_id();
        self.log.line(&RuntimeLine {
            level: if *metadata.level() == Level::ERROR {
                "error"
            } else {
                "warn"
            },
            event: "runtime",
            request_id: request_id.as_deref(),
            detail: &place,
        });
    }

    fn enter(&self, span: &Id) {
        ENTERED.with(|e| e.borrow_mut().push(span.into_u64()));
    }

    fn exit(&self, span: &Id) {
        ENTERED.with(|e| {
            let mut entered = e.borrow_mut();
            if let Some(at) = entered.iter().rposition(|id| *id == span.into_u64()) {
                entered.remove(at);
            }
        });
    }

    fn clone_span(&self, span: &Id) -> Id {
        if let Some(open) = lock(&self.spans.open).get_mut(&span.into_u64()) {
            open.references += 1;
        }
        span.clone()
    }

    fn try_close(&self, span: Id) -> bool {
        let mut open = lock(&self.spans.open);
        let id = span.into_u64();
        let closed = match open.get_mut(&id) {
            Some(s) if s.references > 1 => {
                s.references -= 1;
                false
            }
            Some(_) => true,
            None => false,
        };
        if closed {
            open.remove(&id);
        }
        closed
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    #[derive(Clone, Default)]
    struct Sink(Arc<Mutex<Vec<u8>>>);

    impl Write for Sink {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            lock(&self.0).extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn runtime_errors_become_json_lines_with_the_request_id_and_no_payload() {
        let sink = Sink::default();
        let subscriber = RuntimeLog::new(Logger::to(sink.clone()));
        tracing::subscriber::with_default(subscriber, || {
            let span = tracing::info_span!(
                target: "lambda_runtime::layers::trace",
                "Lambda runtime invoke",
                requestId = "req-42"
            );
            let _entered = span.enter();
            let payload = "eyJhbGciOi.secret.payload";
            tracing::error!(target: "lambda_runtime::layers::api_response", error = ?payload, "deserialization failed");
            tracing::error!(target: "lambda_runtime::layers::panic", "{payload:?}");
            tracing::info!(target: "lambda_runtime", "not written: below warn");
            tracing::error!(target: "aws_smithy_runtime", "not written: not the runtime's");
        });
        tracing::subscriber::with_default(RuntimeLog::new(Logger::to(sink.clone())), || {
            tracing::warn!(target: "lambda_runtime", "outside any invocation");
        });
        let text = String::from_utf8(lock(&sink.0).clone()).unwrap();
        let lines: Vec<serde_json::Value> = text
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert_eq!(lines.len(), 3, "{text}");
        assert_eq!(lines[0]["requestId"], "req-42");
        assert_eq!(lines[0]["level"], "error");
        let detail = lines[0]["detail"].as_str().unwrap();
        assert!(
            detail.starts_with("lambda_runtime::layers::api_response at src/runtime_log.rs:"),
            "{detail}"
        );
        assert_eq!(lines[1]["requestId"], "req-42");
        assert!(!text.contains("eyJ"), "{text}");
        assert!(lines[2].get("requestId").is_none());
    }
}
