"""The owner's admin pages.

    GET  /admin/signin          how to sign in (where a missing or expired session lands)
    GET  /admin/login?token     the one-time link: a button that starts the session
    POST /admin/login           spends the link, sets the session cookie, goes to /admin/
    POST /admin/password        the shop id and the owner's password, if one is set
                                (plugin.admin.passwords), instead of a link
    GET  /admin/                the overview
    POST /admin/logout          ends the session (CSRF token required)
    GET  /admin/recommendations a placement's live preview, the model, the excluded products,
                                the pinned products
    POST /admin/recommendations/retrain, /admin/recommendations/excluded,
         /admin/recommendations/pins, /admin/recommendations/pins/remove
    GET  /admin/health          webhooks per topic and day, dead letters, import, model age
    POST /admin/health/replay   sends a dead letter (or all) back to the worker
    GET  /admin/widgets         snippets per placement, theming with a live preview
    GET  /admin/customers[.csv] customers per stage, cohort retention, a stage's customers
    GET  /admin/customers/feed.csv, /admin/customers/email  the nurture feed as CSV per stage
                                and a customer's e-mail block preview (plugin.admin.nurture)
    GET  /admin/keys            the shop's API keys; POST /admin/keys (create),
                                /admin/keys/rotate, /admin/keys/revoke (plugin.admin.keys)
    GET  /admin/experiments     the shop's A/B experiments and a form to make one; one's page
                                with its results (plugin.admin.experiments); POST
                                /admin/experiments (make), /start, /stop, /ship, /serve
    GET  /admin/shopify         signed in from the Shopify admin (its signed query and App
                                Bridge session token; plugin.admin.shopify)

Every page is the signed-in shop's: no page takes a shop id, so no owner can ask for
another shop's data. Every form carries the session's CSRF token; a POST without it is 403.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from plugin.admin import experiments, keys, nurture, passwords, sessions, shopify
from plugin.admin.customers import customers_csv, customers_page
from plugin.admin.health import health_page, replay
from plugin.admin.overview import overview
from plugin.admin.pages import owner_page, render
from plugin.admin.recommendations import (
    add_pin,
    model_status,
    recommendations_page,
    remove_pin,
    retrain,
    save_excluded,
)
from plugin.admin.widgets import widgets_page
from plugin.store.shops import get_shop


async def signin(request: Request) -> Response:
    token = passwords.form_token(request)
    return passwords.with_form_cookie(request, render(request, "signin.html", {
        "expired": bool(request.query_params.get("expired")), "form_token": token}), token)


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
    Route("/admin/recommendations", recommendations_page),
    Route("/admin/recommendations/retrain", retrain, methods=["POST"]),
    Route("/admin/recommendations/model.json", model_status),
    Route("/admin/recommendations/excluded", save_excluded, methods=["POST"]),
    Route("/admin/recommendations/pins", add_pin, methods=["POST"]),
    Route("/admin/recommendations/pins/remove", remove_pin, methods=["POST"]),
    Route("/admin/health", health_page),
    Route("/admin/health/replay", replay, methods=["POST"]),
    Route("/admin/widgets", widgets_page),
    Route("/admin/customers", customers_page),
    Route("/admin/customers.csv", customers_csv),
    *shopify.routes,
    *passwords.routes,
    *nurture.routes,
    *keys.routes,
    *experiments.routes,
]
