//! One integration-test binary (one link instead of one per file).

mod authorizer;
mod events;
mod helpers;
mod hostile;
mod recipes;
mod routes;
mod secrets;
mod session;
mod template;
mod upstream;
mod userinfo;
mod verified;
