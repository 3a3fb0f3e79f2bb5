"""`shopreco widgets stats SHOP_ID [--days N] [--json]` (plugin/commands/widgets.py): what the
widgets did for a shop, as a table or JSON, within SHOPRECO_ATTRIBUTION_DAYS."""

from __future__ import annotations

import time
import uuid
from datetime import UTC, datetime, timedelta

import pytest

from plugin.store.shops import NewShop, add_shop
from plugin.store.tracking import WidgetEvent, record_click, record_events
from tests.conftest import Store
from tests.plugin.commands.conftest import DAY, Cli, order, store_orders


@pytest.fixture(scope="module")
def tracked(store: Store) -> tuple[NewShop, float]:
    """Today: 3 impressions and a click on tea in `cart`; 8 days ago an e-mail click on pot;
    then c1 orders tea and pot (10.00 EUR each)."""
    shop_id = "w-" + uuid.uuid4().hex[:12]
    now = time.time()

    async def work(redis):
        new = await add_shop(redis, shop_id, "custom", f"{shop_id}.example", "http://testserver")
        events = [WidgetEvent(f"e{n}", "impression", "cart", "tea", now) for n in range(3)]
        await record_events(redis, shop_id, "v1", "c1",
                            [*events, WidgetEvent("e3", "click", "cart", "tea", now)])
        await record_click(redis, shop_id, placement="email", product_id="pot",
                           customer_id="c1", visitor_id=None, at=now - 8 * DAY)
        return new

    new = store.run(work)
    store_orders(store, shop_id, [order("o1", "c1", 0, ("tea", "pot"), at=now + 60)])
    return new, now


def rows(table: str) -> dict[str, list[str]]:
    return {line.split()[0]: line.split()[1:] for line in table.splitlines()[2:]}


def test_the_table_has_a_line_per_placement_and_a_total(cli: Cli, tracked) -> None:
    shop, now = tracked
    result = cli("widgets", "stats", shop.shop.shop_id)
    assert result.returncode == 0, result.stderr
    title, header, *_ = result.stdout.splitlines()
    since = (datetime.fromtimestamp(now, UTC).date() - timedelta(days=29)).isoformat()
    assert title == (f"widget stats of shop {shop.shop.shop_id}, 30 days since {since} "
                     "(attribution window 7 days)")
    assert header.split() == ["placement", "impressions", "clicks", "ctr", "add_to_carts",
                              "orders", "revenue"]
    assert rows(result.stdout) == {
        "cart": ["3", "1", "33.3%", "0", "1", "20.00", "EUR"],
        "email": ["0", "1", "-", "0", "0", "0"],  # its click is 8 days before the order
        "total": ["3", "2", "66.7%", "0", "1", "20.00", "EUR"],
    }
    lines = result.stdout.splitlines()[1:]
    assert len({len(line) for line in lines}) == 1  # columns aligned, numbers to the right


def test_days_narrow_the_window(cli: Cli, tracked) -> None:
    shop, _ = tracked
    result = cli("widgets", "stats", shop.shop.shop_id, "--days", "1")
    assert result.returncode == 0, result.stderr
    assert ", 1 days since " in result.stdout.splitlines()[0]
    assert set(rows(result.stdout)) == {"cart", "total"}  # the e-mail click was 8 days ago


def test_json_within_the_configured_attribution_window(cli: Cli, tracked) -> None:
    shop, _ = tracked
    result = cli("widgets", "stats", shop.shop.shop_id, "--json", SHOPRECO_ATTRIBUTION_DAYS="10")
    assert result.returncode == 0, result.stderr
    shown = result.json()
    assert (shown["shop_id"], shown["days"], shown["attribution_days"]) == (
        shop.shop.shop_id, 30, 10)
    assert shown["placements"]["email"]["clicked_revenue"] == {"EUR": "10.00"}  # now within
    assert shown["placements"]["cart"]["attributed_revenue"] == {"EUR": "20.00"}  # last click
    assert shown["total"]["impressions"] == 3 and shown["total"]["ctr"] == 0.6667
    default = cli("widgets", "stats", shop.shop.shop_id, "--json").json()
    assert default["attribution_days"] == 7
    assert default["placements"]["email"]["clicked_revenue"] == {}


@pytest.mark.parametrize("days", ["0", "401"])
def test_days_out_of_range_are_refused(cli: Cli, tracked, days: str) -> None:
    result = cli("widgets", "stats", tracked[0].shop.shop_id, "--days", days)
    assert (result.returncode, result.stdout) == (1, "")
    assert f"--days must be from 1 to 400, got {days}" in result.stderr


def test_an_unknown_shop_is_refused(cli: Cli) -> None:
    result = cli("widgets", "stats", "no-such-shop")
    assert result.returncode == 1 and "no shop 'no-such-shop'" in result.stderr
