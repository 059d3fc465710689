"""A resource server (an API, FastAPI 0.92 + Authlib 1.2) that accepts this identity provider's access tokens.

- JWT access tokens (RFC 9068) are verified locally with Authlib's jose: signature against the
  issuer's JWKS (fetched again when a token names an unknown key: key rotation), typ "at+jwt",
  iss, aud = this API's resource indicator (RFC 8707), exp.
- Opaque access tokens are checked at the issuer's introspection endpoint (RFC 7662), the API
  authenticating with its own confidential client's credentials; they must be active and for
  this API.
- GET /api/hello needs a token with the `read` scope. GET /api/sensitive also needs a person who
  used a second factor (acr urn:iam:acr:mfa) in the last five minutes, and answers an RFC 9470
  step-up challenge otherwise: 401, WWW-Authenticate: Bearer error="insufficient_user_authentication",
  acr_values="urn:iam:acr:mfa", max_age=300. The client signs the person in again with those
  parameters and retries with the new token.
- It publishes its OAuth 2.0 Protected Resource Metadata (RFC 9728) at the well-known URL derived
  from its resource identifier, and names that URL in every challenge (resource_metadata="…"), so a
  client that meets the API first can find the authorization server and the scopes to ask for.

Register it once (stop an embedded-mode server first). Its identifier is the URL clients call it
at: the metadata's well-known URL is derived from it.
    npm run iam -- resource create --identifier http://localhost:4001 --name "Example FastAPI" --scope read
    # for opaque tokens: --format opaque; and the API's own client, for introspection:
    npm run iam -- client create --kind service --name "Example FastAPI (introspection)"

Run (Debian: apt install python3-authlib python3-fastapi python3-uvicorn python3-requests):
    cd examples/python/fastapi-resource-server
    ISSUER=http://localhost:3000 RESOURCE=http://localhost:4001 \\
      INTROSPECTION_CLIENT_ID=… INTROSPECTION_CLIENT_SECRET=… \\
      python3 -m uvicorn app:app --host 127.0.0.1 --port 4001

Settings (environment): ISSUER, RESOURCE (this API's resource indicator, an absolute URL),
INTROSPECTION_CLIENT_ID and INTROSPECTION_CLIENT_SECRET (optional: without them only JWT access
tokens are accepted), RESOURCE_NAME (Example FastAPI), SCOPES (read: the scopes it publishes).
"""
import os
import threading
import time
from typing import Any, Dict, List, Optional
from urllib.parse import urlsplit

import requests
from authlib.integrations.requests_client import OAuth2Session
from authlib.jose import JsonWebKey, JsonWebToken
from authlib.jose.errors import JoseError
from fastapi import Depends, FastAPI, Request
from fastapi.responses import JSONResponse


def required(name: str) -> str:
    value = os.environ.get(name)
    if not value:
        raise SystemExit(f"{name} is required")
    return value


ISSUER = required("ISSUER").rstrip("/")
RESOURCE = required("RESOURCE")
RESOURCE_NAME = os.environ.get("RESOURCE_NAME", "Example FastAPI")
SCOPES = os.environ.get("SCOPES", "read").split()
INTROSPECTION_CLIENT_ID = os.environ.get("INTROSPECTION_CLIENT_ID")
INTROSPECTION_CLIENT_SECRET = os.environ.get("INTROSPECTION_CLIENT_SECRET")
MFA = "urn:iam:acr:mfa"
STEP_UP_MAX_AGE = 300
LEEWAY = 5  # seconds of clock difference tolerated on exp / iat
ALGORITHMS = ["ES256", "RS256", "PS256", "EdDSA"]  # asymmetric only: never HS256, never none


def protected_resource_metadata_url(resource: str) -> str:
    """RFC 9728 §3.1: /.well-known/oauth-protected-resource goes between the host and the path."""
    parts = urlsplit(resource)
    if parts.scheme not in ("http", "https") or not parts.netloc or parts.fragment:
        raise SystemExit("RESOURCE must be an absolute http(s) URL without a fragment")
    path = parts.path.rstrip("/")
    query = f"?{parts.query}" if parts.query else ""
    return f"{parts.scheme}://{parts.netloc}/.well-known/oauth-protected-resource{path}{query}"


