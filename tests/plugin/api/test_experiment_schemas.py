"""The experiments API's schemas (plugin/api/experiment_schemas.py) hold what the engine really
answers: results of a scripted experiment in two currencies, with figures that are null for
want of visitors, and of one without any; every example valid against its own schema."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

from jsonschema import Draft202012Validator

from plugin.api.experiment_schemas import EXPERIMENT, NEW, SHIP
from plugin.engine.experiment_results import experiment_results
from plugin.store.experiment_data import CountedOrder, ExperimentData
from plugin.store.experiments import new_experiment
from plugin.web.openapi import COMPONENTS

NOW = 1_800_000_000.0
ARMS = [{"name": "A", "strategy": "chosen", "share": 50},
        {"name": "B", "strategy": "holdout", "share": 30},
        {"name": "C", "strategy": "popularity", "share": 20}]


def errors(schema: dict[str, Any], value: Any) -> list[str]:
    document = {**schema, "$defs": {}}
    resolved = json.loads(json.dumps(document).replace("#/components/schemas/", "#/$defs/"))
    resolved["$defs"] = json.loads(json.dumps(COMPONENTS).replace("#/components/schemas/",
                                                                  "#/$defs/"))
    return [f"{'/'.join(map(str, e.absolute_path))}: {e.message}"
            for e in Draft202012Validator(resolved).iter_errors(value)]


def test_an_experiment_with_results_in_two_currencies_fits() -> None:
    experiment = new_experiment("three ways", "*", ARMS, NOW)
    found = ExperimentData(
        {"0:visitors": 40, "0:impression": 90, "0:click": 5, "0:clicked": 4, "1:visitors": 25,
         "2:visitors": 0},
        (CountedOrder("1", "v:a", 0, "EUR", Decimal("12.50")),
         CountedOrder("2", "v:b", 0, "JPY", Decimal("1500")),
         CountedOrder("3", "v:c", 1, "EUR", Decimal("8"))))
    answer = {**experiment.to_dict(), "results": experiment_results(experiment, found, NOW)}
    assert errors(EXPERIMENT, json.loads(json.dumps(answer))) == []


def test_a_draft_and_an_experiment_without_visitors_fit() -> None:
    experiment = new_experiment("empty", "cart", ARMS[:2], NOW)
    assert errors(EXPERIMENT, experiment.to_dict()) == []
    answer = {**experiment.to_dict(),
              "results": experiment_results(experiment, ExperimentData({}, ()), NOW)}
    assert errors(EXPERIMENT, answer) == []


def test_the_examples_are_valid() -> None:
    assert errors(NEW, {"name": "x", "placement": "bundle", "arms": ARMS[:2]}) == []
    assert errors(SHIP, {"arm": "B"}) == []
    assert errors(SHIP, {"arm": ""}) != []
    assert errors(EXPERIMENT, {"id": "exp_0"}) != []  # the check does check
