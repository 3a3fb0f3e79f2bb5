"""A deterministic synthetic online store (catalog + order history) to demo the recommender.

Everything here is a pure function of its arguments: no I/O, no global state, and a given
``seed`` (with an explicit ``end``) always produces exactly the same store.

The store is built to have structure a recommender can learn:

* seven categories with distinct price ranges and a long-tailed (Zipf-like) popularity;
* complement groups (dripper + filters + beans, teapot + loose tea + infuser, ...) that
  baskets are mostly drawn from;
* one pair of products (the pour-over dripper and its paper filters) that are almost always
  bought together;
* returning customers with a stable taste profile, and consumables re-bought on a cycle;
* mild seasonality (November/December peak), a weekly and a daily rhythm.
"""

from __future__ import annotations

import bisect
import calendar
import functools
import html
import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import numpy as np

SHOP_DOMAIN = "demo-store.myshopify.com"
CURRENCY = "EUR"
FIRST_PRODUCT_ID = 7001
ORDER_ID_BASE = 5_100_000_000_000
CUSTOMER_ID_BASE = 6_200_000_000_000
LINE_ITEM_ID_BASE = 14_300_000_000_000
FIRST_ORDER_NUMBER = 1001
CATALOG_CREATED_AT = "2024-01-15T09:00:00+01:00"
SVG_MAX_BYTES = 1500

GUEST_SHARE = 0.03
CUSTOMERS_PER_ORDER = 0.42
RETURNING_SHARE = 0.42
CANCELLED_SHARE = 0.01
PAIR_COMPLETION = 0.98
SECONDS_PER_HOUR = 3600
SECONDS_PER_DAY = 86_400


# --------------------------------------------------------------------------- public types


@dataclass(frozen=True)
class DemoProduct:
    product_id: str
    title: str
    handle: str
    category: str
    price: str
    image_svg: str


@dataclass(frozen=True)
class DemoStore:
    shop_domain: str
    currency: str
    products: list[DemoProduct]
    orders: list[dict[str, Any]]
    always_together: tuple[str, str]


# --------------------------------------------------------------------------- the catalog


@dataclass(frozen=True)
class _Spec:
    """One kind of product; ``{v}`` in the template is replaced by each variant."""

    group: str
    category: str
    template: str
    price_range: tuple[float, float]
    variants: tuple[str, ...] = ()
    cycle_days: int | None = None  # consumables re-bought roughly every this many days

    def titles(self) -> list[str]:
        if not self.variants:
            return [self.template]
        return [self.template.format(v=variant) for variant in self.variants]


def _spec(
    group: str,
    category: str,
    template: str,
    low: float,
    high: float,
    variants: tuple[str, ...] = (),
    cycle: int | None = None,
) -> _Spec:
    return _Spec(group, category, template, (low, high), variants, cycle)


# fmt: off
_COFFEE, _TEA, _KITCHEN = "Coffee", "Tea", "Kitchen"
_OUTDOOR, _STATIONERY, _BATH, _HOME = "Outdoor", "Stationery", "Bath", "Home"

