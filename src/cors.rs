//! CORS for an exact list of origins. The widget calls with credentials, so `*` never appears.

use http::{HeaderMap, HeaderName, HeaderValue, header};

use crate::response::{ALLOWED_METHODS, Response};

/// Browsers cap this anyway (Chromium at 2 hours); longer buys nothing.
const MAX_AGE_SECONDS: &str = "7200";
/// So that a page can act on a 429 or a 401 (contract, second edition), on every response to an
/// allowed origin, errors included.
const EXPOSE_HEADERS: &str = "Retry-After, WWW-Authenticate";
/// How much of `Access-Control-Request-Headers` is read, and how many names from it are echoed:
/// a browser asks for the few headers a page sets, so the bounds only stop a caller from making
/// the function build (and log-free echo) an arbitrarily large header.
const MAX_REQUEST_HEADERS_BYTES: usize = 4096;
const MAX_REQUESTED_NAMES: usize = 32;

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
        headers.insert(
            header::ACCESS_CONTROL_EXPOSE_HEADERS,
            HeaderValue::from_static(EXPOSE_HEADERS),
        );
    }

    /// The preflight's own headers, for an allowed origin. `request_headers` are the
    /// preflight's: every well-formed name its `Access-Control-Request-Headers` asks for is
    /// allowed besides `authorization`, `content-type` and the session header, since the
    /// function reads no header but the session's and a page or SDK that adds its own (`email`,
    /// `X-Rai-Widget`) must not be blocked by the browser.
    pub fn preflight(&self, request_headers: &HeaderMap, response: &mut Response) {
        let allow_headers = self.allow_headers_for(request_headers);
        let headers = response.headers_mut();
        headers.insert(
            header::ACCESS_CONTROL_ALLOW_METHODS,
            HeaderValue::from_static(ALLOWED_METHODS),
        );
        headers.insert(header::ACCESS_CONTROL_ALLOW_HEADERS, allow_headers);
        headers.insert(
            header::ACCESS_CONTROL_MAX_AGE,
            HeaderValue::from_static(MAX_AGE_SECONDS),
        );
    }
}

impl Cors {
    fn allow_headers_for(&self, request_headers: &HeaderMap) -> HeaderValue {
        let always = self.allow_headers.to_str().unwrap_or("");
        let mut names: Vec<String> = always.split(", ").map(str::to_owned).collect();
        let defaults = names.len();
        let mut read = 0;
        'values: for value in request_headers.get_all(header::ACCESS_CONTROL_REQUEST_HEADERS) {
            read += value.len();
            if read > MAX_REQUEST_HEADERS_BYTES {
                break;
            }
            // Not visible ASCII: nothing in it is echoed.
            let Ok(value) = value.to_str() else { continue };
            for name in value.split(',').map(str::trim) {
                if names.len() - defaults >= MAX_REQUESTED_NAMES {
                    break 'values;
                }
                if is_token(name) {
                    let name = name.to_ascii_lowercase();
                    if !names.contains(&name) {
                        names.push(name);
                    }
                }
            }
        }
        if names.len() == defaults {
            return self.allow_headers.clone();
        }
        // Only RFC 9110 tokens were added, so the joined list is a valid header value.
        HeaderValue::from_str(&names.join(", ")).unwrap_or_else(|_| self.allow_headers.clone())
    }
}

/// An RFC 9110 field name: a non-empty token of `tchar`s.
fn is_token(name: &str) -> bool {
    !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
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

    fn preflight_allows(requested: &[&[u8]]) -> String {
        let mut request = HeaderMap::new();
        for value in requested {
            request.append(
                header::ACCESS_CONTROL_REQUEST_HEADERS,
                HeaderValue::from_bytes(value).unwrap(),
            );
        }
        let mut r = Response::new(String::new());
        cors().preflight(&request, &mut r);
        assert_eq!(
            r.headers()[header::ACCESS_CONTROL_ALLOW_METHODS],
            ALLOWED_METHODS
        );
        assert_eq!(r.headers()[header::ACCESS_CONTROL_MAX_AGE], MAX_AGE_SECONDS);
        r.headers()[header::ACCESS_CONTROL_ALLOW_HEADERS]
            .to_str()
            .unwrap()
            .to_owned()
    }

    #[test]
    fn preflight_allows_the_session_header() {
        assert_eq!(
            preflight_allows(&[]),
            "authorization, content-type, x-session"
        );
        assert_eq!(
            preflight_allows(&[b"authorization,content-type"]),
            "authorization, content-type, x-session"
        );
    }

    #[test]
    fn preflight_allows_every_well_formed_name_asked_for() {
        // As Chromium sends it (sorted, lower case, no spaces), and as other clients might.
        assert_eq!(
            preflight_allows(&[b"content-type,email,x-rai-widget"]),
            "authorization, content-type, x-session, email, x-rai-widget"
        );
        assert_eq!(
            preflight_allows(&[b" Email ,X-Rai-Widget", b"x-session, X-Custom_1.v2"]),
            "authorization, content-type, x-session, email, x-rai-widget, x-custom_1.v2"
        );
    }

    #[test]
    fn preflight_never_echoes_malformed_names() {
        for malformed in [
            &b"bad name"[..],
            b"x-a\"b",
            b"x(y)",
            b"a:b",
            b"x-\xff",
            b"\"quoted\"",
            b"a/b",
            b"{x}",
        ] {
            let allowed = preflight_allows(&[malformed, b"x-good"]);
            assert_eq!(
                allowed, "authorization, content-type, x-session, x-good",
                "{malformed:?}"
            );
        }
        // Empty members of the list are nothing, not an error.
        assert_eq!(
            preflight_allows(&[b",, ,x-good,"]),
            "authorization, content-type, x-session, x-good"
        );
    }

    #[test]
    fn preflight_bounds_what_it_echoes() {
        let many: Vec<String> = (0..100).map(|n| format!("x-h{n}")).collect();
        let allowed = preflight_allows(&[many.join(",").as_bytes()]);
        assert_eq!(allowed.split(", ").count(), 3 + MAX_REQUESTED_NAMES);
        assert!(allowed.ends_with(&format!("x-h{}", MAX_REQUESTED_NAMES - 1)));
        let huge = format!("x-{}", "a".repeat(MAX_REQUEST_HEADERS_BYTES));
        assert_eq!(
            preflight_allows(&[huge.as_bytes()]),
            "authorization, content-type, x-session"
        );
    }

    #[test]
    fn allowed_origins_can_read_retry_after_and_www_authenticate() {
        let mut r = Response::new(String::new());
        Cors::decorate(&HeaderValue::from_static("https://app.example.com"), &mut r);
        let h = r.headers();
        assert_eq!(
            h[header::ACCESS_CONTROL_ALLOW_ORIGIN],
            "https://app.example.com"
        );
        assert_eq!(h[header::ACCESS_CONTROL_ALLOW_CREDENTIALS], "true");
        assert_eq!(h[header::VARY], "Origin");
        assert_eq!(
            h[header::ACCESS_CONTROL_EXPOSE_HEADERS],
            "Retry-After, WWW-Authenticate"
        );
        assert_eq!(
            h.get_all(header::ACCESS_CONTROL_ALLOW_ORIGIN)
                .iter()
                .count(),
            1
        );
    }

    #[test]
    fn no_origins_means_no_cors() {
        assert!(Cors::new(vec![], &header::AUTHORIZATION).is_none());
    }
}
