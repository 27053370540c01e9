//! JSON log lines on stdout, which Lambda ships to CloudWatch.
//!
//! Callers pass only values that are safe to store: codes, ids, timings and fixed texts. Nothing
//! from a token, the secret, an upstream body or a raw email is ever handed to this module.

use std::io::Write;
use std::sync::{Arc, Mutex};

use serde_json::{Map, Value};

/// Where log lines go. Cloned into every component that logs; tests swap stdout for a buffer.
#[derive(Clone)]
pub struct Logger {
    sink: Arc<Mutex<dyn Write + Send>>,
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
    pub fn line(&self, fields: Map<String, Value>) {
        let mut text = Value::Object(fields).to_string();
        text.push('\n');
        let mut sink = match self.sink.lock() {
            Ok(sink) => sink,
            Err(poisoned) => poisoned.into_inner(),
        };
        let _ = sink.write_all(text.as_bytes());
        let _ = sink.flush();
    }

    /// A line about something outside a request: init, a background refresh that failed.
    pub fn event(&self, level: &str, event: &str, detail: &str) {
        let mut fields = Map::new();
        fields.insert("level".into(), level.into());
        fields.insert("event".into(), event.into());
        fields.insert("detail".into(), detail.into());
        self.line(fields);
    }
}

/// A `Write` that keeps everything in memory, for tests that read what was logged.
#[derive(Clone, Default)]
pub struct MemorySink(Arc<Mutex<Vec<u8>>>);

impl MemorySink {
    pub fn contents(&self) -> String {
        let bytes = match self.0.lock() {
            Ok(b) => b.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        };
        String::from_utf8_lossy(&bytes).into_owned()
    }
}

impl Write for MemorySink {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        match self.0.lock() {
            Ok(mut b) => b.extend_from_slice(buf),
            Err(poisoned) => poisoned.into_inner().extend_from_slice(buf),
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}
