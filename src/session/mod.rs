//! Who is calling: where the credential is found, how it is verified, and the claims that come
//! out of it. One source is in force, chosen by the configuration
//! ([`crate::config::SessionSource`]):
//!
//! - [`authorizer`]: claims an API Gateway authorizer already verified;
//! - [`userinfo`]: the site's own endpoint, asked with the caller's credential, with
//!   [`userinfo_cache`] (answers per credential hash, one call per credential at a time);
//! - [`jwt`]: session JWTs, with [`keys`] (which key source), [`key_set`] (the cached JWKS),
//!   [`jwk`] (keys and their algorithms) and [`discovery`] (OIDC);
//!
//! and for all of them [`credential`] (the session header or cookie; not for the authorizer) and
//! [`claims`] (the rules every source shares: email, `email_verified`, identifiers).

mod authorizer;
mod claims;
mod credential;
mod discovery;
mod expiring;
mod jwk;
mod jwt;
mod key_set;
mod keys;
mod userinfo;
mod userinfo_cache;
mod verified;

use std::sync::Arc;
use std::time::Duration;

use jsonwebtoken::Algorithm;

use claims::Kept;
pub use claims::Session;
pub use credential::{Credential, Locator, MAX_TOKEN_BYTES};
pub use keys::KeySource;
pub use userinfo::MAX_USERINFO_BYTES;

use crate::config::{ConfigError, SessionConfig, SessionSource};
use crate::error::{ApiError, ErrorCode};
use crate::event::Request;
use crate::outbound::Outbound;
use crate::secret::SecretStore;

use jwt::JwtVerifier;
use userinfo::{Forward, Userinfo};
use userinfo_cache::UserinfoCache;

/// The session source in force, chosen once at init from the configuration. Callers only ask
/// for a request's [`Session`]; which source answers is this module's business.
pub struct Sessions {
    source: Source,
}

enum Source {
    Authorizer,
    Userinfo {
        locator: Locator,
        cache: UserinfoCache,
    },
    Jwt {
        locator: Locator,
        // Boxed: its per-algorithm validations dwarf the other sources (clippy's
        // large_enum_variant), and it is built once.
        jwt: Box<JwtVerifier>,
    },
}

impl Sessions {
    pub fn new(config: &SessionConfig, outbound: &Outbound) -> Self {
        let locator = || Locator::new(config.header.clone(), config.cookie.clone());
        let source = match &config.source {
            SessionSource::Authorizer => Source::Authorizer,
            SessionSource::Userinfo(userinfo) => Source::Userinfo {
                locator: locator(),
                cache: UserinfoCache::new(
                    Userinfo::new(userinfo, outbound, Kept::new(config)),
                    userinfo.ttl,
                    outbound.log.clone(),
                ),
            },
            SessionSource::Jwt => Source::Jwt {
                locator: locator(),
                jwt: Box::new(JwtVerifier::new(config, outbound)),
            },
        };
        Self { source }
    }

    /// At init: reads the secret and fetches what the source needs (the JWT key set), for at
    /// most `budget`; the rest goes on in the background.
    pub async fn warm_up(
        &self,
        secrets: &Arc<SecretStore>,
        budget: Duration,
    ) -> Result<(), ConfigError> {
        match &self.source {
            Source::Jwt { jwt, .. } => jwt.warm_up(secrets, budget).await,
            Source::Authorizer | Source::Userinfo { .. } => {
                let read = tokio::spawn({
                    let secrets = Arc::clone(secrets);
                    async move { secrets.get().await }
                });
                // An unreadable secret is answered per request.
                let _ = tokio::time::timeout(budget, read).await;
                Ok(())
            }
        }
    }

    /// The caller's verified session. `secrets` supplies the HS256 key when the session secret
    /// is the key source.
    pub async fn verify(
        &self,
        request: &Request,
        secrets: &Arc<SecretStore>,
    ) -> Result<Session, ApiError> {
        let claims = match &self.source {
            Source::Authorizer => authorizer::claims(request.authorizer.as_ref())?,
            Source::Userinfo { locator, cache } => {
                let credential = locator.find(&request.headers)?;
                cache.claims(Forward::new(&credential)?).await?
            }
            Source::Jwt { locator, jwt } => {
                let credential = locator.find(&request.headers)?;
                jwt.verify(credential.token(), secrets).await?
            }
        };
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
