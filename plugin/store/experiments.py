"""A/B experiments of a shop: the record, its checks and its life (draft -> running ->
stopped -> shipped), and which arm a visitor or customer is in.

An experiment runs on one widget placement or on all of them ("*"). Its arms (2 to 5, the
first is the control) each serve a strategy with a share of the traffic:

    chosen      the shop's own model, as the placement serves it without an experiment
    popularity  the shop's trending products (the answer's own products left out)
    holdout     no widget at all: an empty answer, the placeholder stays hidden
    config      the shop's model with a fixed blend (recommender.blend: the arm's `config`
                names blend weights, the defaults fill the rest), e.g. the default blend
                against the shop's tuned choice; the same trained model serves both

A unit (a visitor "v:<id>", or a customer "c:<digest>" seen without a visitor) is in the arm
`arm_for` says: sha256 of "<experiment id>:<unit>" read as a number in [0, 1) and placed on
the arms' cumulative shares. It is a pure function of the two ids, so every process and every
restart puts a unit in the same arm, and a unit stays in it for the experiment's life.

At most one running experiment covers a placement ("*" covers every one), so a visitor is in
one arm per placement at a time. Arms cannot change once an experiment started: a new
experiment instead. The running experiments are also kept in the shop's config (field
`experiments`, noted like any shop change), so every process holds them with the shop. A
shipped experiment's arm becomes its placement's strategy (field `serving`: placement or "*"
-> strategy; "chosen" is the default and is not stored; a config arm's strategy is
"config:" and its blend as JSON, `Arm.serves`).
"""

from __future__ import annotations

import hashlib
import json
import re
import secrets
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

import redis.asyncio as aioredis
from redis.exceptions import WatchError

from plugin.store import changes, keys
from plugin.store.connection import text
from recommender.blend import BlendError, blend_weights

CHOSEN, POPULARITY, HOLDOUT, CONFIG = "chosen", "popularity", "holdout", "config"
STRATEGIES = (CHOSEN, POPULARITY, HOLDOUT, CONFIG)
SERVABLE = (CHOSEN, POPULARITY, HOLDOUT)  # without an experiment (a blend: ship its arm)
ALL = "*"
# The widget placements an experiment may run on (widgets.placements names them; a test
# keeps the two lists in step).
PLACEMENTS = ("bundle", "also_bought", "cart", "thank_you", "home", "trending", "buy_again",
              "recently_viewed", "inspired_by_browsing")
DRAFT, RUNNING, STOPPED, SHIPPED = "draft", "running", "stopped", "shipped"
MIN_ARMS, MAX_ARMS = 2, 5
MIN_SHARE = 0.1  # percent of the traffic an arm gets at least
MAX_NAME = 80
MAX_EXPERIMENTS = 200  # per shop, all statuses
ARM_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9 _.-]{0,39}\Z")
EXPERIMENT_ID = re.compile(r"^exp_[a-f0-9]{12}\Z")


class ExperimentError(ValueError):
    """An experiment cannot be made or changed as asked; the message says why."""


class UnknownExperiment(ExperimentError):
    """The shop has no experiment of that id."""


class ExperimentConflict(ExperimentError):
    """Not now: the experiment's status (or another running one, or the shop's number of
    experiments) does not allow it."""


@dataclass(frozen=True)
class Arm:
    name: str
    strategy: str
    share: float  # percent of the traffic; the arms' shares sum to 100
    blend: tuple[tuple[str, float | bool], ...] = ()  # a config arm's, every blend field

    @property
    def serves(self) -> str:
        """What answers for it: its strategy, for a config arm "config:" and its blend."""
        if self.strategy != CONFIG:
            return self.strategy
        return CONFIG + ":" + json.dumps(dict(self.blend), sort_keys=True, separators=(",", ":"))

    def to_dict(self) -> dict[str, Any]:
        found: dict[str, Any] = {"name": self.name, "strategy": self.strategy,
                                 "share": self.share}
        if self.strategy == CONFIG:
            found["config"] = dict(self.blend)
        return found

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Arm:
        return cls(data["name"], data["strategy"], float(data["share"]),
                   tuple(sorted(data.get("config", {}).items())))


