//! The one way responses are built: JSON, never cached.

use http::{HeaderValue, StatusCode, header};
use serde::Serialize;

/// A response on its way to the front door; [`crate::event::WireResponse`] carries it out.
pub type Response = http::Response<String>;

pub const ALLOWED_METHODS: &str = "GET, POST, OPTIONS";

pub fn json(status: StatusCode, body: &impl Serialize) -> Response {
    // Serializing these plain structs cannot fail; an empty object is still valid JSON.
    with_body(
        status,
        serde_json::to_string(body).unwrap_or_else(|_| "{}".to_owned()),
    )
}

/// A body-less answer (preflight), still with the headers every response carries.
pub fn empty(status: StatusCode) -> Response {
    with_body(status, String::new())
}

fn with_body(status: StatusCode, body: String) -> Response {
    let mut response = Response::new(body);
    *response.status_mut() = status;
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    // Tokens must never sit in a browser, proxy or CDN cache.
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}
