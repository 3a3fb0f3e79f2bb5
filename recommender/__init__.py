"""The pure numeric core of shopreco: purchases in, arrays and ranked answers out.

matrix (purchases to sparse matrices), history (customers' decayed purchases, rebuy rates),
models (implicit's ALS and BPR, trending), taste (PersonalTaste and its registry TASTES),
neighbours (ItemNeighbours and its registry NEIGHBOURS), config (Config: a shop's strategy),
ranking (Answer and the score arithmetic), shop_model (ShopModel: every recommendation query),
tuning (the per-shop choice of Config), evaluation and baselines (offline evaluation), and
lifecycle (RFM stages, churn risk, retention, cohorts).

It imports numpy, scipy, implicit and the standard library only, and nothing of the project:
plugin, webhooks and widgets import it, never the other way round.
"""
