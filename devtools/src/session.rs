//! The one session minter in the repository: HS256 session JWTs as a site that shares
//! `sessionSecret` with the function would issue them.

use std::time::{SystemTime, UNIX_EPOCH};

use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

/// The function refuses shorter HS256 secrets (RFC 7518), so minting with one is a mistake.
pub const MIN_SECRET_BYTES: usize = 32;

#[derive(Debug)]
pub struct MintError(String);

impl std::fmt::Display for MintError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for MintError {}

/// An HS256 JWT over `claims`, exactly as given (any claims: a test may mint a broken session
/// on purpose).
pub fn mint(secret: &[u8], claims: &Value) -> Result<String, MintError> {
    if secret.len() < MIN_SECRET_BYTES {
        return Err(MintError(format!(
            "the session secret must be at least {MIN_SECRET_BYTES} bytes"
        )));
    }
    jsonwebtoken::encode(
        &Header::new(Algorithm::HS256),
        claims,
        &EncodingKey::from_secret(secret),
    )
    .map_err(|e| MintError(format!("cannot sign the session: {e}")))
}

/// The claims of a healthy signed-in user: `email`, `email_verified`, a `sub` derived from the
/// email, issued now and expiring in `ttl_seconds`.
pub fn demo_claims(email: &str, ttl_seconds: u64) -> Value {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    json!({
        "sub": demo_sub(email),
        "email": email,
        "email_verified": true,
        "iat": now,
        "exp": now + ttl_seconds,
    })
}

/// The demo user's stable id, derived from the email, so that every stand-in (a JWT's claims,
/// an opaque session's `/me` answer) names the same user the same way and a check can know it
/// in advance.
pub fn demo_sub(email: &str) -> String {
    let digest = Sha256::digest(email.as_bytes());
    let sub: String = digest.iter().take(4).map(|b| format!("{b:02x}")).collect();
    format!("user-{sub}")
}

/// `bytes` random bytes from the system's generator, as hex: demo credentials and opaque session
/// ids, which must not be guessable even on a demo.
pub fn random_hex(bytes: usize) -> std::io::Result<String> {
    use std::io::Read;
    let mut buf = vec![0u8; bytes];
    std::fs::File::open("/dev/urandom")?.read_exact(&mut buf)?;
    Ok(buf.iter().map(|b| format!("{b:02x}")).collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use jsonwebtoken::{DecodingKey, Validation, decode};

    const SECRET: &[u8] = b"a-session-secret-of-at-least-32-bytes";

    #[test]
    fn mints_a_token_the_secret_verifies() {
        let claims = demo_claims("ada@example.com", 600);
        let token = mint(SECRET, &claims).unwrap();
        let decoded = decode::<Value>(
            &token,
            &DecodingKey::from_secret(SECRET),
            &Validation::new(Algorithm::HS256),
        )
        .unwrap();
        assert_eq!(decoded.claims, claims);
        assert_eq!(decoded.header.alg, Algorithm::HS256);
        assert!(claims["exp"].as_u64().unwrap() > claims["iat"].as_u64().unwrap());
        assert_eq!(claims["sub"], demo_claims("ada@example.com", 1)["sub"]);
        assert_ne!(claims["sub"], demo_claims("bob@example.com", 1)["sub"]);
        // Another secret does not verify it.
        let other = DecodingKey::from_secret(b"another-secret-of-at-least-32-bytes!!");
        assert!(decode::<Value>(&token, &other, &Validation::new(Algorithm::HS256)).is_err());
    }

    #[test]
    fn refuses_short_secrets() {
        assert!(mint(b"short", &json!({})).is_err());
    }
}
