"""The Starlette application: routes composed, Redis and workers opened in the lifespan."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Match, Route
from starlette.types import ASGIApp, Receive, Scope, Send

from plugin.admin import routes as admin_routes
from plugin.api import (
    api_keys,
    browsing,
    catalog,
    email,
    experiments,
    lifecycle,
    nurture,
    pins,
    privacy,
    recommendations,
    reference,
    widget_stats,
)
from plugin.config import Settings
from plugin.connect import routes as connect_routes
from plugin.engine.refresh_ahead import RefreshAhead
from plugin.shopify import routes as shopify_routes
from plugin.store.cache import ShopCache
from plugin.store.connection import UNAVAILABLE, open_redis
from plugin.store.health import HealthProbe, mode_of
from plugin.store.migrations import migrate
from plugin.web.auth import ApiRateLimit
from plugin.web.problems import problem
from plugin.worker import running_workers
from webhooks import receiver
from webhooks.http import PlatformHttp
from webhooks.ingest import Ingestor
from widgets import routes as widget_routes
from widgets.ratelimit import WidgetRateLimit

log = logging.getLogger(__name__)


async def health(request: Request) -> Response:
    """The store's state (plugin.store.health), 503 with a reason when it cannot serve;
    `process` tells which web process of `serve --workers N` this is."""
    found = await request.app.state.health.check()
    body = {"status": "ok" if found.ok else "fail", "process": os.getpid(), "redis": found.redis}
    return JSONResponse(body if found.ok else {**body, "reason": found.reason},
                        status_code=200 if found.ok else 503)


async def storage_unavailable(request: Request, exc: Exception) -> Response:
    log.warning("storage unavailable for %s %s: %s", request.method, request.url.path,
                type(exc).__name__)
    return problem(503, "storage (Redis) is unavailable; the request was not stored, retry later")


class WebhookShortcut:
    """Pure ASGI middleware for the busiest calls: a POST to a receiver URL
    (webhooks.receiver.webhook_params) goes straight to the receiver, and a call that one of
    `hot` routes matches in full (the API's recommendation calls) straight to its endpoint,
    past the router, its misses and its per-request wrappers (intake's CPU is the intake goal,
    the calls' CPU the recommendation calls' goal). Starlette's own Route.matches decides, so
    the path parameters are the router's; anything else (a GET to a receiver URL, a method
    the route does not take: 405) goes through the routes. It runs inside Starlette's error
    middleware (an unexpected error is a 500 as anywhere), and Redis being away is answered
    503 as the routes' handler answers it."""

    def __init__(self, app: ASGIApp, hot: Sequence[Route] = ()) -> None:
        self.app = app
        self.hot = tuple((route, _direct(route.endpoint)) for route in hot)
        # what every hot path begins with (a cheap test before any route's pattern)
        self.hot_prefix = os.path.commonpath([r.path.partition("{")[0] for r in hot]) \
            if hot else ""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope.get("root_path"):
            await self.app(scope, receive, send)
            return
        path: str = scope["path"]
        if scope["method"] == "POST" and (params := receiver.webhook_params(path)) is not None:
            scope["path_params"] = params
            await self._answer(receiver.RECEIVER, scope, receive, send)
            return
        if self.hot and path.startswith(self.hot_prefix):
            for route, endpoint in self.hot:
                match, child = route.matches(scope)
                if match is Match.FULL:
                    scope.update(child)
                    await self._answer(endpoint, scope, receive, send)
                    return
        await self.app(scope, receive, send)

    async def _answer(self, app: ASGIApp, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await app(scope, receive, send)
        except UNAVAILABLE as error:
            response = await storage_unavailable(Request(scope), error)
            await response(scope, receive, send)


def _direct(endpoint: Callable[[Request], Awaitable[Response]]) -> ASGIApp:
    """The endpoint as an ASGI app, as the router calls it but without its wrappers."""
    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        response = await endpoint(Request(scope, receive, send))
        await response(scope, receive, send)
    return app


def create_app(settings: Settings, extra_routes: Sequence[BaseRoute] = ()) -> Starlette:
    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        async with open_redis(settings) as redis:
            await migrate(redis)
            http = PlatformHttp()
            app.state.redis = redis
            app.state.http = http
            app.state.cache = ShopCache(redis)
            app.state.intake = receiver.Intake(settings, redis, app.state.cache)
            app.state.health = HealthProbe(redis, mode_of(settings))
            RefreshAhead(app.state.cache).attach()
            app.state.ingestor = Ingestor(
                redis, http=http, claim_idle_ms=settings.claim_idle_seconds * 1000
            )
            app.state.background = set()
            app.state.widget_rate = WidgetRateLimit(redis, settings.widget_rate_per_minute)
            app.state.api_rate = ApiRateLimit(redis, settings.api_rate_per_minute)
            stop = asyncio.Event()
            refreshers = [
                asyncio.create_task(app.state.cache.run(stop), name="shopreco-cache"),
                asyncio.create_task(app.state.widget_rate.run(stop), name="shopreco-rate"),
                asyncio.create_task(app.state.api_rate.run(stop), name="shopreco-api-rate"),
            ]
            try:
                if settings.run_worker:
                    async with running_workers(redis, settings, http):
                        yield
                else:
                    yield
            finally:
                stop.set()
                await asyncio.gather(*refreshers)
                await http.aclose()

    app = Starlette(
        routes=[  # the busiest first: Starlette tries them in order
            *widget_routes.routes,
            *receiver.routes,
            *recommendations.routes,
            Route("/healthz", health),
            *browsing.routes,
            *catalog.routes,
            *pins.routes,
            *privacy.routes,
            *lifecycle.routes,
            *email.routes,
            *nurture.routes,
            *widget_stats.routes,
            *experiments.routes,
            *api_keys.routes,
            *reference.routes,
            *shopify_routes.routes,
            *connect_routes.routes(),
            *admin_routes.routes,
            *extra_routes,
        ],
        lifespan=lifespan,
        middleware=[Middleware(WebhookShortcut, hot=recommendations.hot_routes)],
        exception_handlers={error: storage_unavailable for error in UNAVAILABLE},
    )
    app.state.settings = settings
    return app
