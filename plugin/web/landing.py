"""The page an owner lands on once a platform approved shopreco (a Shopify install, a
WooCommerce, BigCommerce or Ecwid connect): the steps that follow, the first being the
import of the shop's history with its progress, polled from a signed progress link
(webhooks.backfill notes it), and the new shop's API key shown once."""

from __future__ import annotations

import html
import json
from collections.abc import Sequence

from starlette.responses import HTMLResponse

STYLE = """body{font:16px/1.5 system-ui,sans-serif;max-width:42rem;margin:2rem auto;padding:0 1rem}
progress{width:100%} code{background:#f3f3f3;padding:.1rem .3rem;word-break:break-all}"""

# Polls the progress link each second (3 s after an error) until the import is done; fills in
# the stage, the count and, where the page has #hooks, the webhooks created.
SCRIPT = """(function poll() {
  fetch(%s).then(function (r) { return r.json(); }).then(function (p) {
    document.getElementById("stage").textContent = p.stage || "starting";
    var n = Number(p.orders || 0), total = Number(p.total || 0);
    document.getElementById("count").textContent = total ? n + " of " + total + " orders"
      : (n ? n + " orders" : "");
    var hooks = document.getElementById("hooks");
    if (hooks) {
      hooks.textContent = (p.hooks || []).length ? p.hooks.length + " created" : "being created";
    }
    var bar = document.getElementById("bar");
    if (total) { bar.max = total; bar.value = n; }
    if (p.stage === "done") { bar.max = 1; bar.value = 1; return; }
    setTimeout(poll, 1000);
  }).catch(function () { setTimeout(poll, 3000); });
})();"""

IMPORT_STEP = ("Your order history and catalog are imported now:\n"
               ' <span id="stage">starting</span> <span id="count"></span><br>\n'
               ' <progress id="bar" max="1"></progress>')


def api_key_part(api_key: str | None, how_to_replace: str = "") -> str:
    """The API key section (HTML): a new shop's key, shown only this once; empty without."""
    if api_key is None:
        return ""
    return (f"<h2>Your API key</h2><p>Shown only this once; keep it somewhere safe"
            f"{how_to_replace}:</p><p><code id='api-key'>{html.escape(api_key)}</code></p>")


def landing_page(heading: str, intro: str, steps: Sequence[str], progress_link: str,
                 api_key: str = "") -> HTMLResponse:
    """The landing page: `heading` (text), `intro` (HTML, may be empty), the import's step
    then `steps` (HTML list items' contents), the API key part (api_key_part). Never cached
    and never sent as a referrer: it may hold the API key."""
    items = "\n".join(f"<li>{step}</li>" for step in (IMPORT_STEP, *steps))
    response = HTMLResponse(f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{html.escape(heading)}</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>{STYLE}</style></head>
<body><h1>{html.escape(heading)}</h1>
{intro}
<h2>What happens next</h2>
<ol>
{items}
</ol>
{api_key}
<script>
{SCRIPT % json.dumps(progress_link)}
</script></body></html>""")
    response.headers["Cache-Control"] = "no-store"
    response.headers["Referrer-Policy"] = "no-referrer"
    return response
