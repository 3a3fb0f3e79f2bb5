"""A shop's strategy and hyperparameters: Config, stored as JSON inside every saved model."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, fields

from recommender.customers import CUSTOMERS, CustomerNeighbours
from recommender.models import ALS_ALPHA, ALS_REGULARIZATION
from recommender.neighbours import NEIGHBOURS, ItemNeighbours
from recommender.plain import BASELINES
from recommender.registry import pick
from recommender.taste import TASTES, PersonalTaste


@dataclass(frozen=True)
class Config:
    """A shop's strategy and hyperparameters (recommender.tuning chooses them per shop).

    Personal taste: `cf`, a name of recommender.taste.TASTES: "als" (implicit ALS: factors,
    regularization, alpha, iterations) or "bpr" (implicit BPR: factors, learning_rate,
    regularization, iterations); factors 0 means default_factors(). Item neighbours for
    bought-together, carts and discovery: `neighbours`, a name of
    recommender.neighbours.NEIGHBOURS: "copurchase" (baskets with both, shrunk cosine) or
    "bm25" (implicit's BM25 item-kNN, K=100).
    Trending: purchases decayed with `trending_half_life_days` (0: no decay, popularity).
    Buy-again: the customer's own orders, each decayed by age; with `rebuy_weighting`, times
    the product's rebuy rate (the share of its buyers who bought it in two or more orders,
    smoothed), so staples come back and one-off purchases do not; with `repeat_model`, the
    chance of a repeat that recommender.repeat learns on the shop's history instead.
    Customer neighbours (what the customers nearest to each customer buy): `customers`, a name
    of recommender.customers.CUSTOMERS, "" for none: "tifu" (TIFU-KNN: customers_k nearest by
    cosine of their purchase vectors decayed within groups of baskets by tifu_within and
    across tifu_groups groups by tifu_across) or "upcf" (UP-CF@r: customers_k nearest by
    asymmetric cosine, upcf_asymmetry, raised to upcf_locality, summing their share of their
    last upcf_recency baskets holding each product).
    Blends, each signal scaled to a top of 1:
      personal list (nurture) = nurture_own * own decayed purchases + nurture_taste * taste
                                + nurture_customers * customer neighbours
                                + nurture_trending * trending;
      never bought (discovery) = discovery_taste * taste + discovery_neighbours * neighbours of
                                 the latest purchases + discovery_customers * customer
                                 neighbours + discovery_trending * trending;
      cart = cart_neighbours * neighbours of the cart + cart_trending * trending.
    Carts may take other neighbours (`cart_neighbours_kind`, a name of NEIGHBOURS; empty: the
    same as `neighbours`): the per-shop choice picks what completes the shop's carts best on
    its own, apart from what suits discovery.
    A task where no blend beat the best baseline on the shop's validation is served by that
    baseline (`nurture_fallback`, `discovery_fallback`, `cart_fallback`: a name of
    recommender.plain.BASELINES; empty: the blend).
    The defaults were chosen with `shopreco evaluate` on UCI Online Retail.
    """

    rebuy_weighting: bool = False
    repeat_model: bool = False
    cf: str = "als"
    factors: int = 0
    regularization: float = ALS_REGULARIZATION
    alpha: float = ALS_ALPHA
    iterations: int = 20
    learning_rate: float = 0.01
    neighbours: str = "copurchase"
    trending_half_life_days: float = 14.0
    nurture_own: float = 1.0
    nurture_taste: float = 0.3
    nurture_trending: float = 0.5
    discovery_taste: float = 1.0
    discovery_neighbours: float = 1.0
    discovery_trending: float = 0.1
    cart_neighbours: float = 1.0
    cart_trending: float = 0.0
    cart_neighbours_kind: str = ""
    customers: str = ""
    customers_k: int = 300
    tifu_within: float = 0.9
    tifu_across: float = 0.7
    tifu_groups: int = 7
    upcf_recency: int = 10
    upcf_asymmetry: float = 0.75
    upcf_locality: float = 10.0
    nurture_customers: float = 0.0
    discovery_customers: float = 0.0
    nurture_fallback: str = ""
    discovery_fallback: str = ""
    cart_fallback: str = ""

    def __post_init__(self) -> None:
        pick(TASTES, "cf", self.cf)
        pick(NEIGHBOURS, "neighbours", self.neighbours)
        if self.cart_neighbours_kind:
            pick(NEIGHBOURS, "cart_neighbours_kind", self.cart_neighbours_kind)
        if self.customers:
            pick(CUSTOMERS, "customers", self.customers)
        if self.customers_k < 1 or self.tifu_groups < 1 or self.upcf_recency < 1:
            raise ValueError("customers_k, tifu_groups and upcf_recency must be 1 or more")
        for task, name in self.fallbacks.items():
            pick(dict.fromkeys(BASELINES), f"{task}_fallback", name)

    @property
    def fallbacks(self) -> dict[str, str]:
        """The baseline serving each task that falls back to one ("nurture", "discovery",
        "cart")."""
        named = {"nurture": self.nurture_fallback, "discovery": self.discovery_fallback,
                 "cart": self.cart_fallback}
        return {task: name for task, name in named.items() if name}

    def to_json(self) -> str:
        return json.dumps(asdict(self), sort_keys=True)

    @classmethod
    def from_json(cls, raw: str) -> Config:
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in json.loads(raw).items() if k in known})

    @property
    def strategy(self) -> str:
        """A short name: the personal model and the neighbours, e.g. "als+copurchase", the
        customer neighbours blended and the learned repeats ("als+copurchase+tifu, repeats
        learned"), the carts' neighbours when they differ ("als+copurchase, carts bm25") and
        the baselines tasks fall back to ("als+copurchase; discovery: popularity")."""
        name = f"{self.cf}+{self.neighbours}"
        if self.uses_customers:
            name = f"{name}+{self.customers}"
        if self.repeat_model:
            name = f"{name}, repeats learned"
        if self.cart_kind != self.neighbours:
            name = f"{name}, carts {self.cart_kind}"
        return "; ".join([name, *(f"{task}: {baseline}"
                                  for task, baseline in self.fallbacks.items())])

    @property
    def cart_kind(self) -> str:
        """The item neighbours that complete carts."""
        return self.cart_neighbours_kind or self.neighbours

    @property
    def uses_customers(self) -> bool:
        """Whether a blend weighs customer neighbours (then the model fits them)."""
        return bool(self.customers) and bool(self.nurture_customers or self.discovery_customers)

    def customer_neighbours(self) -> CustomerNeighbours:
        """An unfitted customer neighbours model of this config (`customers` set)."""
        return pick(CUSTOMERS, "customers", self.customers)(self)

    def taste(self) -> PersonalTaste:
        """An unfitted personal taste model of this config."""
        return TASTES[self.cf](self)

    def item_neighbours(self, kind: str | None = None) -> ItemNeighbours:
        """An unfitted item neighbours model of this config (or of `kind`)."""
        return NEIGHBOURS[kind or self.neighbours]()
