"""The API reference: GET /api/v1/openapi.json (OpenAPI 3.1, built from the routes' own
declarations: plugin.web.openapi) and GET /api/docs, its page: Swagger UI 5 from the
`flask-swagger-ui` wheel's files (only the files: flask is never imported), so the page asks
nothing of any other server (its validator badge is off, a CSP keeps everything here)."""

from __future__ import annotations

import html
import importlib.util
from pathlib import Path
from typing import Any

from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from plugin.web.openapi import document
from plugin.web.problems import KINDS, PROBLEMS_PATH, TITLES
from plugin.web.responses import json_bytes

OPENAPI_PATH = "/api/v1/openapi.json"
DOCS_PATH = "/api/docs"
TITLE = "shopreco API"
VERSION = "1.0.0"
DESCRIPTION = """\
Recommendations, lifecycle figures, nurture feeds and privacy requests of the shops this
shopreco serves. Every call is under `/api/v1/shops/{shop_id}` and takes the shop's API key as
`Authorization: Bearer <api_key>` (`shopreco shops add` prints it). Errors are
`application/problem+json` (RFC 9457) with a `detail` that says what to fix. Ids are strings;
prices are decimal strings beside a `currency`.
"""


def api_document(request: Request) -> dict[str, Any]:
    """The app's OpenAPI document, built once per process (the routes do not change)."""
    state = request.app.state
    built = getattr(state, "openapi", None)
    if built is None:
        built = document(request.app.routes, TITLE, VERSION, DESCRIPTION,
                         state.settings.public_url, prefix="/api/v1/shops/")
        state.openapi = built
    return built


async def openapi_json(request: Request) -> Response:
    return Response(json_bytes(api_document(request)), media_type="application/json")


def swagger_ui_files() -> Path:
    """Where the flask-swagger-ui wheel keeps Swagger UI's files (found, not imported)."""
    spec = importlib.util.find_spec("flask_swagger_ui")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("flask-swagger-ui is not installed: `pip install shopreco` brings it")
    return Path(next(iter(spec.submodule_search_locations))) / "dist"


ASSETS = f"{DOCS_PATH}/assets"
PAGE = f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{TITLE} reference</title>
<link rel="stylesheet" href="{ASSETS}/swagger-ui.css">
<link rel="icon" href="{ASSETS}/favicon-32x32.png"></head>
<body><div id="swagger-ui"></div>
<script src="{ASSETS}/swagger-ui-bundle.js"></script>
<script src="{DOCS_PATH}/start.js"></script>
</body></html>"""
START = f"""window.ui = SwaggerUIBundle({{
  url: "{OPENAPI_PATH}", dom_id: "#swagger-ui", deepLinking: true,
  presets: [SwaggerUIBundle.presets.apis], layout: "BaseLayout",
  validatorUrl: null, persistAuthorization: false
}});"""
# everything from this server; Swagger UI sets inline styles and shows data: images
PAGE_POLICY = ("default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; "
               "frame-ancestors 'none'")


async def docs_page(request: Request) -> Response:
    return HTMLResponse(PAGE, headers={"Content-Security-Policy": PAGE_POLICY,
                                       "Cache-Control": "no-cache"})


async def docs_start(request: Request) -> Response:
    return Response(START, media_type="text/javascript",
                    headers={"Cache-Control": "no-cache"})


def problems_html() -> str:
    rows = "\n".join(
        f'<tr id="{kind}"><th scope="row"><code>{PROBLEMS_PATH}#{kind}</code></th>'
        f"<td>{status} {html.escape(TITLES.get(status, 'Error'))}</td>"
        f"<td>{html.escape(meaning)}</td></tr>"
        for kind, (status, meaning) in KINDS.items())
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{TITLE}: kinds of error</title>
<style>body{{font:16px/1.5 system-ui,sans-serif;max-width:60rem;margin:1rem auto;padding:0 1rem}}
table{{border-collapse:collapse}}th,td{{text-align:left;padding:.4rem;border-bottom:1px solid
#ccc;vertical-align:top}}tr:target{{background:#fff6d5}}</style></head>
<body><h1>Kinds of error</h1>
<p>Every error of the <a href="{DOCS_PATH}">{TITLE}</a> (and of its webhook endpoints) is
<code>application/problem+json</code> (RFC 9457) whose <code>type</code> is one of these; its
<code>detail</code> says, for a person, what went wrong this time.</p>
<table><thead><tr><th scope="col">type</th><th scope="col">status</th>
<th scope="col">meaning</th></tr></thead><tbody>
{rows}
</tbody></table></body></html>"""


async def problems_page(request: Request) -> Response:
    return HTMLResponse(problems_html(), headers={"Content-Security-Policy": PAGE_POLICY})


routes = [
    Route(OPENAPI_PATH, openapi_json),
    Route(PROBLEMS_PATH, problems_page),
    Route(DOCS_PATH, docs_page),
    Route(f"{DOCS_PATH}/start.js", docs_start),
    Mount(ASSETS, StaticFiles(directory=swagger_ui_files()), name="api-docs-assets"),
]
