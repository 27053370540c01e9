//! Local front doors and stand-ins for rai-widget-auth. They meet the function only at the Lambda
//! wire format (event JSON in, response JSON out), so they never depend on its internals.

pub mod bench;
pub mod demo;
pub mod env_file;
pub mod events;
pub mod front_end;
pub mod function;
pub mod function_url;
pub mod idp;
pub mod local;
pub mod net;
pub mod opaque_sessions;
pub mod returning_ai;
pub mod runtime_api;
pub mod secret;
pub mod session;
pub mod site;
pub mod tls;
