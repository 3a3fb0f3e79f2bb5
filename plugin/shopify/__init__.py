"""The Shopify app: its configuration file (app_config), the install-query HMAC and App Bridge
session tokens (auth), the install by authorization code grant or token exchange with the
history import it starts (install), its pages (routes), and the theme app extension the
merchant adds widgets with (extension/, static files).

May import: webhooks (the Shopify adapter, backfill, platform HTTP), widgets, plugin.engine,
plugin.web, plugin.store, plugin.config. Never its siblings plugin.api and plugin.admin, the
app composition, the CLI or the demo.
"""
