"""One-click connect for WooCommerce, BigCommerce and Ecwid: the owner approves once on the
platform and shopreco registers the shop, stores the platform's keys sealed, creates its
webhooks (and, where the platform allows it, the storefront script), starts the history import
and shows what is connected.

- common: the Connector interface every platform implements, single-use connect requests,
  the connection's record (hooks and scripts we created, import progress), the import with
  progress, the landing page after a connect;
- woocommerce, bigcommerce, ecwid: one Connector each;
- routes: GET /connect (the "Connect a shop" page) and every connector's routes.

May import: plugin.admin (owner sessions), plugin.api, plugin.shopify, webhooks, widgets,
plugin.engine, plugin.web, plugin.store, plugin.config. Never the worker, the app composition,
the CLI or the demo.
"""
