"""Server-rendered portal pages under ``/portal`` (see :mod:`api.portal.routes`).

:func:`mount` adds the session middleware (signed HttpOnly cookie, :mod:`api.portal.session`),
the router, and the handlers that turn a missing session into a redirect to the login page and a
wrong role into a 403 page.
"""

from __future__ import annotations

from urllib.parse import quote

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from starlette.middleware.sessions import SessionMiddleware

from api.portal import account, claims, regulator, session
from api.portal.routes import router, templates

__all__ = ["mount", "router"]


def mount(app: FastAPI) -> None:
    """Serve the portal on ``app``: session middleware, ``/portal`` routes, redirect handlers."""
    app.add_middleware(SessionMiddleware, **session.session_options())
    app.include_router(router)
    app.include_router(regulator.router)
    app.include_router(claims.router)   # /portal/claims/{id}: public, no login
    app.include_router(account.router)   # /portal/enterprise/account (issue 13)

    @app.exception_handler(session.LoginRequired)
    async def _login(request: Request, exc: session.LoginRequired) -> Response:
        url = "/portal/login" + (f"?reason={quote(exc.reason)}" if exc.reason else "")
        return RedirectResponse(url, status_code=303)

    @app.exception_handler(session.WrongRole)
    async def _role(request: Request, exc: session.WrongRole) -> HTMLResponse:
        return templates.TemplateResponse(request, "error.html", {"principal": exc.principal, "csrf": session.csrf_token(request),
                                                                  "flash": None, "error": str(exc)}, status_code=403)
