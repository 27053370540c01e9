use std::borrow::Cow;
use std::process::ExitCode;
use std::sync::Arc;

use rai_widget_auth::runtime_api::{self, RuntimeApi};
use rai_widget_auth::{App, Config, log::Logger, runtime_log};

fn main() -> ExitCode {
    let log = Logger::stdout();
    std::panic::set_hook(runtime_log::panic_hook(log.clone()));

    // One invocation at a time (the default) needs one thread, which starts faster. Lambda
    // Managed Instances send up to AWS_LAMBDA_MAX_CONCURRENCY at once: then a thread per core.
    let pollers = runtime_api::pollers(std::env::var("AWS_LAMBDA_MAX_CONCURRENCY").ok().as_deref());
    let runtime = if pollers > 1 {
        tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()
    } else {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
    };
    match runtime {
        Ok(runtime) => runtime.block_on(serve(log, pollers)),
        Err(e) => {
            log.event("error", "init_failed", &format!("no async runtime: {e}"));
            ExitCode::FAILURE
        }
    }
}

async fn serve(log: Logger, pollers: usize) -> ExitCode {
    let api = std::env::var("AWS_LAMBDA_RUNTIME_API")
        .map_err(|_| "AWS_LAMBDA_RUNTIME_API: not set (Lambda sets it)".to_owned())
        .and_then(|address| {
            RuntimeApi::new(&address, pollers, log.clone()).map_err(|e| e.to_string())
        });
    let app = match Config::from_env() {
        Ok(config) => App::init(config, log.clone())
            .await
            .map_err(|e| e.to_string()),
        Err(e) => Err(e.to_string()),
    };
    let (api, app) = match (api, app) {
        (Ok(api), Ok(app)) => (api, Arc::new(app)),
        (Err(e), _) | (_, Err(e)) => {
            log.event("error", "init_failed", &e);
            return ExitCode::FAILURE;
        }
    };
    // The event stays bytes here: `App::handle` reads it, so that no event can fail before the
    // function answers it.
    let stopped = api
        .serve(move |event, invocation| {
            let app = Arc::clone(&app);
            async move {
                // Lambda's events are JSON, so UTF-8; any other bytes get the contract's 400.
                let event = std::str::from_utf8(&event)
                    .map_or_else(|_| String::from_utf8_lossy(&event), Cow::Borrowed);
                app.handle(&event, &invocation).await
            }
        })
        .await;
    log.event("error", "runtime_failed", &stopped.to_string());
    ExitCode::FAILURE
}
