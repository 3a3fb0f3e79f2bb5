"""The owner and developer HTTP surfaces: the JSON API under /api/v1/shops/{shop_id} (one module
per resource), the signed e-mail blocks, and their routes.

May import: webhooks (draining before training), widgets (stats), plugin.engine, plugin.web,
plugin.store, plugin.config, recommender. Never the app composition, the CLI or the demo.
"""

PREFIX = "/api/v1/shops/{shop_id}"
