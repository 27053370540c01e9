//! One integration-test binary (one link instead of one per file).

mod events;
mod routes;
mod secrets;
mod session;
mod support;
mod template;
mod upstream;