def blend_of(serves: str) -> dict[str, float | bool] | None:
    """The blend a strategy of Arm.serves names (a config arm's), else None."""
    if not serves.startswith(CONFIG + ":"):
        return None
    found: dict[str, float | bool] = json.loads(serves[len(CONFIG) + 1:])
    return found


@dataclass(frozen=True)
class Experiment:
    experiment_id: str
    name: str
    placement: str  # a widget placement, or ALL
    arms: tuple[Arm, ...]  # the first is the control
    status: str
    created_at: float
    started_at: float | None = None
    stopped_at: float | None = None
    shipped_arm: str | None = None
    results: Mapping[str, Any] | None = None  # computed when it stopped, kept ever after

    def covers(self, placement: str) -> bool:
        return self.placement in (ALL, placement)

    def overlaps(self, other: Experiment) -> bool:
        return ALL in (self.placement, other.placement) or self.placement == other.placement

    def arm(self, name: str) -> Arm:
        for arm in self.arms:
            if arm.name == name:
                return arm
        raise ExperimentError(f"experiment {self.experiment_id} has no arm {name!r}; its arms "
                              f"are {', '.join(a.name for a in self.arms)}")

    def to_dict(self, with_results: bool = True) -> dict[str, Any]:
        found: dict[str, Any] = {
            "id": self.experiment_id, "name": self.name, "placement": self.placement,
            "arms": [a.to_dict() for a in self.arms],
            "status": self.status, "created_at": self.created_at,
            "started_at": self.started_at, "stopped_at": self.stopped_at,
            "shipped_arm": self.shipped_arm}
        if with_results:
            found["results"] = self.results
        return found

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Experiment:
        return cls(
            experiment_id=data["id"], name=data["name"], placement=data["placement"],
            arms=tuple(Arm.from_dict(a) for a in data["arms"]),
            status=data["status"], created_at=float(data["created_at"]),
            started_at=data.get("started_at"), stopped_at=data.get("stopped_at"),
            shipped_arm=data.get("shipped_arm"), results=data.get("results"))


def arm_index(experiment: Experiment, unit: str) -> int:
    """The arm of `unit` (its index): sha256("<experiment id>:<unit>") as a point in [0, 1)
    on the arms' cumulative shares. Pure: the same in every process and after a restart."""
    digest = hashlib.sha256(f"{experiment.experiment_id}:{unit}".encode()).digest()
    point = int.from_bytes(digest[:8], "big") / 2 ** 64
    total = sum(arm.share for arm in experiment.arms)
    edge = 0.0
    for index, arm in enumerate(experiment.arms):
        edge += arm.share / total
        if point < edge:
            return index
    return len(experiment.arms) - 1  # rounding of the last edge


def arm_for(experiment: Experiment, unit: str) -> Arm:
    """The arm `unit` is in (see arm_index)."""
    return experiment.arms[arm_index(experiment, unit)]


def visitor_unit(visitor_id: str) -> str:
    return f"v:{visitor_id}"


def customer_unit(customer_id: str) -> str:
    """A customer seen without a visitor, by digest: an erased customer's id stays nowhere."""
    return f"c:{changes.customer_digest(customer_id)}"


# ---- making one --------------------------------------------------------------------------


def new_experiment(name: Any, placement: Any, arms: Any, now: float) -> Experiment:
    """A draft experiment, checked: a name, a placement (or "*"), 2 to 5 arms
    [{"name", "strategy", "share"}, and "config" for a config arm] with unique names, known
    strategies and positive shares (scaled to sum to 100)."""
    if not isinstance(name, str) or not name.strip() or len(name) > MAX_NAME \
            or any(ord(c) < 32 for c in name):
        raise ExperimentError(f"an experiment's name is 1 to {MAX_NAME} printable characters, "
                              f"got {name!r}")
    if placement not in (*PLACEMENTS, ALL):
        raise ExperimentError(f"placement must be one of {', '.join(PLACEMENTS)} or * (all), "
                              f"got {placement!r}")
    return Experiment("exp_" + secrets.token_hex(6), name.strip(), placement,
                      parse_arms(arms), DRAFT, now)


