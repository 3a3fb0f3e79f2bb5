"""The demo store's catalog as data: the product type, the product specs (groups, categories,
price ranges, variants, re-buy cycles) and each category's share of the orders.

Pure data plus the two functions that enumerate it; ``assortment`` turns it into products.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class DemoProduct:
    product_id: str
    title: str
    handle: str
    category: str
    price: str
    image_svg: str


@dataclass(frozen=True)
class Spec:
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
) -> Spec:
    return Spec(group, category, template, (low, high), variants, cycle)


# fmt: off
COFFEE, TEA, KITCHEN = "Coffee", "Tea", "Kitchen"
OUTDOOR, STATIONERY, BATH, HOME = "Outdoor", "Stationery", "Bath", "Home"

SPECS: tuple[Spec, ...] = (
    # Coffee: pour-over
    _spec("pour-over", COFFEE, "Ceramic Pour-Over Coffee Dripper", 19, 32),
    _spec("pour-over", COFFEE, "Paper Filters for Pour-Over Dripper (100 pcs)", 4, 7),
    _spec(
        "pour-over", COFFEE, "{v} Coffee Beans 250 g", 9, 17,
        ("Ethiopia Yirgacheffe", "Colombia Huila", "Kenya AA", "Guatemala Antigua",
         "Costa Rica Tarrazu", "Rwanda Nyamasheke", "Decaf Swiss Water", "Breakfast Blend"),
        cycle=24,
    ),
    _spec("pour-over", COFFEE, "{v} Gooseneck Kettle", 45, 89,
          ("Matte Black", "Brushed Steel", "Copper")),
    _spec("pour-over", COFFEE, "Digital Coffee Scale with Timer", 25, 45),
    _spec("pour-over", COFFEE, "Glass Coffee Server {v}", 22, 34, ("400 ml", "600 ml")),
    _spec("pour-over", COFFEE, "Hand Burr Coffee Grinder", 39, 69),
    _spec("pour-over", COFFEE, "Electric Burr Coffee Grinder", 99, 149),
    # Coffee: espresso
    _spec("espresso", COFFEE, "Stovetop Espresso Maker {v}", 25, 45, ("3-Cup", "6-Cup")),
    _spec("espresso", COFFEE, "{v} Espresso Beans 500 g", 14, 22,
          ("Classic Italian", "Dark Roast", "Brazil Cerrado"), cycle=28),
    _spec("espresso", COFFEE, "Stainless Milk Frothing Pitcher", 12, 19),
    _spec("espresso", COFFEE, "Porcelain Espresso Cups Set of 2", 16, 26),
    _spec("espresso", COFFEE, "Walnut Espresso Tamper", 19, 34),
    # Tea: loose leaf
    _spec("loose-leaf", TEA, "{v} Loose Leaf Tea 100 g", 6, 16,
          ("Darjeeling First Flush", "Assam Breakfast", "Earl Grey", "Japanese Sencha",
           "Jasmine Green", "Milk Oolong", "Rooibos Vanilla", "Chamomile Blossom",
           "Moroccan Mint", "Lapsang Souchong"),
          cycle=35),
    _spec("loose-leaf", TEA, "{v} Cast Iron Teapot 0.8 l", 35, 65,
          ("Black", "Jade Green", "Red")),
    _spec("loose-leaf", TEA, "Stainless Steel Tea Infuser {v}", 5, 12, ("Ball", "Basket")),
    _spec("loose-leaf", TEA, "Wool Tea Cozy", 18, 28),
    _spec("loose-leaf", TEA, "Double-Wall Glass Tea Cups Set of 4", 19, 32),
    _spec("loose-leaf", TEA, "Tea Tin with Airtight Lid", 9, 15),
    # Tea: matcha
    _spec("matcha", TEA, "Ceremonial {v} Matcha 30 g", 18, 32, ("Uji", "Kagoshima"), cycle=30),
    _spec("matcha", TEA, "Bamboo Matcha Whisk", 12, 22),
    _spec("matcha", TEA, "{v} Ceramic Matcha Bowl", 22, 40, ("Celadon", "Black Raku")),
    _spec("matcha", TEA, "Matcha Whisk Holder", 8, 12),
    _spec("matcha", TEA, "Bamboo Matcha Scoop", 5, 8),
    # Kitchen: baking
    _spec("baking", KITCHEN, "{v} Sourdough Proofing Basket", 14, 22, ("Round", "Oval")),
    _spec("baking", KITCHEN, "Stoneground {v} Flour 1 kg", 3, 6, ("Rye", "Spelt", "Wheat"),
          cycle=21),
    _spec("baking", KITCHEN, "Bread Lame Scoring Tool", 9, 14),
    _spec("baking", KITCHEN, "Enamelled Cast Iron Dutch Oven {v}", 59, 129, ("4 l", "6 l")),
    _spec("baking", KITCHEN, "Stainless Dough Scraper", 4, 8),
    # Kitchen: knives
    _spec("knives", KITCHEN, "Damascus Chef's Knife 20 cm", 69, 139),
    _spec("knives", KITCHEN, "{v} End-Grain Cutting Board", 39, 89, ("Walnut", "Oak")),
    _spec("knives", KITCHEN, "Whetstone 1000/6000", 25, 45),
    _spec("knives", KITCHEN, "Waxed Canvas Knife Roll", 35, 59),
    _spec("knives", KITCHEN, "Food-Safe Board Oil 250 ml", 8, 12, cycle=60),
    # Kitchen: spices
    _spec("spices", KITCHEN, "Salt & Pepper Mill Set ({v})", 24, 49, ("Beech", "Walnut")),
    _spec("spices", KITCHEN, "Flaky Sea Salt 250 g", 5, 8, cycle=45),
    _spec("spices", KITCHEN, "Tellicherry Black Pepper 100 g", 6, 9, cycle=50),
    _spec("spices", KITCHEN, "Glass Spice Jar Set of 6", 19, 29),
    _spec("spices", KITCHEN, "{v} Mortar & Pestle", 25, 45, ("Granite", "Marble")),
    # Outdoor: camping
    _spec("camping", OUTDOOR, "Insulated Water Bottle {v}", 22, 39, ("500 ml", "750 ml", "1 l")),
    _spec("camping", OUTDOOR, "Titanium Camping Mug 450 ml", 19, 29),
    _spec("camping", OUTDOOR, "Compact Camping Stove", 39, 69),
    _spec("camping", OUTDOOR, "Stove Fuel Canister 230 g", 5, 8, cycle=40),
    _spec("camping", OUTDOOR, "Rechargeable Headlamp 350 lm", 25, 45),
    _spec("camping", OUTDOOR, "Ultralight Camp Cookset", 35, 59),
    _spec("camping", OUTDOOR, "Wool Hiking Socks ({v})", 14, 22, ("Grey", "Forest")),
    # Outdoor: garden
    _spec("garden", OUTDOOR, "Organic {v} Seeds", 3, 5,
          ("Basil", "Thyme", "Coriander", "Chilli", "Tomato")),
    _spec("garden", OUTDOOR, "Terracotta Planter {v}", 8, 29, ("12 cm", "18 cm", "24 cm")),
    _spec("garden", OUTDOOR, "Copper Watering Can", 39, 69),
    _spec("garden", OUTDOOR, "Garden Pruning Shears", 19, 39),
    _spec("garden", OUTDOOR, "Peat-Free Potting Soil 10 l", 6, 9, cycle=45),
    _spec("garden", OUTDOOR, "Gardening Gloves", 12, 18),
    # Stationery: journaling
    _spec("journaling", STATIONERY, "Dot Grid Notebook A5 ({v})", 14, 24,
          ("Black", "Sage", "Terracotta", "Navy"), cycle=50),
    _spec("journaling", STATIONERY, "{v} Nib Fountain Pen", 25, 69, ("Fine", "Medium")),
    _spec("journaling", STATIONERY, "Fountain Pen Ink 50 ml ({v})", 8, 15,
          ("Blue Black", "Sepia", "Forest Green"), cycle=45),
    _spec("journaling", STATIONERY, "Washi Tape Set of 5", 6, 10),
    _spec("journaling", STATIONERY, "Brass Bookmark", 7, 12),
    _spec("journaling", STATIONERY, "Leather Notebook Cover A5", 35, 59),
    # Stationery: desk
    _spec("desk", STATIONERY, "Walnut Desk Organizer", 29, 49),
    _spec("desk", STATIONERY, "Undated Weekly Desk Planner", 12, 18),
    _spec("desk", STATIONERY, "Gel Pens Pack of 5", 5, 9, cycle=40),
    _spec("desk", STATIONERY, "Brass Paper Clips (100 pcs)", 3, 6),
    _spec("desk", STATIONERY, "Graphite Pencil Set of 12", 6, 12),
    _spec("desk", STATIONERY, "Brass Pencil Sharpener", 5, 9),
    # Bath: bath
    _spec("bath", BATH, "Handmade Olive Oil Soap ({v})", 4, 8,
          ("Lavender", "Rosemary", "Oatmeal", "Unscented"), cycle=30),
    _spec("bath", BATH, "Wooden Soap Dish", 6, 10),
    _spec("bath", BATH, "Linen Bath Towel ({v})", 29, 49, ("Natural", "Stone", "Sage")),
    _spec("bath", BATH, "Dead Sea Bath Salts 500 g ({v})", 9, 16, ("Eucalyptus", "Lavender"),
          cycle=35),
    _spec("bath", BATH, "Sisal Body Brush", 9, 14),
    # Bath: shaving
    _spec("shaving", BATH, "Chrome Safety Razor", 25, 45),
    _spec("shaving", BATH, "Double-Edge Razor Blades (10 pcs)", 4, 7, cycle=30),
    _spec("shaving", BATH, "{v} Shaving Soap", 9, 14, ("Sandalwood", "Vetiver"), cycle=45),
    _spec("shaving", BATH, "Badger Hair Shaving Brush", 29, 59),
    _spec("shaving", BATH, "Alum Block Aftershave", 7, 11),
    # Home: candles
    _spec("candles", HOME, "Soy Wax Candle ({v})", 14, 29,
          ("Cedar & Smoke", "Fig Leaf", "Sea Salt", "Orange Blossom"), cycle=40),
    _spec("candles", HOME, "Brass Candle Snuffer", 12, 19),
    _spec("candles", HOME, "Long Safety Matches in Glass Jar", 5, 8),
    _spec("candles", HOME, "Ceramic Incense Holder", 9, 14),
    _spec("candles", HOME, "Incense Sticks ({v})", 6, 10, ("Sandalwood", "Hinoki"), cycle=35),
    # Home: textiles
    _spec("textiles", HOME, "Linen Cushion Cover ({v})", 19, 29, ("Natural", "Rust", "Olive")),
    _spec("textiles", HOME, "Merino Wool Throw Blanket", 79, 139),
    _spec("textiles", HOME, "Cotton Table Runner", 19, 29),
    _spec("textiles", HOME, "Waffle Linen Tea Towels Set of 2", 14, 19),
)

CATEGORY_SHARE: dict[str, float] = {
    COFFEE: 0.26, TEA: 0.19, KITCHEN: 0.16, HOME: 0.12,
    BATH: 0.11, STATIONERY: 0.09, OUTDOOR: 0.07,
}
# fmt: on


def catalog_entries() -> list[tuple[Spec, str]]:
    """Every (spec, title), interleaved so that the first N cover as many groups as possible."""
    per_spec = [spec.titles() for spec in SPECS]
    depth = max(len(titles) for titles in per_spec)
    return [
        (spec, titles[level])
        for level in range(depth)
        for spec, titles in zip(SPECS, per_spec, strict=True)
        if level < len(titles)
    ]


def catalog_size() -> int:
    """The largest ``n_products`` that ``generate_store`` accepts."""
    return len(catalog_entries())
