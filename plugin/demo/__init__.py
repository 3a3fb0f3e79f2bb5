"""The demo: a generated store (catalog, customers, orders), its replay as signed webhooks into a
running server, and a demo storefront showing every widget placement.

May import the server and everything below it; only the CLI's `demo` command imports it.
"""
