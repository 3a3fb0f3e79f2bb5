"""Every recommendation query, by name: what a storefront slot, an API call, a nurture feed row
or an e-mail block asks of a shop's serving model.

A query is a small frozen value that names its inputs and runs on the model with the shop's
merchandising filter (`blocked`: unavailable and excluded products); `plugin.engine.serving`
runs it, puts the owner's pinned products first (those for its `anchors`, then those for
everywhere; none on the buy-again shelf) and renders the answer. Queries that need the
customer's purchase history are built by the async constructors below, which read it through
the process's shop cache. Queries whose answer is a customer's personal list say so
(`personal_call`), so `run_all` scores many of them together (a burst, a feed page).

BoughtTogether  products bought with a product   API kind=bought_together; bundle placement
Similar         customers also bought             API kind=similar; also_bought placement
Cart            what completes a cart             API cart; cart placement
Personal        picked for a customer             API customer; nurture feed; e-mail block
BuyAgain        their own products to rebuy       buy_again placement
Trending        what sells now                    API trending; trending placement
Popular         trending, the anchors left out    an experiment's popularity arm
Home            trending, or new picks if known   home placement
ThankYou        after an order                    thank_you placement
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping, Sequence
from collections.abc import Set as AbstractSet
from dataclasses import dataclass, field
from typing import Protocol

from plugin.store.cache import ShopCache
from recommender.shop_model import Answer, ShopModel


class Query(Protocol):
    """One recommendation query: its inputs, and how it runs on a serving model.

    `key` names the answer among the shop's answers: equal keys, equal answers for as long as
    the model, the catalog, the never-shown products and (for `customer`) that customer's
    history stay the same, so a process may keep the rendered answer until a change note names
    one of them (plugin.store.cache)."""

    @property
    def name(self) -> str: ...

    @property
    def key(self) -> Hashable: ...

    @property
    def customer(self) -> str | None: ...

    @property
    def anchors(self) -> tuple[str, ...]:
        """The products the query is about: never in its answer; pins for them show first."""
        ...

    @property
    def limit(self) -> int: ...

    def run(self, model: ShopModel, blocked: AbstractSet[str]) -> Answer: ...

    def personal_call(self, model: ShopModel) -> PersonalCall | None:
        """When its answer is one customer's personal list on `model`: the for_customers call
        that `run` makes, so run_all can score it together with others; else None."""
        ...

    def kept_out(self, model: ShopModel) -> AbstractSet[str] | None:
        """Products its answer never shows besides `blocked` and the anchors (the customer's
        own, for a list of products they never bought), so no pin brings one in; None: the
        query shows no pins."""
        ...


History = Mapping[str, int]  # product id -> the customer's orders that still count holding it


@dataclass(frozen=True)
class PersonalCall:
    """ShopModel.for_customer's arguments besides the merchandising filter (`also_blocked`:
    products left out beside it). Calls of equal limit, exclusion and also_blocked are scored
    together by one ShopModel.for_customers call (run_all)."""

    customer_id: str
    history: History
    limit: int
    exclude_purchased: bool
    also_blocked: tuple[str, ...] = ()


def run_all(model: ShopModel, blocked: AbstractSet[str], queries: Sequence[Query]
            ) -> list[Answer]:
    """Each query's `run` answer, the personal lists among them scored together (a burst of
    first calls, a page of a feed): one ShopModel.for_customers call per kind of call."""
    answers: dict[int, Answer] = {}
    groups: dict[tuple[int, bool, tuple[str, ...]], list[tuple[int, PersonalCall]]] = {}
    for at, query in enumerate(queries):
        call = query.personal_call(model)
        if call is None:
            answers[at] = query.run(model, blocked)
        else:
            kind = (call.limit, call.exclude_purchased, call.also_blocked)
            groups.setdefault(kind, []).append((at, call))
    for (limit, exclude_purchased, also_blocked), calls in groups.items():
        left_out = {*blocked, *also_blocked} if also_blocked else blocked
        found = model.for_customers([(call.customer_id, dict(call.history)) for _, call in calls],
                                    limit, exclude_purchased, left_out)
        answers.update(zip((at for at, _ in calls), found, strict=True))
    return [answers[at] for at in range(len(queries))]


@dataclass(frozen=True)
class BoughtTogether:
    product_id: str
    limit: int
    name: str = "bought_together"

    @property
    def key(self) -> Hashable:
        return (self.name, self.product_id, self.limit)

    @property
    def customer(self) -> str | None:
        return None

    @property
    def anchors(self) -> tuple[str, ...]:
        return (self.product_id,)

    def run(self, model: ShopModel, blocked: AbstractSet[str]) -> Answer:
        return model.bought_together(self.product_id, self.limit, blocked)

    def personal_call(self, model: ShopModel) -> PersonalCall | None:
        return None

    def kept_out(self, model: ShopModel) -> AbstractSet[str] | None:
        return frozenset()


@dataclass(frozen=True)
class Similar:
    product_id: str
    limit: int
    name: str = "similar"

    @property
    def key(self) -> Hashable:
        return (self.name, self.product_id, self.limit)

    @property
    def customer(self) -> str | None:
        return None

    @property
    def anchors(self) -> tuple[str, ...]:
        return (self.product_id,)

    def run(self, model: ShopModel, blocked: AbstractSet[str]) -> Answer:
        return model.similar(self.product_id, self.limit, blocked)

    def personal_call(self, model: ShopModel) -> PersonalCall | None:
        return None

    def kept_out(self, model: ShopModel) -> AbstractSet[str] | None:
        return frozenset()


@dataclass(frozen=True)
class Cart:
    product_ids: tuple[str, ...]
    customer_id: str | None
    limit: int
    name: str = "cart"

    @property
    def key(self) -> Hashable:
        return (self.name, self.product_ids, self.customer_id, self.limit)

    @property
    def customer(self) -> str | None:
        return self.customer_id

    @property
    def anchors(self) -> tuple[str, ...]:
        return self.product_ids

    def run(self, model: ShopModel, blocked: AbstractSet[str]) -> Answer:
        return model.for_cart(list(self.product_ids), self.customer_id, self.limit, blocked)

    def personal_call(self, model: ShopModel) -> PersonalCall | None:
        return None

    def kept_out(self, model: ShopModel) -> AbstractSet[str] | None:
        return frozenset()


@dataclass(frozen=True)
class Personal:
    customer_id: str
    limit: int
    exclude_purchased: bool = False
    history: History = field(default_factory=dict)
    name: str = "personal"

    @property
    def key(self) -> Hashable:
        return (self.name, self.customer_id, self.limit, self.exclude_purchased)

    @property
    def customer(self) -> str | None:
        return self.customer_id

    @property
    def anchors(self) -> tuple[str, ...]:
        return ()

    def run(self, model: ShopModel, blocked: AbstractSet[str]) -> Answer:
        return run_all(model, blocked, [self])[0]

    def personal_call(self, model: ShopModel) -> PersonalCall | None:
        return PersonalCall(self.customer_id, self.history, self.limit, self.exclude_purchased)

    def kept_out(self, model: ShopModel) -> AbstractSet[str] | None:
        return bought(model, self.customer_id, self.history) if self.exclude_purchased \
            else frozenset()


@dataclass(frozen=True)
class BuyAgain:
    customer_id: str
    limit: int
    history: History = field(default_factory=dict)
    name: str = "buy_again"

    @property
    def key(self) -> Hashable:
        return (self.name, self.customer_id, self.limit)

    @property
    def customer(self) -> str | None:
        return self.customer_id

    @property
    def anchors(self) -> tuple[str, ...]:
        return ()

    def run(self, model: ShopModel, blocked: AbstractSet[str]) -> Answer:
        return model.buy_again(self.customer_id, self.limit, blocked, dict(self.history))

    def personal_call(self, model: ShopModel) -> PersonalCall | None:
        return None

    def kept_out(self, model: ShopModel) -> AbstractSet[str] | None:
        return None  # the customer's own products to rebuy, no owner's choice


@dataclass(frozen=True)
class Trending:
    limit: int
    name: str = "trending"

    @property
    def key(self) -> Hashable:
        return (self.name, self.limit)

    @property
    def customer(self) -> str | None:
        return None

    @property
    def anchors(self) -> tuple[str, ...]:
        return ()

    def run(self, model: ShopModel, blocked: AbstractSet[str]) -> Answer:
        return model.trending(self.limit, blocked)

    def personal_call(self, model: ShopModel) -> PersonalCall | None:
        return None

    def kept_out(self, model: ShopModel) -> AbstractSet[str] | None:
        return frozenset()


@dataclass(frozen=True)
class Popular:
    """Trending without the products asked about: an experiment's popularity arm on any
    placement (plugin.store.experiments)."""

    anchors: tuple[str, ...]
    limit: int
    name: str = "popular"

    @property
    def key(self) -> Hashable:
        return (self.name, self.anchors, self.limit)

    @property
    def customer(self) -> str | None:
        return None

    def run(self, model: ShopModel, blocked: AbstractSet[str]) -> Answer:
        return model.trending(self.limit, {*blocked, *self.anchors})

    def personal_call(self, model: ShopModel) -> PersonalCall | None:
        return None

    def kept_out(self, model: ShopModel) -> AbstractSet[str] | None:
        return frozenset()


@dataclass(frozen=True)
class Home:
    """Trending for a visitor; for a known customer their picks among products they never
    bought (what they rebuy has its own shelf, BuyAgain)."""

    customer_id: str | None
    limit: int
    history: History = field(default_factory=dict)
    name: str = "home"

    @property
    def key(self) -> Hashable:
        return (self.name, self.customer_id, self.limit)

    @property
    def customer(self) -> str | None:
        return self.customer_id

    @property
    def anchors(self) -> tuple[str, ...]:
        return ()

    def run(self, model: ShopModel, blocked: AbstractSet[str]) -> Answer:
        if self.customer_id is None:
            return model.trending(self.limit, blocked)
        return run_all(model, blocked, [self])[0]

    def personal_call(self, model: ShopModel) -> PersonalCall | None:
        if self.customer_id is None:
            return None
        return PersonalCall(self.customer_id, self.history, self.limit, True)

    def kept_out(self, model: ShopModel) -> AbstractSet[str] | None:
        return frozenset() if self.customer_id is None else \
            bought(model, self.customer_id, self.history)


@dataclass(frozen=True)
class ThankYou:
    """Known customer: products they never bought (nor in this order); otherwise what goes
    with the order's products."""

    product_ids: tuple[str, ...]
    customer_id: str | None
    limit: int
    history: History = field(default_factory=dict)
    name: str = "thank_you"

    @property
    def key(self) -> Hashable:
        return (self.name, self.product_ids, self.customer_id, self.limit)

    @property
    def customer(self) -> str | None:
        return self.customer_id

    @property
    def anchors(self) -> tuple[str, ...]:
        return self.product_ids

    def _known(self, model: ShopModel) -> str | None:
        """The customer when their own list answers (they bought before), else None."""
        customer_id = self.customer_id
        known = customer_id is not None and (self.history or model.knows_customer(customer_id))
        return customer_id if known else None

    def run(self, model: ShopModel, blocked: AbstractSet[str]) -> Answer:
        if self._known(model) is not None:
            return run_all(model, blocked, [self])[0]
        return model.for_cart(list(self.product_ids), None, self.limit, blocked)

    def personal_call(self, model: ShopModel) -> PersonalCall | None:
        customer_id = self._known(model)
        if customer_id is None:
            return None
        return PersonalCall(customer_id, self.history, self.limit, True, self.product_ids)

    def kept_out(self, model: ShopModel) -> AbstractSet[str] | None:
        customer_id = self._known(model)
        return frozenset() if customer_id is None else bought(model, customer_id, self.history)


