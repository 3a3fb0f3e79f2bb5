"""The store owner's dashboard at /admin/: sign-in by one-time link and sessions with CSRF
(sessions), the shared page frame (pages), one module per page (overview, customers,
recommendations, widgets, health), charts drawn as inline SVG by the server (charts), the
routes, and the Jinja2 templates.

May import: webhooks (dead letters, draining), widgets (stats, the widget's answer),
plugin.engine, plugin.web, plugin.store, plugin.config, recommender. Never its siblings
plugin.api and plugin.shopify, the app composition, the CLI or the demo.
"""
