"""The generated assortment: priced products built from the catalog specs, their Zipf-like
popularity, and the weighted pickers that customers' tastes and baskets draw from."""

from __future__ import annotations

import bisect
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import numpy as np

from plugin.demo.artwork import render_product_svg, slugify
from plugin.demo.catalog import CATEGORY_SHARE, SPECS, DemoProduct, catalog_entries

FIRST_PRODUCT_ID = 7001


def cents_to_str(cents: int) -> str:
    return f"{cents // 100}.{cents % 100:02d}"


def _shop_price_cents(amount: float, ending_roll: float) -> int:
    """A shop-looking price: 12.90, 7.50, 59.00 ... between 3.00 and 150.00."""
    endings = (90, 50, 95, 0) if amount < 40 else (0, 90)
    ending = endings[int(ending_roll * len(endings))]
    cents = int(amount) * 100 + ending
    return min(max(cents, 300), 15_000)


@dataclass(frozen=True)
class Item:
    product: DemoProduct
    group: str
    cycle_days: int | None


def build_items(rng: np.random.Generator, n_products: int) -> list[Item]:
    base = {spec: rng.uniform(*spec.price_range) for spec in SPECS}
    items = []
    for index, (spec, title) in enumerate(catalog_entries()[:n_products]):
        low, high = spec.price_range
        amount = float(np.clip(base[spec] * rng.uniform(0.9, 1.1), low, high))
        cents = _shop_price_cents(amount, float(rng.random()))
        product = DemoProduct(
            product_id=str(FIRST_PRODUCT_ID + index),
            title=title,
            handle=slugify(title),
            category=spec.category,
            price=cents_to_str(cents),
            image_svg=render_product_svg(title, spec.category),
        )
        items.append(Item(product, spec.group, spec.cycle_days))
    return items


def popularity(rng: np.random.Generator, n_items: int) -> np.ndarray:
    """Zipf-like weights over a random ranking; the always-together pair ranks near the top."""
    ranks = rng.permutation(n_items)
    for item, target_rank in ((0, 2), (1, 5)):
        if target_rank < n_items:
            other = int(np.flatnonzero(ranks == target_rank)[0])
            ranks[item], ranks[other] = ranks[other], ranks[item]
    weights: np.ndarray = 1.0 / (ranks + 1.0) ** 1.05
    return weights


class Picker:
    """Weighted choice of one of ``keys`` from a uniform number in [0, 1)."""

    def __init__(self, keys: list[Any], weights: list[float]) -> None:
        self.keys = keys
        total = float(sum(weights))
        running = 0.0
        self.cumulative: list[float] = []
        for weight in weights:
            running += weight / total
            self.cumulative.append(running)

    def pick(self, u: float) -> Any:
        index = bisect.bisect_right(self.cumulative, u)
        return self.keys[min(index, len(self.keys) - 1)]


class Catalog:
    """Products plus the weighted pickers the basket builders draw from."""

    def __init__(self, items: list[Item], weights: np.ndarray) -> None:
        self.items = items
        self.weights = [float(w) for w in weights]
        self.categories = sorted({item.product.category for item in items})
        self.category_picker = Picker(
            self.categories, [CATEGORY_SHARE.get(c, 0.05) for c in self.categories]
        )
        self.everything = self._picker(range(len(items)))
        self.by_group = {
            group: self._picker(i for i, item in enumerate(items) if item.group == group)
            for group in {item.group for item in items}
        }
        self.by_category = {
            category: self._picker(
                i for i, item in enumerate(items) if item.product.category == category
            )
            for category in self.categories
        }
        self.group_pickers = {c: self._group_picker(c) for c in self.categories}
        self.staples = {
            category: self._picker(
                i
                for i, item in enumerate(items)
                if item.product.category == category and item.cycle_days
            )
            for category in self.categories
        }

    def _picker(self, indices: Iterable[int]) -> Picker | None:
        keys = list(indices)
        return Picker(keys, [self.weights[i] for i in keys]) if keys else None

    def _group_picker(self, category: str) -> Picker:
        mass: dict[str, float] = {}
        for item, weight in zip(self.items, self.weights, strict=True):
            if item.product.category == category:
                mass[item.group] = mass.get(item.group, 0.0) + weight
        groups = sorted(mass)
        return Picker(groups, [mass[g] ** 0.6 for g in groups])

    def sibling_staple(self, index: int, u: float) -> int:
        """Another consumable of the same group (a different bean origin, soap scent...)."""
        item = self.items[index]
        candidates = [
            i
            for i, other in enumerate(self.items)
            if other.group == item.group and other.cycle_days and i != index
        ]
        return candidates[int(u * len(candidates))] if candidates else index