def parse_arms(raw: Any) -> tuple[Arm, ...]:
    if not isinstance(raw, list | tuple) or not MIN_ARMS <= len(raw) <= MAX_ARMS:
        raise ExperimentError(f"an experiment has {MIN_ARMS} to {MAX_ARMS} arms, the first "
                              f"being the control; got {raw!r}")
    arms = [_arm(n, item) for n, item in enumerate(raw)]
    names = [arm.name.lower() for arm in arms]
    if len(set(names)) != len(names):
        raise ExperimentError("arm names must differ (case aside), got "
                              f"{', '.join(a.name for a in arms)}")
    total = sum(arm.share for arm in arms)
    scaled = tuple(replace(arm, share=round(100 * arm.share / total, 4)) for arm in arms)
    small = [arm.name for arm in scaled if arm.share < MIN_SHARE]
    if small:
        raise ExperimentError(f"each arm needs at least {MIN_SHARE:g}% of the traffic (the "
                              f"shares are scaled to sum to 100); {', '.join(small)} would get "
                              "less")
    return scaled


def _arm(n: int, item: Any) -> Arm:
    if not isinstance(item, Mapping):
        raise ExperimentError(f'arms[{n}] must be {{"name", "strategy", "share"}}, got {item!r}')
    name, strategy, share = item.get("name"), item.get("strategy"), item.get("share")
    if not isinstance(name, str) or not ARM_NAME.match(name):
        raise ExperimentError(f"arms[{n}].name is 1 to 40 letters, digits, spaces, '_', '.' "
                              f"or '-', starting with a letter or digit; got {name!r}")
    if strategy not in STRATEGIES:
        raise ExperimentError(f"arms[{n}].strategy must be one of {', '.join(STRATEGIES)}, "
                              f"got {strategy!r}")
    if isinstance(share, bool) or not isinstance(share, int | float) or not 0 < share <= 100:
        raise ExperimentError(f"arms[{n}].share is a positive share of the traffic (up to "
                              f"100), got {share!r}")
    return Arm(name, strategy, float(share), _blend(n, strategy, item.get("config")))


def _blend(n: int, strategy: str, raw: Any) -> tuple[tuple[str, float | bool], ...]:
    """A config arm's blend, every field (recommender.blend); no config for other arms."""
    if strategy != CONFIG:
        if raw is not None:
            raise ExperimentError(f"arms[{n}].config is for a config arm only (strategy "
                                  f"{strategy!r} has none)")
        return ()
    if not isinstance(raw, Mapping):
        raise ExperimentError(f"arms[{n}].config must be an object of blend weights (empty: "
                              f"the default blend), got {raw!r}")
    try:
        return tuple(sorted(blend_weights(raw).items()))
    except BlendError as error:
        raise ExperimentError(f"arms[{n}].config: {error}") from None


# ---- stored ------------------------------------------------------------------------------


def parse_running(fields: Mapping[str, str]) -> tuple[Experiment, ...]:
    """The running experiments of a shop's config (decoded HGETALL)."""
    raw = fields.get("experiments")
    return tuple(Experiment.from_dict(e) for e in json.loads(raw)) if raw else ()


def parse_serving(fields: Mapping[str, str]) -> tuple[tuple[str, str], ...]:
    """The placements' shipped strategies of a shop's config: (placement or "*", strategy)."""
    raw = fields.get("serving")
    return tuple(sorted(json.loads(raw).items())) if raw else ()


def serving_strategy(serving: Sequence[tuple[str, str]], placement: str) -> str:
    """What `placement` serves outside an experiment: its shipped strategy, else that of "*",
    else the shop's chosen model."""
    if not serving:
        return CHOSEN
    shipped = dict(serving)
    return shipped.get(placement) or shipped.get(ALL) or CHOSEN


def check_id(experiment_id: str) -> str:
    if not EXPERIMENT_ID.match(experiment_id):
        raise UnknownExperiment(f"no experiment {experiment_id!r}: an experiment id looks "
                                "like exp_0123456789ab")
    return experiment_id


