"""Shared HTTP pieces every surface uses: problem+json answers, the one body reader, request
parameter parsing and the API-key check.

May import: `plugin.store`, `plugin.config`, Starlette. Never the intake, storefront or API
packages above it.
"""
