"""The admin's Experiments page: the shop's A/B experiments, a form to make one (a placement,
two to five arms with a strategy and a share each), and one experiment's page with its
start / stop / ship buttons and its results (per arm, each arm against the control with its
interval and p-value, the sample-ratio check, the verdicts in words). plugin.store.experiments
and plugin.engine.experiments do the work, as for `shopreco experiments` and the API."""

from __future__ import annotations

import time
from typing import Any

from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from plugin.admin import sessions
from plugin.admin.pages import owner_page, render
from plugin.engine import experiments as engine
from plugin.store import experiments as store
from plugin.store.experiments import (
    ALL,
    CONFIG,
    MAX_ARMS,
    PLACEMENTS,
    STRATEGIES,
    ExperimentConflict,
    ExperimentError,
    UnknownExperiment,
    blend_of,
)
from plugin.store.shops import get_shop
from recommender.blend import BlendError, blend_from_text, blend_summary

STRATEGY_HELP = {"chosen": "the shop's model (as without an experiment)",
                 "popularity": "trending products", "holdout": "no widget at all",
                 "config": "the shop's model with a fixed blend"}
METRICS = {"conversion_rate": "Conversion", "add_to_cart_rate": "Add-to-cart rate",
           "click_rate": "Click rate", "revenue_per_visitor": "Revenue per visitor"}
DEFAULT_ARMS = (("A", "chosen", 50), ("B", "holdout", 50))
NONE = "\N{EN DASH}"  # a figure there is none of yet
DONE = {"start": "Started: visitors are split among the arms from now on.",
        "stop": "Stopped: nothing counts for it any more; its results stay as they are now.",
        "ship": "Shipped: the arm's strategy serves the placement from now on."}


def status_of(error: ExperimentError) -> int:
    return 404 if isinstance(error, UnknownExperiment) else 409 if isinstance(
        error, ExperimentConflict) else 400


async def _list(request: Request, session: sessions.Session, status: int = 200,
                **shown: Any) -> Response:
    redis = request.app.state.redis
    return render(request, "experiments.html", {
        "shop": await get_shop(redis, session.shop_id), "session": session,
        "experiments": await store.list_experiments(redis, session.shop_id),
        "serving": await store.shipped(redis, session.shop_id),
        "placements": [*PLACEMENTS, ALL], "strategies": STRATEGIES,
        "strategy_help": STRATEGY_HELP, "rows": range(MAX_ARMS), "defaults": DEFAULT_ARMS,
        "serves_text": serves_text,
        **shown}, status=status)


@owner_page
async def experiments_page(request: Request, session: sessions.Session) -> Response:
    return await _list(request, session)


def serves_text(serves: str) -> str:
    """A placement's strategy (Arm.serves) as the page shows it."""
    blend = blend_of(serves)
    if blend is None:
        return f"{serves}: {STRATEGY_HELP.get(serves, '')}"
    return f"{CONFIG}: {STRATEGY_HELP[CONFIG]} ({blend_summary(blend)})"


def arms_of(form: FormData) -> list[dict[str, Any]]:
    """The arms of the form's rows that have a name (arm_name_N, arm_strategy_N, arm_share_N,
    and arm_config_N for a config arm: name=value, ... as recommender.blend reads it)."""
    arms = []
    for n in range(MAX_ARMS):
        name = str(form.get(f"arm_name_{n}") or "").strip()
        if not name:
            continue
        raw = str(form.get(f"arm_share_{n}") or "")
        try:
            share: Any = float(raw)
        except ValueError:
            share = raw
        arm = {"name": name, "strategy": str(form.get(f"arm_strategy_{n}") or ""),
               "share": share}
        if arm["strategy"] == CONFIG:
            try:
                arm["config"] = blend_from_text(str(form.get(f"arm_config_{n}") or ""))
            except BlendError as error:
                raise ExperimentError(f"arm {name}: {error}") from None
        arms.append(arm)
    return arms


@owner_page
async def create(request: Request, session: sessions.Session) -> Response:
    form = await request.form()
    try:
        made = store.new_experiment(str(form.get("name") or ""), str(form.get("placement")),
                                    arms_of(form), time.time())
        await store.create_experiment(request.app.state.redis, session.shop_id, made)
    except ExperimentError as error:
        return await _list(request, session, status=status_of(error), error=str(error))
    return RedirectResponse(f"/admin/experiments/{made.experiment_id}", status_code=303)


def _percent(value: float | None, places: int = 1) -> str:
    return NONE if value is None else f"{value * 100:.{places}f}%"


