//! Sessions an API Gateway authorizer already verified (`SESSION_FROM_AUTHORIZER=true`).
//!
//! The claims come from the event's `requestContext.authorizer`, which API Gateway writes and a
//! caller cannot: a function URL event has no authorizer claims, so such a request has no session.
//! Where they sit depends on the authorizer:
//! - HTTP API JWT authorizer: `jwt.claims`;
//! - HTTP API Lambda authorizer: `lambda` (its context);
//! - REST API Cognito authorizer (and REST JWT authorizers): `claims`;
//! - REST API Lambda authorizer: the object itself, its context keys beside `principalId` and
//!   `integrationLatency`.

use serde_json::{Map, Value};

use crate::error::ApiError;

use super::credential::missing;

/// What API Gateway adds beside a REST Lambda authorizer's context; not a claim. `principalId`
/// stays: the authorizer chose it, and it is often the user id.
const REST_LAMBDA_EXTRAS: &[&str] = &["integrationLatency"];

/// The claims of the authorizer that ran, as claims of one session.
pub fn claims(authorizer: Option<&Value>) -> Result<Map<String, Value>, ApiError> {
    let Some(Value::Object(authorizer)) = authorizer else {
        return Err(missing().with_detail("no authorizer claims in the event"));
    };
    let claims = if let Some(Value::Object(claims)) =
        authorizer.get("jwt").and_then(|jwt| jwt.get("claims"))
    {
        // Payload 2.0 flattens array claims to "[a b]": read back as arrays, so that such a
        // value can never pass for one email or one identifier.
        claims
            .iter()
            .map(|(k, v)| (k.clone(), unflatten(v)))
            .collect()
    } else if let Some(Value::Object(context)) = authorizer.get("lambda") {
        context.clone()
    } else if let Some(Value::Object(claims)) = authorizer.get("claims") {
        claims.clone()
    } else {
        // A REST Lambda authorizer's context holds only strings, numbers and booleans; an object
        // here is another kind of authorizer (an HTTP API IAM authorizer's `iam`), not a user.
        authorizer
            .iter()
            .filter(|(k, v)| !REST_LAMBDA_EXTRAS.contains(&k.as_str()) && is_scalar(v))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect()
    };
    if claims.is_empty() {
        return Err(missing().with_detail("the authorizer passed no claims"));
    }
    Ok(normalize(claims))
}

fn is_scalar(value: &Value) -> bool {
    matches!(value, Value::String(_) | Value::Number(_) | Value::Bool(_))
}

/// API Gateway passes Cognito and payload 1.0 claims as text: `email_verified` arrives as
/// `"true"` or `"false"` (in any case, depending on the provider). Read those two as booleans;
/// any other text is left as it is, for the `email_verified` rule to refuse.
fn normalize(mut claims: Map<String, Value>) -> Map<String, Value> {
    if let Some(Value::String(text)) = claims.get("email_verified") {
        let verified = if text.eq_ignore_ascii_case("true") {
            Some(true)
        } else if text.eq_ignore_ascii_case("false") {
            Some(false)
        } else {
            None
        };
        if let Some(verified) = verified {
            claims.insert("email_verified".to_owned(), Value::Bool(verified));
        }
    }
    claims
}

/// `"[a b]"` as `["a", "b"]`: how an HTTP API JWT authorizer passes an array claim.
fn unflatten(value: &Value) -> Value {
    match value {
        Value::String(text) if text.starts_with('[') && text.ends_with(']') && text.len() >= 2 => {
            let inner = &text[1..text.len() - 1];
            Value::Array(
                inner
                    .split_whitespace()
                    .map(|item| Value::String(item.to_owned()))
                    .collect(),
            )
        }
        other => other.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ErrorCode;
    use serde_json::json;

    fn read(authorizer: Value) -> Result<Map<String, Value>, ApiError> {
        claims(Some(&authorizer))
    }

    #[test]
    fn each_kind_of_authorizer_is_read_from_its_own_place() {
        let http_jwt =
            json!({ "jwt": { "claims": { "email": "a@b.example", "sub": "1" }, "scopes": null } });
        let http_lambda = json!({ "lambda": { "email": "a@b.example", "userId": 42 } });
        let rest_cognito =
            json!({ "claims": { "email": "a@b.example", "email_verified": "true" } });
        let rest_lambda =
            json!({ "principalId": "user-1", "email": "a@b.example", "integrationLatency": 12 });
        for authorizer in [http_jwt, http_lambda, rest_cognito, rest_lambda] {
            let claims = read(authorizer.clone()).unwrap();
            assert_eq!(claims["email"], "a@b.example", "{authorizer}");
            assert!(!claims.contains_key("integrationLatency"));
        }
        let rest_lambda = read(json!({ "principalId": "user-1", "plan": "gold" })).unwrap();
        assert_eq!(rest_lambda["principalId"], "user-1");
        assert_eq!(rest_lambda["plan"], "gold");
    }

    #[test]
    fn no_claims_is_no_session() {
        assert_eq!(claims(None).unwrap_err().code, ErrorCode::MissingSession);
        for authorizer in [
            json!(null),
            json!("text"),
            json!({}),
            json!({ "integrationLatency": 3 }),
            json!({ "jwt": { "claims": {} } }),
            json!({ "lambda": {} }),
            json!({ "iam": { "accessKey": "AKIA", "userArn": "arn:aws:iam::1:user/x" } }),
        ] {
            let err = read(authorizer.clone()).unwrap_err();
            assert_eq!(err.code, ErrorCode::MissingSession, "{authorizer}");
        }
    }

    #[test]
    fn claims_passed_as_text_are_read_back() {
        for (text, expected) in [
            ("true", json!(true)),
            ("TRUE", json!(true)),
            ("False", json!(false)),
        ] {
            let c = read(json!({ "claims": { "email_verified": text } })).unwrap();
            assert_eq!(c["email_verified"], expected, "{text}");
        }
        // Anything else stays text, for the email_verified rule to refuse.
        let c = read(json!({ "claims": { "email_verified": "yes" } })).unwrap();
        assert_eq!(c["email_verified"], "yes");

        let c = read(json!({ "jwt": { "claims": {
            "cognito:groups": "[admin editors]",
            "email": "[a@b.example]",
            "custom:id": "12345",
            "name": "Jane [Doe]"
        } } }))
        .unwrap();
        assert_eq!(c["cognito:groups"], json!(["admin", "editors"]));
        assert_eq!(c["email"], json!(["a@b.example"]), "an array is no email");
        assert_eq!(c["custom:id"], "12345", "numbers as text stay text");
        assert_eq!(c["name"], "Jane [Doe]");
    }
}