_SPECS: tuple[_Spec, ...] = (
    # Coffee: pour-over
    _spec("pour-over", _COFFEE, "Ceramic Pour-Over Coffee Dripper", 19, 32),
    _spec("pour-over", _COFFEE, "Paper Filters for Pour-Over Dripper (100 pcs)", 4, 7),
    _spec(
        "pour-over", _COFFEE, "{v} Coffee Beans 250 g", 9, 17,
        ("Ethiopia Yirgacheffe", "Colombia Huila", "Kenya AA", "Guatemala Antigua",
         "Costa Rica Tarrazu", "Rwanda Nyamasheke", "Decaf Swiss Water", "Breakfast Blend"),
        cycle=24,
    ),
    _spec("pour-over", _COFFEE, "{v} Gooseneck Kettle", 45, 89,
          ("Matte Black", "Brushed Steel", "Copper")),
    _spec("pour-over", _COFFEE, "Digital Coffee Scale with Timer", 25, 45),
    _spec("pour-over", _COFFEE, "Glass Coffee Server {v}", 22, 34, ("400 ml", "600 ml")),
    _spec("pour-over", _COFFEE, "Hand Burr Coffee Grinder", 39, 69),
    _spec("pour-over", _COFFEE, "Electric Burr Coffee Grinder", 99, 149),
    # Coffee: espresso
    _spec("espresso", _COFFEE, "Stovetop Espresso Maker {v}", 25, 45, ("3-Cup", "6-Cup")),
    _spec("espresso", _COFFEE, "{v} Espresso Beans 500 g", 14, 22,
          ("Classic Italian", "Dark Roast", "Brazil Cerrado"), cycle=28),
    _spec("espresso", _COFFEE, "Stainless Milk Frothing Pitcher", 12, 19),
    _spec("espresso", _COFFEE, "Porcelain Espresso Cups Set of 2", 16, 26),
    _spec("espresso", _COFFEE, "Walnut Espresso Tamper", 19, 34),
    # Tea: loose leaf
    _spec("loose-leaf", _TEA, "{v} Loose Leaf Tea 100 g", 6, 16,
          ("Darjeeling First Flush", "Assam Breakfast", "Earl Grey", "Japanese Sencha",
           "Jasmine Green", "Milk Oolong", "Rooibos Vanilla", "Chamomile Blossom",
           "Moroccan Mint", "Lapsang Souchong"),
          cycle=35),
    _spec("loose-leaf", _TEA, "{v} Cast Iron Teapot 0.8 l", 35, 65,
          ("Black", "Jade Green", "Red")),
    _spec("loose-leaf", _TEA, "Stainless Steel Tea Infuser {v}", 5, 12, ("Ball", "Basket")),
    _spec("loose-leaf", _TEA, "Wool Tea Cozy", 18, 28),
    _spec("loose-leaf", _TEA, "Double-Wall Glass Tea Cups Set of 4", 19, 32),
    _spec("loose-leaf", _TEA, "Tea Tin with Airtight Lid", 9, 15),
    # Tea: matcha
    _spec("matcha", _TEA, "Ceremonial {v} Matcha 30 g", 18, 32, ("Uji", "Kagoshima"), cycle=30),
    _spec("matcha", _TEA, "Bamboo Matcha Whisk", 12, 22),
    _spec("matcha", _TEA, "{v} Ceramic Matcha Bowl", 22, 40, ("Celadon", "Black Raku")),
    _spec("matcha", _TEA, "Matcha Whisk Holder", 8, 12),
    _spec("matcha", _TEA, "Bamboo Matcha Scoop", 5, 8),
    # Kitchen: baking
    _spec("baking", _KITCHEN, "{v} Sourdough Proofing Basket", 14, 22, ("Round", "Oval")),
    _spec("baking", _KITCHEN, "Stoneground {v} Flour 1 kg", 3, 6, ("Rye", "Spelt", "Wheat"),
          cycle=21),
    _spec("baking", _KITCHEN, "Bread Lame Scoring Tool", 9, 14),
    _spec("baking", _KITCHEN, "Enamelled Cast Iron Dutch Oven {v}", 59, 129, ("4 l", "6 l")),
    _spec("baking", _KITCHEN, "Stainless Dough Scraper", 4, 8),
    # Kitchen: knives
    _spec("knives", _KITCHEN, "Damascus Chef's Knife 20 cm", 69, 139),
    _spec("knives", _KITCHEN, "{v} End-Grain Cutting Board", 39, 89, ("Walnut", "Oak")),
    _spec("knives", _KITCHEN, "Whetstone 1000/6000", 25, 45),
    _spec("knives", _KITCHEN, "Waxed Canvas Knife Roll", 35, 59),
    _spec("knives", _KITCHEN, "Food-Safe Board Oil 250 ml", 8, 12, cycle=60),
    # Kitchen: spices
    _spec("spices", _KITCHEN, "Salt & Pepper Mill Set ({v})", 24, 49, ("Beech", "Walnut")),
    _spec("spices", _KITCHEN, "Flaky Sea Salt 250 g", 5, 8, cycle=45),
    _spec("spices", _KITCHEN, "Tellicherry Black Pepper 100 g", 6, 9, cycle=50),
    _spec("spices", _KITCHEN, "Glass Spice Jar Set of 6", 19, 29),
    _spec("spices", _KITCHEN, "{v} Mortar & Pestle", 25, 45, ("Granite", "Marble")),
    # Outdoor: camping
    _spec("camping", _OUTDOOR, "Insulated Water Bottle {v}", 22, 39, ("500 ml", "750 ml", "1 l")),
    _spec("camping", _OUTDOOR, "Titanium Camping Mug 450 ml", 19, 29),
    _spec("camping", _OUTDOOR, "Compact Camping Stove", 39, 69),
    _spec("camping", _OUTDOOR, "Stove Fuel Canister 230 g", 5, 8, cycle=40),
    _spec("camping", _OUTDOOR, "Rechargeable Headlamp 350 lm", 25, 45),
    _spec("camping", _OUTDOOR, "Ultralight Camp Cookset", 35, 59),
    _spec("camping", _OUTDOOR, "Wool Hiking Socks ({v})", 14, 22, ("Grey", "Forest")),
    # Outdoor: garden
    _spec("garden", _OUTDOOR, "Organic {v} Seeds", 3, 5,
          ("Basil", "Thyme", "Coriander", "Chilli", "Tomato")),
    _spec("garden", _OUTDOOR, "Terracotta Planter {v}", 8, 29, ("12 cm", "18 cm", "24 cm")),
    _spec("garden", _OUTDOOR, "Copper Watering Can", 39, 69),
    _spec("garden", _OUTDOOR, "Garden Pruning Shears", 19, 39),
    _spec("garden", _OUTDOOR, "Peat-Free Potting Soil 10 l", 6, 9, cycle=45),
    _spec("garden", _OUTDOOR, "Gardening Gloves", 12, 18),
    # Stationery: journaling
    _spec("journaling", _STATIONERY, "Dot Grid Notebook A5 ({v})", 14, 24,
          ("Black", "Sage", "Terracotta", "Navy"), cycle=50),
    _spec("journaling", _STATIONERY, "{v} Nib Fountain Pen", 25, 69, ("Fine", "Medium")),
    _spec("journaling", _STATIONERY, "Fountain Pen Ink 50 ml ({v})", 8, 15,
          ("Blue Black", "Sepia", "Forest Green"), cycle=45),
    _spec("journaling", _STATIONERY, "Washi Tape Set of 5", 6, 10),
    _spec("journaling", _STATIONERY, "Brass Bookmark", 7, 12),
    _spec("journaling", _STATIONERY, "Leather Notebook Cover A5", 35, 59),
    # Stationery: desk
    _spec("desk", _STATIONERY, "Walnut Desk Organizer", 29, 49),
    _spec("desk", _STATIONERY, "Undated Weekly Desk Planner", 12, 18),
    _spec("desk", _STATIONERY, "Gel Pens Pack of 5", 5, 9, cycle=40),
    _spec("desk", _STATIONERY, "Brass Paper Clips (100 pcs)", 3, 6),
    _spec("desk", _STATIONERY, "Graphite Pencil Set of 12", 6, 12),
    _spec("desk", _STATIONERY, "Brass Pencil Sharpener", 5, 9),
    # Bath: bath
    _spec("bath", _BATH, "Handmade Olive Oil Soap ({v})", 4, 8,
          ("Lavender", "Rosemary", "Oatmeal", "Unscented"), cycle=30),
    _spec("bath", _BATH, "Wooden Soap Dish", 6, 10),
    _spec("bath", _BATH, "Linen Bath Towel ({v})", 29, 49, ("Natural", "Stone", "Sage")),
    _spec("bath", _BATH, "Dead Sea Bath Salts 500 g ({v})", 9, 16, ("Eucalyptus", "Lavender"),
          cycle=35),
    _spec("bath", _BATH, "Sisal Body Brush", 9, 14),
    # Bath: shaving
    _spec("shaving", _BATH, "Chrome Safety Razor", 25, 45),
    _spec("shaving", _BATH, "Double-Edge Razor Blades (10 pcs)", 4, 7, cycle=30),
    _spec("shaving", _BATH, "{v} Shaving Soap", 9, 14, ("Sandalwood", "Vetiver"), cycle=45),
    _spec("shaving", _BATH, "Badger Hair Shaving Brush", 29, 59),
    _spec("shaving", _BATH, "Alum Block Aftershave", 7, 11),
    # Home: candles
    _spec("candles", _HOME, "Soy Wax Candle ({v})", 14, 29,
          ("Cedar & Smoke", "Fig Leaf", "Sea Salt", "Orange Blossom"), cycle=40),
    _spec("candles", _HOME, "Brass Candle Snuffer", 12, 19),
    _spec("candles", _HOME, "Long Safety Matches in Glass Jar", 5, 8),
    _spec("candles", _HOME, "Ceramic Incense Holder", 9, 14),
    _spec("candles", _HOME, "Incense Sticks ({v})", 6, 10, ("Sandalwood", "Hinoki"), cycle=35),
    # Home: textiles
    _spec("textiles", _HOME, "Linen Cushion Cover ({v})", 19, 29, ("Natural", "Rust", "Olive")),
    _spec("textiles", _HOME, "Merino Wool Throw Blanket", 79, 139),
    _spec("textiles", _HOME, "Cotton Table Runner", 19, 29),
    _spec("textiles", _HOME, "Waffle Linen Tea Towels Set of 2", 14, 19),
)

