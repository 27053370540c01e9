// The runtime's future types nest deeply; the default limit (128) is one feature flag away.
#![recursion_limit = "256"]

use std::convert::Infallible;
use std::process::ExitCode;
use std::sync::Arc;

use lambda_runtime::{LambdaEvent, service_fn};
use rai_widget_auth::runtime_log::RuntimeLog;
use rai_widget_auth::{App, Config, Invocation, log::Logger};
use serde_json::value::RawValue;

fn main() -> ExitCode {
    let log = Logger::stdout();
    let runtime_log = RuntimeLog::new(log.clone());
    runtime_log.install_panic_hook();
    // Only fails when a subscriber is already set, which nothing here does.
    let _ = tracing::subscriber::set_global_default(runtime_log);

    // One invocation at a time (the default) needs one thread, which starts faster. Lambda
    // Managed Instances send up to AWS_LAMBDA_MAX_CONCURRENCY at once: then a thread per core.
    let concurrent = std::env::var("AWS_LAMBDA_MAX_CONCURRENCY")
        .ok()
        .and_then(|v| v.trim().parse::<u32>().ok())
        .is_some_and(|n| n > 1);
    let runtime = if concurrent {
        tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()
    } else {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
    };
    match runtime {
        Ok(runtime) => runtime.block_on(serve(log)),
        Err(e) => {
            log.event("error", "init_failed", &format!("no async runtime: {e}"));
            ExitCode::FAILURE
        }
    }
}

async fn serve(log: Logger) -> ExitCode {
    let app = match Config::from_env() {
        Ok(config) => App::init(config, log.clone()).await,
        Err(e) => Err(e.into()),
    };
    let app = match app {
        Ok(app) => Arc::new(app),
        Err(e) => {
            log.event("error", "init_failed", &e.to_string());
            return ExitCode::FAILURE;
        }
    };
    // The event stays raw JSON here: `App::handle` reads it, so that no event shape can fail
    // before the function answers it. Without AWS_LAMBDA_MAX_CONCURRENCY this polls for one
    // invocation at a time, as `lambda_runtime::run` does.
    let served =
        lambda_runtime::run_concurrent(service_fn(move |event: LambdaEvent<Box<RawValue>>| {
            let app = Arc::clone(&app);
            async move {
                let invocation = Invocation::new(event.context.request_id, event.context.deadline);
                Ok::<_, Infallible>(app.handle(event.payload.get(), &invocation).await)
            }
        }))
        .await;
    match served {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            log.event("error", "runtime_failed", &e.to_string());
            ExitCode::FAILURE
        }
    }
}
