//! A log sink in memory, for tests that read what was logged.

use std::io::Write;
use std::sync::{Arc, Mutex, PoisonError};

use rai_widget_auth::log::Logger;
use serde_json::Value;

#[derive(Clone, Default)]
pub struct MemorySink(Arc<Mutex<Vec<u8>>>);

impl MemorySink {
    pub fn logger(&self) -> Logger {
        Logger::to(self.clone())
    }

    pub fn contents(&self) -> String {
        let bytes = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        String::from_utf8_lossy(&bytes).into_owned()
    }

    /// Every line, parsed: a line that is not JSON fails the test.
    pub fn lines(&self) -> Vec<Value> {
        self.contents()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
            .collect()
    }
}

impl Write for MemorySink {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}
