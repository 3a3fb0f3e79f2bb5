"""The owner's admin pages.

    GET  /admin/signin          how to sign in (where a missing or expired session lands)
    GET  /admin/login?token     the one-time link: a button that starts the session
    POST /admin/login           spends the link, sets the session cookie, goes to /admin/
    GET  /admin/                the overview
    POST /admin/logout          ends the session (CSRF token required)

Every page is the signed-in shop's: no page takes a shop id, so no owner can ask for
another shop's data. Every form carries the session's CSRF token; a POST without it is 403.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route
from starlette.templating import Jinja2Templates

from plugin.admin import sessions
from plugin.admin.overview import overview
from plugin.store.shops import get_shop

templates = Jinja2Templates(directory=str(Path(__file__).parent / "templates"))
Page = Callable[[Request, sessions.Session], Awaitable[Response]]


def owner_page(handler: Page) -> Callable[[Request], Awaitable[Response]]:
    """The signed-in owner's session, or a redirect to sign-in; POSTs need its CSRF token."""

    async def endpoint(request: Request) -> Response:
        redis = request.app.state.redis
        session = await sessions.find(redis, request.cookies.get(sessions.COOKIE))
        if session is None or await get_shop(redis, session.shop_id) is None:
            return RedirectResponse("/admin/signin?expired=1", status_code=303)
        if request.method == "POST":
            form = await request.form()
            if not session.accepts(str(form.get("csrf") or "")):
                return render(request, "error.html", {"message": "This form has expired or "
                              "did not come from your dashboard. Go back and try again."},
                              status=403)
        return await handler(request, session)

    endpoint.__name__ = handler.__name__
    return endpoint


def render(request: Request, template: str, context: dict[str, Any],
           status: int = 200) -> Response:
    response = templates.TemplateResponse(request, template, context, status_code=status)
    response.headers["Cache-Control"] = "no-store"
    response.headers["X-Frame-Options"] = "DENY"
    return response


async def signin(request: Request) -> Response:
    return render(request, "signin.html", {"expired": bool(request.query_params.get("expired"))})


async def login_page(request: Request) -> Response:
    token = request.query_params.get("token") or ""
    shop_id = await sessions.link_shop(request.app.state.redis, token)
    if shop_id is None:
        return render(request, "signin.html", {"link_refused": True}, status=400)
    return render(request, "login.html", {"token": token, "shop_id": shop_id})


async def login(request: Request) -> Response:
    redis = request.app.state.redis
    form = await request.form()
    shop_id = await sessions.redeem(redis, str(form.get("token") or ""))
    if shop_id is None or await get_shop(redis, shop_id) is None:
        return render(request, "signin.html", {"link_refused": True}, status=400)
    session_id, _ = await sessions.start(redis, shop_id)
    response = RedirectResponse("/admin/", status_code=303)
    response.set_cookie(sessions.COOKIE, session_id, max_age=sessions.SESSION_HOURS * 3600,
                        path="/admin", httponly=True, samesite="lax",
                        secure=request.app.state.settings.public_url.startswith("https://"))
    return response


@owner_page
async def home(request: Request, session: sessions.Session) -> Response:
    state = request.app.state
    shop = await get_shop(state.redis, session.shop_id)
    figures = await overview(state.redis, session.shop_id, state.settings.attribution_days)
    return render(request, "overview.html", {"shop": shop, "session": session, **figures})


@owner_page
async def logout(request: Request, session: sessions.Session) -> Response:
    await sessions.end(request.app.state.redis, request.cookies.get(sessions.COOKIE))
    response = RedirectResponse("/admin/signin", status_code=303)
    response.delete_cookie(sessions.COOKIE, path="/admin")
    return response


routes = [
    Route("/admin/signin", signin),
    Route("/admin/login", login_page),
    Route("/admin/login", login, methods=["POST"]),
    Route("/admin/", home),
    Route("/admin/logout", logout, methods=["POST"]),
]
