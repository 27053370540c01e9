//! The README's identity-provider recipes, each with a token (or userinfo answer) shaped like the
//! one that provider issues: its claims, algorithm, `kid`, issuer format, header or cookie. The
//! provider's endpoints are stand-ins on loopback at the provider's own paths.

use jsonwebtoken::Algorithm;
use serde_json::{Value, json};
use wiremock::matchers::{header, method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::helpers::*;

/// A server publishing `keys` as a JWKS at `jwks_path`.
async fn keys_at(jwks_path: &str, keys: Vec<Value>) -> MockServer {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path(jwks_path))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({ "keys": keys })))
        .mount(&server)
        .await;
    server
}

/// A server publishing an OpenID discovery document for `{uri}{issuer_path}` and its keys.
async fn discovery_at(
    issuer_path: &str,
    jwks_path: &str,
    keys: Vec<Value>,
) -> (MockServer, String) {
    let server = keys_at(jwks_path, keys).await;
    let issuer = format!("{}{issuer_path}", server.uri());
    Mock::given(method("GET"))
        .and(path(format!(
            "{issuer_path}/.well-known/openid-configuration"
        )))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "issuer": issuer,
            "jwks_uri": format!("{}{jwks_path}", server.uri()),
        })))
        .mount(&server)
        .await;
    (server, issuer)
}

/// `SESSION_SECRET` unset, the rest as given.
async fn app(vars: &[(&str, &str)]) -> TestApp {
    spawn_app().var("SESSION_SECRET", "").vars(vars).await
}

#[tokio::test]
async fn amazon_cognito_id_token() {
    let pool = "us-east-1_Ex4mpLe12";
    let client_id = "4example23clientid9f8e7d6c5b";
    let kid = "Tk2a7ExAmPlE1kIdbase64=";
    let idp = keys_at(
        &format!("/{pool}/.well-known/jwks.json"),
        vec![jwk(kid, Algorithm::RS256, &rsa())],
    )
    .await;
    let issuer = format!("https://cognito-idp.us-east-1.amazonaws.com/{pool}");
    let t = app(&[
        (
            "SESSION_JWKS_URL",
            &format!("{}/{pool}/.well-known/jwks.json", idp.uri()),
        ),
        ("SESSION_ISSUER", &issuer),
        ("SESSION_AUDIENCE", client_id),
        ("USER_IDENTIFIERS", "data-email=email,data-user-id=sub"),
    ])
    .await;
    let id_token = json!({
        "sub": "b1c2d3e4-0000-4000-8000-00000000abcd",
        "cognito:groups": ["members"],
        "email_verified": true,
        "iss": issuer,
        "cognito:username": "b1c2d3e4-0000-4000-8000-00000000abcd",
        "origin_jti": "1b2c3d4e-5f6a-4b7c-8d9e-0f1a2b3c4d5e",
        "aud": client_id,
        "event_id": "6f0e1d2c-3b4a-4958-8776-655443322110",
        "token_use": "id",
        "auth_time": now() - 60,
        "exp": now() + 3600,
        "iat": now() - 60,
        "jti": "0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d",
        "email": EMAIL
    });
    t.widget_auth(&mint(Algorithm::RS256, &rsa(), Some(kid), &id_token))
        .await
        .assert_ok();
    t.embed_token(&mint(Algorithm::RS256, &rsa(), Some(kid), &id_token))
        .await
        .assert_ok();

    // The access token has no email and no aud (client_id instead): it cannot sign anyone in
    // as a JWT, which is why the access-token recipe goes through userInfo.
    let access_token = json!({
        "sub": "b1c2d3e4-0000-4000-8000-00000000abcd",
        "iss": issuer,
        "client_id": client_id,
        "origin_jti": "1b2c3d4e-5f6a-4b7c-8d9e-0f1a2b3c4d5e",
        "event_id": "6f0e1d2c-3b4a-4958-8776-655443322110",
        "token_use": "access",
        "scope": "openid email",
        "auth_time": now() - 60,
        "exp": now() + 3600,
        "iat": now() - 60,
        "jti": "2c3d4e5f-6a7b-4c8d-9e0f-1a2b3c4d5e6f",
        "username": "b1c2d3e4-0000-4000-8000-00000000abcd"
    });
    t.widget_auth(&mint(Algorithm::RS256, &rsa(), Some(kid), &access_token))
        .await
        .assert_error(401, "invalid_session");
}

