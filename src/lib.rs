//! rai-widget-auth: gives the signed-in user of a site a short-lived Returning.AI widget token.
//!
//! The path of an invocation: [`event`] reads the Lambda event as an HTTP request,
//! [`app::App::handle`] matches the route and the origin ([`cors`]), finds out who is calling
//! ([`session`]), takes the credentials ([`secret`]), calls Returning.AI ([`upstream`]) and
//! answers; every failure is an [`error::ApiError`] that becomes the contract's status and code,
//! with its detail going only to the [`log`].

pub mod app;
pub mod config;
pub mod cors;
pub mod error;
pub mod event;
pub mod lock;
pub mod log;
pub mod outbound;
pub mod refresh;
pub mod response;
pub mod route;
pub mod runtime_api;
pub mod runtime_log;
pub mod secret;
pub mod session;
pub mod upstream;

pub use app::{App, InitError, Invocation};
pub use config::Config;
