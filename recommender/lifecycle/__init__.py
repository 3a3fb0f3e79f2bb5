"""The customer lifecycle from order facts: RFM stages, churn risk, retention, cohorts.

facts.py holds the order facts and the per-customer table, stages.py the stages and churn
risk, metrics.py the numbers over time; every public name is importable from here.

Pure: order facts in (Facts, columns sorted once by customer and time, or a list of
OrderFact), numbers out; numpy does the per-customer work in O(orders log orders), no Redis,
no HTTP. Every function takes the instant it answers for (`as_of`, or a period's end): only
orders at or before it exist.

What counts (plugin/store/facts.py turns stored orders into facts): an order that is not
cancelled, has a customer (guests are not facts) and keeps a net value above zero after its
refunds. A fully refunded or refunds-only order, or a free one, is therefore not a purchase.

Stages (docs/lifecycle.md has the table and what to do with each): recency, frequency and
monetary value are scored 1..5 against the shop's own customers, by average-rank quintile:
``score = ceil(5 * rank / n)`` with tied values sharing their average rank (all one-order
customers get the same F score). Recency ranks the last order time (latest = 5); monetary is
rounded to cents before ranking. R and FM = ceil((F + M) / 2) pick a cell of a 5x5 grid in the
spirit of Shopify's RFM groups; one-order customers are placed by R alone (new, promising,
needs_attention, hibernating, lost), since they cannot be loyal yet.

Expected next order and churn risk: the shop's repurchase cycle is the median, over repeat
customers, of each one's median gap between orders. A customer's expected gap shrinks their own
median gap towards that cycle, weighted by how many gaps they have: (k * own + cycle) / (k + 1),
at least one day; one-order customers get the shop's cycle. The churn risk is 1 - P(alive) of a
buyer who orders as a Poisson process with that mean gap and who, after n orders, is still a
buyer with the rule-of-succession probability p = n / (n + 1):
``P(alive) = p * exp(-t / gap) / (p * exp(-t / gap) + 1 - p)``, t the days since the last order.
Without any repeat customer there is no cycle: expected_next_order is None, churn risk 1 - p.

Why no library: BG/NBD / Pareto-NBD give P(alive) too, but `lifetimes` is archived (last
release 2020, its authors moved to pymc-marketing), `btyd` is a beta without a release since
2022, and `pymc-marketing` brings PyMC/PyTensor (a compiler and hundreds of MB) and a model fit
that takes seconds per shop. BG/NBD also holds every one-order customer alive with P = 1, and
those are most of a shop's customers. The closed form above keeps the same idea (a buyer who
stops ordering becomes ever less likely to be alive), is explained in one sentence, and scores
thousands of customers in milliseconds.

Money: values are in each order's own currency and exact (integers of 10**-scale units, see
facts.py): sums never lose a cent, and each figure is rounded to cents once, from its exact
value, half up. Revenue, AOV and CLV are reported per currency; the M score adds a customer's
values as they are (no conversion), which is right for the one-currency shops this serves and
only approximate for a shop selling in several.
"""

from recommender.lifecycle.facts import DAY, MAX_SCALE, Facts, OrderFact
from recommender.lifecycle.metrics import (
    DEFAULT_LOOKBACK_DAYS,
    MAX_MONTHS_AFTER_LAST_ORDER,
    Retention,
    cohorts,
    iso,
    month_index,
    month_name,
    monthly,
    period,
    retention,
    summary,
)
from recommender.lifecycle.stages import (
    STAGE_RULES,
    STAGES,
    CustomerStage,
    StageRule,
    StageTable,
    customer_stages,
    repurchase_cycle_days,
    stage_of,
    stage_table,
)

__all__ = [
    "DAY",
    "DEFAULT_LOOKBACK_DAYS",
    "MAX_MONTHS_AFTER_LAST_ORDER",
    "MAX_SCALE",
    "STAGES",
    "STAGE_RULES",
    "CustomerStage",
    "Facts",
    "OrderFact",
    "Retention",
    "StageRule",
    "StageTable",
    "cohorts",
    "customer_stages",
    "iso",
    "month_index",
    "month_name",
    "monthly",
    "period",
    "repurchase_cycle_days",
    "retention",
    "stage_of",
    "stage_table",
    "summary",
]
