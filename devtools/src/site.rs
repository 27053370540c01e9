//! The customer's site on one origin, as a CloudFront distribution with the behavior that the
//! README recommends would serve it:
//! - paths under the API prefix go to the function's origin with caching off, every viewer header
//!   forwarded (Cookie included) except Host, which becomes the origin's own (origin request
//!   policy AllViewerExceptHostHeader), for every method (POST and OPTIONS included);
//! - `/login` signs a demo user in: it sets the session cookie, as the site's own login would,
//!   either a session JWT signed with the shared `sessionSecret` or, in the opaque-cookie mode, a
//!   random id that the site remembers (Rails, Django, Express), with the site's own `/api/me`
//!   saying who an id names;
//! - everything else is a static file.

use std::net::SocketAddr;
use std::path::{Component, Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::header::{self, HeaderMap, HeaderName, HeaderValue};
use hyper::{Method, Request, Response, StatusCode, Uri};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;

use crate::net::{self, Body, MAX_BODY, Server};
use crate::opaque_sessions::{self, OpaqueSessions};
use crate::session;

pub const DEFAULT_EMAIL: &str = "demo.user@example.com";

#[derive(Clone)]
pub struct SiteConfig {
    /// Such as `/api/`: the CloudFront behavior's path pattern.
    pub api_prefix: String,
    /// The function's origin, such as `http://127.0.0.1:9001` (the function URL front end).
    pub api_origin: Uri,
    pub static_dir: Option<PathBuf>,
    pub cookie_name: String,
    /// `Domain=` of the session cookie, such as `example.test`, so that sibling hosts of the
    /// same site get it too; `None` makes a host-only cookie.
    pub cookie_domain: Option<String>,
    pub sessions: Sessions,
}

/// What the site's session cookie holds.
#[derive(Clone)]
pub enum Sessions {
    /// A session JWT (HS256) signed with the `sessionSecret` the site shares with the function.
    Jwt { secret: Vec<u8>, ttl: Duration },
    /// A random id of a session the site keeps in memory; `GET /api/me` answers its user, and is
    /// what the function calls as `SESSION_USERINFO_URL`.
    Opaque(Arc<OpaqueSessions>),
}

pub struct Site {
    server: Server,
}

impl Site {
    pub async fn start(addr: SocketAddr, config: SiteConfig) -> Result<Self, String> {
        if config.api_origin.scheme_str() != Some("http") || config.api_origin.authority().is_none()
        {
            return Err(format!(
                "the API origin must be http://host:port, not {}",
                config.api_origin
            ));
        }
        if !config.api_prefix.starts_with('/') || !config.api_prefix.ends_with('/') {
            return Err("the API prefix must start and end with '/'".into());
        }
        let client: Client<HttpConnector, Full<Bytes>> =
            Client::builder(TokioExecutor::new()).build_http();
        let shared = Arc::new((config, client));
        let server = net::serve(addr, move |request, peer| {
            let shared = shared.clone();
            async move { route(&shared.0, &shared.1, request, peer).await }
        })
        .await
        .map_err(|e| format!("cannot listen on {addr}: {e}"))?;
        Ok(Self { server })
    }

    pub fn url(&self) -> String {
        self.server.url()
    }

    pub fn addr(&self) -> SocketAddr {
        self.server.addr
    }
}

async fn route(
    config: &SiteConfig,
    client: &Client<HttpConnector, Full<Bytes>>,
    request: Request<Incoming>,
    peer: SocketAddr,
) -> Response<Body> {
    let path = request.uri().path();
    // The site's own endpoints come before the proxy: `/api/me` is the site's app, as it is
    // behind a CloudFront distribution whose function behaviors are the function's two routes.
    if let Sessions::Opaque(store) = &config.sessions {
        match (request.method(), path) {
            (&Method::GET, opaque_sessions::ME_PATH) => {
                return store.me(request.headers(), &config.cookie_name);
            }
            (_, opaque_sessions::ME_PATH) => {
                return net::text(StatusCode::METHOD_NOT_ALLOWED, "/api/me answers GET");
            }
            (&Method::GET, opaque_sessions::CALLS_PATH) => {
                return net::json(
                    StatusCode::OK,
                    &serde_json::json!({ "calls": store.calls() }),
                );
            }
            _ => {}
        }
    }
    if path.starts_with(&config.api_prefix) {
        return forward(config, client, request, peer).await;
    }
    match (request.method(), path) {
        (&Method::GET, "/login") => login(config, request.uri()),
        (&Method::GET | &Method::HEAD, _) => match &config.static_dir {
            Some(dir) => static_file(dir, path).await,
            None => net::text(StatusCode::NOT_FOUND, "no such page"),
        },
        _ => net::text(StatusCode::METHOD_NOT_ALLOWED, "the site serves GET"),
    }
}

/// Hop-by-hop headers (RFC 9110 7.6.1) belong to one connection and are never forwarded.
fn hop_by_hop(name: &HeaderName, connection: &HeaderMap) -> bool {
    const HOP: [&str; 8] = [
        "connection",
        "keep-alive",
        "proxy-authenticate",
        "proxy-authorization",
        "proxy-connection",
        "te",
        "trailer",
        "transfer-encoding",
    ];
    HOP.contains(&name.as_str())
        || name == header::UPGRADE
        || connection
            .get_all(header::CONNECTION)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .any(|listed| listed.trim().eq_ignore_ascii_case(name.as_str()))
}

async fn forward(
    config: &SiteConfig,
    client: &Client<HttpConnector, Full<Bytes>>,
    request: Request<Incoming>,
    peer: SocketAddr,
) -> Response<Body> {
    let (parts, body) = request.into_parts();
    let body = match Limited::new(body, MAX_BODY).collect().await {
        Ok(b) => b.to_bytes(),
        Err(_) => return net::text(StatusCode::PAYLOAD_TOO_LARGE, "request body too large"),
    };
    let path_and_query = parts.uri.path_and_query().map_or("/", |p| p.as_str());
    let Ok(uri) = format!(
        "{}{}",
        config.api_origin.to_string().trim_end_matches('/'),
        path_and_query
    )
    .parse::<Uri>() else {
        return net::text(StatusCode::BAD_REQUEST, "unusable path");
    };
    let mut out = Request::new(Full::new(body));
    *out.method_mut() = parts.method.clone();
    *out.uri_mut() = uri;
    let headers = out.headers_mut();
    for (name, value) in &parts.headers {
        if name != header::HOST && !hop_by_hop(name, &parts.headers) {
            headers.append(name.clone(), value.clone());
        }
    }
    // AllViewerExceptHostHeader: the origin sees its own host name, as API Gateway and function
    // URLs require.
    if let Some(authority) = config.api_origin.authority()
        && let Ok(host) = HeaderValue::from_str(authority.as_str())
    {
        headers.insert(header::HOST, host);
    }
    let forwarded_for = match parts
        .headers
        .get("x-forwarded-for")
        .and_then(|v| v.to_str().ok())
    {
        Some(before) => format!("{before}, {}", peer.ip()),
        None => peer.ip().to_string(),
    };
    if let Ok(value) = HeaderValue::from_str(&forwarded_for) {
        headers.insert("x-forwarded-for", value);
    }
    headers.append(
        header::VIA,
        HeaderValue::from_static("1.1 rai-dev-site (CloudFront stand-in)"),
    );

    let answer = match client.request(out).await {
        Ok(answer) => answer,
        Err(e) => {
            eprintln!("rai-dev site: the API origin did not answer: {e}");
            return net::text(StatusCode::BAD_GATEWAY, "the API origin did not answer");
        }
    };
    let (parts, body) = answer.into_parts();
    let Ok(body) = Limited::new(body, MAX_BODY).collect().await else {
        return net::text(
            StatusCode::BAD_GATEWAY,
            "the API origin's answer was cut short",
        );
    };
    let mut response = Response::new(Full::new(body.to_bytes()));
    *response.status_mut() = parts.status;
    for (name, value) in &parts.headers {
        if !hop_by_hop(name, &parts.headers) && name != header::CONTENT_LENGTH {
            response.headers_mut().append(name.clone(), value.clone());
        }
    }
    response
}

/// `GET /login?email=...&next=/page.html`: sets the session cookie for a demo user and sends the
/// browser on. `next` must be a path on this site (no open redirect).
fn login(config: &SiteConfig, uri: &Uri) -> Response<Body> {
    let mut email = DEFAULT_EMAIL.to_owned();
    let mut next = "/".to_owned();
    for pair in uri.query().unwrap_or("").split('&') {
        match pair.split_once('=') {
            Some(("email", v)) => email = decode(v),
            Some(("next", v)) => next = decode(v),
            _ => {}
        }
    }
    if !next.starts_with('/') || next.starts_with("//") || next.contains('\\') {
        next = "/".into();
    }
    let token = match &config.sessions {
        Sessions::Jwt { secret, ttl } => {
            session::mint(secret, &session::demo_claims(&email, ttl.as_secs()))
                .map_err(|e| e.to_string())
        }
        Sessions::Opaque(store) => store.sign_in(&email),
    };
    let token = match token {
        Ok(token) => token,
        Err(e) => return net::text(StatusCode::INTERNAL_SERVER_ERROR, e),
    };
    let domain = config
        .cookie_domain
        .as_ref()
        .map(|d| format!("; Domain={d}"))
        .unwrap_or_default();
    let cookie = format!(
        "{}={token}{domain}; Path=/; HttpOnly; SameSite=Lax",
        config.cookie_name
    );
    let mut response = net::text(StatusCode::SEE_OTHER, "signed in");
    let headers = response.headers_mut();
    match (HeaderValue::from_str(&cookie), HeaderValue::from_str(&next)) {
        (Ok(cookie), Ok(location)) => {
            headers.insert(header::SET_COOKIE, cookie);
            headers.insert(header::LOCATION, location);
            headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
            response
        }
        _ => net::text(StatusCode::BAD_REQUEST, "unusable email or next"),
    }
}

fn decode(value: &str) -> String {
    crate::function_url::percent_decode(value)
}

async fn static_file(dir: &Path, path: &str) -> Response<Body> {
    let relative = if path.ends_with('/') {
        format!("{path}index.html")
    } else {
        path.to_owned()
    };
    let relative = Path::new(relative.trim_start_matches('/'));
    // Only plain names: no `..`, no root, so a request never leaves the directory.
    if !relative
        .components()
        .all(|c| matches!(c, Component::Normal(_)))
    {
        return net::text(StatusCode::NOT_FOUND, "no such page");
    }
    let content_type = match relative.extension().and_then(|e| e.to_str()) {
        Some("html") => "text/html; charset=utf-8",
        Some("js") => "text/javascript; charset=utf-8",
        Some("css") => "text/css; charset=utf-8",
        Some("json") => "application/json",
        Some("svg") => "image/svg+xml",
        Some("png") => "image/png",
        _ => "application/octet-stream",
    };
    match tokio::fs::read(dir.join(relative)).await {
        Ok(bytes) => net::respond(StatusCode::OK, content_type, bytes),
        Err(_) => net::text(StatusCode::NOT_FOUND, "no such page"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{Value, json};

    const SECRET: &[u8] = b"a-session-secret-of-at-least-32-bytes";

    /// An origin that reports what it received: method, path, Host and every header.
    async fn origin() -> Server {
        net::serve("127.0.0.1:0".parse().unwrap(), |request, _| async move {
            let headers: serde_json::Map<String, Value> = request
                .headers()
                .iter()
                .map(|(k, v)| (k.as_str().to_owned(), String::from_utf8_lossy(v.as_bytes()).into()))
                .collect();
            let mut r = net::json(
                StatusCode::IM_A_TEAPOT,
                &json!({"method": request.method().as_str(), "uri": request.uri().to_string(), "headers": headers}),
            );
            r.headers_mut().insert("x-origin", HeaderValue::from_static("yes"));
            r
        })
        .await
        .unwrap()
    }

    async fn site(origin: &Server, dir: Option<PathBuf>) -> Site {
        Site::start(
            "127.0.0.1:0".parse().unwrap(),
            SiteConfig {
                api_prefix: "/api/".into(),
                api_origin: origin.url().parse().unwrap(),
                static_dir: dir,
                cookie_name: "rai_session".into(),
                cookie_domain: Some("example.test".into()),
                sessions: Sessions::Jwt {
                    secret: SECRET.to_vec(),
                    ttl: Duration::from_secs(600),
                },
            },
        )
        .await
        .unwrap()
    }

    #[tokio::test]
    async fn forwards_every_viewer_header_but_host() {
        let origin = origin().await;
        let site = site(&origin, None).await;
        let client = reqwest::Client::new();
        for method in [
            reqwest::Method::POST,
            reqwest::Method::OPTIONS,
            reqwest::Method::GET,
        ] {
            let r = client
                .request(
                    method.clone(),
                    format!("{}/api/widget-auth?x=1", site.url()),
                )
                .header("cookie", "rai_session=abc; other=2")
                .header("origin", "http://www.example.test")
                .header("email", "someone@example.com")
                .header("connection", "keep-alive, x-private")
                .header("x-private", "hop")
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), 418, "the origin's status comes back");
            assert_eq!(r.headers()["x-origin"], "yes");
            let seen: Value = r.json().await.unwrap();
            assert_eq!(seen["method"], method.as_str());
            assert_eq!(seen["uri"], "/api/widget-auth?x=1");
            let h = &seen["headers"];
            assert_eq!(h["host"], origin.addr.to_string());
            assert_eq!(h["cookie"], "rai_session=abc; other=2");
            assert_eq!(h["origin"], "http://www.example.test");
            assert_eq!(h["email"], "someone@example.com");
            assert!(
                h.get("x-private").is_none(),
                "named in Connection: hop-by-hop"
            );
            assert_eq!(h["x-forwarded-for"], "127.0.0.1");
        }
    }

    #[tokio::test]
    async fn login_sets_the_session_cookie_and_stays_on_the_site() {
        let origin = origin().await;
        let site = site(&origin, None).await;
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap();
        let r = client
            .get(format!(
                "{}/login?email=ada%40example.com&next=/page.html",
                site.url()
            ))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 303);
        assert_eq!(r.headers()["location"], "/page.html");
        let cookie = r.headers()["set-cookie"].to_str().unwrap();
        let (pair, attributes) = cookie.split_once(';').unwrap();
        assert_eq!(
            attributes,
            " Domain=example.test; Path=/; HttpOnly; SameSite=Lax"
        );
        let token = pair.strip_prefix("rai_session=").unwrap();
        let claims = jsonwebtoken::decode::<Value>(
            token,
            &jsonwebtoken::DecodingKey::from_secret(SECRET),
            &jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::HS256),
        )
        .unwrap()
        .claims;
        assert_eq!(claims["email"], "ada@example.com");

        for next in ["https://evil.test/", "//evil.test/", "/\\evil.test"] {
            let r = client
                .get(format!("{}/login?next={next}", site.url()))
                .send()
                .await
                .unwrap();
            assert_eq!(r.headers()["location"], "/", "{next}");
        }
    }

    async fn opaque_site(origin: &Server, store: Arc<OpaqueSessions>) -> Site {
        Site::start(
            "127.0.0.1:0".parse().unwrap(),
            SiteConfig {
                api_prefix: "/api/".into(),
                api_origin: origin.url().parse().unwrap(),
                static_dir: None,
                cookie_name: "rai_session".into(),
                cookie_domain: None,
                sessions: Sessions::Opaque(store),
            },
        )
        .await
        .unwrap()
    }

    /// Signs `email` in on `site` and returns the session cookie's value, after checking the
    /// cookie's attributes.
    async fn opaque_login(client: &reqwest::Client, site: &Site, email: &str) -> String {
        let r = client
            .get(format!(
                "{}/login?email={}&next=/",
                site.url(),
                email.replace('@', "%40")
            ))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 303);
        assert_eq!(r.headers()["location"], "/");
        let cookie = r.headers()["set-cookie"].to_str().unwrap();
        let (pair, attributes) = cookie.split_once(';').unwrap();
        assert_eq!(attributes, " Path=/; HttpOnly; SameSite=Lax");
        pair.strip_prefix("rai_session=").unwrap().to_owned()
    }

    #[tokio::test]
    async fn opaque_login_remembers_a_random_id_that_api_me_answers() {
        let origin = origin().await;
        let store = Arc::new(OpaqueSessions::new());
        let site = opaque_site(&origin, store.clone()).await;
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap();
        let ada = opaque_login(&client, &site, "ada@example.com").await;
        let bob = opaque_login(&client, &site, "bob@example.com").await;
        // Opaque: a random id, nothing of the user in it, and not a token anyone could verify.
        assert_eq!(ada.len(), 2 * opaque_sessions::ID_BYTES);
        assert!(ada.bytes().all(|b| b.is_ascii_hexdigit()), "{ada}");
        assert_ne!(ada, bob);
        assert_eq!(store.user(&ada).as_deref(), Some("ada@example.com"));

        let me = |cookie: Option<String>| {
            let mut request = client.get(format!("{}/api/me", site.url()));
            if let Some(cookie) = cookie {
                request = request.header("cookie", cookie);
            }
            request.send()
        };
        for (id, email) in [(&ada, "ada@example.com"), (&bob, "bob@example.com")] {
            let r = me(Some(format!("theme=dark; rai_session={id}; other=1")))
                .await
                .unwrap();
            assert_eq!(r.status(), 200, "the site answers /api/me itself");
            assert_eq!(r.headers()["content-type"], "application/json");
            assert_eq!(r.headers()["cache-control"], "no-store");
            let body: Value = r.json().await.unwrap();
            assert_eq!(
                body,
                json!({"sub": session::demo_sub(email), "email": email, "email_verified": true})
            );
        }
        for cookie in [
            None,
            Some("rai_session=0000000000000000".to_owned()),
            Some(format!("other={ada}")),
        ] {
            let r = me(cookie.clone()).await.unwrap();
            assert_eq!(r.status(), 401, "{cookie:?}");
            assert_eq!(
                r.json::<Value>().await.unwrap(),
                json!({"error": "not_signed_in"})
            );
        }
        let post = client
            .post(format!("{}/api/me", site.url()))
            .send()
            .await
            .unwrap();
        assert_eq!(post.status(), 405);

        // Every other API path still goes to the function's origin, the cookie with it.
        let r = client
            .post(format!("{}/api/widget-auth", site.url()))
            .header("cookie", format!("rai_session={ada}"))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 418);
        let seen: Value = r.json().await.unwrap();
        assert_eq!(seen["headers"]["cookie"], format!("rai_session={ada}"));

        // What /api/me saw, by name only.
        let calls: Value = client
            .get(format!("{}{}", site.url(), opaque_sessions::CALLS_PATH))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let calls = calls["calls"].as_array().unwrap();
        assert_eq!(calls.len(), 5);
        assert_eq!(
            calls[0]["cookieNames"],
            json!(["theme", "rai_session", "other"])
        );
        assert_eq!(calls[0]["status"], 200);
        assert_eq!(calls[2]["cookieNames"], json!([]));
        assert_eq!(calls[2]["status"], 401);
        let text = Value::Array(calls.clone()).to_string();
        assert!(!text.contains(&ada) && !text.contains(&bob), "{text}");
    }

    #[tokio::test]
    async fn a_jwt_site_has_no_api_me_of_its_own() {
        let origin = origin().await;
        let site = site(&origin, None).await;
        let r = reqwest::get(format!("{}/api/me", site.url()))
            .await
            .unwrap();
        assert_eq!(r.status(), 418, "proxied to the function's origin");
        let r = reqwest::get(format!("{}{}", site.url(), opaque_sessions::CALLS_PATH))
            .await
            .unwrap();
        assert_eq!(r.status(), 404);
    }

    #[tokio::test]
    async fn serves_static_files_inside_the_directory_only() {
        let dir = std::env::temp_dir().join(format!("rai-devtools-site-{}", std::process::id()));
        std::fs::create_dir_all(dir.join("sub")).unwrap();
        std::fs::write(dir.join("index.html"), "<p>home</p>").unwrap();
        std::fs::write(dir.join("sub/app.js"), "let x;").unwrap();
        let origin = origin().await;
        let site = site(&origin, Some(dir.clone())).await;
        let client = reqwest::Client::new();
        let r = client.get(format!("{}/", site.url())).send().await.unwrap();
        assert_eq!(r.headers()["content-type"], "text/html; charset=utf-8");
        assert_eq!(r.text().await.unwrap(), "<p>home</p>");
        let r = client
            .get(format!("{}/sub/app.js", site.url()))
            .send()
            .await
            .unwrap();
        assert_eq!(
            r.headers()["content-type"],
            "text/javascript; charset=utf-8"
        );
        for outside in ["/%2e%2e/etc/passwd", "/missing.html", "/sub"] {
            let r = client
                .get(format!("{}{outside}", site.url()))
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), 404, "{outside}");
        }
        // A client (unlike reqwest) may send dot segments as they are.
        std::fs::write(
            dir.parent().unwrap().join("rai-devtools-outside.txt"),
            "outside",
        )
        .unwrap();
        for raw in [
            "/../rai-devtools-outside.txt",
            "/sub/../../rai-devtools-outside.txt",
            "//etc/passwd",
        ] {
            assert_eq!(static_file(&dir, raw).await.status(), 404, "{raw}");
        }
        assert_eq!(static_file(&dir, "/sub/app.js").await.status(), 200);
    }
}
