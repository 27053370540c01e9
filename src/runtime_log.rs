//! The lines the function writes about its runtime rather than about a request: a Runtime API
//! exchange that failed (`"event":"runtime"`) and panics (`"event":"panic"`). Both are JSON lines
//! with the request id when there is one, so that every line the function prints is JSON and can be
//! found by request. A panic's line names the place in the source, never the panic's message,
//! which could quote a request.

use std::future::Future;

use serde::Serialize;

use crate::log::Logger;

tokio::task_local! {
    /// The request id of the invocation being handled, for the panic hook.
    static REQUEST_ID: String;
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

/// Runs `handling` as the invocation `request_id`: a panic in it is logged with that id.
pub fn for_request<F: Future>(request_id: String, handling: F) -> impl Future<Output = F::Output> {
    REQUEST_ID.scope(request_id, handling)
}

/// What `std::panic::set_hook` takes.
pub type PanicHook = Box<dyn Fn(&std::panic::PanicHookInfo<'_>) + Send + Sync + 'static>;

/// A panic hook that writes one JSON line for every panic, with the request id of the invocation
/// that panicked and where (file and line), never the panic's message.
pub fn panic_hook(log: Logger) -> PanicHook {
    Box::new(move |info| {
        let place = info
            .location()
            .map(|l| format!("panicked at {}:{}", l.file(), l.line()))
            .unwrap_or_else(|| "panicked".to_owned());
        let request_id = REQUEST_ID.try_with(Clone::clone).ok();
        log.line(&RuntimeLine {
            level: "error",
            event: "panic",
            request_id: request_id.as_deref(),
            detail: &place,
        });
    })
}

/// A Runtime API exchange that failed. `detail` names the exchange and the status or the
/// connection's error, never a body.
pub fn runtime_error(log: &Logger, request_id: Option<&str>, detail: &str) {
    log.line(&RuntimeLine {
        level: "error",
        event: "runtime",
        request_id,
        detail,
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;
    use std::sync::{Arc, Mutex};

    use crate::lock::lock;

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
    fn runtime_lines_carry_the_request_id_when_there_is_one() {
        let sink = Sink::default();
        let log = Logger::to(sink.clone());
        runtime_error(&log, Some("req-42"), "POST /invocation/{id}/response: 413");
        runtime_error(&log, None, "GET /invocation/next: connection refused");
        let text = String::from_utf8(lock(&sink.0).clone()).unwrap();
        let lines: Vec<serde_json::Value> = text
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert_eq!(lines.len(), 2, "{text}");
        assert_eq!(lines[0]["event"], "runtime");
        assert_eq!(lines[0]["level"], "error");
        assert_eq!(lines[0]["requestId"], "req-42");
        assert!(lines[1].get("requestId").is_none());
    }
}
