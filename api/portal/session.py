"""Portal sessions: log in with an API key; a signed, HttpOnly session cookie keeps its id and the
SHA-256 of its secret (never the key itself).

The cookie (Starlette ``SessionMiddleware``: itsdangerous-signed, ``HttpOnly``, ``SameSite=Lax``,
``Secure`` when ``CARBONLEDGER_PORTAL_HTTPS_ONLY=1``) holds the key id, the secret's SHA-256 and a
CSRF token. Every page request re-checks the key with :mod:`api.auth` as the ``Authorization: Bearer`` path
does (known, not revoked, bound account still an *active* participant with the key's role), so a
revoked key or a suspended participant is logged out at the next click. Every form POST carries
the session's CSRF token.

Configuration: ``CARBONLEDGER_PORTAL_SECRET`` signs the cookies (default: a random secret per
process — sessions then end when the process restarts); ``CARBONLEDGER_PORTAL_SESSION_S`` is the
cookie lifetime (default 8 h, an operational default).
"""

from __future__ import annotations

import hmac
import os
import secrets
from typing import Any

from fastapi import Request

from api.auth import Principal, key_digest, principal_from_key_digest
from api.problems import Problem

COOKIE = "cl_portal"
DEFAULT_SESSION_S = 8 * 3600
ROLE_HOME = {"ENTERPRISE_ROLE": "/portal/enterprise", "VERIFIER_ROLE": "/portal/verifier", "REGULATOR_ROLE": "/portal/regulator"}


def session_options() -> dict[str, Any]:
    """Keyword arguments of ``SessionMiddleware`` for the portal (see the module docstring)."""
    return {"secret_key": os.environ.get("CARBONLEDGER_PORTAL_SECRET") or secrets.token_urlsafe(32),
            "session_cookie": COOKIE, "max_age": int(os.environ.get("CARBONLEDGER_PORTAL_SESSION_S", DEFAULT_SESSION_S)),
            "same_site": "lax", "https_only": os.environ.get("CARBONLEDGER_PORTAL_HTTPS_ONLY") == "1", "path": "/"}


class LoginRequired(Exception):
    """No valid session: the portal answers with a redirect to the login page (and a reason)."""

    def __init__(self, reason: str = "") -> None:
        super().__init__(reason)
        self.reason = reason


class WrongRole(Exception):
    """The logged-in principal's role may not open this page (403 page)."""

    def __init__(self, principal: Principal, needed: str) -> None:
        super().__init__(f"this page needs {needed}; {principal.account} is {principal.role}")
        self.principal, self.needed = principal, needed


def login(request: Request, api_key: str) -> Principal:
    """Check ``api_key`` as the Bearer path does and open a session for it.

    Raises:
        Problem: ``unauthenticated``, ``key-revoked`` or ``participant-not-active``.
    """
    key_id, digest = key_digest(api_key)
    principal = principal_from_key_digest(request.app.state.ctx, key_id, digest)
    request.session.clear()   # the cookie keeps the key id and the secret's SHA-256, never the key itself
    request.session.update({"key_id": key_id, "key_sha256": digest, "csrf": secrets.token_urlsafe(24)})
    return principal


def logout(request: Request) -> None:
    """End the session (the cookie is cleared)."""
    request.session.clear()


def current(request: Request) -> Principal | None:
    """The session's principal, re-checked against the API store and the chain; None if none."""
    key_id, digest = request.session.get("key_id"), request.session.get("key_sha256")
    if not key_id or not digest:
        return None
    try:
        return principal_from_key_digest(request.app.state.ctx, key_id, digest)
    except Problem as exc:
        request.session.clear()
        raise LoginRequired(exc.detail) from None


def require(request: Request, role: str) -> Principal:
    """The session's principal, which must hold ``role``.

    Raises:
        LoginRequired: no session or the key no longer authenticates.
        WrongRole: another role.
    """
    p = current(request)
    if p is None:
        raise LoginRequired("")
    if p.role != role:
        raise WrongRole(p, role)
    return p


def csrf_token(request: Request) -> str:
    """The session's CSRF token (created on first use)."""
    tok = request.session.get("csrf")
    if not tok:
        tok = request.session["csrf"] = secrets.token_urlsafe(24)
    return str(tok)


def check_csrf(request: Request, token: str | None) -> None:
    """Refuse a form POST whose CSRF token is not the session's (logs the session out)."""
    expected = request.session.get("csrf")
    if not expected or not token or not hmac.compare_digest(str(expected), token):
        request.session.clear()
        raise LoginRequired("the form was not issued by this session (CSRF token mismatch); log in again")
