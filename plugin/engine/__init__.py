"""The engine: what runs on stored data. Training (orders -> recommender -> model registry,
auto-retraining), the named recommendation queries and serving them with the merchandising
filter and catalog fields, and the lifecycle figures.

May import: `plugin.store`, `plugin.config`, `recommender`. Never Starlette or a package above
it (web, webhooks, widgets, api, commands, app).
"""