_CATEGORY_SHARE: dict[str, float] = {
    _COFFEE: 0.26, _TEA: 0.19, _KITCHEN: 0.16, _HOME: 0.12,
    _BATH: 0.11, _STATIONERY: 0.09, _OUTDOOR: 0.07,
}

# background, foreground, shape (drawn in the foreground colour, centred at 200,170)
_CATEGORY_STYLE: dict[str, tuple[str, str, str]] = {
    _COFFEE: ("#6F4E37", "#F5E6D3",
              '<path d="M130 110h120v90a60 60 0 0 1-120 0z"/>'
              '<circle cx="262" cy="160" r="26" fill="none" stroke="{fg}" stroke-width="12"/>'),
    _TEA: ("#5B7F4A", "#EEF5E2", '<ellipse cx="200" cy="175" rx="85" ry="65"/>'
           '<rect x="180" y="88" width="40" height="26" rx="8"/>'),
    _KITCHEN: ("#B5523B", "#FBEDE7", '<rect x="120" y="95" width="160" height="150" rx="24"/>'),
    _OUTDOOR: ("#2F5D62", "#E3F1EF", '<polygon points="200,80 300,250 100,250"/>'),
    _STATIONERY: ("#3D4E81", "#E8ECF8",
                  '<rect x="135" y="85" width="130" height="165" rx="6"/>'),
    _BATH: ("#4F7F94", "#F4FAFC", '<circle cx="200" cy="170" r="78"/>'),
    _HOME: ("#8E5572", "#F8EAF1", '<polygon points="200,80 290,160 260,250 140,250 110,160"/>'),
}
_DEFAULT_STYLE = ("#555555", "#F2F2F2", '<circle cx="200" cy="170" r="70"/>')

