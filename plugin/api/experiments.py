"""A/B experiments under /api/v1/shops/{shop_id}/experiments (plugin.store.experiments; the
results: plugin.engine.experiment_results). Every call needs the `admin` scope.

    GET  /experiments                 the shop's experiments (newest first), placements' strategies
    POST /experiments                 {"name", "placement", "arms": [{"name", "strategy", "share"}]}
    GET  /experiments/{id}            one, with its results (live while it runs, frozen after)
    PUT  /experiments/{id}            a draft's name, placement and arms replaced
    POST /experiments/{id}/start      runs it (409 while another one covers its placement)
    POST /experiments/{id}/stop       stops it: its results are kept as of now
    POST /experiments/{id}/ship       {"arm": "B"}: stops it if running, serves the arm
"""

from __future__ import annotations

import time
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from plugin.api import PREFIX
from plugin.api.experiment_schemas import EXPERIMENT, EXPERIMENT_ID, EXPERIMENTS, NEW, SHIP
from plugin.engine import experiments as engine
from plugin.store import experiments as store
from plugin.store.experiments import Experiment, ExperimentConflict, ExperimentError
from plugin.store.experiments import UnknownExperiment as Unknown
from plugin.store.shops import Shop
from plugin.web.auth import authorized
from plugin.web.body import json_body
from plugin.web.openapi import Answer, Operation, documented
from plugin.web.params import BadRequest
from plugin.web.problems import problem

TAG = "Experiments"
SCOPE = "admin"
SHAPE = ('{"name": "...", "placement": "bundle" | "*", "arms": [{"name": "A", "strategy": '
         '"chosen" | "popularity" | "holdout", "share": 50}, ...]}')
ONE = {200: Answer("The experiment.", EXPERIMENT)}


def refused(error: ExperimentError) -> Response:
    status = 404 if isinstance(error, Unknown) else 409 if isinstance(
        error, ExperimentConflict) else 400
    return problem(status, str(error))


async def experiment_json(request: Request, shop: Shop, experiment: Experiment
                          ) -> dict[str, Any]:
    found = experiment.to_dict()
    found["results"] = await engine.results_of(request.app.state.redis, shop.shop_id,
                                                experiment)
    return found


async def answered(request: Request, shop: Shop, experiment: Experiment,
                   status: int = 200) -> Response:
    await request.app.state.cache.reread(shop.shop_id)  # served so by this process at once
    return JSONResponse(await experiment_json(request, shop, experiment), status_code=status)


def parse_new(body: Any) -> Experiment:
    if not isinstance(body, dict):
        raise BadRequest(f"the body must be an object: {SHAPE}")
    return store.new_experiment(body.get("name"), body.get("placement"), body.get("arms"),
                                time.time())


@documented(
    Operation("GET", "listExperiments", "The shop's experiments", TAG,
              {200: Answer("Every experiment, the newest first (without results).",
                           EXPERIMENTS)}, SCOPE, errors=(401, 403, 404)),
    Operation("POST", "createExperiment", "Make an experiment (a draft)", TAG,
              {201: Answer("The new draft.", EXPERIMENT)}, SCOPE,
              description="A placement (or `*`: all of them), two to five arms, the first "
                          "the control, each a strategy and a share of the traffic (scaled "
                          "to sum to 100). `start` runs it.",
              body=NEW, errors=(400, 401, 403, 404, 408, 409, 413)),
)
@authorized
async def experiments(request: Request, shop: Shop) -> Response:
    redis = request.app.state.redis
    if request.method == "POST":
        try:
            made = parse_new(await json_body(request, SHAPE))
            await store.create_experiment(redis, shop.shop_id, made)
        except ExperimentError as error:
            return refused(error)
        return JSONResponse(await experiment_json(request, shop, made), status_code=201)
    found = await store.list_experiments(redis, shop.shop_id)
    return JSONResponse({"shop_id": shop.shop_id,
                         "experiments": [e.to_dict(with_results=False) for e in found],
                         "serving": await store.shipped(redis, shop.shop_id)})


