"""A server-side web app (Flask 2 + Authlib 1.2) that signs people in with this identity provider.

Authorization code flow with PKCE (S256), state and nonce, as a confidential client
(client_secret_basic, or client_secret_post with TOKEN_ENDPOINT_AUTH_METHOD); the profile page
shows the ID token's claims and what the userinfo endpoint says; signing out ends the session at
the identity provider too (RP-initiated logout, end_session_endpoint).

Register it once (stop an embedded-mode server first); the secret is printed once:
    npm run iam -- client create --kind web --name "Example Flask app" \\
      --redirect-uri http://localhost:8081/callback \\
      --post-logout-redirect-uri http://localhost:8081/signed-out

Run (Debian: apt install python3-authlib python3-flask python3-requests):
    ISSUER=http://localhost:3000 CLIENT_ID=… CLIENT_SECRET=… PORT=8081 \\
      python3 examples/python/flask-webapp/app.py
then open http://localhost:8081/

Settings (environment): ISSUER, CLIENT_ID, CLIENT_SECRET, TOKEN_ENDPOINT_AUTH_METHOD
(client_secret_basic, the default, or client_secret_post: as registered), PORT (8081), HOST
(127.0.0.1), BASE_URL (http://localhost:PORT: where the browser reaches this app), SECRET_KEY
(signs Flask's session cookie; random per start when unset, which signs everyone out on restart).

The session is Flask's signed cookie: readable by the browser, so it holds the ID token's claims,
userinfo and the ID token (for the logout hint) but no access or refresh token. An app that calls
APIs keeps those in a server-side session store.
"""
import hmac
import os
import secrets
from urllib.parse import urlencode

from authlib.integrations.flask_client import OAuth, OAuthError
from flask import Flask, abort, redirect, render_template_string, request, session, url_for


def required(name: str) -> str:
    value = os.environ.get(name)
    if not value:
        raise SystemExit(f"{name} is required")
    return value


ISSUER = required("ISSUER").rstrip("/")
PORT = int(os.environ.get("PORT", "8081"))
HOST = os.environ.get("HOST", "127.0.0.1")
BASE_URL = os.environ.get("BASE_URL", f"http://localhost:{PORT}").rstrip("/")
AUTH_METHOD = os.environ.get("TOKEN_ENDPOINT_AUTH_METHOD", "client_secret_basic")
if AUTH_METHOD not in ("client_secret_basic", "client_secret_post"):
    raise SystemExit("TOKEN_ENDPOINT_AUTH_METHOD must be client_secret_basic or client_secret_post")

app = Flask(__name__)
app.secret_key = os.environ.get("SECRET_KEY") or secrets.token_urlsafe(32)
app.config.update(
    SESSION_COOKIE_NAME="example_flask_session",
    SESSION_COOKIE_HTTPONLY=True,
    SESSION_COOKIE_SAMESITE="Lax",  # sent on the identity provider's redirect back (a top-level GET)
    SESSION_COOKIE_SECURE=BASE_URL.startswith("https://"),
)

# Discovery gives Authlib the endpoints, the issuer (checked against the ID token's iss) and the
# JWKS; code_challenge_method turns PKCE on. Authlib adds a nonce because the scope has openid.
oauth = OAuth(app)
oauth.register(
    "iam",
    client_id=required("CLIENT_ID"),
    client_secret=required("CLIENT_SECRET"),
    server_metadata_url=f"{ISSUER}/.well-known/openid-configuration",
    client_kwargs={
        "scope": "openid profile email",
        "code_challenge_method": "S256",
        "token_endpoint_auth_method": AUTH_METHOD,
    },
)

PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{{ title }}</title></head>
<body><main>
{% if notice %}<p role="status">{{ notice }}</p>{% endif %}
{% if user %}
  <h1>Signed in as {{ user.userinfo.get("email") or user.claims["sub"] }}</h1>
  <h2>ID token claims</h2>
  <table>{% for k, v in user.claims.items() %}<tr><th>{{ k }}</th><td>{{ v if v is string else v|tojson }}</td></tr>{% endfor %}</table>
  <h2>Userinfo</h2>
  <table>{% for k, v in user.userinfo.items() %}<tr><th>{{ k }}</th><td>{{ v if v is string else v|tojson }}</td></tr>{% endfor %}</table>
  <form method="post" action="{{ url_for('logout') }}">
    <input type="hidden" name="csrf" value="{{ csrf }}"><button>Sign out</button>
  </form>
{% else %}
  <h1>{{ title }}</h1>
  <p>{{ message }}</p>
  <p><a href="{{ url_for('login') }}">Sign in</a></p>
{% endif %}
</main></body></html>"""

# ID token claims worth showing (the rest — at_hash, nonce, aud, exp… — are protocol plumbing).
SHOWN_CLAIMS = ("sub", "acr", "amr", "auth_time", "name", "email", "email_verified", "sid")


def page(title: str, message: str = "", user=None, notice=None, status: int = 200):
    html = render_template_string(PAGE, title=title, message=message, user=user, notice=notice, csrf=csrf_token())
    return html, status, {"Cache-Control": "no-store"}


def csrf_token() -> str:
    if "csrf" not in session:
        session["csrf"] = secrets.token_urlsafe(32)
    return session["csrf"]


@app.get("/")
def home():
    user = session.get("user")
    if not user:
        return page("Example Flask app", "You are not signed in.")
    return page("Example Flask app", user=user, notice=session.pop("notice", None))


@app.get("/login")
def login():
    # state, nonce and the PKCE verifier go into the session; Authlib checks them on return.
    return oauth.iam.authorize_redirect(f"{BASE_URL}/callback")


@app.get("/callback")
def callback():
    # RFC 9207: the authorization server names itself in its response; a response from another
    # one (a mix-up attack) is refused before the code goes anywhere. (Authlib 1.2 does not check it.)
    metadata = oauth.iam.load_server_metadata()
    if metadata.get("authorization_response_iss_parameter_supported") and request.args.get("iss") != metadata["issuer"]:
        return page("Sign-in failed", "The response did not come from the expected identity provider.", status=400)
    try:
        # Checks state, redeems the code with the PKCE verifier and the client's credentials, and
        # validates the ID token (signature against the JWKS, iss, aud, exp, nonce, at_hash).
        token = oauth.iam.authorize_access_token()
        userinfo = oauth.iam.userinfo(token=token)
    except OAuthError as err:
        return page("Sign-in failed", f"{err.error}: {err.description or ''}", status=400)
    claims = token["userinfo"]  # the validated ID token's claims, as Authlib names them
    session.clear()  # a new session for the signed-in person (no fixation)
    session["user"] = {
        "claims": {k: claims[k] for k in SHOWN_CLAIMS if k in claims},
        "userinfo": dict(userinfo),
    }
    session["id_token"] = token["id_token"]
    session["notice"] = "Signed in."
    return redirect(url_for("home"))


@app.post("/logout")
def logout():
    # A form post with a token from this session: another site cannot sign people out.
    expected = session.get("csrf")
    if not expected or not hmac.compare_digest(request.form.get("csrf", ""), expected):
        abort(403)
    id_token = session.get("id_token")
    session.clear()
    end_session = oauth.iam.load_server_metadata().get("end_session_endpoint")
    if not end_session or not id_token:
        return redirect(url_for("signed_out"))
    # The identity provider asks the person to confirm, ends its session, then sends the browser
    # to the registered post_logout_redirect_uri.
    state = secrets.token_urlsafe(16)
    session["logout_state"] = state
    query = {"id_token_hint": id_token, "post_logout_redirect_uri": f"{BASE_URL}/signed-out", "state": state}
    return redirect(f"{end_session}{'&' if '?' in end_session else '?'}{urlencode(query)}")


@app.get("/signed-out")
def signed_out():
    expected = session.pop("logout_state", None)
    if expected is not None and request.args.get("state") != expected:
        return page("Signed out", "You are signed out of this app, but the identity provider's answer did not match.", status=400)
    return page("Signed out", "You are signed out of the example Flask app.")


if __name__ == "__main__":
    # Werkzeug's development server, for trying the example; in production run `app` under a WSGI
    # server (gunicorn, mod_wsgi) behind TLS.
    print(f"example Flask app listening on http://{HOST}:{PORT} (open {BASE_URL}/)", flush=True)
    app.run(host=HOST, port=PORT, debug=False, use_reloader=False)