_FIRST_NAMES = (
    "Anna", "Ben", "Clara", "David", "Elena", "Felix", "Greta", "Hugo", "Ines", "Jonas",
    "Katrin", "Lukas", "Marie", "Noah", "Olivia", "Paul", "Quentin", "Rosa", "Sofia", "Tim",
    "Ulla", "Victor", "Wiebke", "Xavier", "Yara", "Zoe", "Lea", "Matteo", "Nina", "Emil",
)
_LAST_NAMES = (
    "Müller", "Schmidt", "Dubois", "Rossi", "Jansen", "Novak", "García", "Fischer", "Weber",
    "Martin", "Bianchi", "de Vries", "Kowalski", "Lambert", "Becker", "Moreau", "Costa",
    "Hoffmann", "Lindqvist", "Peeters", "Schulz", "Ferrari", "Bernard", "Keller", "Horvat",
)
# fmt: on


# --------------------------------------------------------------------------- small helpers


def slugify(title: str) -> str:
    """A Shopify-style handle: lowercase ASCII words joined by dashes."""
    ascii_title = unicodedata.normalize("NFKD", title).encode("ascii", "ignore").decode()
    return re.sub(r"[^a-z0-9]+", "-", ascii_title.lower()).strip("-")


def _cents_to_str(cents: int) -> str:
    return f"{cents // 100}.{cents % 100:02d}"


def _shop_price_cents(amount: float, ending_roll: float) -> int:
    """A shop-looking price: 12.90, 7.50, 59.00 ... between 3.00 and 150.00."""
    endings = (90, 50, 95, 0) if amount < 40 else (0, 90)
    ending = endings[int(ending_roll * len(endings))]
    cents = int(amount) * 100 + ending
    return min(max(cents, 300), 15_000)


_SIZE = re.compile(r"\s+(\d[\d.,/]*\s*(?:g|kg|ml|l|cm|lm|pcs))\b")
_DANGLING = frozenset({"&", "and", "of", "with", "for", "in"})


def _short_name_lines(title: str, width: int = 20) -> list[str]:
    """At most two short lines naming the product; a (variant) or a size goes on line 2."""
    variant = re.search(r"\(([^()\d]+)\)", title)
    size = _SIZE.search(title)
    words = _SIZE.sub("", re.sub(r"\s*\(.*?\)", "", title)).split() or [title]
    if variant:
        return [_last_words(words, width), variant.group(1).strip()[:width]]
    lines = _wrap(words, width)
    if size and len(lines) == 1:
        return [lines[0][:width], size.group(1)]
    while len(words) > 1 and len(lines) > 2:
        words = words[1:]
        lines = _wrap(words, width)
    return [line[:width] for line in lines[:2]]


def _last_words(words: list[str], width: int) -> str:
    """The longest tail of ``words`` that fits ``width`` (the noun is at the end)."""
    for start in range(len(words)):
        tail = " ".join(words[start:])
        if len(tail) <= width and words[start].lower() not in _DANGLING:
            return tail
    return words[-1][:width]


def _wrap(words: list[str], width: int) -> list[str]:
    lines: list[str] = []
    for word in words:
        if lines and len(lines[-1]) + 1 + len(word) <= width:
            lines[-1] += " " + word
        else:
            lines.append(word)
    return lines


def render_product_svg(title: str, category: str) -> str:
    """A small self-contained SVG tile: category colour, a simple shape, the short name."""
    background, foreground, shape = _CATEGORY_STYLE.get(category, _DEFAULT_STYLE)
    label = html.escape(title[:80], quote=True)
    text = "".join(
        f'<text x="200" y="{y}">{html.escape(line, quote=False)}</text>'
        for y, line in zip((312, 350), _short_name_lines(title), strict=False)
    )
    return (
        '<svg xmlns="http://www.w3.org/2000/svg" width="400" height="400" '
        f'viewBox="0 0 400 400" role="img" aria-label="{label}">'
        f'<rect width="400" height="400" fill="{background}"/>'
        f'<g fill="{foreground}">{shape.replace("{fg}", foreground)}</g>'
        f'<g fill="{foreground}" font-family="Helvetica,Arial,sans-serif" font-size="28" '
        f'font-weight="600" text-anchor="middle">{text}</g></svg>'
    )


# --------------------------------------------------------------------------- catalog build


@dataclass(frozen=True)
class _Item:
    product: DemoProduct
    group: str
    cycle_days: int | None


def _catalog_entries() -> list[tuple[_Spec, str]]:
    """Every (spec, title), interleaved so that the first N cover as many groups as possible."""
    per_spec = [spec.titles() for spec in _SPECS]
    depth = max(len(titles) for titles in per_spec)
    return [
        (spec, titles[level])
        for level in range(depth)
        for spec, titles in zip(_SPECS, per_spec, strict=True)
        if level < len(titles)
    ]


def catalog_size() -> int:
    """The largest ``n_products`` that ``generate_store`` accepts."""
    return len(_catalog_entries())


def _build_items(rng: np.random.Generator, n_products: int) -> list[_Item]:
    base = {spec: rng.uniform(*spec.price_range) for spec in _SPECS}
    items = []
    for index, (spec, title) in enumerate(_catalog_entries()[:n_products]):
        low, high = spec.price_range
        amount = float(np.clip(base[spec] * rng.uniform(0.9, 1.1), low, high))
        cents = _shop_price_cents(amount, float(rng.random()))
        product = DemoProduct(
            product_id=str(FIRST_PRODUCT_ID + index),
            title=title,
            handle=slugify(title),
            category=spec.category,
            price=_cents_to_str(cents),
            image_svg=render_product_svg(title, spec.category),
        )
        items.append(_Item(product, spec.group, spec.cycle_days))
    return items


