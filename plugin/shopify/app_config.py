"""`shopify.app.toml` for the owner's Shopify app, from settings.

Shopify's CLI deploys this file (`shopify app deploy`); Shopify then manages the install
(scopes) and the webhook subscriptions of every shop that installs the app, including the
mandatory compliance topics, which can only be declared here. Our receiver
(`/webhooks/shopify`) takes them all, one URL for every shop: Shopify names the shop in
each delivery.

The format: https://shopify.dev/docs/apps/build/cli-for-apps/app-configuration. Webhook
`uri`s are absolute https URLs (the CLI refuses relative ones in some versions), and the
compliance topics get a subscription of their own (the CLI refuses them mixed with others).
"""

from __future__ import annotations

import json

from plugin.config import ConfigError, Settings
from webhooks import shopify

# The API version of the payloads we parse (the receiver reads the REST shapes of this one).
API_VERSION = shopify.API_VERSION
TOPICS = (*sorted(shopify.ORDER_TOPICS), shopify.REFUND_CREATE, *sorted(shopify.PRODUCT_TOPICS),
          shopify.PRODUCT_DELETE, shopify.APP_UNINSTALLED)
COMPLIANCE_TOPICS = ("customers/data_request", "customers/redact", "shop/redact")
INSTALL_PATH = "/shopify/install"
CALLBACK_PATH = "/shopify/callback"
APP_HOME_PATH = "/shopify/app"


def _string(value: str) -> str:
    """A TOML basic string (JSON's escapes are TOML's for these values)."""
    return json.dumps(value)


def _strings(values: tuple[str, ...] | list[str]) -> str:
    return "[ " + ", ".join(_string(v) for v in values) + " ]"


def app_toml(settings: Settings, name: str = "shopreco", handle: str = "shopreco") -> str:
    """The configuration file's text. ConfigError when a setting it needs is missing."""
    if not settings.shopify_client_id:
        raise ConfigError("SHOPRECO_SHOPIFY_CLIENT_ID is not set: copy the client id of your "
                          "app from Shopify's Partner Dashboard (or Dev Dashboard)")
    public = settings.public_url.rstrip("/")
    if not public.startswith("https://"):
        raise ConfigError(f"SHOPRECO_PUBLIC_URL must be an https address Shopify can reach "
                          f"for webhooks and the install; got {public!r}")
    uri = f"{public}/webhooks/shopify"
    return "\n".join([
        "# Written by `shopreco shopify app-config` from SHOPRECO_SHOPIFY_CLIENT_ID,",
        "# SHOPRECO_SHOPIFY_SCOPES and SHOPRECO_PUBLIC_URL. Deploy it with Shopify's CLI:",
        "#   shopify app deploy",
        "# https://shopify.dev/docs/apps/build/cli-for-apps/app-configuration",
        f"client_id = {_string(settings.shopify_client_id)}",
        f"name = {_string(name)}",
        f"handle = {_string(handle)}",
        f"application_url = {_string(public + APP_HOME_PATH)}",
        "embedded = true",
        "",
        "[access_scopes]",
        "# Orders older than 60 days need read_all_orders as well: Shopify grants it on",
        "# request (Partner Dashboard > API access); then add it here and to",
        "# SHOPRECO_SHOPIFY_SCOPES so the backfill reads the whole history.",
        f"scopes = {_string(settings.shopify_scopes)}",
        "# Shopify installs the app (no OAuth redirect); shopreco then exchanges the session",
        "# token for an offline access token. The authorization code grant at",
        f"# {public}{INSTALL_PATH} works as well (for a non-embedded install).",
        "use_legacy_install_flow = false",
        "",
        "[auth]",
        f"redirect_urls = {_strings([public + CALLBACK_PATH])}",
        "",
        "[webhooks]",
        f"api_version = {_string(API_VERSION)}",
        "",
        "[[webhooks.subscriptions]]",
        f"topics = {_strings(TOPICS)}",
        f"uri = {_string(uri)}",
        "",
        "[[webhooks.subscriptions]]",
        f"compliance_topics = {_strings(COMPLIANCE_TOPICS)}",
        f"uri = {_string(uri)}",
        "",
        "[pos]",
        "embedded = false",
        "",
    ])
