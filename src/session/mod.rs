//! Who is calling: where the credential is found, how it is verified, and the claims that come
//! out of it.
//!
//! - [`credential`]: the session header or cookie;
//! - [`jwt`]: session JWTs, with [`keys`] (which key source), [`key_set`] (the cached JWKS),
//!   [`jwk`] (keys and their algorithms) and [`discovery`] (OIDC);
//! - [`claims`]: the rules every source shares (email, `email_verified`, identifiers).

mod claims;
mod credential;
mod discovery;
mod jwk;
mod jwt;
mod key_set;
mod keys;

use std::sync::Arc;
use std::time::Duration;

use jsonwebtoken::Algorithm;

pub use claims::Session;
pub use credential::{Credential, Locator, MAX_TOKEN_BYTES};
pub use keys::KeySource;

use crate::config::{ConfigError, SessionConfig};
use crate::error::{ApiError, ErrorCode};
use crate::event::Request;
use crate::log::Logger;
use crate::secret::SecretStore;

use jwt::JwtVerifier;

/// The session source in force, chosen once at init from the configuration.
pub struct Sessions {
    locator: Locator,
    jwt: JwtVerifier,
}

impl Sessions {
    pub fn new(
        config: &SessionConfig,
        http: reqwest::Client,
        timeout: Duration,
        log: Logger,
    ) -> Self {
        Self {
            locator: Locator::new(config.header.clone(), config.cookie.clone()),
            jwt: JwtVerifier::new(config, http, timeout, log),
        }
    }

    /// At init: fetches what the source needs (the key set), together with the secret, for at
    /// most `budget`; the rest goes on in the background.
    pub async fn warm_up(
        &self,
        secrets: &Arc<SecretStore>,
        budget: Duration,
    ) -> Result<(), ConfigError> {
        self.jwt.warm_up(secrets, budget).await
    }

    /// The caller's verified session. `secrets` supplies the HS256 key when the session secret
    /// is the key source.
    pub async fn verify(
        &self,
        request: &Request,
        secrets: &Arc<SecretStore>,
    ) -> Result<Session, ApiError> {
        let credential = self.locator.find(&request.headers)?;
        let claims = self.jwt.verify(credential.token(), secrets).await?;
        Session::new(claims)
    }
}

fn invalid(message: &'static str) -> ApiError {
    ApiError::new(ErrorCode::InvalidSession, message)
}

fn wrong_alg(alg: Algorithm) -> ApiError {
    invalid("the session token is not accepted")
        .with_detail(format!("algorithm {alg:?} not accepted"))
}