def _popularity(rng: np.random.Generator, n_items: int) -> np.ndarray:
    """Zipf-like weights over a random ranking; the always-together pair ranks near the top."""
    ranks = rng.permutation(n_items)
    for item, target_rank in ((0, 2), (1, 5)):
        if target_rank < n_items:
            other = int(np.flatnonzero(ranks == target_rank)[0])
            ranks[item], ranks[other] = ranks[other], ranks[item]
    weights: np.ndarray = 1.0 / (ranks + 1.0) ** 1.05
    return weights


class _Picker:
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


class _Catalog:
    """Products plus the weighted pickers the basket builders draw from."""

    def __init__(self, items: list[_Item], weights: np.ndarray) -> None:
        self.items = items
        self.weights = [float(w) for w in weights]
        self.categories = sorted({item.product.category for item in items})
        self.category_picker = _Picker(
            self.categories, [_CATEGORY_SHARE.get(c, 0.05) for c in self.categories]
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

    def _picker(self, indices: Iterable[int]) -> _Picker | None:
        keys = list(indices)
        return _Picker(keys, [self.weights[i] for i in keys]) if keys else None

    def _group_picker(self, category: str) -> _Picker:
        mass: dict[str, float] = {}
        for item, weight in zip(self.items, self.weights, strict=True):
            if item.product.category == category:
                mass[item.group] = mass.get(item.group, 0.0) + weight
        groups = sorted(mass)
        return _Picker(groups, [mass[g] ** 0.6 for g in groups])

    def sibling_staple(self, index: int, u: float) -> int:
        """Another consumable of the same group (a different bean origin, soap scent...)."""
        item = self.items[index]
        candidates = [
            i
            for i, other in enumerate(self.items)
            if other.group == item.group and other.cycle_days and i != index
        ]
        return candidates[int(u * len(candidates))] if candidates else index


# --------------------------------------------------------------------------- time


def _months_before(moment: datetime, months: int) -> datetime:
    year, month = divmod(moment.year * 12 + moment.month - 1 - months, 12)
    day = min(moment.day, calendar.monthrange(year, month + 1)[1])
    return moment.replace(year=year, month=month + 1, day=day)


def _default_end() -> datetime:
    return datetime.now(UTC).replace(minute=0, second=0, microsecond=0)


def _as_utc(moment: datetime) -> datetime:
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


@functools.lru_cache(maxsize=64)
def _summer_time(year: int) -> tuple[int, int]:
    """EU summer time for ``year`` as epoch seconds: last Sunday of March/October, 01:00 UTC."""

    def last_sunday(month: int) -> int:
        last_day = datetime(year, month, 31, 1, tzinfo=UTC)
        return int((last_day - timedelta(days=(last_day.weekday() + 1) % 7)).timestamp())

    return last_sunday(3), last_sunday(10)


def _local_iso(epoch: int) -> str:
    """Shop-local (Central European) time with its offset, e.g. 2025-03-04T10:15:00+01:00."""
    moment = datetime.fromtimestamp(epoch, UTC)
    summer_start, summer_end = _summer_time(moment.year)
    offset = 2 if summer_start <= epoch < summer_end else 1
    return moment.astimezone(timezone(timedelta(hours=offset))).isoformat(timespec="seconds")


# fmt: off
_MONTH_FACTOR = np.array([0.85, 0.85, 0.95, 0.95, 0.95, 0.9, 0.85, 0.85, 1.0, 1.05, 1.4, 1.55])
_WEEKDAY_FACTOR = np.array([1.05, 1.0, 1.0, 1.0, 0.95, 0.85, 1.15])  # Monday first
_HOUR_FACTOR = np.array(
    [0.25, 0.15, 0.1, 0.08, 0.08, 0.12, 0.3, 0.55, 0.8, 0.95, 1.0, 1.05,
     1.2, 1.15, 1.0, 0.95, 0.95, 1.0, 1.15, 1.35, 1.5, 1.45, 1.1, 0.6]
)
# fmt: on


def _hourly_intensity(start: datetime, n_hours: int) -> np.ndarray:
    """Relative order rate of each hour: season x weekday x time of day x slow growth."""
    hours = np.datetime64(start.replace(tzinfo=None), "h") + np.arange(n_hours)
    local = hours + np.timedelta64(1, "h")
    month = local.astype("datetime64[M]").astype(np.int64) % 12
    days = local.astype("datetime64[D]")
    day_of_month = (days - local.astype("datetime64[M]").astype("datetime64[D]")).astype(np.int64)
    weekday = (days.astype(np.int64) + 3) % 7
    hour = local.astype(np.int64) % 24
    holidays = np.where((month == 11) & (day_of_month >= 23), 0.55, 1.0)
    black_friday = np.where((month == 10) & (day_of_month >= 23), 1.3, 1.0)
    growth = 0.85 + 0.3 * np.arange(n_hours) / max(n_hours, 1)
    intensity: np.ndarray = (
        _MONTH_FACTOR[month]
        * _WEEKDAY_FACTOR[weekday]
        * _HOUR_FACTOR[hour]
        * holidays
        * black_friday
        * growth
    )
    return intensity


class _Clock:
    """Draws order times (epoch seconds) in [start, end) following the hourly intensity."""

    def __init__(self, rng: np.random.Generator, start: datetime, end: datetime) -> None:
        self.rng = rng
        self.start = int(start.timestamp())
        self.end = int(end.timestamp())
        n_hours = max((self.end - self.start) // SECONDS_PER_HOUR, 1)
        cumulative = np.cumsum(_hourly_intensity(start, n_hours))
        self.cumulative = cumulative / cumulative[-1]

    @property
    def span(self) -> int:
        return self.end - self.start

    def draw(self, count: int) -> list[int]:
        """``count`` sorted times following the intensity."""
        return self.at_quantiles(self.rng.random(count))

    def at_quantiles(self, quantiles: np.ndarray) -> list[int]:
        """Sorted times at the given quantiles of the intensity (a random second in the hour)."""
        last_hour = len(self.cumulative) - 1
        hours = np.minimum(np.searchsorted(self.cumulative, quantiles, side="right"), last_hour)
        seconds = self.rng.integers(0, SECONDS_PER_HOUR, len(hours))
        times = self.start + hours * SECONDS_PER_HOUR + seconds
        return sorted(int(t) for t in np.minimum(times, self.end - 1))


# --------------------------------------------------------------------------- customers


@dataclass(frozen=True)
class _Customer:
    first_name: str
    last_name: str
    category_picker: _Picker
    favourite_groups: dict[str, str]
    n_orders: int
    staple: int | None  # a consumable re-bought on a cycle, for subscriber-like customers


def _order_counts(rng: np.random.Generator, n_customers: int, n_orders: int) -> list[int]:
    """Orders per customer: everyone one, ~40% come back, a few come back very often."""
    extra = n_orders - n_customers
    n_returning = min(max(round(n_customers * RETURNING_SHARE), 1), extra, n_customers)
    counts = np.ones(n_customers, dtype=np.int64)
    if n_returning <= 0:
        return [int(c) for c in counts]
    returning = rng.choice(n_customers, size=n_returning, replace=False)
    appetite = np.minimum(rng.lognormal(0.0, 1.1, n_returning), 20.0)
    counts[returning] += 1 + rng.multinomial(extra - n_returning, appetite / appetite.sum())
    return [int(c) for c in counts]


def _taste(rng: np.random.Generator, catalog: _Catalog) -> tuple[_Picker, dict[str, str]]:
    """One or two preferred categories (plus a little of everything) and a favourite group each."""
    first = catalog.category_picker.pick(float(rng.random()))
    preferred = [first]
    if rng.random() < 0.45:
        second = catalog.category_picker.pick(float(rng.random()))
        if second != first:
            preferred.append(second)
    share = {category: 0.12 / len(catalog.categories) for category in catalog.categories}
    weights = (0.88,) if len(preferred) == 1 else (0.62, 0.26)
    for category, weight in zip(preferred, weights, strict=True):
        share[category] += weight
    favourites = {
        category: catalog.group_pickers[category].pick(float(rng.random()))
        for category in preferred
    }
    keys = list(share)
    return _Picker(keys, [share[k] for k in keys]), favourites


def _make_customer(rng: np.random.Generator, catalog: _Catalog, n_orders: int) -> _Customer:
    category_picker, favourites = _taste(rng, catalog)
    staple = None
    subscribe_chance = 0.0 if n_orders < 2 else (0.75 if n_orders >= 4 else 0.45)
    if rng.random() < subscribe_chance:
        main_category = next(iter(favourites))
        picker = catalog.staples.get(main_category)
        staple = picker.pick(float(rng.random())) if picker else None
    return _Customer(
        first_name=_FIRST_NAMES[int(rng.integers(len(_FIRST_NAMES)))],
        last_name=_LAST_NAMES[int(rng.integers(len(_LAST_NAMES)))],
        category_picker=category_picker,
        favourite_groups=favourites,
        n_orders=n_orders,
        staple=staple,
    )


def _cycle_times(
    rng: np.random.Generator, clock: _Clock, n_orders: int, cycle_days: int
) -> list[int]:
    """Re-buys every ``cycle_days`` (+-15%) of average shop time.

    The cycle is laid out in "intensity time", so it follows the seasons. A short run sits at
    a random place in the span; a run longer than half the span wraps around it (reading as
    a customer who paused for a while) so long runs do not pile up in the middle of the span.
    """
    step = cycle_days * SECONDS_PER_DAY * rng.uniform(0.9, 1.2) / max(clock.span, 1)
    step = min(step, 1.0 / n_orders)
    length = step * (n_orders - 1)
    room = 1.0 - length if length <= 0.5 else 1.0
    jitter = rng.uniform(-0.15, 0.15, n_orders) * step
    jitter[0] = abs(jitter[0])
    quantiles = (rng.random() * room + np.arange(n_orders) * step + jitter) % 1.0
    return clock.at_quantiles(quantiles)


def _customer_times(
    rng: np.random.Generator, clock: _Clock, customer: _Customer, catalog: _Catalog
) -> list[int]:
    if customer.staple is not None and customer.n_orders > 1:
        cycle_days = catalog.items[customer.staple].cycle_days or 30
        return _cycle_times(rng, clock, customer.n_orders, cycle_days)
    return clock.draw(customer.n_orders)


# --------------------------------------------------------------------------- baskets

_BASKET_SIZE = _Picker([1, 2, 3, 4, 5], [0.40, 0.28, 0.17, 0.09, 0.06])


def _quantity(rng: np.random.Generator, consumable: bool) -> int:
    u = float(rng.random())
    if consumable:
        return 1 if u < 0.7 else (2 if u < 0.92 else 3)
    return 1 if u < 0.93 else (2 if u < 0.985 else 3)


def _anchor_group(rng: np.random.Generator, catalog: _Catalog, customer: _Customer | None) -> str:
    if customer is None:
        category = catalog.category_picker.pick(float(rng.random()))
        return str(catalog.group_pickers[category].pick(float(rng.random())))
    category = customer.category_picker.pick(float(rng.random()))
    favourite = customer.favourite_groups.get(category)
    if favourite is not None and rng.random() < 0.6:
        return favourite
    return str(catalog.group_pickers[category].pick(float(rng.random())))


def _companion(rng: np.random.Generator, catalog: _Catalog, group: str) -> int:
    """Another item: mostly from the same complement group, sometimes the category, or noise."""
    u = float(rng.random())
    picker = catalog.by_group[group]
    assert picker is not None
    if u >= 0.68:
        category = catalog.items[picker.keys[0]].product.category
        picker = catalog.by_category[category] if u < 0.88 else catalog.everything
        assert picker is not None
    return int(picker.pick(float(rng.random())))


def _browse_basket(
    rng: np.random.Generator, catalog: _Catalog, customer: _Customer | None
) -> list[int]:
    group = _anchor_group(rng, catalog, customer)
    picker = catalog.by_group[group]
    assert picker is not None
    basket = [int(picker.pick(float(rng.random())))]
    size = int(_BASKET_SIZE.pick(float(rng.random())))
    for _ in range(3 * size):
        if len(basket) >= size:
            break
        candidate = _companion(rng, catalog, group)
        if candidate not in basket:
            basket.append(candidate)
    return basket


def _restock_basket(rng: np.random.Generator, catalog: _Catalog, customer: _Customer) -> list[int]:
    """The customer's consumable again (sometimes a sibling variant), maybe with one extra."""
    assert customer.staple is not None
    staple = customer.staple
    if rng.random() < 0.1:
        staple = catalog.sibling_staple(staple, float(rng.random()))
    basket = [staple]
    if rng.random() < 0.3:
        extra = _companion(rng, catalog, catalog.items[staple].group)
        if extra != staple:
            basket.append(extra)
    return basket


def _complete_pair(rng: np.random.Generator, basket: list[int]) -> list[int]:
    """Items 0 and 1 (dripper and filters) travel together: add the missing one, nearly always."""
    has = [0 in basket, 1 in basket]
    if has[0] != has[1] and rng.random() < PAIR_COMPLETION:
        basket.insert(basket.index(0 if has[0] else 1) + 1, 1 if has[0] else 0)
    return basket


def _basket(
    rng: np.random.Generator, catalog: _Catalog, customer: _Customer | None, nth_order: int
) -> list[int]:
    if customer is not None and customer.staple is not None:
        if nth_order == 0:
            basket = _browse_basket(rng, catalog, customer)
            if customer.staple not in basket:
                basket.insert(0, customer.staple)
        elif rng.random() < 0.75:
            basket = _restock_basket(rng, catalog, customer)
        else:
            basket = _browse_basket(rng, catalog, customer)
    else:
        basket = _browse_basket(rng, catalog, customer)
    if len(catalog.items) > 1:
        basket = _complete_pair(rng, basket)
    return basket


# --------------------------------------------------------------------------- orders


@dataclass(frozen=True)
class _Draft:
    created: int
    sequence: int
    customer: int | None
    basket: list[int]


def _drafts(
    rng: np.random.Generator, catalog: _Catalog, clock: _Clock, n_orders: int
) -> tuple[list[_Draft], list[_Customer]]:
    n_guest = min(round(n_orders * GUEST_SHARE), n_orders - 1) if n_orders > 1 else 0
    n_registered = n_orders - n_guest
    n_customers = max(1, min(n_registered, round(n_orders * CUSTOMERS_PER_ORDER)))
    counts = _order_counts(rng, n_customers, n_registered)
    customers = [_make_customer(rng, catalog, count) for count in counts]
    drafts: list[_Draft] = []
    for index, customer in enumerate(customers):
        for nth, created in enumerate(_customer_times(rng, clock, customer, catalog)):
            basket = _basket(rng, catalog, customer, nth)
            drafts.append(_Draft(created, len(drafts), index, basket))
    for created in clock.draw(n_guest):
        drafts.append(_Draft(created, len(drafts), None, _basket(rng, catalog, None, 0)))
    drafts.sort(key=lambda draft: (draft.created, draft.sequence))
    return drafts, customers


def _line_items(
    rng: np.random.Generator, catalog: _Catalog, basket: list[int], first_line_id: int
) -> tuple[list[dict[str, Any]], int]:
    lines = []
    total_cents = 0
    for offset, index in enumerate(basket):
        item = catalog.items[index]
        product = item.product
        qty = _quantity(rng, item.cycle_days is not None)
        total_cents += round(float(product.price) * 100) * qty
        lines.append(
            {
                "id": first_line_id + offset,
                "product_id": int(product.product_id),
                "variant_id": int(product.product_id) * 10 + 1,
                "title": product.title,
                "quantity": qty,
                "price": product.price,
                "sku": f"SKU-{product.product_id}",
            }
        )
    return lines, total_cents


def _customer_payload(customer: _Customer, number: int) -> dict[str, Any]:
    return {
        "id": CUSTOMER_ID_BASE + number,
        "email": f"customer{number}@example.com",
        "first_name": customer.first_name,
        "last_name": customer.last_name,
    }


def _order_payload(
    index: int,
    created: int,
    cancelled: int | None,
    total_cents: int,
    customer: dict[str, Any] | None,
    lines: list[dict[str, Any]],
) -> dict[str, Any]:
    created_at = _local_iso(created)
    cancelled_at = _local_iso(cancelled) if cancelled is not None else None
    total = _cents_to_str(total_cents)
    return {
        "id": ORDER_ID_BASE + index,
        "name": f"#{FIRST_ORDER_NUMBER + index}",
        "order_number": FIRST_ORDER_NUMBER + index,
        "email": customer["email"] if customer else f"guest{index}@example.com",
        "created_at": created_at,
        "updated_at": cancelled_at or created_at,
        "processed_at": created_at,
        "cancelled_at": cancelled_at,
        "cancel_reason": "customer" if cancelled_at else None,
        "financial_status": "voided" if cancelled_at else "paid",
        "currency": CURRENCY,
        "subtotal_price": total,
        "total_price": total,
        "customer": customer,
        "line_items": lines,
    }


def _cancellation(rng: np.random.Generator, created: int, end: int) -> int | None:
    if rng.random() >= CANCELLED_SHARE:
        return None
    delay = int(rng.integers(30 * 60, 48 * SECONDS_PER_HOUR))
    return max(min(created + delay, end), created + 1)


def _orders(
    rng: np.random.Generator, catalog: _Catalog, clock: _Clock, n_orders: int
) -> list[dict[str, Any]]:
    drafts, customers = _drafts(rng, catalog, clock, n_orders)
    numbers: dict[int, int] = {}  # customer index -> number, in order of first purchase
    orders = []
    next_line_id = LINE_ITEM_ID_BASE
    for index, draft in enumerate(drafts):
        customer = None
        if draft.customer is not None:
            number = numbers.setdefault(draft.customer, len(numbers) + 1)
            customer = _customer_payload(customers[draft.customer], number)
        lines, total_cents = _line_items(rng, catalog, draft.basket, next_line_id)
        next_line_id += len(lines)
        cancelled = _cancellation(rng, draft.created, clock.end)
        orders.append(_order_payload(index, draft.created, cancelled, total_cents, customer, lines))
    return orders


# --------------------------------------------------------------------------- public API


def generate_store(
    seed: int = 7,
    n_orders: int = 6000,
    months: int = 14,
    n_products: int = 120,
    end: datetime | None = None,
) -> DemoStore:
    """A synthetic store: ``n_products`` products and ``n_orders`` orders over ``months``
    months up to ``end`` (default: now, UTC, rounded down to the hour). Deterministic for a
    given ``seed`` and ``end``."""
    if not 2 <= n_products <= catalog_size():
        raise ValueError(f"n_products must be between 2 and {catalog_size()}, got {n_products}")
    if n_orders < 1 or months < 1:
        raise ValueError("n_orders and months must be positive")
    end_utc = _as_utc(end) if end is not None else _default_end()
    rng = np.random.default_rng(seed)
    items = _build_items(rng, n_products)
    catalog = _Catalog(items, _popularity(rng, len(items)))
    clock = _Clock(rng, _months_before(end_utc, months), end_utc)
    products = [item.product for item in items]
    return DemoStore(
        shop_domain=SHOP_DOMAIN,
        currency=CURRENCY,
        products=products,
        orders=_orders(rng, catalog, clock, n_orders),
        always_together=(products[0].product_id, products[1].product_id),
    )


def shopify_product_payload(
    product: DemoProduct, base_url: str, created_at: str = CATALOG_CREATED_AT
) -> dict[str, Any]:
    """``product`` as the body of a Shopify ``products/create`` webhook (REST product object)."""
    product_id = int(product.product_id)
    image_src = f"{base_url.rstrip('/')}/demo/images/{product.product_id}.svg"

    def image() -> dict[str, Any]:
        return {
            "id": product_id * 10 + 2,
            "product_id": product_id,
            "position": 1,
            "src": image_src,
            "alt": product.title,
            "width": 400,
            "height": 400,
        }

    return {
        "id": product_id,
        "title": product.title,
        "handle": product.handle,
        "body_html": f"<p>{html.escape(product.title)}</p>",
        "vendor": "Demo Store",
        "product_type": product.category,
        "status": "active",
        "tags": product.category.lower(),
        "created_at": created_at,
        "updated_at": created_at,
        "published_at": created_at,
        "variants": [
            {
                "id": product_id * 10 + 1,
                "product_id": product_id,
                "title": "Default Title",
                "price": product.price,
                "sku": f"SKU-{product.product_id}",
                "position": 1,
                "inventory_quantity": 25,
                "inventory_policy": "deny",
            }
        ],
        "image": image(),
        "images": [image()],
    }