#[tokio::test]
async fn amazon_cognito_access_token_through_userinfo() {
    let domain = MockServer::start().await;
    let access_token = "eyJraWQiOiJhY2Nlc3MifQ.cognito-access-token.signature";
    Mock::given(method("GET"))
        .and(path("/oauth2/userInfo"))
        .and(header(
            "authorization",
            format!("Bearer {access_token}").as_str(),
        ))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "sub": "b1c2d3e4-0000-4000-8000-00000000abcd",
            "email_verified": "true",
            "email": EMAIL,
            "username": "b1c2d3e4-0000-4000-8000-00000000abcd"
        })))
        .expect(1)
        .mount(&domain)
        .await;
    let t = app(&[(
        "SESSION_USERINFO_URL",
        &format!("{}/oauth2/userInfo", domain.uri()),
    )])
    .await;
    t.widget_auth(access_token).await.assert_ok();
    t.widget_auth(access_token).await.assert_ok();
}

#[tokio::test]
async fn auth0_access_token_with_an_email_claim_from_an_action() {
    let kid = "oT2ExAmPlEkId4uth0";
    let idp = keys_at(
        "/.well-known/jwks.json",
        vec![jwk(kid, Algorithm::RS256, &rsa())],
    )
    .await;
    let issuer = "https://acme.us.auth0.com/";
    let email_claim = "https://widgets.acme.example/email";
    let t = app(&[
        (
            "SESSION_JWKS_URL",
            &format!("{}/.well-known/jwks.json", idp.uri()),
        ),
        ("SESSION_ISSUER", issuer),
        ("SESSION_AUDIENCE", "https://api.acme.example"),
        ("SESSION_EMAIL_CLAIM", email_claim),
    ])
    .await;
    let token = json!({
        "iss": issuer,
        "sub": "auth0|6553da60a54af58e29493993",
        "aud": ["https://api.acme.example", "https://acme.us.auth0.com/userinfo"],
        "iat": now() - 10,
        "exp": now() + 86_400,
        "scope": "openid profile email",
        "azp": "K1AUPhZq8mRi0Q0pjhkfu1D7y6KjDQja",
        email_claim: EMAIL
    });
    t.widget_auth(&mint(Algorithm::RS256, &rsa(), Some(kid), &token))
        .await
        .assert_ok();
    // The issuer is compared as written: without its trailing slash it is another issuer.
    let other = changed(&token, json!({ "iss": "https://acme.us.auth0.com" }));
    t.widget_auth(&mint(Algorithm::RS256, &rsa(), Some(kid), &other))
        .await
        .assert_error(401, "invalid_session");
}

#[tokio::test]
async fn okta_access_token_from_a_custom_authorization_server() {
    let kid = "NvV5ExAmPlEoktaKid";
    let (idp, issuer) = discovery_at(
        "/oauth2/default",
        "/oauth2/default/v1/keys",
        vec![jwk(kid, Algorithm::RS256, &rsa())],
    )
    .await;
    let t = app(&[
        ("SESSION_ISSUER", &issuer),
        ("SESSION_AUDIENCE", "api://default"),
    ])
    .await;
    let token = json!({
        "ver": 1,
        "jti": "AT.ExAmPlE-jti",
        "iss": issuer,
        "aud": "api://default",
        "iat": now() - 10,
        "exp": now() + 3600,
        "cid": "0oa1example2client3",
        "uid": "00u1example2user3",
        "scp": ["openid", "email"],
        "sub": EMAIL,
        // Added in the authorization server's Claims tab: user.email, in the access token.
        "email": EMAIL
    });
    t.widget_auth(&mint(Algorithm::RS256, &rsa(), Some(kid), &token))
        .await
        .assert_ok();
    assert_eq!(
        idp.received_requests().await.unwrap_or_default().len(),
        2,
        "discovery, then the key set"
    );
}

