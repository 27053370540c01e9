use std::convert::Infallible;
use std::process::ExitCode;

use lambda_http::{Request, service_fn};
use rai_widget_auth::{App, Config, log::Logger};

// One invocation at a time per execution environment, so one thread is enough and starts faster.
#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    let log = Logger::stdout();
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
    let served = lambda_http::run(service_fn(move |request: Request| async move {
        Ok::<_, Infallible>(app.handle(request).await)
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