def comparison_row(found: dict[str, Any]) -> dict[str, Any]:
    """A comparison as the page shows it: rates in percent and points, money as is."""
    money = found["metric"] == "revenue_per_visitor"

    def shown(value: float, sign: bool = False) -> str:
        if money:
            return f"{value:+.2f}" if sign else f"{value:.2f}"
        return f"{value * 100:+.2f} pts" if sign else _percent(value, 2)

    relative = "" if found["relative"] is None else f" ({found['relative']:+.0%})"
    return {
        "metric": METRICS[found["metric"]] + (f" ({found['currency']})" if money else ""),
        "arm": found["arm"], "control": shown(found["control"]),
        "treatment": shown(found["treatment"]),
        "difference": shown(found["difference"], True) + relative,
        "interval": f"{shown(found['low'], True)} to {shown(found['high'], True)}",
        "p": "< 0.001" if found["p_value"] < 0.001 else f"{found['p_value']:.3f}",
        "significant": found["significant"],
        "needed": NONE if found["needed_per_arm"] is None else f"{found['needed_per_arm']:,}",
    }


async def _one(request: Request, session: sessions.Session, experiment_id: str,
               status: int = 200, **shown: Any) -> Response:
    redis = request.app.state.redis
    found = await store.get_experiment(redis, session.shop_id, experiment_id)
    if found is None:
        return await _list(request, session, status=404,
                           error=f"There is no experiment {experiment_id!r}.")
    results = await engine.results_of(redis, session.shop_id, found)
    return render(request, "experiment.html", {
        "shop": await get_shop(redis, session.shop_id), "session": session,
        "experiment": found, "results": results, "strategy_help": STRATEGY_HELP,
        "serves_text": serves_text,
        "percent": _percent,
        "comparisons": [comparison_row(c) for c in (results or {}).get("comparisons", [])],
        **shown}, status=status)


@owner_page
async def experiment_page(request: Request, session: sessions.Session) -> Response:
    return await _one(request, session, request.path_params["experiment_id"],
                      done=DONE.get(request.query_params.get("done", "")))


async def _act(request: Request, session: sessions.Session, action: str) -> Response:
    """Start, stop or ship the form's experiment, then show it (with what happened)."""
    form = await request.form()
    experiment_id = str(form.get("experiment_id") or "")
    redis, shop_id = request.app.state.redis, session.shop_id
    try:
        store.check_id(experiment_id)
        if action == "start":
            await store.start_experiment(redis, shop_id, experiment_id, time.time())
        elif action == "stop":
            await engine.stop(redis, shop_id, experiment_id)
        else:
            await engine.ship(redis, shop_id, experiment_id, str(form.get("arm") or ""))
    except ExperimentError as error:
        if isinstance(error, UnknownExperiment):
            return await _list(request, session, status=404, error=str(error))
        return await _one(request, session, experiment_id, status=status_of(error),
                          error=str(error))
    await request.app.state.cache.reread(shop_id)  # this process serves it at once
    return RedirectResponse(f"/admin/experiments/{experiment_id}?done={action}",
                            status_code=303)


@owner_page
async def start(request: Request, session: sessions.Session) -> Response:
    return await _act(request, session, "start")


@owner_page
async def stop(request: Request, session: sessions.Session) -> Response:
    return await _act(request, session, "stop")


@owner_page
async def ship(request: Request, session: sessions.Session) -> Response:
    return await _act(request, session, "ship")


@owner_page
async def serve_model(request: Request, session: sessions.Session) -> Response:
    """A placement (or all) served by the shop's model again, after a shipped arm."""
    form = await request.form()
    try:
        await store.serve_strategy(request.app.state.redis, session.shop_id,
                                   str(form.get("placement") or ""), store.CHOSEN)
    except ExperimentError as error:
        return await _list(request, session, status=400, error=str(error))
    await request.app.state.cache.reread(session.shop_id)
    return RedirectResponse("/admin/experiments", status_code=303)


routes = [
    Route("/admin/experiments", experiments_page),
    Route("/admin/experiments", create, methods=["POST"]),
    Route("/admin/experiments/start", start, methods=["POST"]),
    Route("/admin/experiments/stop", stop, methods=["POST"]),
    Route("/admin/experiments/ship", ship, methods=["POST"]),
    Route("/admin/experiments/serve", serve_model, methods=["POST"]),
    Route("/admin/experiments/{experiment_id}", experiment_page),
]