@documented(
    Operation("GET", "getExperiment", "One experiment with its results", TAG, ONE, SCOPE,
              description="Results per arm (visitors, impressions, CTR, add-to-cart and "
                          "conversion rates, orders, revenue per visitor and AOV per "
                          "currency), each arm against the control with a 95% interval and "
                          "p-value, the sample-ratio check and verdicts in words. Live while "
                          "it runs; kept as they were at the stop after.",
              params=(EXPERIMENT_ID,)),
    Operation("PUT", "editExperiment", "Replace a draft's name, placement and arms", TAG, ONE,
              SCOPE, params=(EXPERIMENT_ID,), body=NEW,
              errors=(400, 401, 403, 404, 408, 409, 413)),
)
@authorized
async def experiment(request: Request, shop: Shop) -> Response:
    redis = request.app.state.redis
    experiment_id = request.path_params["experiment_id"]
    try:
        if request.method == "PUT":
            edited = parse_new(await json_body(request, SHAPE))
            changed = await store.edit_draft(redis, shop.shop_id, store.check_id(experiment_id),
                                             edited)
            return await answered(request, shop, changed)
        found = await store.get_experiment(redis, shop.shop_id, experiment_id)
        if found is None:
            raise Unknown(f"shop {shop.shop_id!r} has no experiment {experiment_id!r}")
    except ExperimentError as error:
        return refused(error)
    return JSONResponse(await experiment_json(request, shop, found))


def _step(operation_id: str, summary: str, description: str, **more: Any) -> Operation:
    return Operation("POST", operation_id, summary, TAG, ONE, SCOPE, description=description,
                     params=(EXPERIMENT_ID,), errors=(400, 401, 403, 404, 409), **more)


@documented(_step("startExperiment", "Run a draft",
                  "Visitors are split among the arms from now on; refused (409) while "
                  "another running experiment covers its placement."))
@authorized
async def start(request: Request, shop: Shop) -> Response:
    try:
        started = await store.start_experiment(request.app.state.redis, shop.shop_id,
                                               _id(request), time.time())
    except ExperimentError as error:
        return refused(error)
    return await answered(request, shop, started)


@documented(_step("stopExperiment", "Stop a running experiment",
                  "Nothing counts for it from now on; its results are kept as they are now."))
@authorized
async def stop(request: Request, shop: Shop) -> Response:
    try:
        stopped = await engine.stop(request.app.state.redis, shop.shop_id, _id(request))
    except ExperimentError as error:
        return refused(error)
    return await answered(request, shop, stopped)


@documented(_step("shipExperiment", "Serve an arm on the experiment's placement",
                  "Stops the experiment if it runs, then serves its placement (every "
                  "placement for `*`) with the arm's strategy (`holdout`: no widget there).",
                  body=SHIP, ))
@authorized
async def ship(request: Request, shop: Shop) -> Response:
    body = await json_body(request, '{"arm": "B"}')
    if not isinstance(body, dict) or not isinstance(body.get("arm"), str):
        raise BadRequest('the body must be {"arm": "<the arm\'s name>"}')
    try:
        shipped = await engine.ship(request.app.state.redis, shop.shop_id, _id(request),
                                    body["arm"])
    except ExperimentError as error:
        return refused(error)
    return await answered(request, shop, shipped)


def _id(request: Request) -> str:
    return store.check_id(request.path_params["experiment_id"])


routes = [
    Route(f"{PREFIX}/experiments", experiments, methods=["GET", "POST"]),
    Route(f"{PREFIX}/experiments/{{experiment_id}}", experiment, methods=["GET", "PUT"]),
    Route(f"{PREFIX}/experiments/{{experiment_id}}/start", start, methods=["POST"]),
    Route(f"{PREFIX}/experiments/{{experiment_id}}/stop", stop, methods=["POST"]),
    Route(f"{PREFIX}/experiments/{{experiment_id}}/ship", ship, methods=["POST"]),
]
