//! The test app: `spawn_app()` builds the real `App` with stand-ins it owns (Returning.AI, the
//! identity provider, the moto secret, the log sink), and events go through the same
//! `App::handle` the Lambda runtime calls, as JSON.

pub mod emf;
mod log_sink;
mod request;
mod stand_ins;
mod tokens;

use std::collections::HashMap;
use std::future::{Future, IntoFuture};
use std::pin::Pin;

use rai_widget_auth::{App, Config, InitError, Invocation};
use serde_json::Value;

pub use log_sink::MemorySink;
pub use request::{Req, Resp, get, post};
pub use stand_ins::*;
pub use tokens::*;

/// What `spawn_app()` builds: a local deployment (credentials and the HS256 session secret from
/// the environment) against a Returning.AI that answers both routes, unless told otherwise.
#[must_use]
pub struct Spawn {
    rai: Option<ReturningAi>,
    idp: Option<Idp>,
    aws: Option<aws_config::SdkConfig>,
    vars: HashMap<String, String>,
}

pub fn spawn_app() -> Spawn {
    Spawn {
        rai: None,
        idp: None,
        aws: None,
        vars: [
            ("RAI_COMMUNITY_ID", COMMUNITY),
            ("RAI_API_KEY", API_KEY),
            ("RAI_ACCESS_ID", ACCESS_ID),
            ("RAI_ACCESS_KEY", ACCESS_KEY),
            ("SESSION_SECRET", SESSION_SECRET),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect(),
    }
}

impl Spawn {
    pub fn rai(mut self, rai: ReturningAi) -> Self {
        self.rai = Some(rai);
        self
    }

    /// Session keys from this identity provider's JWKS URL (no session secret).
    pub fn jwks(mut self, idp: Idp) -> Self {
        self = self
            .var("SESSION_SECRET", "")
            .var("SESSION_JWKS_URL", &idp.jwks_url());
        self.idp = Some(idp);
        self
    }

    /// Session keys through OIDC discovery from this identity provider's issuer.
    pub fn discovery(mut self, idp: Idp) -> Self {
        self = self
            .var("SESSION_SECRET", "")
            .var("SESSION_ISSUER", &idp.issuer());
        self.idp = Some(idp);
        self
    }

    /// Sessions from API Gateway authorizer claims (no session secret, no keys).
    pub fn authorizer(self) -> Self {
        self.var("SESSION_SECRET", "")
            .var("SESSION_FROM_AUTHORIZER", "true")
    }

    /// Sessions from the site's userinfo endpoint at `url` (no session secret, no keys).
    pub fn userinfo(self, url: &str) -> Self {
        self.var("SESSION_SECRET", "")
            .var("SESSION_USERINFO_URL", url)
    }

    /// A Secrets Manager deployment: the credentials only in the secret named `secret_id`.
    pub fn secret(mut self, secret_id: &str) -> Self {
        for local in [
            "RAI_API_KEY",
            "RAI_ACCESS_ID",
            "RAI_ACCESS_KEY",
            "SESSION_SECRET",
        ] {
            self.vars.remove(local);
        }
        self.var("RAI_SECRET_ID", secret_id)
    }

    /// An AWS configuration of the test's own, instead of the environment's (moto).
    pub fn aws(mut self, aws: aws_config::SdkConfig) -> Self {
        self.aws = Some(aws);
        self
    }

    /// Sets a variable; an empty value unsets it, as in the function.
    pub fn var(mut self, name: &str, value: &str) -> Self {
        self.vars.insert(name.to_owned(), value.to_owned());
        self
    }

    pub fn vars(self, pairs: &[(&str, &str)]) -> Self {
        pairs.iter().fold(self, |s, (k, v)| s.var(k, v))
    }

    pub async fn try_start(self) -> Result<TestApp, InitError> {
        let rai = match self.rai {
            Some(rai) => rai,
            None => ReturningAi::standard().await,
        };
        let mut vars = self.vars;
        vars.entry("RAI_WIDGET_API_URL".into()).or_insert(rai.uri());
        vars.entry("RAI_API_V2_URL".into()).or_insert(rai.uri());
        let config = Config::from_lookup(|name| vars.get(name).cloned())?;
        let logs = MemorySink::default();
        let app = match &self.aws {
            Some(aws) => App::init_with(config, Some(aws), logs.logger()).await?,
            None => App::init(config, logs.logger()).await?,
        };
        Ok(TestApp {
            app,
            logs,
            rai,
            idp: self.idp,
        })
    }
}

impl IntoFuture for Spawn {
    type Output = TestApp;
    type IntoFuture = Pin<Box<dyn Future<Output = TestApp>>>;

    fn into_future(self) -> Self::IntoFuture {
        Box::pin(async move {
            match self.try_start().await {
                Ok(app) => app,
                Err(e) => panic!("init failed: {e}"),
            }
        })
    }
}

pub struct TestApp {
    pub app: App,
    pub logs: MemorySink,
    pub rai: ReturningAi,
    pub idp: Option<Idp>,
}

impl TestApp {
    pub async fn call(&self, req: Req) -> Resp {
        self.send_event(&req.event().to_string(), &req.invocation())
            .await
    }

    /// A raw event, as the Lambda runtime hands it over.
    pub async fn send_event(&self, event: &str, invocation: &Invocation) -> Resp {
        let wire = self.app.handle(event, invocation).await;
        // Through JSON, as the runtime sends it back.
        Resp::from_wire(&serde_json::to_value(&wire).expect("a serializable response"))
    }

    /// POST /widget-auth with a bearer session.
    pub async fn widget_auth(&self, token: &str) -> Resp {
        self.call(post("/widget-auth").bearer(token)).await
    }

    /// POST /embed-token with a bearer session.
    pub async fn embed_token(&self, token: &str) -> Resp {
        self.call(post("/embed-token").bearer(token)).await
    }

    pub fn idp(&self) -> &Idp {
        self.idp
            .as_ref()
            .expect("an app spawned with an identity provider")
    }

    /// The log lines, parsed.
    pub fn log_lines(&self) -> Vec<Value> {
        self.logs.lines()
    }
}

/// Every line an app wrote is checked when the test is done with it, so that no test can write a
/// line that is not JSON or not valid EMF.
impl Drop for TestApp {
    fn drop(&mut self) {
        if std::thread::panicking() {
            return;
        }
        for line in self.logs.lines() {
            if let Err(why) = emf::check(&line) {
                panic!("a log line that breaks the EMF specification ({why}): {line}");
            }
        }
    }
}

/// Every value that must never reach a response or a log line.
pub fn secrets_in(text: &str) -> Vec<&'static str> {
    [
        API_KEY,
        ACCESS_ID,
        ACCESS_KEY,
        SESSION_SECRET,
        EMAIL,
        "rai-widget-token",
        "rai-refresh-token",
        "rai-embed-token",
        "eyJ",
    ]
    .into_iter()
    .filter(|s| text.contains(s))
    .collect()
}