async def shipped(redis: aioredis.Redis, shop_id: str) -> dict[str, str]:
    """The placements' shipped strategies (placement or "*" -> strategy)."""
    raw = await redis.hget(keys.shop_config(shop_id), "serving")
    return dict(parse_serving({"serving": text(raw)})) if raw else {}


async def get_experiment(redis: aioredis.Redis, shop_id: str, experiment_id: str
                         ) -> Experiment | None:
    if not EXPERIMENT_ID.match(experiment_id):
        return None
    raw = await redis.hget(keys.experiments(shop_id), experiment_id)
    return None if raw is None else Experiment.from_dict(json.loads(raw))


async def list_experiments(redis: aioredis.Redis, shop_id: str) -> list[Experiment]:
    """Every experiment of the shop, the newest first."""
    found = [Experiment.from_dict(json.loads(raw))
             for raw in (await redis.hgetall(keys.experiments(shop_id))).values()]
    return sorted(found, key=lambda e: (-e.created_at, e.experiment_id))


async def create_experiment(redis: aioredis.Redis, shop_id: str, experiment: Experiment) -> None:
    """Store a new draft (new_experiment makes one)."""
    if not await redis.exists(keys.shop_config(shop_id)):
        raise ExperimentError(f"shop {shop_id!r} does not exist")
    if await redis.hlen(keys.experiments(shop_id)) >= MAX_EXPERIMENTS:
        raise ExperimentConflict(f"shop {shop_id!r} has {MAX_EXPERIMENTS} experiments, the "
                                 "most it may keep")
    await redis.hset(keys.experiments(shop_id), experiment.experiment_id,
                     json.dumps(experiment.to_dict()))


async def edit_draft(redis: aioredis.Redis, shop_id: str, experiment_id: str,
                     edited: Experiment) -> Experiment:
    """Replace a draft's name, placement and arms with `edited`'s (new_experiment checked
    them); refused once it started: arms never change under a running experiment."""
    def changed(found: Experiment, running: list[Experiment]) -> Experiment:
        if found.status != DRAFT:
            raise ExperimentConflict(f"experiment {experiment_id} is {found.status}: its arms "
                                     "cannot change once it started; make a new experiment")
        return replace(found, name=edited.name, placement=edited.placement, arms=edited.arms)
    return await _change(redis, shop_id, experiment_id, changed)


async def start_experiment(redis: aioredis.Redis, shop_id: str, experiment_id: str,
                           now: float) -> Experiment:
    """Start a draft; refused while another running experiment covers one of its placements."""
    def started(found: Experiment, running: list[Experiment]) -> Experiment:
        if found.status != DRAFT:
            raise ExperimentConflict(f"experiment {experiment_id} is {found.status}: only a "
                                     "draft starts (make a new experiment to run it again)")
        for other in running:
            if other.overlaps(found):
                where = "every placement" if ALL in (other.placement, found.placement) \
                    else f"placement {found.placement}"
                raise ExperimentConflict(
                    f"experiment {other.experiment_id} ({other.name}) already runs on {where}: "
                    "stop it first (a visitor is in one arm per placement at a time)")
        return replace(found, status=RUNNING, started_at=now)
    return await _change(redis, shop_id, experiment_id, started)


async def stop_experiment(redis: aioredis.Redis, shop_id: str, experiment_id: str,
                          now: float) -> Experiment:
    """Stop a running experiment: nothing counts for it from now on."""
    def stopped(found: Experiment, running: list[Experiment]) -> Experiment:
        if found.status != RUNNING:
            raise ExperimentConflict(f"experiment {experiment_id} is {found.status}: only a "
                                     "running experiment stops")
        return replace(found, status=STOPPED, stopped_at=now)
    return await _change(redis, shop_id, experiment_id, stopped)


async def keep_results(redis: aioredis.Redis, shop_id: str, experiment_id: str,
                       results: Mapping[str, Any]) -> Experiment:
    """Keep the results computed at the stop: the experiment answers them ever after."""
    def kept(found: Experiment, running: list[Experiment]) -> Experiment:
        if found.status not in (STOPPED, SHIPPED):
            raise ExperimentConflict(f"experiment {experiment_id} is {found.status}: results "
                                     "are kept once it stopped")
        return replace(found, results=results)
    return await _change(redis, shop_id, experiment_id, kept)


