//! CORS for an exact list of origins. The widget calls with credentials, so `*` never appears.

use http::{HeaderMap, HeaderName, HeaderValue, header};

use crate::response::{ALLOWED_METHODS, Response};

/// Browsers cap this anyway (Chromium at 2 hours); longer buys nothing.
const MAX_AGE_SECONDS: &str = "7200";

pub struct Cors {
    origins: Vec<String>,
    allow_headers: HeaderValue,
}

/// What the request's `Origin` means for this request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Origin {
    /// No `Origin`, or no allowlist configured: nothing to check, no CORS headers.
    NotChecked,
    Allowed(HeaderValue),
    Refused,
}

impl Cors {
    /// `None` when no origins are configured (same-origin deployments).
    pub fn new(origins: Vec<String>, session_header: &HeaderName) -> Option<Self> {
        if origins.is_empty() {
            return None;
        }
        let mut allow = vec!["authorization", "content-type"];
        if !allow.contains(&session_header.as_str()) {
            allow.push(session_header.as_str());
        }
        // Header names are ASCII tokens, so the joined list is always a valid header value.
        let allow_headers = HeaderValue::from_str(&allow.join(", "))
            .unwrap_or_else(|_| HeaderValue::from_static("authorization, content-type"));
        Some(Self {
            origins,
            allow_headers,
        })
    }

    pub fn check(&self, headers: &HeaderMap) -> Origin {
        let mut values = headers.get_all(header::ORIGIN).iter();
        let (Some(origin), None) = (values.next(), values.next()) else {
            // Absent is fine; two `Origin` headers is no browser's doing.
            return if headers.contains_key(header::ORIGIN) {
                Origin::Refused
            } else {
                Origin::NotChecked
            };
        };
        match origin.to_str() {
            Ok(o) if self.origins.iter().any(|allowed| allowed == o) => {
                Origin::Allowed(origin.clone())
            }
            _ => Origin::Refused,
        }
    }

    /// Added to every response for an allowed origin, errors included, so the page can read
    /// why it was refused.
    pub fn decorate(origin: &HeaderValue, response: &mut Response) {
        let headers = response.headers_mut();
        headers.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, origin.clone());
        headers.insert(
            header::ACCESS_CONTROL_ALLOW_CREDENTIALS,
            HeaderValue::from_static("true"),
        );
        headers.insert(header::VARY, HeaderValue::from_static("Origin"));
    }

    pub fn preflight(&self, response: &mut Response) {
        let headers = response.headers_mut();
        headers.insert(
            header::ACCESS_CONTROL_ALLOW_METHODS,
            HeaderValue::from_static(ALLOWED_METHODS),
        );
        headers.insert(
            header::ACCESS_CONTROL_ALLOW_HEADERS,
            self.allow_headers.clone(),
        );
        headers.insert(
            header::ACCESS_CONTROL_MAX_AGE,
            HeaderValue::from_static(MAX_AGE_SECONDS),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cors() -> Cors {
        Cors::new(
            vec!["https://app.example.com".into()],
            &HeaderName::from_static("x-session"),
        )
        .unwrap()
    }

    fn headers(origins: &[&[u8]]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for o in origins {
            h.append(header::ORIGIN, HeaderValue::from_bytes(o).unwrap());
        }
        h
    }

    #[test]
    fn checks_origins_exactly() {
        let c = cors();
        assert_eq!(c.check(&headers(&[])), Origin::NotChecked);
        assert!(matches!(
            c.check(&headers(&[b"https://app.example.com"])),
            Origin::Allowed(_)
        ));
        for refused in [
            &b"https://app.example.com.evil.test"[..],
            b"http://app.example.com",
            b"https://APP.example.com",
            b"null",
            b"https://app.example.com\xff",
        ] {
            assert_eq!(
                c.check(&headers(&[refused])),
                Origin::Refused,
                "{refused:?}"
            );
        }
        assert_eq!(
            c.check(&headers(&[
                b"https://app.example.com",
                b"https://app.example.com"
            ])),
            Origin::Refused
        );
    }

    #[test]
    fn preflight_allows_the_session_header() {
        let mut r = Response::new(String::new());
        cors().preflight(&mut r);
        assert_eq!(
            r.headers()[header::ACCESS_CONTROL_ALLOW_HEADERS],
            "authorization, content-type, x-session"
        );
    }

    #[test]
    fn no_origins_means_no_cors() {
        assert!(Cors::new(vec![], &header::AUTHORIZATION).is_none());
    }
}
