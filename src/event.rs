//! The front doors' wire format: a Lambda event in, an HTTP request out; a response out, the
//! Lambda proxy response JSON back.
//!
//! Read here rather than by lambda_http, whose request building panics on events API Gateway can
//! deliver (a URI over 64 KiB, a raw `"` in a function URL's query string, an invalid base64
//! body) and keeps only the last of two REST API header lines. Only what the function uses is
//! read: the method, the path, the headers and cookies, and the authorizer's claims. The query
//! string and the body never are (the identity comes from the session alone), so neither can
//! break anything; they are only measured.

use std::collections::BTreeMap;

use http::{HeaderMap, HeaderName, HeaderValue, Method, header};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::error::{ApiError, ErrorCode};
use crate::response::Response;

/// Longer than any URL a browser or API Gateway sends (REST APIs stop at 10 KiB).
pub const MAX_URI_BYTES: usize = 16 * 1024;
/// Browsers send a few dozen; `HeaderMap` itself panics past 32,768.
pub const MAX_HEADERS: usize = 256;

/// What the function reads of a request.
#[derive(Debug)]
pub struct Request {
    pub method: Method,
    pub path: String,
    pub headers: HeaderMap,
    /// `requestContext.authorizer` as API Gateway delivered it, when an authorizer ran.
    pub authorizer: Option<Value>,
}