async def ship_experiment(redis: aioredis.Redis, shop_id: str, experiment_id: str,
                          arm_name: str) -> Experiment:
    """Make a stopped experiment's arm its placement's strategy (for "*": every placement's)."""
    def shipped(found: Experiment, running: list[Experiment]) -> Experiment:
        if found.status != STOPPED:
            raise ExperimentConflict(f"experiment {experiment_id} is {found.status}: stop it "
                                     "before shipping an arm")
        found.arm(arm_name)
        return replace(found, status=SHIPPED, shipped_arm=arm_name)
    return await _change(redis, shop_id, experiment_id, shipped)


async def serve_strategy(redis: aioredis.Redis, shop_id: str, placement: str,
                         strategy: str) -> None:
    """Serve `placement` (or "*": every placement, replacing their own) with `strategy`;
    "chosen" goes back to the shop's model (a config arm's blend is served by shipping it)."""
    if placement not in (*PLACEMENTS, ALL) or strategy not in SERVABLE:
        raise ExperimentError(f"placement must be one of {', '.join(PLACEMENTS)} or *, and "
                              f"strategy one of {', '.join(SERVABLE)}")
    await _write(redis, shop_id, None, None, (placement, strategy))


Change = Callable[[Experiment, list[Experiment]], Experiment]


async def _change(redis: aioredis.Redis, shop_id: str, experiment_id: str,
                  change: Change) -> Experiment:
    """Apply `change(record, running)` to a stored experiment, in one transaction with the
    running list in the shop's config (and a shipped arm's strategy) and its change note."""
    changed = await _write(redis, shop_id, experiment_id, change, None)
    assert changed is not None
    return changed


async def _write(redis: aioredis.Redis, shop_id: str, experiment_id: str | None,
                 change: Change | None, serve: tuple[str, str] | None) -> Experiment | None:
    records, config = keys.experiments(shop_id), keys.shop_config(shop_id)
    async with redis.pipeline(transaction=True) as pipe:
        while True:
            try:
                await pipe.watch(records, config)
                fields = {text(k): text(v) for k, v in (await pipe.hgetall(config)).items()}
                if not fields:
                    raise ExperimentError(f"shop {shop_id!r} does not exist")
                changed, runs = None, False
                if experiment_id is not None and change is not None:
                    raw = await pipe.hget(records, experiment_id)
                    if raw is None:
                        raise UnknownExperiment(f"shop {shop_id!r} has no experiment "
                                                f"{experiment_id!r}")
                    found = Experiment.from_dict(json.loads(raw))
                    changed = change(found, list(parse_running(fields)))
                    runs = RUNNING in (found.status, changed.status)
                    if changed.status == SHIPPED and found.status != SHIPPED:
                        serve = (changed.placement,
                                 changed.arm(str(changed.shipped_arm)).serves)
                pipe.multi()  # type: ignore[no-untyped-call]  # redis-py leaves it untyped
                if changed is not None:
                    pipe.hset(records, changed.experiment_id, json.dumps(changed.to_dict()))
                if changed is not None and runs:  # the running list every process holds
                    running = [e for e in parse_running(fields) if e.experiment_id != experiment_id]
                    if changed.status == RUNNING:
                        running.append(changed)
                    pipe.hset(config, "experiments", json.dumps(
                        [e.to_dict(with_results=False) for e in running]))
                if serve is not None:
                    pipe.hset(config, "serving", json.dumps(_served(fields, *serve)))
                if runs or serve is not None:
                    changes.note(pipe, shop_id, (changes.SHOP, ""))
                await pipe.execute()
                return changed
            except WatchError:
                continue


def _served(fields: Mapping[str, str], placement: str, strategy: str) -> dict[str, str]:
    serving = {} if placement == ALL else dict(parse_serving(fields))
    serving.pop(placement, None)
    if strategy != CHOSEN:
        serving[placement] = strategy
    return serving
