"""The Starlette application: routes composed, Redis and workers opened in the lifespan."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from collections.abc import AsyncIterator, Sequence

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route
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
    """Pure ASGI middleware: a POST to a receiver URL (webhooks.receiver.webhook_params) goes
    straight to the receiver, past the router and its per-request objects (intake is the
    busiest POST, and its CPU is the intake goal); anything else, a GET to a receiver URL
    included (405), goes through the routes. It runs inside Starlette's error middleware (an
    unexpected error is a 500 as anywhere), and Redis being away is answered 503 as the
    routes' handler answers it."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        params = None
        if scope["type"] == "http" and scope["method"] == "POST" and not scope.get("root_path"):
            params = receiver.webhook_params(scope["path"])
        if params is None:
            await self.app(scope, receive, send)
            return
        scope["path_params"] = params
        try:
            await receiver.RECEIVER(scope, receive, send)
        except UNAVAILABLE as error:
            response = await storage_unavailable(Request(scope), error)
            await response(scope, receive, send)


def create_app(settings: Settings, extra_routes: Sequence[BaseRoute] = ()) -> Starlette:
    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        async with open_redis(settings) as redis:
            await migrate(redis)
            http = PlatformHttp()
            app.state.redis = redis
            app.state.http = http
            app.state.cache = ShopCache(redis)
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
        middleware=[Middleware(WebhookShortcut)],
        exception_handlers={error: storage_unavailable for error in UNAVAILABLE},
    )
    app.state.settings = settings
    return app
