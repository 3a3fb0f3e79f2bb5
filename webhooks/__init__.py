"""Intake: one module per platform (shopify, woocommerce, ecwid, bigcommerce, custom) behind the
adapter interface (adapter.py, registered in platforms.py); the receiver (verify, store, answer),
the ingestion worker, the outgoing platform HTTP client, signatures, history backfill and CSV
import, dead letters.

May import: `plugin.web`, `plugin.engine`, `plugin.store`, `plugin.config`, `plugin.progress`.
Never `widgets` (its sibling) or a package above (api, commands, app).
"""
