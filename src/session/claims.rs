//! The claims of a verified session, and the rules every session source shares: the
//! `email_verified` check, the email the sign-in API gets, the identifiers the access-key API gets.

use http::HeaderValue;
use serde_json::{Map, Value};

use crate::error::{ApiError, ErrorCode};
use crate::upstream::Identifiers;

use super::invalid;

/// Who is calling, as a session source vouched for it.
#[derive(Debug)]
pub struct Session {
    claims: Map<String, Value>,
}

impl Session {
    /// A session from claims a source has verified; refused when its email is not verified.
    pub fn new(claims: Map<String, Value>) -> Result<Self, ApiError> {
        if matches!(claims.get("email_verified"), Some(Value::Bool(false)))
            || matches!(claims.get("email_verified"), Some(Value::String(s)) if s == "false")
        {
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
            .filter(|e| !e.is_empty() && e.len() <= 320 && e.contains('@'))
            .ok_or_else(|| {
                invalid("the session has no email")
                    .with_detail(format!("claim '{claim}' missing or not an email"))
            })?;
        HeaderValue::from_str(email).map_err(|_| {
            invalid("the session's email cannot be used")
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
