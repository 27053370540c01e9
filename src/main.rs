// The runtime's future types nest deeply; the default limit (128) is one feature flag away.
#![recursion_limit = "256"]

use std::convert::Infallible;
use std::process::ExitCode;

use lambda_runtime::{LambdaEvent, service_fn};
use rai_widget_auth::runtime_log::RuntimeLog;
use rai_widget_auth::{App, Config, Invocation, log::Logger};
use serde_json::value::RawValue;

// One invocation at a time per execution environment, so one thread is enough and starts faster.
#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    let log = Logger::stdout();
    let runtime_log = RuntimeLog::new(log.clone());
    runtime_log.install_panic_hook();
    // Only fails when a subscriber is already set, which nothing here does.
    let _ = tracing::subscriber::set_global_default(runtime_log);
    let app = match Config::from_env() {
        Ok(config) => App::init(config, log.clone()).await,
        Err(e) => Err(e.into()),
    };
    let app = match app {
        Ok(app) => app,
        Err(e) => {
            log.event("error", "init_failed", &e.to_string());
            return ExitCode::FAILURE;
        }
    };
    let app = &app;
    // The event stays raw JSON here: `App::handle` reads it, so that no event shape can fail
    // before the function answers it.
    let served = lambda_runtime::run(service_fn(
        move |event: LambdaEvent<Box<RawValue>>| async move {
            let invocation = Invocation::new(event.context.request_id, event.context.deadline);
            Ok::<_, Infallible>(app.handle(event.payload.get(), &invocation).await)
        },
    ))
    .await;
    match served {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            log.event("error", "runtime_failed", &e.to_string());
            ExitCode::FAILURE
        }
    }
}