def bought(model: ShopModel, customer_id: str, history: History) -> AbstractSet[str]:
    """What a list of products the customer never bought leaves out: their purchases as of
    now (`history`), else as the model holds them."""
    return {p for p, n in history.items() if n > 0} or model.purchased_by(customer_id)


async def personal(
    cache: ShopCache, shop_id: str, customer_id: str, limit: int,
    exclude_purchased: bool = False,
) -> Personal:
    history = await cache.history(shop_id, customer_id)
    return Personal(customer_id, limit, exclude_purchased, history)


async def personals(
    cache: ShopCache, shop_id: str, customer_ids: Sequence[str], limit: int,
    exclude_purchased: bool = False,
) -> list[Personal]:
    """`personal` of each customer, their histories read together (a page of a feed)."""
    histories = await cache.histories(shop_id, customer_ids)
    return [Personal(customer_id, limit, exclude_purchased, history)
            for customer_id, history in zip(customer_ids, histories, strict=True)]


async def buy_again(cache: ShopCache, shop_id: str, customer_id: str, limit: int) -> BuyAgain:
    return BuyAgain(customer_id, limit, await cache.history(shop_id, customer_id))


async def home(cache: ShopCache, shop_id: str, customer_id: str | None, limit: int) -> Home:
    history = await cache.history(shop_id, customer_id) if customer_id else {}
    return Home(customer_id, limit, history)


async def thank_you(
    cache: ShopCache, shop_id: str, product_ids: Sequence[str], customer_id: str | None,
    limit: int,
) -> ThankYou:
    history = await cache.history(shop_id, customer_id) if customer_id else {}
    return ThankYou(tuple(product_ids), customer_id, limit, history)
