"""The reference's schemas of the experiments API (plugin.api.experiments): an experiment, its
results and what a call sends."""

from __future__ import annotations

from plugin.api.schemas import SHOP_ID
from plugin.api.widget_stats import revenue
from plugin.store.experiments import (
    MAX_ARMS,
    MAX_NAME,
    MIN_ARMS,
    PLACEMENTS,
    SERVABLE,
    STRATEGIES,
)
from plugin.web.openapi import (
    Param,
    Schema,
    array,
    boolean,
    integer,
    mapping,
    named,
    nullable,
    number,
    obj,
    string,
)
from recommender.blend import MAX_WEIGHT, SWITCHES, WEIGHTS

ID_PATTERN = "^exp_[a-f0-9]{12}$"
ARM_PATTERN = "^[A-Za-z0-9][A-Za-z0-9 _.-]{0,39}$"
WHERE = [*PLACEMENTS, "*"]
STATUSES = ["draft", "running", "stopped", "shipped"]
METRICS = ["conversion_rate", "add_to_cart_rate", "click_rate", "revenue_per_visitor"]
EXPERIMENT_ID = Param("experiment_id", string("The experiment's id.", "exp_0123456789ab",
                                              minLength=1, maxLength=128), "path")


def count(description: str, example: int) -> Schema:
    return integer(description, example, minimum=0)


def rate(description: str, example: float) -> Schema:
    return nullable(number(f"{description}; null without visitors.", example, minimum=0,
                           maximum=1))


def time_of(description: str) -> Schema:
    return nullable(number(f"{description} (epoch seconds); null before.", 1796173891.8))


def arm_name(description: str) -> Schema:
    return string(description, "B", pattern=ARM_PATTERN, minLength=1, maxLength=40)


def per_currency(description: str) -> Schema:
    value = nullable(string("A decimal string in the currency of its key; null without "
                            "visitors or orders.", "1.25", pattern=r"^-?\d+(\.\d+)?$"))
    return {**mapping(value, f"{description} By ISO 4217 currency code.", {"EUR": "1.25"}),
            "propertyNames": {"pattern": "^[A-Z]{3}$"}}


BLEND = obj(
    "A config arm's fixed blend of the shop's trained model: the weights of each signal in "
    "the personal list (nurture_*), the list of products never bought (discovery_*) and the "
    "cart (cart_*), and how buy-again weighs (rebuy_weighting, repeat_model). Sent: the "
    "fields to set, the defaults (chosen on UCI Online Retail) fill the rest, `{}` is the "
    "default blend; answered: every field. No task falls back to a baseline in a blend.",
    {**{name: number(f"The weight {name}.", 1.0, minimum=0, maximum=MAX_WEIGHT)
        for name in WEIGHTS},
     **{name: boolean(f"Buy-again switch {name}.", False) for name in SWITCHES}},
    optional=(*WEIGHTS, *SWITCHES))
