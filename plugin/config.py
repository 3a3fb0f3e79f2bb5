"""Configuration: read once from the environment, secrets never printed."""

from __future__ import annotations

import ipaddress
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import platformdirs


class Secret:
    """A string that never shows itself in a repr, a log line or an error."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return "Secret('**********')"

    __str__ = __repr__

    def __bool__(self) -> bool:
        return bool(self._value)


# The longest SHOPRECO_REDIS_WAIT_MS: WAIT must end within the Redis client's socket timeout
# (plugin.store.connection.SOCKET_TIMEOUT, 2 s), or the client would drop the connection.
MAX_REDIS_WAIT_MS = 1500


class ConfigError(ValueError):
    """A setting has a value the plugin cannot use; the message names the variable."""


def _int(env: Mapping[str, str], name: str, default: int, minimum: int = 0) -> int:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ConfigError(f"{name} must be an integer, got {raw!r}") from None
    if value < minimum:
        raise ConfigError(f"{name} must be at least {minimum}, got {value}")
    return value


def _at_most(env: Mapping[str, str], name: str, value: int, maximum: int) -> int:
    if value > maximum:
        raise ConfigError(f"{name} must be at most {maximum}, got {value}")
    return value


def _bool(env: Mapping[str, str], name: str, default: bool) -> bool:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    lowered = raw.strip().lower()
    if lowered in {"1", "true", "yes", "on"}:
        return True
    if lowered in {"0", "false", "no", "off"}:
        return False
    raise ConfigError(f"{name} must be true or false, got {raw!r}")


def _networks(env: Mapping[str, str], name: str) -> tuple[str, ...]:
    """Comma-separated IP addresses or CIDR networks, or `*` alone (any address)."""
    items = tuple(item.strip() for item in env.get(name, "").split(",") if item.strip())
    if items == ("*",):
        return items
    for item in items:
        try:
            ipaddress.ip_network(item)
        except ValueError as error:
            raise ConfigError(f"{name} must be comma-separated IP addresses or networks such "
                              f"as 10.0.0.5,10.8.0.0/16 (or * alone), got {item!r}: {error}"
                              ) from None
    return items


def default_data_dir() -> Path:
    return Path(platformdirs.user_data_dir("shopreco", appauthor=False))


@dataclass(frozen=True)
class Settings:
    """Every setting of the plugin; build with `Settings.from_env()`."""

    data_dir: Path = field(default_factory=default_data_dir)
    redis_url: Secret | None = None
    public_url: str = "http://127.0.0.1:8000"
    max_body_bytes: int = 2 * 1024 * 1024
    retrain_debounce_seconds: int = 30
    retrain_max_delay_seconds: int = 300
    run_worker: bool = True
    fsync_always: bool = True
    event_retention_days: int = 30
    claim_idle_seconds: int = 30
    reconcile_minutes: int = 15
    # The ingestion worker's and trainer's process runs at this niceness (0-19): when the CPU
    # is short, answering requests goes first and draining catches up after.
    worker_nice: int = 10
    log_level: str = "INFO"
    tuning_seconds: int = 60
    widget_rate_per_minute: int = 600
    # calls per minute with one API key, for shops without a limit of their own (`shopreco
    # shops rate-limit`)
    api_rate_per_minute: int = 600
    attribution_days: int = 7
    body_timeout_seconds: int = 10
    trusted_proxies: tuple[str, ...] = ()
    secret_keys: tuple[Secret, ...] = ()  # Fernet keys sealing access tokens, first seals
    # The shop owner's Shopify app (plugin.shopify): its client id and secret, the scopes it
    # asks for, and where a shop's Admin API is (a template with {shop}; tests and the demo
    # point it at a local fake Shopify).
    shopify_client_id: str = ""
    shopify_client_secret: Secret = field(default_factory=lambda: Secret(""))
    shopify_scopes: str = "read_orders,read_products,read_customers"
    shopify_base_url: str = "https://{shop}"
    # One-click connect (plugin.connect): the BigCommerce and Ecwid apps' credentials and where
    # their OAuth and API endpoints are (tests and the demo point them at local fakes).
    # WooCommerce needs no app: each store makes REST keys for us when its owner approves.
    bigcommerce_client_id: str = ""
    bigcommerce_client_secret: Secret = field(default_factory=lambda: Secret(""))
    bigcommerce_login_url: str = "https://login.bigcommerce.com"
    bigcommerce_api_url: str = "https://api.bigcommerce.com"
    ecwid_client_id: str = ""
    ecwid_client_secret: Secret = field(default_factory=lambda: Secret(""))
    ecwid_oauth_url: str = "https://my.ecwid.com"
    ecwid_api_url: str = "https://app.ecwid.com/api/v3"
    # Failover without loss (plugin.store.events): a webhook is answered 200 only once this
    # many replicas of the Redis node holding its shop's stream acknowledged the append (Redis
    # WAIT, within redis_wait_ms); fewer in time: 503, and the platform's retry is deduplicated.
    # 0 (the default) waits for none: the master's own write (and fsync) is enough.
    redis_wait_replicas: int = 0
    redis_wait_ms: int = 1000

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if env is None else env
        data_dir = env.get("SHOPRECO_DATA_DIR") or str(default_data_dir())
        redis_url = env.get("REDIS_URL") or None
        if redis_url is not None and is_cluster_url(redis_url):
            parse_cluster_url(redis_url)  # refused at start, not at the first command
        return cls(
            data_dir=Path(data_dir).expanduser(),
            redis_url=Secret(redis_url) if redis_url else None,
            public_url=(env.get("SHOPRECO_PUBLIC_URL") or cls.public_url).rstrip("/"),
            max_body_bytes=_int(env, "SHOPRECO_MAX_BODY_BYTES", cls.max_body_bytes, 1024),
            retrain_debounce_seconds=_int(
                env, "SHOPRECO_RETRAIN_DEBOUNCE_SECONDS", cls.retrain_debounce_seconds
            ),
            retrain_max_delay_seconds=_int(
                env, "SHOPRECO_RETRAIN_MAX_DELAY_SECONDS", cls.retrain_max_delay_seconds
            ),
            run_worker=_bool(env, "SHOPRECO_RUN_WORKER", cls.run_worker),
            fsync_always=_bool(env, "SHOPRECO_FSYNC_ALWAYS", cls.fsync_always),
            event_retention_days=_int(
                env, "SHOPRECO_EVENT_RETENTION_DAYS", cls.event_retention_days, 1
            ),
            claim_idle_seconds=_int(
                env, "SHOPRECO_CLAIM_IDLE_SECONDS", cls.claim_idle_seconds, 1
            ),
            reconcile_minutes=_int(env, "SHOPRECO_RECONCILE_MINUTES", cls.reconcile_minutes, 1),
            worker_nice=_at_most(env, "SHOPRECO_WORKER_NICE", _int(
                env, "SHOPRECO_WORKER_NICE", cls.worker_nice, 0), 19),
            log_level=(env.get("SHOPRECO_LOG_LEVEL") or cls.log_level).upper(),
            tuning_seconds=_int(env, "SHOPRECO_TUNING_SECONDS", cls.tuning_seconds, 0),
            widget_rate_per_minute=_int(
                env, "SHOPRECO_WIDGET_RATE_PER_MINUTE", cls.widget_rate_per_minute, 1
            ),
            api_rate_per_minute=_int(
                env, "SHOPRECO_API_RATE_PER_MINUTE", cls.api_rate_per_minute, 1
            ),
            attribution_days=_at_most(
                env, "SHOPRECO_ATTRIBUTION_DAYS", _int(
                    env, "SHOPRECO_ATTRIBUTION_DAYS", cls.attribution_days, 1), 90),
            body_timeout_seconds=_at_most(
                env, "SHOPRECO_BODY_TIMEOUT_SECONDS", _int(
                    env, "SHOPRECO_BODY_TIMEOUT_SECONDS", cls.body_timeout_seconds, 1), 300),
            trusted_proxies=_networks(env, "SHOPRECO_TRUSTED_PROXIES"),
            secret_keys=tuple(Secret(key.strip()) for key in
                              (env.get("SHOPRECO_SECRET_KEYS") or "").split(",") if key.strip()),
            shopify_client_id=(env.get("SHOPRECO_SHOPIFY_CLIENT_ID") or "").strip(),
            shopify_client_secret=Secret(env.get("SHOPRECO_SHOPIFY_CLIENT_SECRET") or ""),
            shopify_scopes=_scopes(env, "SHOPRECO_SHOPIFY_SCOPES", cls.shopify_scopes),
            shopify_base_url=_shop_template(env, "SHOPRECO_SHOPIFY_BASE_URL",
                                            cls.shopify_base_url),
            bigcommerce_client_id=(env.get("SHOPRECO_BIGCOMMERCE_CLIENT_ID") or "").strip(),
            bigcommerce_client_secret=Secret(env.get("SHOPRECO_BIGCOMMERCE_CLIENT_SECRET") or ""),
            bigcommerce_login_url=_base_url(env, "SHOPRECO_BIGCOMMERCE_LOGIN_URL",
                                            cls.bigcommerce_login_url),
            bigcommerce_api_url=_base_url(env, "SHOPRECO_BIGCOMMERCE_API_URL",
                                          cls.bigcommerce_api_url),
            ecwid_client_id=(env.get("SHOPRECO_ECWID_CLIENT_ID") or "").strip(),
            ecwid_client_secret=Secret(env.get("SHOPRECO_ECWID_CLIENT_SECRET") or ""),
            ecwid_oauth_url=_base_url(env, "SHOPRECO_ECWID_OAUTH_URL", cls.ecwid_oauth_url),
            ecwid_api_url=_base_url(env, "SHOPRECO_ECWID_API_URL", cls.ecwid_api_url),
            redis_wait_replicas=_at_most(env, "SHOPRECO_REDIS_WAIT_REPLICAS", _int(
                env, "SHOPRECO_REDIS_WAIT_REPLICAS", cls.redis_wait_replicas, 0), 16),
            redis_wait_ms=_at_most(env, "SHOPRECO_REDIS_WAIT_MS", _int(
                env, "SHOPRECO_REDIS_WAIT_MS", cls.redis_wait_ms, 1), MAX_REDIS_WAIT_MS),
        )


def _scopes(env: Mapping[str, str], name: str, default: str) -> str:
    """Comma-separated Admin API scopes, e.g. read_orders,read_products."""
    raw = env.get(name) or default
    scopes = [scope.strip() for scope in raw.split(",") if scope.strip()]
    if not scopes or any(not re.fullmatch(r"(unauthenticated_)?(read|write)_[a-z_]+", s)
                         for s in scopes):
        raise ConfigError(f"{name} must be comma-separated Shopify scopes such as "
                          f"read_orders,read_products; got {raw!r}")
    return ",".join(scopes)


def _base_url(env: Mapping[str, str], name: str, default: str) -> str:
    """An http(s) URL without a trailing slash (a platform's endpoint, or a local stand-in)."""
    raw = (env.get(name) or default).strip().rstrip("/")
    if not re.fullmatch(r"https?://[^\s/?#]+(/[^\s?#]*)?", raw):
        raise ConfigError(f"{name} must be an http(s) URL such as {default}; got {raw!r}")
    return raw


def _shop_template(env: Mapping[str, str], name: str, default: str) -> str:
    """An http(s) URL template holding `{shop}` (the shop's myshopify.com host name)."""
    raw = (env.get(name) or default).rstrip("/")
    if "{shop}" not in raw or not re.match(r"^https?://", raw.replace("{shop}", "x")):
        raise ConfigError(f"{name} must be an http(s) URL containing {{shop}}, e.g. "
                          f"https://{{shop}}; got {raw!r}")
    return raw


CLUSTER_SCHEMES = ("redis+cluster", "rediss+cluster")


@dataclass(frozen=True)
class ClusterUrl:
    """A REDIS_URL naming a Redis Cluster: `redis+cluster://[user:password@]host:port[,...]`
    (`rediss+cluster://` for TLS). Any one reachable node is enough; the client learns the rest
    of the cluster from it."""

    nodes: tuple[tuple[str, int], ...]
    username: str | None = None
    password: str | None = None
    tls: bool = False


def is_cluster_url(url: str) -> bool:
    return url.split("://", 1)[0].lower() in CLUSTER_SCHEMES


def parse_cluster_url(url: str) -> ClusterUrl:
    """The nodes and credentials of a cluster REDIS_URL (ConfigError naming what is wrong;
    the error never shows the password)."""
    scheme, _, rest = url.partition("://")
    example = "redis+cluster://:password@10.0.0.1:6379,10.0.0.2:6379"
    if scheme.lower() not in CLUSTER_SCHEMES or not rest:
        raise ConfigError(f"REDIS_URL for a cluster must look like {example}")
    userinfo, at, hosts = rest.rpartition("@")
    username, _, password = userinfo.partition(":") if at else ("", "", "")
    nodes = [_cluster_node(part, example) for part in hosts.rstrip("/").split(",")]
    return ClusterUrl(tuple(nodes), username or None, password or None,
                      scheme.lower() == "rediss+cluster")


def _cluster_node(part: str, example: str) -> tuple[str, int]:
    match = re.fullmatch(r"(\[[0-9a-fA-F:.]+\]|[^\s/:@\[\]]+):(\d{1,5})", part.strip())
    if match is None or not 0 < int(match[2]) < 65536:
        raise ConfigError(f"REDIS_URL for a cluster names each node as host:port, like "
                          f"{example}; got {part.strip()!r}")
    return match[1].strip("[]"), int(match[2])


def read_env_file(path: Path) -> dict[str, str]:
    """Parse a `KEY=value` file with `#` comments (the format of shopreco.env.example)."""
    values: dict[str, str] = {}
    for number, line in enumerate(path.read_text().splitlines(), start=1):
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        key, sep, value = stripped.partition("=")
        if not sep or not key.strip():
            raise ConfigError(f"{path}:{number}: expected KEY=value, got {stripped!r}")
        values[key.strip()] = value.strip()
    return values
