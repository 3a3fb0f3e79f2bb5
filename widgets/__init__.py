"""The storefront: embed.js and its static files, the public widget endpoints (recommendations
per placement, events), CORS, the widget rate limit, and widget stats.

May import: `plugin.web`, `plugin.engine`, `plugin.store`, `plugin.config`. Never `webhooks`
(its sibling) or a package above (api, commands, app).
"""
