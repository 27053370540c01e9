//! The claims of a verified session, and the rules every session source shares: the
//! `email_verified` check, the email the sign-in API gets, the identifiers the access-key API gets.

use std::sync::Arc;

use http::HeaderValue;
use serde_json::{Map, Value};

use crate::config::SessionConfig;
use crate::error::{ApiError, ErrorCode};
use crate::upstream::Identifiers;

use super::invalid;

/// Kept claims (an email, `email_verified`, identifiers) are well under this; larger ones are used
/// for their request but never cached, so no caller can fill memory with huge claims.
pub const MAX_KEPT_BYTES: usize = 2048;

/// The claims a session is judged by: the email claim, `email_verified` and the identifiers'
/// claims. A source that caches what it verified keeps only these, so a cached session is small
/// and holds nothing the function does not use.
#[derive(Debug, Clone)]
pub struct Kept {
    names: Arc<[String]>,
}

impl Kept {
    pub fn new(config: &SessionConfig) -> Self {
        let names = std::iter::once(config.email_claim.clone())
            .chain(std::iter::once("email_verified".to_owned()))
            .chain(config.identifiers.iter().map(|(_, claim)| claim.clone()))
            .collect();
        Self { names }
    }

    pub fn from(&self, claims: &Map<String, Value>) -> Map<String, Value> {
        self.names
            .iter()
            .filter_map(|name| claims.get(name).map(|v| (name.clone(), v.clone())))
            .collect()
    }

    /// Whether kept claims are small enough to cache.
    pub fn small_enough(claims: &Map<String, Value>) -> bool {
        serde_json::to_vec(claims).is_ok_and(|bytes| bytes.len() <= MAX_KEPT_BYTES)
    }
}

/// An email address holds at most 320 bytes (RFC 5321: 64 for the local part, 255 for the domain).
const MAX_EMAIL_BYTES: usize = 320;

/// One `local@domain` and nothing else: the sign-in API gets it in a header, where a list
/// (`a@x, b@y`), a display name (`Ann <a@x>`), padding or a line break could name someone else
/// to a parser downstream.
fn is_plain_address(email: &str) -> bool {
    let Some((local, domain)) = email.split_once('@') else {
        return false;
    };
    email.len() <= MAX_EMAIL_BYTES
        && !local.is_empty()
        && !domain.is_empty()
        && !domain.contains('@')
        && !email
            .chars()
            .any(|c| c.is_whitespace() || c.is_control() || matches!(c, ',' | '<' | '>'))
}

/// Who is calling, as a session source vouched for it.
#[derive(Debug)]
pub struct Session {
    claims: Map<String, Value>,
}

impl Session {
    /// A session from claims a source has verified. A session that says its email is anything
    /// but verified is refused; one that says nothing about it is not. `true` may come as a
    /// string, as API Gateway passes authorizer claims.
    pub fn new(claims: Map<String, Value>) -> Result<Self, ApiError> {
        let verified = match claims.get("email_verified") {
            None | Some(Value::Bool(true)) => true,
            Some(Value::String(s)) => s.eq_ignore_ascii_case("true"),
            Some(_) => false,
        };
        if !verified {
            return Err(ApiError::new(
                ErrorCode::EmailNotVerified,
                "the session's email address is not verified",
            ));
        }
        Ok(Self { claims })
    }

    /// The user's email as the sign-in API wants it, in a header.
    pub fn email(&self, claim: &str) -> Result<HeaderValue, ApiError> {
        let email = self
            .claims
            .get(claim)
            .and_then(Value::as_str)
            .filter(|e| is_plain_address(e))
            .ok_or_else(|| {
                invalid("the session has no usable email")
                    .with_detail(format!("claim '{claim}' missing or not one plain address"))
            })?;
        HeaderValue::from_str(email).map_err(|_| {
            invalid("the session has no usable email")
                .with_detail(format!("claim '{claim}' is not a valid header value"))
        })
    }

    /// The `userIdentifiers` object for the access-key API: each `data-*` key with its claim.
    pub fn identifiers(&self, pairs: &[(String, String)]) -> Result<Identifiers, ApiError> {
        pairs
            .iter()
            .map(|(key, claim)| {
                let value = match self.claims.get(claim) {
                    Some(Value::String(s)) if !s.is_empty() => s.clone(),
                    // Some providers issue numeric subject ids.
                    Some(Value::Number(n)) => n.to_string(),
                    _ => {
                        return Err(invalid("the session lacks a user identifier").with_detail(
                            format!("claim '{claim}' for '{key}' missing or not a string"),
                        ));
                    }
                };
                Ok((key.clone(), Value::String(value)))
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn session(claims: Value) -> Result<Session, ApiError> {
        let Value::Object(map) = claims else {
            panic!("claims are an object")
        };
        Session::new(map)
    }

    #[test]
    fn only_one_plain_address_is_an_email() {
        for ok in [
            "a@b.c",
            "jane.doe+tag@example.co.uk",
            "u@xn--bcher-kva.example",
        ] {
            let s = session(json!({ "email": ok })).unwrap();
            assert!(s.email("email").is_ok(), "{ok}");
        }
        let long = format!("{}@example.com", "a".repeat(320));
        for bad in [
            "alice@x, mallory@y",
            "Alice <alice@x>",
            "alice@x\tmallory",
            " alice@x",
            "alice@x\u{2028}",
            "a@b@c",
            "@b.c",
            "a@",
            "nobody",
            "",
            "a@b.c\r\nx-admin: 1",
            long.as_str(),
        ] {
            let s = session(json!({ "email": bad })).unwrap();
            let err = s.email("email").expect_err(bad);
            assert_eq!(err.code, ErrorCode::InvalidSession, "{bad:?}");
        }
    }

    #[test]
    fn email_verified_must_be_true_when_present() {
        for verified in [json!(true), json!("true"), json!("TRUE"), json!("True")] {
            assert!(
                session(json!({ "email_verified": verified })).is_ok(),
                "{verified}"
            );
        }
        assert!(session(json!({})).is_ok(), "absent: not refused");
        for unverified in [
            json!(false),
            json!("false"),
            json!("False"),
            json!("FALSE"),
            json!(0),
            json!(1),
            json!(null),
            json!("no"),
            json!("yes"),
            json!(["true"]),
        ] {
            let err = session(json!({ "email_verified": unverified })).expect_err("refused");
            assert_eq!(err.code, ErrorCode::EmailNotVerified, "{unverified}");
        }
    }
}
