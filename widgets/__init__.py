"""Storefront widgets: the embed script, its public endpoint and templates."""