/// The members of a payload 1.0 (REST API) or 2.0 (HTTP API, function URL) event that matter.
#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase", default)]
struct WireEvent {
    version: Option<String>,
    // 2.0
    raw_path: Option<String>,
    raw_query_string: Option<String>,
    cookies: Option<Vec<String>>,
    // 1.0
    http_method: Option<String>,
    path: Option<String>,
    multi_value_headers: Option<BTreeMap<String, Option<Vec<String>>>>,
    query_string_parameters: Option<BTreeMap<String, Option<String>>>,
    multi_value_query_string_parameters: Option<BTreeMap<String, Option<Vec<String>>>>,
    // both
    headers: Option<BTreeMap<String, Option<String>>>,
    request_context: Option<WireContext>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase", default)]
struct WireContext {
    http: Option<WireHttp>,
    authorizer: Option<Value>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct WireHttp {
    method: Option<String>,
}

fn bad(detail: impl Into<String>) -> ApiError {
    ApiError::new(
        ErrorCode::BadRequest,
        "the request cannot be read as an HTTP request",
    )
    .with_detail(detail)
}

/// Reads an event. Anything that is not an HTTP request within HTTP's rules is `bad_request`.
pub fn parse(event: &str) -> Result<Request, ApiError> {
    let wire: WireEvent = serde_json::from_str(event)
        .map_err(|e| bad(format!("unreadable event ({})", category(&e))))?;
    let context = wire.request_context.unwrap_or_default();
    let v2_method = context.http.and_then(|h| h.method);
    let (method, path, query_bytes) = match (v2_method, wire.http_method) {
        (Some(method), _) if wire.version.as_deref() != Some("1.0") => {
            let query = wire.raw_query_string.unwrap_or_default();
            check_uri_text(&query, "query string")?;
            (method, wire.raw_path.unwrap_or_default(), query.len())
        }
        (_, Some(method)) => {
            let query = match (
                &wire.multi_value_query_string_parameters,
                &wire.query_string_parameters,
            ) {
                (Some(multi), _) => multi
                    .iter()
                    .map(|(k, v)| k.len() + v.iter().flatten().map(|v| v.len() + 1).sum::<usize>())
                    .sum(),
                (None, Some(single)) => single
                    .iter()
                    .map(|(k, v)| k.len() + v.as_ref().map_or(0, |v| v.len() + 1))
                    .sum(),
                (None, None) => 0,
            };
            (method, wire.path.unwrap_or_default(), query)
        }
        _ => return Err(bad("neither a payload 1.0 nor a payload 2.0 HTTP event")),
    };
    if path.len() + query_bytes > MAX_URI_BYTES {
        return Err(bad(format!("URI of {} bytes", path.len() + query_bytes)));
    }
    check_uri_text(&path, "path")?;
    let method = Method::from_bytes(method.as_bytes()).map_err(|_| bad("not an HTTP method"))?;

    let mut headers = HeaderMap::new();
    // A REST API keeps every line of a repeated header in multiValueHeaders (and only the last in
    // headers): read those, so that a session header sent twice is seen twice.
    match (wire.multi_value_headers, wire.headers) {
        (Some(multi), _) if !multi.is_empty() => {
            for (name, values) in multi {
                for value in values.into_iter().flatten() {
                    add(&mut headers, &name, &value)?;
                }
            }
        }
        (_, Some(single)) => {
            for (name, value) in single {
                if let Some(value) = value {
                    add(&mut headers, &name, &value)?;
                }
            }
        }
        _ => {}
    }
    // Payload 2.0 moves the Cookie header into `cookies`, one entry per cookie.
    if let Some(cookies) = wire.cookies.filter(|c| !c.is_empty()) {
        add(&mut headers, header::COOKIE.as_str(), &cookies.join("; "))?;
    }
    Ok(Request {
        method,
        path,
        headers,
        authorizer: context.authorizer.filter(|a| !a.is_null()),
    })
}

fn add(headers: &mut HeaderMap, name: &str, value: &str) -> Result<(), ApiError> {
    if headers.len() >= MAX_HEADERS {
        return Err(bad(format!("more than {MAX_HEADERS} header lines")));
    }
    let name =
        HeaderName::from_bytes(name.as_bytes()).map_err(|_| bad("a malformed header name"))?;
    let value = HeaderValue::from_str(value).map_err(|_| bad("a malformed header value"))?;
    headers
        .try_append(name, value)
        .map_err(|_| bad("too many header lines"))?;
    Ok(())
}

/// What a request target may hold (RFC 3986: unreserved, reserved and `%`); the rest is no URI.
fn check_uri_text(text: &str, what: &str) -> Result<(), ApiError> {
    let fits = |b: u8| b.is_ascii_alphanumeric() || b"-._~:/?#[]@!$&'()*+,;=%".contains(&b);
    if text.bytes().all(fits) {
        Ok(())
    } else {
        Err(bad(format!("a character no URI {what} may hold")))
    }
}

/// The Lambda proxy response, understood by function URLs and both API Gateway payload versions.
#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct WireResponse {
    pub status_code: u16,
    pub headers: BTreeMap<String, String>,
    pub body: String,
    pub is_base64_encoded: bool,
}

impl From<Response> for WireResponse {
    fn from(response: Response) -> Self {
        let (parts, body) = response.into_parts();
        let mut headers: BTreeMap<String, String> = BTreeMap::new();
        for (name, value) in &parts.headers {
            // Every value here was set by this function from fixed texts or checked values.
            let value = String::from_utf8_lossy(value.as_bytes());
            headers
                .entry(name.as_str().to_owned())
                .and_modify(|joined| {
                    joined.push_str(", ");
                    joined.push_str(&value);
                })
                .or_insert_with(|| value.into_owned());
        }
        Self {
            status_code: parts.status.as_u16(),
            headers,
            body,
            is_base64_encoded: false,
        }
    }
}

/// serde's own text can quote the event; the log gets only the category.
fn category(e: &serde_json::Error) -> &'static str {
    match e.classify() {
        serde_json::error::Category::Io => "I/O",
        serde_json::error::Category::Syntax => "not JSON",
        serde_json::error::Category::Data => "unexpected shape",
        serde_json::error::Category::Eof => "truncated",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn v2(changes: Value) -> String {
        let mut event = json!({
            "version": "2.0",
            "rawPath": "/widget-auth",
            "rawQueryString": "",
            "headers": { "origin": "https://a.example" },
            "requestContext": { "http": { "method": "POST" } }
        });
        for (k, v) in changes.as_object().unwrap() {
            event[k] = v.clone();
        }
        event.to_string()
    }

    #[test]
    fn reads_a_payload_2_event_with_cookies() {
        let r = parse(&v2(json!({ "cookies": ["a=1", "sid=x"] }))).unwrap();
        assert_eq!(r.method, Method::POST);
        assert_eq!(r.path, "/widget-auth");
        assert_eq!(r.headers["cookie"], "a=1; sid=x");
        assert_eq!(r.headers["origin"], "https://a.example");
    }

    #[test]
    fn keeps_every_line_of_a_repeated_rest_header() {
        let event = json!({
            "httpMethod": "GET",
            "path": "/Prod/widget-auth",
            "headers": { "Authorization": "Bearer b" },
            "multiValueHeaders": { "Authorization": ["Bearer a", "Bearer b"] },
            "requestContext": { "authorizer": { "claims": { "email": "a@b.c" } } }
        });
        let r = parse(&event.to_string()).unwrap();
        assert_eq!(r.headers.get_all("authorization").iter().count(), 2);
        assert_eq!(r.authorizer.unwrap()["claims"]["email"], "a@b.c");
    }

    #[test]
    fn what_http_cannot_carry_is_a_bad_request() {
        let many: serde_json::Map<String, Value> = (0..40_000)
            .map(|i| (format!("x-{i}"), json!("1")))
            .collect();
        for event in [
            v2(json!({ "rawQueryString": "a=\"<b>\" c" })),
            v2(json!({ "rawPath": format!("/{}", "a".repeat(1 << 20)) })),
            v2(json!({ "rawQueryString": "a=1&".repeat(10_000) })),
            v2(json!({ "headers": many })),
            v2(json!({ "headers": { "bad name": "1" } })),
            v2(json!({ "headers": { "x": "a\r\nb" } })),
            v2(json!({ "headers": { "x": 42 } })),
            v2(json!({ "requestContext": { "http": { "method": "GE T" } } })),
            "{}".to_owned(),
            "[]".to_owned(),
            "null".to_owned(),
            "not json".to_owned(),
        ] {
            let err = parse(&event).expect_err(&event[..event.len().min(80)]);
            assert_eq!(err.code, ErrorCode::BadRequest);
        }
    }

    #[test]
    fn the_body_and_host_are_never_read() {
        let r = parse(&v2(json!({
            "body": "////not base64",
            "isBase64Encoded": true,
            "headers": { "host": "", "x-forwarded-proto": "gopher://" }
        })))
        .unwrap();
        assert_eq!(r.path, "/widget-auth");
    }
}
