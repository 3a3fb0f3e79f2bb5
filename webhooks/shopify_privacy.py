"""Shopify's mandatory privacy webhooks: customers/data_request, customers/redact and shop/redact,
checked at the door and acted on by the worker."""

from __future__ import annotations

from typing import Any

import redis.asyncio as aioredis

from plugin.store.erasure import erase_customer, erase_shop
from plugin.store.fields import PayloadError, id_string
from plugin.store.privacy import store_data_request
from plugin.store.shops import Shop

SHOPIFY_DATA_REQUEST = "customers/data_request"


SHOPIFY_CUSTOMER_REDACT = "customers/redact"


SHOPIFY_SHOP_REDACT = "shop/redact"


SHOPIFY_TOPICS = frozenset({SHOPIFY_DATA_REQUEST, SHOPIFY_CUSTOMER_REDACT, SHOPIFY_SHOP_REDACT})


def check_shopify(topic: str, payload: Any) -> None:
    """Refuse at the door (PayloadError -> 400) a privacy webhook that could not be acted on,
    so its personal data is never stored only to be dead-lettered."""
    if not isinstance(payload, dict):
        raise PayloadError(f"the body of a {topic} webhook must be a JSON object")
    if topic == SHOPIFY_SHOP_REDACT:
        return
    _shopify_customer(payload)
    if topic == SHOPIFY_DATA_REQUEST:
        request = payload.get("data_request")
        id_string(request.get("id") if isinstance(request, dict) else None, "data_request.id")


async def apply_shopify(redis: aioredis.Redis, shop: Shop, topic: str, payload: Any) -> None:
    """Act on customers/data_request, customers/redact or shop/redact (PayloadError names the
    field when the body cannot be acted on)."""
    if not isinstance(payload, dict):
        raise PayloadError(f"the body of a {topic} webhook must be a JSON object")
    domain = payload.get("shop_domain")
    if domain is not None and str(domain).lower() != shop.domain:
        raise PayloadError(f"shop_domain {domain!r} is not the domain of shop {shop.shop_id!r}")
    if topic == SHOPIFY_SHOP_REDACT:
        await erase_shop(redis, shop.shop_id)
        return
    customer_id, email = _shopify_customer(payload)
    if topic == SHOPIFY_DATA_REQUEST:
        request = payload.get("data_request")
        request_id = str(id_string(request.get("id") if isinstance(request, dict) else None,
                                   "data_request.id"))
        await store_data_request(redis, shop.shop_id, request_id, customer_id, email,
                                 _id_list(payload, "orders_requested"))
    elif topic == SHOPIFY_CUSTOMER_REDACT:
        await erase_customer(redis, shop.shop_id, customer_id, email,
                             _id_list(payload, "orders_to_redact"))


def _shopify_customer(payload: dict[str, Any]) -> tuple[str, str | None]:
    customer = payload.get("customer")
    if not isinstance(customer, dict):
        raise PayloadError("customer must be an object with the customer's id")
    email = customer.get("email")
    return str(id_string(customer.get("id"), "customer.id")), email if isinstance(
        email, str) and email else None


def _id_list(payload: dict[str, Any], field: str) -> list[str]:
    values = payload.get(field) or []
    if not isinstance(values, list):
        raise PayloadError(f"{field} must be a list of order ids")
    return [str(id_string(value, f"{field}[{index}]")) for index, value in enumerate(values)]