#[tokio::test]
async fn microsoft_entra_id_v2_token_uses_email_not_preferred_username() {
    let tenant = "72f988bf-86f1-41af-91ab-2d7cd011db47";
    let client_id = "6e74172b-be56-4843-9ff4-e66a39bb12e3";
    let kid = "KQ2tAcrE7lBaViGmN8ExAmPlE";
    let (_idp, issuer) = discovery_at(
        &format!("/{tenant}/v2.0"),
        &format!("/{tenant}/discovery/v2.0/keys"),
        vec![jwk(kid, Algorithm::RS256, &rsa())],
    )
    .await;
    let t = app(&[
        ("SESSION_ISSUER", &issuer),
        ("SESSION_AUDIENCE", client_id),
        ("USER_IDENTIFIERS", "data-email=email,data-user-id=oid"),
    ])
    .await;
    let id_token = json!({
        "ver": "2.0",
        "iss": issuer,
        "sub": "AAAAAAAAAAAAAAAAAAAAAIkzqFVrSaSaFHy782bbtaQ",
        "aud": client_id,
        "exp": now() + 3600,
        "iat": now() - 10,
        "nbf": now() - 10,
        "name": "Jane Doe",
        "preferred_username": "jdoe@contoso.onmicrosoft.com",
        "oid": "00000000-0000-0000-66f3-3332eca7ea81",
        "tid": tenant,
        "email": EMAIL,
        "aio": "Df2UVXL1ix!lMCWMSOJBcFatzcGfvFGhjKv8q5g0x732dR5MB5BisvGQO7YWByjd8iQDLq!eGbIDakyp5mnOrcdqHeYSnltepQmRp6AIZ8jY"
    });
    t.widget_auth(&mint(Algorithm::RS256, &rsa(), Some(kid), &id_token))
        .await
        .assert_ok();
    t.embed_token(&mint(Algorithm::RS256, &rsa(), Some(kid), &id_token))
        .await
        .assert_ok();
    // Without the `email` optional claim there is no email: preferred_username is not one.
    let without = changed(&id_token, json!({ "email": null }));
    t.widget_auth(&mint(Algorithm::RS256, &rsa(), Some(kid), &without))
        .await
        .assert_error(401, "invalid_session");
}

#[tokio::test]
async fn clerk_session_cookie() {
    let kid = "ins_2abcDEFghiJKLmnoPQRstuVWxyz";
    let idp = keys_at(
        "/.well-known/jwks.json",
        vec![jwk(kid, Algorithm::RS256, &rsa())],
    )
    .await;
    let issuer = "https://clerk.acme.example";
    let t = app(&[
        (
            "SESSION_JWKS_URL",
            &format!("{}/.well-known/jwks.json", idp.uri()),
        ),
        ("SESSION_ISSUER", issuer),
        ("SESSION_COOKIE", "__session"),
        ("SESSION_EMAIL_CLAIM", "primaryEmail"),
    ])
    .await;
    // Clerk's session tokens live for 60 s; the email is a custom claim of the session token.
    let token = json!({
        "azp": "https://www.acme.example",
        "exp": now() + 60,
        "fva": [3, -1],
        "iat": now(),
        "iss": issuer,
        "nbf": now() - 5,
        "sid": "sess_2abcDEFghiJKLmnoPQRstuVW",
        "sub": "user_2abcDEFghiJKLmnoPQRstuVW",
        "v": 2,
        "primaryEmail": EMAIL
    });
    let r = t
        .call(
            post("/widget-auth")
                .cookie("__client_uat=1764089000")
                .cookie(&format!(
                    "__session={}",
                    mint(Algorithm::RS256, &rsa(), Some(kid), &token)
                )),
        )
        .await;
    r.assert_ok();
}

#[tokio::test]
async fn firebase_id_token() {
    let project = "acme-widgets";
    let kid = "a1b2c3d4e5f60718293a4b5c6d7e8f9012345678";
    let jwks_path = "/service_accounts/v1/metadata/jwk/securetoken@system.gserviceaccount.com";
    let idp = keys_at(jwks_path, vec![jwk(kid, Algorithm::RS256, &rsa())]).await;
    let issuer = format!("https://securetoken.google.com/{project}");
    let t = app(&[
        ("SESSION_JWKS_URL", &format!("{}{jwks_path}", idp.uri())),
        ("SESSION_ISSUER", &issuer),
        ("SESSION_AUDIENCE", project),
        ("USER_IDENTIFIERS", "data-user-id=user_id"),
    ])
    .await;
    let token = json!({
        "iss": issuer,
        "aud": project,
        "auth_time": now() - 600,
        "user_id": "Xk893u23H9SI893",
        "sub": "Xk893u23H9SI893",
        "iat": now() - 10,
        "exp": now() + 3600,
        "email": EMAIL,
        "email_verified": true,
        "firebase": { "identities": { "email": [EMAIL] }, "sign_in_provider": "password" }
    });
    t.widget_auth(&mint(Algorithm::RS256, &rsa(), Some(kid), &token))
        .await
        .assert_ok();
    t.embed_token(&mint(Algorithm::RS256, &rsa(), Some(kid), &token))
        .await
        .assert_ok();
    let unverified = changed(&token, json!({ "email_verified": false }));
    t.widget_auth(&mint(Algorithm::RS256, &rsa(), Some(kid), &unverified))
        .await
        .assert_error(403, "email_not_verified");
}

