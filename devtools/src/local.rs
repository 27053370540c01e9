//! The function running locally behind its front doors: a Runtime API stand-in, the function's
//! process, and the function URL / Invoke API front end, started and stopped together.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::front_end::FrontEnd;
use crate::function::{Echo, FunctionProcess};
use crate::runtime_api::RuntimeApi;

pub struct LocalFunction {
    pub runtime: Arc<RuntimeApi>,
    pub process: FunctionProcess,
    pub front: FrontEnd,
}

impl LocalFunction {
    /// Starts everything and waits until the function has finished its init (asked for its
    /// first event), or reports why it did not.
    pub async fn start(
        binary: &Path,
        env: &[(String, String)],
        listen: SocketAddr,
        timeout: Duration,
        echo: Echo,
    ) -> Result<Self, String> {
        let loopback = SocketAddr::from(([127, 0, 0, 1], 0));
        let runtime = Arc::new(
            RuntimeApi::start(loopback)
                .await
                .map_err(|e| format!("Runtime API: {e}"))?,
        );
        let process = FunctionProcess::spawn(binary, env, &runtime, echo)
            .map_err(|e| format!("cannot start {}: {e}", binary.display()))?;
        let front = FrontEnd::start(listen, runtime.clone(), timeout)
            .await
            .map_err(|e| format!("cannot listen on {listen}: {e}"))?;
        let local = Self {
            runtime,
            process,
            front,
        };
        local.wait_ready(Duration::from_secs(30)).await?;
        Ok(local)
    }

    async fn wait_ready(&self, limit: Duration) -> Result<(), String> {
        let until = Instant::now() + limit;
        while !self.runtime.has_polled() {
            if let Some(failure) = self.runtime.failure() {
                // The function's own init line says why (it names the variable, never a value).
                let said = self
                    .process
                    .wait_for_stdout(1, Duration::from_millis(200))
                    .await
                    .join("\n");
                return Err(format!("the function did not start: {failure}\n{said}"));
            }
            if Instant::now() >= until {
                return Err(format!(
                    "the function did not ask for an event within {limit:?}"
                ));
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        Ok(())
    }
}
