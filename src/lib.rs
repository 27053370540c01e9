//! rai-widget-auth: gives the signed-in user of a site a short-lived Returning.AI widget token.
//!
//! The path of a request: [`handler::App::handle`] matches the route and the origin ([`cors`]),
//! verifies the session ([`session`]), takes the credentials ([`secret`]), calls Returning.AI
//! ([`upstream`]) and answers; every failure is an [`error::ApiError`] that becomes the
//! contract's status and code, with its detail going only to the [`log`].

pub mod config;
pub mod cors;
pub mod error;
pub mod handler;
pub mod log;
pub mod response;
pub mod secret;
pub mod session;
pub mod upstream;

pub use config::Config;
pub use handler::App;