#[tokio::test]
async fn firebase_session_cookie_through_the_identity_platform_jwks() {
    let project = "acme-widgets";
    let kid = "sc1ExAmPlEkid";
    let jwks_path = "/v1/sessionCookiePublicKeys";
    let idp = keys_at(jwks_path, vec![jwk(kid, Algorithm::RS256, &rsa())]).await;
    let issuer = format!("https://session.firebase.google.com/{project}");
    let t = app(&[
        ("SESSION_JWKS_URL", &format!("{}{jwks_path}", idp.uri())),
        ("SESSION_ISSUER", &issuer),
        ("SESSION_AUDIENCE", project),
        ("SESSION_COOKIE", "session"),
    ])
    .await;
    let cookie = json!({
        "iss": issuer,
        "aud": project,
        "auth_time": now() - 600,
        "user_id": "Xk893u23H9SI893",
        "sub": "Xk893u23H9SI893",
        "iat": now() - 600,
        "exp": now() + 14 * 86_400,
        "email": EMAIL,
        "email_verified": true,
        "firebase": { "identities": { "email": [EMAIL] }, "sign_in_provider": "password" }
    });
    let value = mint(Algorithm::RS256, &rsa(), Some(kid), &cookie);
    t.call(post("/widget-auth").cookie(&format!("session={value}")))
        .await
        .assert_ok();
    // An ID token is not a session cookie: another issuer.
    let id_token = changed(
        &cookie,
        json!({ "iss": format!("https://securetoken.google.com/{project}") }),
    );
    let value = mint(Algorithm::RS256, &rsa(), Some(kid), &id_token);
    t.call(post("/widget-auth").cookie(&format!("session={value}")))
        .await
        .assert_error(401, "invalid_session");
}

fn supabase_claims(issuer: &str) -> Value {
    json!({
        "iss": issuer,
        "sub": "123e4567-e89b-12d3-a456-426614174000",
        "aud": "authenticated",
        "exp": now() + 3600,
        "iat": now() - 10,
        "email": EMAIL,
        "phone": "",
        "app_metadata": { "provider": "email", "providers": ["email"] },
        "user_metadata": { "email_verified": true },
        "role": "authenticated",
        "aal": "aal1",
        "amr": [{ "method": "password", "timestamp": now() - 10 }],
        "session_id": "0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d",
        "is_anonymous": false
    })
}

#[tokio::test]
async fn supabase_legacy_hs256_jwt_secret() {
    let issuer = "https://abcdefghijklmnopqrst.supabase.co/auth/v1";
    // The project's JWT secret is the secret's sessionSecret (here the local SESSION_SECRET).
    let t = spawn_app()
        .vars(&[
            ("SESSION_ISSUER", issuer),
            ("SESSION_AUDIENCE", "authenticated"),
        ])
        .await;
    let token = supabase_claims(issuer);
    t.widget_auth(&mint_hs(&token)).await.assert_ok();
    // The anon key is a JWT signed with the same secret: its role and audience are not a user's.
    let anon = json!({ "iss": "supabase", "ref": "abcdefghijklmnopqrst", "role": "anon", "iat": now() - 10, "exp": now() + 3600 });
    t.widget_auth(&mint_hs(&anon))
        .await
        .assert_error(401, "invalid_session");
}

