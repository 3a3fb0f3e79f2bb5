"""The admin's Customers page: customers per lifecycle stage (chart), the acquisition-cohort
retention heatmap, a stage's customers with their next-order estimate and churn risk, and
that list as CSV."""

from __future__ import annotations

import csv
import io
import time
from datetime import UTC, datetime
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from plugin.admin import sessions
from plugin.admin.charts import bar_chart
from plugin.admin.pages import owner_page, render
from plugin.engine.lifecycle import load_order_facts, stage_counts
from plugin.store.shops import get_shop
from plugin.web.spreadsheet import attachment_name, spreadsheet_cell
from recommender.lifecycle import STAGES, stage_table
from recommender.lifecycle.metrics import cohorts

SHOWN = 50
COHORT_MONTHS = 12


def _day(at: float | None) -> str:
    return "—" if at is None else datetime.fromtimestamp(at, UTC).date().isoformat()


async def _stage_rows(request: Request, shop_id: str, stage: str, limit: int | None
                      ) -> list[dict[str, Any]]:
    facts = await load_order_facts(request.app.state.redis, shop_id)
    table = stage_table(facts, time.time())
    rows = table.of_stage(stage).tolist()
    picked = [table.row(i) for i in (rows if limit is None else rows[:limit])]
    return [{"customer_id": c.customer_id, "recency_days": round(c.recency_days, 1),
             "orders": c.frequency, "monetary": round(c.monetary, 2),
             "next_order": _day(c.expected_next_order), "churn_risk": round(c.churn_risk, 3)}
            for c in sorted(picked, key=lambda c: -c.churn_risk)]


@owner_page
async def customers_page(request: Request, session: sessions.Session) -> Response:
    redis = request.app.state.redis
    shop = await get_shop(redis, session.shop_id)
    facts = await load_order_facts(redis, session.shop_id)
    now = time.time()
    counts = stage_counts(session.shop_id, facts, now)
    stage = request.query_params.get("stage") or "at_risk"
    if stage not in STAGES:
        stage = "at_risk"
    names = [s["stage"] for s in counts["stages"]]
    chart = bar_chart("Customers per stage", names,
                      [float(s["customers"]) for s in counts["stages"]])
    heat = cohorts(facts, now)[-COHORT_MONTHS:]
    return render(request, "customers.html", {
        "shop": shop, "session": session, "counts": counts, "chart": chart,
        "stages": STAGES, "stage": stage, "cohorts": heat,
        "width": max((len(c["retention"]) for c in heat), default=0),
        "customers": await _stage_rows(request, session.shop_id, stage, SHOWN),
    })


@owner_page
async def customers_csv(request: Request, session: sessions.Session) -> Response:
    stage = request.query_params.get("stage") or ""
    if stage not in STAGES:
        return render(request, "error.html", {"message": f"No stage {stage!r}."}, status=404)
    rows = await _stage_rows(request, session.shop_id, stage, None)
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=["customer_id", "recency_days", "orders",
                                             "monetary", "next_order", "churn_risk"])
    writer.writeheader()
    for row in rows:  # ids come from platforms: no cell may read as a formula
        writer.writerow({column: spreadsheet_cell(value) for column, value in row.items()})
    return Response(out.getvalue(), media_type="text/csv", headers={
        "Content-Disposition": f'attachment; filename="{attachment_name(session.shop_id, stage)}"',
        "Cache-Control": "no-store"})
