"""What every admin page shares: the templates, the signed-in owner check with CSRF, and
the answer headers."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.templating import Jinja2Templates

from plugin.admin import sessions
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
        request.state.frame_domain = session.frame_domain
        return await handler(request, session)

    endpoint.__name__ = handler.__name__
    return endpoint


def render(request: Request, template: str, context: dict[str, Any],
           status: int = 200) -> Response:
    response = templates.TemplateResponse(request, template, context, status_code=status)
    response.headers["Cache-Control"] = "no-store"
    frame_domain = getattr(request.state, "frame_domain", "")
    if frame_domain:  # signed in from the platform's admin: framed by that shop's admin only
        shopify = " https://admin.shopify.com" if frame_domain.endswith(".myshopify.com") else ""
        response.headers["Content-Security-Policy"] = (
            f"frame-ancestors https://{frame_domain}{shopify};")
    else:
        response.headers["X-Frame-Options"] = "DENY"
        response.headers["Content-Security-Policy"] = "frame-ancestors 'none';"
    return response