#[tokio::test]
async fn supabase_asymmetric_signing_keys() {
    let kid = "f2e1d0c9-b8a7-4695-8473-625140392817";
    let jwks_path = "/auth/v1/.well-known/jwks.json";
    let idp = keys_at(jwks_path, vec![jwk(kid, Algorithm::ES256, &ec())]).await;
    let issuer = "https://abcdefghijklmnopqrst.supabase.co/auth/v1";
    let t = app(&[
        ("SESSION_JWKS_URL", &format!("{}{jwks_path}", idp.uri())),
        ("SESSION_ISSUER", issuer),
        ("SESSION_AUDIENCE", "authenticated"),
    ])
    .await;
    t.widget_auth(&mint(
        Algorithm::ES256,
        &ec(),
        Some(kid),
        &supabase_claims(issuer),
    ))
    .await
    .assert_ok();
}

#[tokio::test]
async fn keycloak_access_token_with_an_audience_mapper() {
    let kid = "c8vJ0ExAmPlEkeycloakKid";
    let (_idp, issuer) = discovery_at(
        "/realms/acme",
        "/realms/acme/protocol/openid-connect/certs",
        vec![jwk(kid, Algorithm::RS256, &rsa())],
    )
    .await;
    let t = app(&[
        ("SESSION_ISSUER", &issuer),
        ("SESSION_AUDIENCE", "rai-widgets"),
    ])
    .await;
    let token = json!({
        "exp": now() + 300,
        "iat": now() - 10,
        "auth_time": now() - 60,
        "jti": "onrtac:4c1a5d2e-8f3b-4a6c-9d7e-0f1a2b3c4d5e",
        "iss": issuer,
        "aud": ["rai-widgets", "account"],
        "sub": "f1e2d3c4-b5a6-4978-8695-a4b3c2d1e0f9",
        "typ": "Bearer",
        "azp": "acme-web",
        "sid": "2b3c4d5e-6f7a-4b8c-9d0e-1f2a3b4c5d6e",
        "acr": "1",
        "realm_access": { "roles": ["default-roles-acme", "offline_access", "uma_authorization"] },
        "scope": "openid email profile",
        "email_verified": true,
        "name": "Jane Doe",
        "preferred_username": "jane",
        "email": EMAIL
    });
    t.widget_auth(&mint(Algorithm::RS256, &rsa(), Some(kid), &token))
        .await
        .assert_ok();
    // Keycloak's default access token is for "account" only: without the mapper, refused.
    let default_aud = changed(&token, json!({ "aud": "account" }));
    t.widget_auth(&mint(Algorithm::RS256, &rsa(), Some(kid), &default_aud))
        .await
        .assert_error(401, "invalid_session");
}

#[tokio::test]
async fn opaque_cookie_site_with_a_me_endpoint() {
    // A Rails app: its session cookie is opaque; its /api/me answers the signed-in user.
    let site = Site::answering(ResponseTemplate::new(200).set_body_json(json!({
        "user": { "id": 42, "email": EMAIL, "name": "Jane Doe" },
        "csrf_token": USERINFO_PRIVATE
    })))
    .await;
    let t = spawn_app()
        .userinfo(&site.me_url())
        .vars(&[
            ("SESSION_COOKIE", "_acme_session"),
            ("SESSION_USERINFO_POINTER", "/user"),
            ("USER_IDENTIFIERS", "data-email=email,data-user-id=id"),
        ])
        .await;
    let cookie = "_acme_session=cGxhaW4tb3BhcXVlLXJhaWxzLXNlc3Npb24%3D--a1b2c3d4e5f6";
    let r = t
        .call(post("/widget-auth").cookie("_ga=GA1.1.123").cookie(cookie))
        .await;
    r.assert_ok();
    t.call(post("/embed-token").cookie(cookie))
        .await
        .assert_ok();
    let requests = site.requests().await;
    assert_eq!(
        requests.len(),
        1,
        "the second request used the cached answer"
    );
    assert_eq!(
        requests[0].headers.get("cookie").map(|v| v.as_bytes()),
        Some(cookie.as_bytes())
    );
    // Signed out: the site answers 401.
    let signed_out = Site::answering(ResponseTemplate::new(401)).await;
    let t = spawn_app()
        .userinfo(&signed_out.me_url())
        .var("SESSION_COOKIE", "_acme_session")
        .await;
    t.call(post("/widget-auth").cookie(cookie))
        .await
        .assert_error(401, "invalid_session");
}