RESOURCE_METADATA_URL = protected_resource_metadata_url(RESOURCE)

# Discovery (RFC 8414 names, from OpenID Connect's document). The issuer must match exactly.
discovery = requests.get(f"{ISSUER}/.well-known/openid-configuration", timeout=10).json()
if discovery.get("issuer") != ISSUER:
    raise SystemExit(f"discovery names issuer {discovery.get('issuer')}, expected {ISSUER}")


class JwksCache:
    """The issuer's signing keys, fetched on first use and again (at most every 30 s) for an unknown kid."""

    def __init__(self, uri: str):
        self.uri = uri
        self.keys = None
        self.fetched_at = 0.0
        self.lock = threading.Lock()

    def _fetch(self):
        self.keys = JsonWebKey.import_key_set(requests.get(self.uri, timeout=10).json())
        self.fetched_at = time.monotonic()

    def key_for(self, header: Dict[str, Any], _payload: Any):
        with self.lock:
            if self.keys is None:
                self._fetch()
            try:
                return self.keys.find_by_kid(header.get("kid"))
            except ValueError:
                if time.monotonic() - self.fetched_at < 30:
                    raise
                self._fetch()
                return self.keys.find_by_kid(header.get("kid"))


jwks = JwksCache(discovery["jwks_uri"])
jwt = JsonWebToken(ALGORITHMS)


class Challenge(Exception):
    """Answered as 401/403 with an RFC 6750 WWW-Authenticate challenge."""

    def __init__(self, status: int, **params: Any):
        super().__init__(params.get("error_description", "unauthorized"))
        self.status = status
        self.params = params


def challenge_header(params: Dict[str, Any]) -> str:
    # Quoted strings, except max_age (a number in RFC 9470's examples); resource_metadata always
    # (RFC 9728 §5.1), also on the bare challenge for a request without a token.
    parts = [k + "=" + (str(v) if k == "max_age" else '"' + str(v).replace("\\", "\\\\").replace('"', '\\"') + '"') for k, v in params.items()]
    parts.append(f'resource_metadata="{RESOURCE_METADATA_URL}"')
    return "Bearer " + ", ".join(parts)


def verify_jwt(token: str) -> Dict[str, Any]:
    try:
        claims = jwt.decode(
            token,
            jwks.key_for,
            claims_options={
                "iss": {"essential": True, "value": ISSUER},
                "aud": {"essential": True, "value": RESOURCE},
                "exp": {"essential": True},
                "sub": {"essential": True},
                "client_id": {"essential": True},
            },
        )
        # RFC 9068 §4: refuses ID tokens and other JWTs the issuer signs with the same keys.
        if str(claims.header.get("typ", "")).lower() not in ("at+jwt", "application/at+jwt"):
            raise Challenge(401, error="invalid_token", error_description="the token is not a JWT access token")
        claims.validate(leeway=LEEWAY)
    except JoseError as err:
        raise Challenge(401, error="invalid_token", error_description=f"the token could not be verified: {err.description or err.error}")
    except ValueError:  # no key with the token's kid
        raise Challenge(401, error="invalid_token", error_description="the token could not be verified (unknown key)")
    return dict(claims)


def introspect(token: str) -> Dict[str, Any]:
    if not (INTROSPECTION_CLIENT_ID and INTROSPECTION_CLIENT_SECRET):
        raise Challenge(401, error="invalid_token", error_description="the token could not be verified")
    with OAuth2Session(INTROSPECTION_CLIENT_ID, INTROSPECTION_CLIENT_SECRET, token_endpoint_auth_method="client_secret_basic") as client:
        response = client.introspect_token(discovery["introspection_endpoint"], token=token, timeout=10)
    if response.status_code == 400 and "unsupported_token_type" in response.text:
        # The issuer introspects only the tokens it stores, not JWT access tokens.
        raise Challenge(401, error="invalid_token", error_description="the token is not for this API")
    response.raise_for_status()
    claims = response.json()
    audiences = claims.get("aud", [])
    if isinstance(audiences, str):
        audiences = [audiences]
    if claims.get("active") is not True:
        raise Challenge(401, error="invalid_token", error_description="the token is not active")
    if RESOURCE not in audiences:
        raise Challenge(401, error="invalid_token", error_description="the token is not for this API")
    return claims