ARM = obj("An arm: a strategy and its share of the traffic.", {
    "name": arm_name("The arm's name (unique in the experiment)."),
    "strategy": string("What the arm serves: `chosen` (the shop's model), `popularity` "
                       "(trending products), `holdout` (no widget) or `config` (the shop's "
                       "model with the fixed blend `config`).", "chosen",
                       enum=list(STRATEGIES)),
    "share": number("Its percent of the traffic (the arms' shares sum to 100).", 50,
                    exclusiveMinimum=0, maximum=100),
    "config": BLEND,
}, optional=("config",))
ARM_RESULT = obj("What one arm counted.", {
    "name": arm_name("The arm."),
    "strategy": string("Its strategy.", "chosen", enum=list(STRATEGIES)),
    "config": BLEND,
    "share": number("Its share of the traffic, in percent.", 50, minimum=0, maximum=100),
    "visitors": count("Visitors (or customers) exposed: answered at least once.", 1520),
    "impressions": count("Products shown (50% in view).", 4210),
    "clicks": count("Clicks on its products.", 151),
    "add_to_carts": count("Add-to-carts from its widget.", 40),
    "clicked": count("Visitors with at least one click.", 120),
    "added": count("Visitors with at least one add-to-cart.", 35),
    "converted": count("Visitors with at least one order after their exposure.", 114),
    "orders": count("Their orders while it ran.", 121),
    "ctr": rate("Clicks per impression (shown, not tested: one visitor's impressions are not "
                "independent); null without impressions", 0.036),
    "click_rate": rate("Visitors who clicked / visitors", 0.079),
    "add_to_cart_rate": rate("Visitors who added to cart / visitors", 0.023),
    "conversion_rate": rate("Visitors who ordered / visitors", 0.075),
    "revenue": revenue("Net value of the orders.", {"EUR": "5120.40"}),
    "revenue_per_visitor": per_currency("Revenue / visitors."),
    "aov": per_currency("Average order value: revenue / orders in that currency."),
}, optional=("config",))
COMPARISON = obj("An arm against the control on one metric.", {
    "arm": arm_name("The arm compared with the control (the first arm)."),
    "metric": string("The metric: a per-visitor rate (two-proportion z-test) or revenue per "
                     "visitor (Welch's t-test, in one currency).", "conversion_rate",
                     enum=METRICS),
    "currency": nullable(string("The currency of revenue per visitor; null for rates.", "EUR",
                                pattern="^[A-Z]{3}$")),
    "control": number("The control's value.", 0.05),
    "treatment": number("The arm's value.", 0.06),
    "difference": number("Arm minus control.", 0.01),
    "relative": nullable(number("The difference relative to the control; null when the "
                                "control's is 0.", 0.2)),
    "low": number("The 95% confidence interval's lower end of the difference.", 0.002),
    "high": number("Its upper end.", 0.018),
    "p_value": number("Two-sided p-value.", 0.013, minimum=0, maximum=1),
    "significant": boolean("p < 0.05.", True),
    "needed_per_arm": nullable(integer("Visitors per arm needed to detect a difference this "
                                       "size (5% test, 80% power); null when there is none.",
                                       7700, minimum=1)),
})
RESULTS = named("ExperimentResults", obj("An experiment's results.", {
    "computed_at": number("When (epoch seconds): the stop, for a stopped experiment.",
                          1796173891.8),
    "currencies": array(string("A currency code.", "EUR", pattern="^[A-Z]{3}$"),
                        "The currencies of its orders (money is never converted)."),
    "arms": array(ARM_RESULT, "Per arm, the control first."),
    "comparisons": array(COMPARISON, "Each arm against the control, on each metric."),
    "sample_ratio": obj("The visitors per arm against the shares (chi-square).", {
        "observed": array(count("Visitors.", 1520), "Per arm."),
        "expected": array(number("Visitors the shares ask for.", 1510.0), "Per arm."),
        "p_value": number("Its p-value.", 0.62, minimum=0, maximum=1),
        "mismatch": boolean("p < 0.001: the split is broken, do not trust the results.",
                            False),
    }),
    "verdicts": array(string("A verdict.", "B lifts conversion by 18% (95% CI +6% to +30%) "
                             "against A, p = 0.003"),
                      "In words: a sample-ratio mismatch first, then each arm's conversion."),
}))
_FIELDS = {
    "id": string("The experiment's id.", "exp_0123456789ab", pattern=ID_PATTERN),
    "name": string("Its name.", "Bundle against no widget", minLength=1, maxLength=MAX_NAME),
    "placement": string("The widget placement it runs on; `*`: all of them.", "bundle",
                        enum=WHERE),
    "arms": array(ARM, "Its arms, the control first.", minItems=MIN_ARMS, maxItems=MAX_ARMS),
    "status": string("draft, running, stopped or shipped.", "running", enum=STATUSES),
    "created_at": number("When it was made (epoch seconds).", 1796173891.8),
    "started_at": time_of("When it started"),
    "stopped_at": time_of("When it stopped"),
    "shipped_arm": nullable(arm_name("The arm served since it shipped; null before.")),
}
EXPERIMENT = named("Experiment", obj("An A/B experiment.", {
    **_FIELDS,
    "results": {"anyOf": [RESULTS, {"type": "null", "description": "A draft's: none yet.",
                                    "examples": [None]}],
                "description": "Its results: live while it runs, as they were at the stop "
                               "after; null for a draft."},
}))
EXPERIMENTS = obj("The shop's experiments.", {
    "shop_id": SHOP_ID,
    "experiments": array(obj("An experiment (GET it for its results).", _FIELDS),
                         "The newest first."),
    "serving": {**mapping(string("A strategy; a shipped config arm's is `config:` and its "
                                 "blend as JSON.", "popularity",
                                 pattern="^(" + "|".join(SERVABLE) + r"|config:\{.*\})$"),
                          "The strategies shipped experiments set: by placement (`*`: every "
                          "placement without its own); the others serve the shop's model.",
                          {"cart": "popularity"}), "propertyNames": {"enum": WHERE}},
})
NEW = obj("An experiment to make (or a draft's new content).", {
    "name": string("Its name.", "Bundle against no widget", minLength=1, maxLength=MAX_NAME),
    "placement": string("A widget placement, or `*` for all.", "bundle", enum=WHERE),
    "arms": array(obj("An arm.", ARM["properties"], optional=("config",)),
                  f"{MIN_ARMS} to {MAX_ARMS} arms with different names, the first the "
                  "control.", minItems=MIN_ARMS,
                  maxItems=MAX_ARMS),
})
SHIP = obj("The arm to serve.", {"arm": arm_name("The arm's name.")})
