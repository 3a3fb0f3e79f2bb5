"""The data layer: everything shopreco keeps, in Redis, and nothing else.

connection (embedded or external Redis, `text()`), keys (every key, one place), shops, fields
(the field rules every kept value obeys) and urls (the one URL rule), order (the one order
model), records (orders and the catalog), migrations (data written before today's rules),
events (the intake event streams), models (the model registry and the serving cache), tracking
and attribution (widget events and attributed orders), privacy and erasure.

May import: `plugin.config`, `recommender` (to load and rewrite stored models), redis-py. Never
Starlette, never a package above it (engine, web, webhooks, widgets, api, commands, app).
"""
