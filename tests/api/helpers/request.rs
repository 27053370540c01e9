//! Requests as function URL events (payload 2.0), and responses as the runtime gets them back.

use std::time::{SystemTime, UNIX_EPOCH};

use http::{HeaderMap, HeaderName, HeaderValue};
use rai_widget_auth::Invocation;
use serde_json::{Value, json};

/// A request, built as a function URL event.
pub struct Req {
    method: &'static str,
    path: String,
    headers: Vec<(String, String)>,
    cookies: Vec<String>,
    body: Option<String>,
    deadline_ms: u64,
}

pub fn get(path: &str) -> Req {
    Req::new("GET", path)
}

pub fn post(path: &str) -> Req {
    Req::new("POST", path)
}

impl Req {
    pub fn new(method: &'static str, path: &str) -> Self {
        Self {
            method,
            path: path.to_owned(),
            headers: Vec::new(),
            cookies: Vec::new(),
            body: None,
            deadline_ms: 0,
        }
    }

    #[must_use]
    pub fn header(mut self, name: &str, value: &str) -> Self {
        self.headers.push((name.to_owned(), value.to_owned()));
        self
    }

    #[must_use]
    pub fn bearer(self, token: &str) -> Self {
        self.header("authorization", &format!("Bearer {token}"))
    }

    #[must_use]
    pub fn cookie(mut self, pair: &str) -> Self {
        self.cookies.push(pair.to_owned());
        self
    }

    #[must_use]
    pub fn body(mut self, body: &str) -> Self {
        self.body = Some(body.to_owned());
        self
    }

    /// Sets the invocation deadline this many milliseconds from now.
    #[must_use]
    pub fn deadline_in(mut self, ms: u64) -> Self {
        let now_ms = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .expect("clock")
            .as_millis();
        self.deadline_ms = u64::try_from(now_ms).expect("a plausible clock") + ms;
        self
    }

    pub fn invocation(&self) -> Invocation {
        Invocation::new("test-request-id", self.deadline_ms)
    }

    pub fn event(&self) -> Value {
        let mut headers = serde_json::Map::new();
        for (k, v) in &self.headers {
            // API Gateway v2 joins repeated headers with commas.
            let joined = match headers.get(k).and_then(Value::as_str) {
                Some(prev) => format!("{prev},{v}"),
                None => v.clone(),
            };
            headers.insert(k.clone(), joined.into());
        }
        let (raw_path, query) = self.path.split_once('?').unwrap_or((&self.path, ""));
        let mut event = json!({
            "version": "2.0",
            "routeKey": "$default",
            "rawPath": raw_path,
            "rawQueryString": query,
            "headers": headers,
            "requestContext": {
                "accountId": "anonymous",
                "apiId": "testfunctionurl",
                "domainName": "testfunctionurl.lambda-url.us-east-1.on.aws",
                "domainPrefix": "testfunctionurl",
                "http": {
                    "method": self.method,
                    "path": raw_path,
                    "protocol": "HTTP/1.1",
                    "sourceIp": "203.0.113.7",
                    "userAgent": "test"
                },
                "requestId": "req-1",
                "routeKey": "$default",
                "stage": "$default",
                "time": "25/Nov/2026:10:00:00 +0000",
                "timeEpoch": 1_795_600_000_000_u64
            },
            "isBase64Encoded": false
        });
        if !self.cookies.is_empty() {
            event["cookies"] = json!(self.cookies);
        }
        if let Some(body) = &self.body {
            event["body"] = body.clone().into();
        }
        event
    }
}

/// A response as the front door reads it back.
#[derive(Debug)]
pub struct Resp {
    pub status: u16,
    pub headers: HeaderMap,
    pub body: Value,
}

impl Resp {
    /// Reads the Lambda proxy response JSON, checking what every response carries.
    #[track_caller]
    pub fn from_wire(wire: &Value) -> Self {
        let status = wire["statusCode"]
            .as_u64()
            .and_then(|s| u16::try_from(s).ok())
            .expect("a statusCode");
        let mut headers = HeaderMap::new();
        for (name, value) in wire["headers"].as_object().expect("a headers object") {
            headers.append(
                HeaderName::from_bytes(name.as_bytes()).expect("a header name"),
                HeaderValue::from_str(value.as_str().expect("a string value")).expect("a value"),
            );
        }
        assert_eq!(
            headers.get("content-type").map(HeaderValue::as_bytes),
            Some(&b"application/json"[..]),
            "every response is JSON"
        );
        assert_eq!(
            headers.get("cache-control").map(HeaderValue::as_bytes),
            Some(&b"no-store"[..]),
            "every response is no-store"
        );
        assert_eq!(wire["isBase64Encoded"], false);
        let text = wire["body"].as_str().expect("a body string");
        let body = if text.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(text).expect("a JSON body")
        };
        Self {
            status,
            headers,
            body,
        }
    }

    pub fn error(&self) -> &str {
        self.body["error"].as_str().unwrap_or("<no error code>")
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    #[track_caller]
    pub fn assert_error(&self, status: u16, code: &str) {
        assert_eq!(
            (self.status, self.error()),
            (status, code),
            "body: {}",
            self.body
        );
        assert!(
            self.body["message"].as_str().is_some_and(|m| !m.is_empty()),
            "an error carries a message: {}",
            self.body
        );
    }

    #[track_caller]
    pub fn assert_ok(&self) {
        assert_eq!(self.status, 200, "body: {}", self.body);
    }
}