def access_token(request: Request) -> Dict[str, Any]:
    """The verified token's claims (with checked_by: jwt or introspection), or a Challenge."""
    header = request.headers.get("authorization")
    if header is None:
        raise Challenge(401)  # no credentials: no error code (RFC 6750 §3.1)
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip() or " " in token.strip():
        raise Challenge(401, error="invalid_request", error_description="use Authorization: Bearer <token>")
    token = token.strip()
    if token.count(".") == 2:
        return {**verify_jwt(token), "checked_by": "jwt"}
    return {**introspect(token), "checked_by": "introspection"}


def scopes_of(claims: Dict[str, Any]) -> List[str]:
    scope = claims.get("scope")
    return scope.split() if isinstance(scope, str) else []


def require_scope(scope: str):
    def dependency(claims: Dict[str, Any] = Depends(access_token)) -> Dict[str, Any]:
        if scope not in scopes_of(claims):
            raise Challenge(403, error="insufficient_scope", error_description=f"this needs the {scope} scope", scope=scope)
        return claims

    return dependency


def require_recent_mfa(claims: Dict[str, Any] = Depends(require_scope("read"))) -> Dict[str, Any]:
    """RFC 9470: a second factor, at most STEP_UP_MAX_AGE seconds ago."""
    auth_time: Optional[Any] = claims.get("auth_time")
    recent = isinstance(auth_time, (int, float)) and time.time() - auth_time <= STEP_UP_MAX_AGE
    if claims.get("acr") != MFA or not recent:
        raise Challenge(
            401,
            error="insufficient_user_authentication",
            error_description="a second factor within the last 5 minutes is required",
            acr_values=MFA,
            max_age=STEP_UP_MAX_AGE,
        )
    return claims


app = FastAPI(title=RESOURCE_NAME, docs_url=None, redoc_url=None, openapi_url=None)


@app.exception_handler(Challenge)
async def answer_challenge(_request: Request, exc: Challenge) -> JSONResponse:
    body = {k: v for k, v in exc.params.items() if k in ("error", "error_description")} or {"error": "unauthorized"}
    return JSONResponse(body, status_code=exc.status, headers={"WWW-Authenticate": challenge_header(exc.params), "Cache-Control": "no-store"})


def describe(claims: Dict[str, Any]) -> Dict[str, Any]:
    # Client credentials: no person; the token's subject is the client (or, introspected, absent).
    sub = claims.get("sub")
    who = f"service {claims.get('client_id')}" if sub in (None, claims.get("client_id")) else sub
    shown = ("sub", "client_id", "scope", "acr", "amr", "auth_time", "checked_by")
    return {"message": f"Hello, {who}", **{k: claims[k] for k in shown if k in claims}}


@app.get("/api/hello")
def hello(claims: Dict[str, Any] = Depends(require_scope("read"))):
    return describe(claims)


@app.get("/api/sensitive")
def sensitive(claims: Dict[str, Any] = Depends(require_recent_mfa)):
    return {**describe(claims), "sensitive": True}


# RFC 9728 §3: the metadata is served at the path the well-known URL names on this host.
@app.get(urlsplit(RESOURCE_METADATA_URL).path)
def protected_resource_metadata():
    metadata = {
        "resource": RESOURCE,  # §3.3: identical to the identifier the URL was derived from
        "authorization_servers": [ISSUER],
        "scopes_supported": SCOPES,
        "bearer_methods_supported": ["header"],
        "resource_name": RESOURCE_NAME,
    }
    return JSONResponse(metadata, headers={"Cache-Control": "max-age=300", "Access-Control-Allow-Origin": "*"})
