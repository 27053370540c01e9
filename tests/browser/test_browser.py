"""What a browser lets a page do with the endpoint, in each deployment topology. See conftest.py
for the host names and what serves them."""

from conftest import (COOKIE, DEFAULT_EMAIL, RATE_LIMITED_EMAIL, fetch, sign_in, widget_token_for)

ATTACKER = "attacker@example.com"


def test_same_origin_cookie_session(stack, page):
    sign_in(page, stack.site)
    cookie = next(c for c in page.context.cookies() if c["name"] == COOKIE)
    assert (cookie["domain"], cookie["httpOnly"], cookie["sameSite"]) == (".example.test", True, "Lax")
    assert COOKIE not in page.evaluate("document.cookie"), "HttpOnly: no script reads the session"
    before = stack.upstream_calls()

    # Default credentials ('same-origin'), a relative URL: the documented auth-url setup.
    r = fetch(page, "/api/widget-auth", method="POST")
    assert r["status"] == 200, r
    assert r["body"]["token"] == widget_token_for(DEFAULT_EMAIL)
    assert r["body"]["expiresIn"] == 300
    r = fetch(page, "/api/embed-token")
    assert r["status"] == 200, r
    assert r["body"]["embedToken"].startswith("demo-embed-token-")
    assert stack.upstream_calls() == before + 2


def test_same_site_cross_origin_with_credentials_include(stack, page):
    sign_in(page, stack.site)
    preflights, lines = stack.logged(method="OPTIONS"), stack.logged()
    # Without credentials: 'include' a cross-origin fetch sends no cookie at all.
    r = fetch(page, f"{stack.auth}/widget-auth", method="POST")
    assert (r["status"], r["body"]["error"]) == (401, "missing_session"), r

    # A plain (simple) request: no preflight.
    r = fetch(page, f"{stack.auth}/widget-auth", method="POST", credentials="include")
    assert r["status"] == 200, r
    assert r["body"]["token"] == widget_token_for(DEFAULT_EMAIL)
    # Lines arrive in order: once both requests' lines are in, a preflight's would be too.
    assert stack.logged_at_least(lines + 2) >= lines + 2
    assert stack.logged(method="OPTIONS") == preflights

    # A JSON body makes it preflighted; the body's email is ignored.
    r = fetch(page, f"{stack.auth}/widget-auth", method="POST", credentials="include",
              headers={"Content-Type": "application/json"}, body=f'{{"email": "{ATTACKER}"}}')
    assert r["status"] == 200, r
    assert r["body"]["token"] == widget_token_for(DEFAULT_EMAIL)
    assert stack.logged_at_least(preflights + 1, method="OPTIONS") == preflights + 1


def test_a_request_adding_its_own_headers(stack, page):
    sign_in(page, stack.site)
    preflights = stack.logged(method="OPTIONS", status=204)
    r = fetch(page, f"{stack.auth}/widget-auth", method="POST", credentials="include",
              headers={"email": ATTACKER, "X-Rai-Widget": "channel"})
    assert r["ok"], f"the browser refused the preflight: {r}"
    assert r["status"] == 200, r
    assert r["body"]["token"] == widget_token_for(DEFAULT_EMAIL), "identity from the session only"
    assert stack.logged_at_least(preflights + 1, method="OPTIONS", status=204) == preflights + 1


def test_errors_retry_after_and_www_authenticate_are_readable(stack, page):
    page.goto(f"{stack.site}/blank.html")
    r = fetch(page, f"{stack.auth}/widget-auth", method="POST", credentials="include")
    assert r["status"] == 401, r
    assert r["body"]["error"] == "missing_session" and r["body"]["message"]
    assert r["headers"]["www-authenticate"].startswith("Bearer"), r["headers"]

    r = fetch(page, f"{stack.auth}/widget-auth", method="POST", headers={"Authorization": "Bearer not.a.jwt"})
    assert r["status"] == 401, r
    assert r["body"]["error"] == "invalid_session"
    assert "invalid_token" in r["headers"]["www-authenticate"], r["headers"]

    sign_in(page, stack.site, RATE_LIMITED_EMAIL)
    r = fetch(page, f"{stack.auth}/widget-auth", method="POST", credentials="include")
    assert r["status"] == 429, r
    assert r["body"]["error"] == "upstream_rate_limited"
    assert r["headers"]["retry-after"] == "7", r["headers"]


def test_a_foreign_origin_reads_nothing_and_causes_no_upstream_call(stack, page):
    # Signed in on the site; the sibling origin is the same site (so the cookie goes along) but
    # not on CORS_ALLOWED_ORIGINS.
    sign_in(page, stack.site)
    page.goto(f"{stack.sibling}/blank.html")
    before, refused = stack.upstream_calls(), stack.logged(error="origin_not_allowed")

    plain = fetch(page, f"{stack.auth}/widget-auth", method="POST", credentials="include")
    assert not plain["ok"] and "TypeError" in plain["error"], plain
    bearer = fetch(page, f"{stack.auth}/widget-auth", method="POST",
                   headers={"Authorization": f"Bearer {stack.mint(DEFAULT_EMAIL)}"})
    assert not bearer["ok"] and "TypeError" in bearer["error"], bearer
    opaque = fetch(page, f"{stack.auth}/widget-auth", method="POST", credentials="include", mode="no-cors")
    assert (opaque["type"], opaque["status"], opaque["body"]) == ("opaque", 0, None), opaque

    # The function refused each one itself (the plain POST, the preflight, the no-cors POST),
    # and Returning.AI never heard of them.
    assert stack.logged_at_least(refused + 3, error="origin_not_allowed") == refused + 3
    assert stack.upstream_calls() == before


