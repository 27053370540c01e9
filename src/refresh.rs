//! One background refresh at a time, for the caches that answer from a stale value meanwhile
//! (the secret, the key set).

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

#[derive(Default)]
pub struct Refresh {
    running: Arc<AtomicBool>,
}

/// Clears the flag however the refresh ends, a panic included, so one failure cannot stop every
/// later refresh.
struct Running(Arc<AtomicBool>);

impl Drop for Running {
    fn drop(&mut self) {
        self.0.store(false, Ordering::Release);
    }
}

impl Refresh {
    /// Starts `work` on a task of its own, unless a refresh started here is still running.
    pub fn start(&self, work: impl Future<Output = ()> + Send + 'static) {
        if self.running.swap(true, Ordering::AcqRel) {
            return;
        }
        let running = Running(Arc::clone(&self.running));
        tokio::spawn(async move {
            let _running = running;
            work.await;
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicUsize;
    use std::time::Duration;

    #[tokio::test]
    async fn one_at_a_time_and_again_once_done_even_after_a_panic() {
        let refresh = Refresh::default();
        let runs = Arc::new(AtomicUsize::new(0));
        for _ in 0..5 {
            let runs = runs.clone();
            refresh.start(async move {
                runs.fetch_add(1, Ordering::SeqCst);
                tokio::time::sleep(Duration::from_millis(50)).await;
            });
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
        assert_eq!(
            runs.load(Ordering::SeqCst),
            1,
            "one refresh for five callers"
        );

        refresh.start(async { panic!("a refresh that fails badly") });
        tokio::time::sleep(Duration::from_millis(20)).await;
        let again = runs.clone();
        refresh.start(async move {
            again.fetch_add(1, Ordering::SeqCst);
        });
        tokio::time::sleep(Duration::from_millis(20)).await;
        assert_eq!(
            runs.load(Ordering::SeqCst),
            2,
            "a panicked refresh does not block the next"
        );
    }
}
