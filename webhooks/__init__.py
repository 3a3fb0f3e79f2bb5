"""Webhook intake: receivers, signature checks, one adapter per platform, ingestion."""
