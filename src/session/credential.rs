//! Where the caller's credential is found: the session header first, then the session cookie.

use http::{HeaderMap, HeaderName, HeaderValue, header};

use crate::error::{ApiError, ErrorCode};

use super::invalid;

/// Real session tokens and cookies are well under this; a larger one is refused before any
/// parsing or forwarding.
pub const MAX_TOKEN_BYTES: usize = 8 * 1024;

/// The credential as it arrived, so that a userinfo endpoint can be sent exactly that.
#[derive(Debug, Clone, Copy)]
pub enum Credential<'r> {
    /// The session header. For `authorization`, `token` is what follows `Bearer `.
    Header {
        name: &'r HeaderName,
        value: &'r HeaderValue,
        token: &'r str,
    },
    /// The session cookie: `token` is its value unquoted, `raw` as it arrived (quotes kept).
    Cookie {
        name: &'r str,
        token: &'r str,
        raw: &'r str,
    },
}

impl<'r> Credential<'r> {
    /// The token itself: a JWT, or an opaque session or access token.
    pub fn token(&self) -> &'r str {
        match self {
            Self::Header { token, .. } | Self::Cookie { token, .. } => token,
        }
    }
}

/// `SESSION_HEADER` and `SESSION_COOKIE`.
#[derive(Debug, Clone)]
pub struct Locator {
    header: HeaderName,
    cookie: Option<String>,
}

impl Locator {
    pub fn new(header: HeaderName, cookie: Option<String>) -> Self {
        Self { header, cookie }
    }

    /// The header named by `SESSION_HEADER` first, then the `SESSION_COOKIE` cookie.
    pub fn find<'h>(&'h self, headers: &'h HeaderMap) -> Result<Credential<'h>, ApiError> {
        let found = match self.header_token(headers)? {
            Some(found) => found,
            None => match &self.cookie {
                Some(name) => {
                    let (token, raw) = cookie(headers, name)?;
                    Credential::Cookie { name, token, raw }
                }
                None => return Err(missing()),
            },
        };
        let size = found.token().len();
        if size > MAX_TOKEN_BYTES {
            return Err(
                invalid("the session token is too large").with_detail(format!("{size} bytes"))
            );
        }
        Ok(found)
    }

    fn header_token<'h>(
        &'h self,
        headers: &'h HeaderMap,
    ) -> Result<Option<Credential<'h>>, ApiError> {
        let mut values = headers.get_all(&self.header).iter();
        let Some(value) = values.next() else {
            return Ok(None);
        };
        if values.next().is_some() {
            return Err(
                invalid("more than one session header").with_detail("duplicate session header")
            );
        }
        let token = if self.header == header::AUTHORIZATION {
            // Another scheme (Basic, ...) or nothing usable: the cookie may still hold a session.
            value.to_str().ok().and_then(bearer)
        } else {
            let text = value.to_str().map_err(|_| {
                invalid("the session token is malformed").with_detail("session header is not ASCII")
            })?;
            // An empty header (a client sending `token ?? ""`) is no session.
            Some(text.trim()).filter(|t| !t.is_empty())
        };
        Ok(token.map(|token| Credential::Header {
            name: &self.header,
            value,
            token,
        }))
    }
}

pub(super) fn missing() -> ApiError {
    ApiError::new(ErrorCode::MissingSession, "no session token was sent")
}

fn bearer(value: &str) -> Option<&str> {
    let (scheme, token) = value.trim().split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then_some(token)
}

/// The value of cookie `name` across every `Cookie` header, unquoted and as it arrived. The same
/// name twice with different values is refused: picking one could sign the user in as whoever
/// planted the other (cookie tossing from a sibling subdomain).
fn cookie<'h>(headers: &'h HeaderMap, name: &str) -> Result<(&'h str, &'h str), ApiError> {
    let mut found: Option<(&'h str, &'h str)> = None;
    for header_value in headers.get_all(header::COOKIE) {
        for pair in header_value.as_bytes().split(|&b| b == b';') {
            let Some(eq) = pair.iter().position(|&b| b == b'=') else {
                continue;
            };
            if pair[..eq].trim_ascii() != name.as_bytes() {
                continue;
            }
            let raw = std::str::from_utf8(pair[eq + 1..].trim_ascii()).map_err(|_| {
                invalid("the session token is malformed").with_detail("session cookie is not UTF-8")
            })?;
            let value = raw
                .strip_prefix('"')
                .and_then(|r| r.strip_suffix('"'))
                .unwrap_or(raw);
            match found {
                Some((earlier, _)) if earlier != value => {
                    return Err(invalid("more than one session cookie")
                        .with_detail("session cookie sent twice with different values"));
                }
                _ => found = Some((value, raw)),
            }
        }
    }
    found.filter(|(v, _)| !v.is_empty()).ok_or_else(missing)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&str, &[u8])]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (name, value) in pairs {
            h.append(
                HeaderName::from_bytes(name.as_bytes()).unwrap(),
                HeaderValue::from_bytes(value).unwrap(),
            );
        }
        h
    }

    #[test]
    fn cookies_are_found_across_headers_and_quotes() {
        let h = headers(&[("cookie", b"a=1; sid=\"tok\""), ("cookie", b"b=2")]);
        assert_eq!(cookie(&h, "sid").unwrap(), ("tok", "\"tok\""));
        let h = headers(&[("cookie", b"sid=tok; sid=tok")]);
        assert_eq!(cookie(&h, "sid").unwrap(), ("tok", "tok"));
    }

    #[test]
    fn odd_cookies_are_refused_not_panicked_on() {
        let two = headers(&[("cookie", b"sid=one; sid=two")]);
        assert_eq!(
            cookie(&two, "sid").unwrap_err().code,
            ErrorCode::InvalidSession
        );
        let binary = headers(&[("cookie", b"sid=\xff\xfe")]);
        assert_eq!(
            cookie(&binary, "sid").unwrap_err().code,
            ErrorCode::InvalidSession
        );
        for missing in [&b"sid"[..], b"sid=", b";;;=;", b"xsid=1", b""] {
            let h = headers(&[("cookie", missing)]);
            assert_eq!(
                cookie(&h, "sid").unwrap_err().code,
                ErrorCode::MissingSession
            );
        }
    }

    #[test]
    fn bearer_scheme_is_case_insensitive() {
        assert_eq!(bearer("Bearer abc"), Some("abc"));
        assert_eq!(bearer("bearer   abc "), Some("abc"));
        assert_eq!(bearer("Basic abc"), None);
        assert_eq!(bearer("Bearer "), None);
        assert_eq!(bearer("Bearer"), None);
    }

    #[test]
    fn the_header_keeps_its_raw_value_for_forwarding() {
        let locator = Locator::new(header::AUTHORIZATION, Some("sid".into()));
        let h = headers(&[
            ("authorization", b"Bearer opaque-123"),
            ("cookie", b"sid=c"),
        ]);
        match locator.find(&h).unwrap() {
            Credential::Header { value, token, .. } => {
                assert_eq!(value, "Bearer opaque-123");
                assert_eq!(token, "opaque-123");
            }
            other => panic!("expected the header, got {other:?}"),
        }
        let h = headers(&[("authorization", b"Basic dXNlcg=="), ("cookie", b"sid=c")]);
        assert!(matches!(
            locator.find(&h).unwrap(),
            Credential::Cookie {
                name: "sid",
                token: "c",
                raw: "c"
            }
        ));
    }
}
