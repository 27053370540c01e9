//! The floor of the runtime benchmark (`rai-dev bench`): a lambda_http function that does
//! nothing, built with the workspace's release profile, so that the function's figures can be
//! read as ratios to what the Rust runtime alone costs. lambda_http with its default features,
//! as `cargo add lambda_http` gives it: the event is read into an `http::Request` and a fixed
//! 200 goes back.
//!
//! `cargo build --release -p rai-devtools --example floor`

use lambda_http::{Body, Error, Request, Response, run, service_fn};

async fn nothing(_request: Request) -> Result<Response<Body>, Error> {
    Ok(Response::new(Body::Empty))
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    run(service_fn(nothing)).await
}
