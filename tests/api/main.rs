//! One integration-test binary (one link instead of one per file).

mod events;
mod helpers;
mod hostile;
mod routes;
mod secrets;
mod session;
mod template;
mod upstream;