def test_a_cross_site_cookie_is_withheld(stack, page):
    # The function's cross-site name holds a session cookie of its own (SameSite=Lax).
    host = stack.cross_site.split("//")[1].split(":")[0]
    page.context.add_cookies([{
        "name": COOKIE, "value": stack.mint(DEFAULT_EMAIL), "domain": host, "path": "/",
        "httpOnly": True, "secure": False, "sameSite": "Lax",
    }])
    page.goto(f"{stack.site}/blank.html")
    r = fetch(page, f"{stack.cross_site}/widget-auth", method="POST", credentials="include")
    assert r["status"] == 401, r
    assert r["body"]["error"] == "missing_session"

    # The same cookie does go along on a top-level navigation: it was withheld, not absent.
    response = page.goto(f"{stack.cross_site}/widget-auth")
    assert response.status == 200
    assert response.json()["token"] == widget_token_for(DEFAULT_EMAIL)


def test_a_bearer_session_from_an_allowed_page(stack, page):
    page.goto(f"{stack.site}/blank.html")
    email = "bearer.user@example.com"
    jwt = stack.mint(email)
    preflights = stack.logged(method="OPTIONS", status=204)
    r = fetch(page, f"{stack.cross_site}/widget-auth", method="POST", headers={"Authorization": f"Bearer {jwt}"})
    assert r["status"] == 200, r
    assert r["body"]["token"] == widget_token_for(email)
    r = fetch(page, f"{stack.cross_site}/embed-token", headers={"Authorization": f"Bearer {jwt}"})
    assert r["status"] == 200, r
    assert r["body"]["expiresIn"] == 900
    assert stack.logged_at_least(preflights + 2, method="OPTIONS", status=204) == preflights + 2


def test_the_demo_widget_page_through_five_refreshes(stack, page):
    # Signed out first: the widget shows the endpoint's refusal.
    page.goto(f"{stack.site}/")
    widget = page.locator("rai-channel-widget")
    page.wait_for_selector("rai-channel-widget[data-state=refused]")
    assert "401 missing_session" in widget.inner_text()

    page.goto(f"{stack.site}/login?next=/")
    page.wait_for_selector("rai-channel-widget[data-state=signed-in]")
    before = stack.upstream_calls()
    for _ in range(5):
        page.reload()
        page.wait_for_selector("rai-channel-widget[data-state=signed-in]")
        assert widget.evaluate("w => w.token") == widget_token_for(DEFAULT_EMAIL)
    assert stack.upstream_calls() == before + 5


def test_an_opaque_session_cookie_is_asked_about_at_the_site(opaque_stack, page):
    stack = opaque_stack
    page.goto(f"{stack.site}/blank.html")
    r = fetch(page, "/api/widget-auth", method="POST")
    assert (r["status"], r["body"]["error"]) == (401, "missing_session"), r

    # A cookie of the site's own that is not the session: never forwarded.
    page.evaluate("document.cookie = 'theme=dark; path=/'")
    sign_in(page, stack.site)
    session = next(c for c in page.context.cookies() if c["name"] == COOKIE)
    assert len(session["value"]) == 64 and "." not in session["value"], "an opaque id, not a JWT"
    assert (session["httpOnly"], session["sameSite"]) == (True, "Lax")
    before = len(stack.me_calls())

    # The documented same-origin auth-url: the browser sends the site's cookies along, the
    # function asks the site's /api/me who the session is.
    r = fetch(page, "/api/widget-auth", method="POST")
    assert r["status"] == 200, r
    assert r["body"]["token"] == widget_token_for(DEFAULT_EMAIL)
    calls = stack.me_calls()[before:]
    assert [c["cookieNames"] for c in calls] == [[COOKIE]], calls
    assert calls[0]["status"] == 200

    # Another browser profile, another user: answers are per credential.
    other = page.context.browser.new_context().new_page()
    sign_in(other, stack.site, email="opaque.other@example.com")
    r = fetch(other, "/api/widget-auth", method="POST")
    assert r["status"] == 200, r
    assert r["body"]["token"] == widget_token_for("opaque.other@example.com")
    other.context.close()

    # A session id the site never issued: the site says no, so the function does.
    page.context.clear_cookies()
    page.context.add_cookies([{"name": COOKIE, "value": "0" * 64, "url": stack.site}])
    before = len(stack.me_calls())
    r = fetch(page, "/api/widget-auth", method="POST")
    assert (r["status"], r["body"]["error"]) == (401, "invalid_session"), r
    assert [c["status"] for c in stack.me_calls()[before:]] == [401]
