//! The one way responses are built: JSON, never cached.

use lambda_http::http::{HeaderValue, StatusCode, header};
use lambda_http::{Body, Response};
use serde_json::Value;

pub const ALLOWED_METHODS: &str = "GET, POST, OPTIONS";

pub fn json(status: StatusCode, body: &Value) -> Response<Body> {
    with_body(status, Body::Text(body.to_string()))
}

/// A body-less answer (preflight), still with the headers every response carries.
pub fn empty(status: StatusCode) -> Response<Body> {
    with_body(status, Body::Empty)
}

fn with_body(status: StatusCode, body: Body) -> Response<Body> {
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
