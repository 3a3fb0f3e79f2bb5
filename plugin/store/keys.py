"""Every Redis key shopreco uses, built here and nowhere else.

Per-shop keys carry the shop id in a `{hash tag}` so that all of one shop's keys live in the
same Redis Cluster slot (multi-key scripts and MULTI stay legal). Expiry is noted per key;
keys without a note never expire.
"""

from __future__ import annotations

import re

PREFIX = "shopreco"
SHOP_ID_RULE = "[a-z0-9][a-z0-9_-]{0,62}"
SHOP_ID_PATTERN = re.compile(rf"^{SHOP_ID_RULE}\Z")  # \Z: "$" also matches before a final \n

# Global indexes (not per shop). Each lives in a cluster slot of its own, so they are written
# by single-key commands only, never in a shop's script or transaction (the order of those
# writes: plugin.store.registration).
SHOPS = f"{PREFIX}:shops"  # SET of shop ids
MIGRATIONS = f"{PREFIX}:migrations"  # SET of the names of data migrations done (never expires)


def domain_index(platform: str, domain: str) -> str:
    """STRING shop id of the platform's store with this domain or store id (Ecwid storeId,
    BigCommerce store hash)."""
    return f"{PREFIX}:domain:{platform}:{domain.lower()}"


def api_key_index(key_hash: str) -> str:
    """STRING sha256(api key) -> shop id."""
    return f"{PREFIX}:api-key:{key_hash}"


def widget_key_index(widget_key: str) -> str:
    """STRING publishable widget key -> shop id."""
    return f"{PREFIX}:widget-key:{widget_key}"


def _shop(shop_id: str) -> str:
    if not SHOP_ID_PATTERN.match(shop_id):
        raise ValueError(
            f"shop id must match {SHOP_ID_RULE} (lower-case letters, digits, - and _),"
            f" got {shop_id!r}"
        )
    return f"{PREFIX}:{{{shop_id}}}"


def shop_config(shop_id: str) -> str:
    """HASH platform, domain, secrets, api key hash, widget key, storefront url."""
    return f"{_shop(shop_id)}:config"


def registering(shop_id: str) -> str:
    """STRING set while the shop's registration writes its index entries (plugin.store.
    registration); expires after REGISTERING_SECONDS, deleted when the shop is stored."""
    return f"{_shop(shop_id)}:registering"


REGISTERING_SECONDS = 120


def api_key_use(shop_id: str) -> str:
    """HASH key id -> epoch seconds of its last use (noted at most once a minute a process)."""
    return f"{_shop(shop_id)}:api-key-use"


def events(shop_id: str) -> str:
    """STREAM of accepted webhook events (raw body + headers), read by the ingest group;
    processed entries are trimmed after SHOPRECO_EVENT_RETENTION_DAYS."""
    return f"{_shop(shop_id)}:events"


def dead_letters(shop_id: str) -> str:
    """STREAM of events that failed processing, with the error."""
    return f"{_shop(shop_id)}:dead"


def event_attempts(shop_id: str) -> str:
    """HASH stream entry id -> failed attempts of an event still being retried."""
    return f"{_shop(shop_id)}:event-attempts"


def seen_delivery(shop_id: str, delivery_id: str) -> str:
    """STRING marker of an accepted delivery id; expires after DEDUPE_TTL_SECONDS."""
    return f"{_shop(shop_id)}:seen:{delivery_id}"


DEDUPE_TTL_SECONDS = 7 * 24 * 3600  # platforms retry for at most 48 h


def orders(shop_id: str) -> str:
    """HASH order id -> normalised order JSON."""
    return f"{_shop(shop_id)}:orders"


def orders_quarantine(shop_id: str) -> str:
    """HASH order id -> stored order JSON that fails today's field rules (written before
    them); kept for a person to inspect, never read by recommendations or figures."""
    return f"{_shop(shop_id)}:orders:quarantine"


def order_versions(shop_id: str) -> str:
    """HASH order id -> "<updated_at epoch seconds> <cancelled 0|1>" of the stored version."""
    return f"{_shop(shop_id)}:order-versions"


def order_facts(shop_id: str) -> str:
    """HASH order id -> packed fact (created_at, exact net value, currency, customer id) of
    each stored order that counts for the lifecycle figures; written with the order
    (plugin.store.facts has the layout)."""
    return f"{_shop(shop_id)}:order-facts"


def order_facts_version(shop_id: str) -> str:
    """HASH `n` (+1 whenever order_facts changes) and `epoch` (a token set when the hash is
    first written): a process's copy of the facts is current while both are unchanged."""
    return f"{_shop(shop_id)}:order-facts:version"


def order_lines(shop_id: str) -> str:
    """HASH order id -> what training reads of each stored order with a line that counts
    (order id, created_at, customer id, product ids, net quantities); written with the order
    (plugin.store.lines has the layout)."""
    return f"{_shop(shop_id)}:order-lines"


def order_lines_ready(shop_id: str) -> str:
    """STRING "1" once every stored order of the shop has its order_lines record (set by the
    migration order-lines-1, or by a write of the shop's only order); until then training reads
    the orders."""
    return f"{_shop(shop_id)}:order-lines:ready"


def pending_refunds(shop_id: str) -> str:
    """HASH order id -> JSON list of refunds that arrived before their order; merged into the
    order (and the field deleted) when it is stored. No expiry (a refund is never stale)."""
    return f"{_shop(shop_id)}:refunds:pending"


def products(shop_id: str) -> str:
    """HASH product id -> catalog JSON (title, url, image, price, available)."""
    return f"{_shop(shop_id)}:products"


def customer_orders(shop_id: str, customer_id: str) -> str:
    """ZSET order ids of one customer, scored by the order's created_at (fresh personal lists)."""
    return f"{_shop(shop_id)}:customer-orders:{customer_id}"


def unavailable(shop_id: str) -> str:
    """SET product ids never to show: out of stock, unpublished or deleted (from the catalog)."""
    return f"{_shop(shop_id)}:unavailable"


def excluded(shop_id: str) -> str:
    """SET product ids the store owner excluded from recommendations."""
    return f"{_shop(shop_id)}:excluded"


def pins(shop_id: str) -> str:
    """STRING JSON list of the owner's pinned products, in the owner's order (plugin.store.pins:
    product id, for product id or null, end or null, created at)."""
    return f"{_shop(shop_id)}:pins"


def stats(shop_id: str) -> str:
    """HASH counters: events accepted, duplicates, orders stored, failures."""
    return f"{_shop(shop_id)}:stats"


def backfill_cursor(shop_id: str) -> str:
    """STRING where an interrupted backfill continues (the platform's page cursor)."""
    return f"{_shop(shop_id)}:backfill:cursor"


def reconcile_cursor(shop_id: str) -> str:
    """STRING ISO 8601 UTC time: the newest date_modified a reconciliation has seen (the next
    one asks the platform for orders modified after it)."""
    return f"{_shop(shop_id)}:reconcile:cursor"


def reconcile_lock(shop_id: str) -> str:
    """STRING held by the process that reconciles the shop this round; expires after the
    reconciliation interval, so one process per interval does the work."""
    return f"{_shop(shop_id)}:reconcile:lock"


def train_dirty(shop_id: str) -> str:
    """HASH first/last: epoch seconds of the first and last untrained order change."""
    return f"{_shop(shop_id)}:train:dirty"


def train_lock(shop_id: str) -> str:
    """STRING lock token while a model trains; expires after TRAIN_LOCK_SECONDS."""
    return f"{_shop(shop_id)}:train:lock"


TRAIN_LOCK_SECONDS = 1800


def model_sequence(shop_id: str) -> str:
    """STRING counter for model version numbers."""
    return f"{_shop(shop_id)}:model:seq"


def model_current(shop_id: str) -> str:
    """STRING the version that serves; switched atomically after the model is stored."""
    return f"{_shop(shop_id)}:model:current"


def model(shop_id: str, version: str) -> str:
    """HASH `arrays` (npz bytes) and `meta` (JSON) of one model version; old ones deleted."""
    return f"{_shop(shop_id)}:model:v:{version}"


def changes(shop_id: str) -> str:
    """STREAM of change notes (kind, id, n) telling every process what to drop from its
    per-shop cache (plugin.store.changes); capped at about CHANGES_MAXLEN entries. Customer ids
    appear only as digests."""
    return f"{_shop(shop_id)}:changes"


def changes_sequence(shop_id: str) -> str:
    """STRING counter numbering the change notes: a reader that sees a number missing (the
    stream was trimmed past it, or deleted and started again) drops the whole shop."""
    return f"{_shop(shop_id)}:changes:seq"


CHANGES_MAXLEN = 2000

TRAIN_REQUESTS = f"{PREFIX}:train:requests"  # LIST of JSON training requests for a worker
TRAINER_ALIVE = f"{PREFIX}:train:worker"  # STRING set by a live worker (expires in seconds)


def admin_login(token_digest: str) -> str:
    """STRING shop id of a one-time admin login link (its token's sha256; expires in minutes,
    deleted when used)."""
    return f"{PREFIX}:admin:login:{token_digest}"


def admin_session(session_digest: str) -> str:
    """HASH `shop_id`, `csrf`, `frame_domain` of a signed-in owner's session (its cookie's
    sha256; expires)."""
    return f"{PREFIX}:admin:session:{session_digest}"


def admin_password(shop_id: str) -> str:
    """STRING the Argon2id hash of the owner's password (absent: no password sign-in)."""
    return f"{_shop(shop_id)}:admin:password"


def admin_password_failures(shop_id: str) -> str:
    """STRING wrong passwords within the lock window (expires with it)."""
    return f"{_shop(shop_id)}:admin:password:failures"


def shopify_code(code_digest: str) -> str:
    """STRING marking a Shopify authorization code (its sha256) as used (expires in a day)."""
    return f"{PREFIX}:shopify:code:{code_digest}"


def shopify_install(shop_id: str) -> str:
    """HASH the Shopify install's progress for its landing page (stage, orders, total, at)."""
    return f"{_shop(shop_id)}:shopify:install"


def train_reply(shop_id: str, request_id: str) -> str:
    """LIST holding the worker's JSON answer to one training request (expires in minutes)."""
    return f"{_shop(shop_id)}:train:reply:{request_id}"


def privacy_request(shop_id: str, request_id: str) -> str:
    """STRING JSON export of a customer's data for a data request (Shopify
    customers/data_request id); expires after PRIVACY_REQUEST_TTL_SECONDS."""
    return f"{_shop(shop_id)}:privacy:request:{request_id}"


PRIVACY_REQUEST_TTL_SECONDS = 30 * 24 * 3600


def widget_rate(shop_id: str, client: str, window: int) -> str:
    """STRING requests of one client (IP) with the shop's widget key in one fixed window
    (epoch minute); expires after WIDGET_RATE_WINDOW_SECONDS."""
    return f"{_shop(shop_id)}:widget:rate:{window}:{client}"


WIDGET_RATE_WINDOW_SECONDS = 60


def api_rate(shop_id: str, key_id: str, window: int) -> str:
    """STRING calls with one of the shop's API keys (its key_id) in one fixed window (epoch
    seconds // API_RATE_WINDOW_SECONDS); expires one second after the window."""
    return f"{_shop(shop_id)}:api:rate:{window}:{key_id}"


API_RATE_WINDOW_SECONDS = 60


def widget_event_seen(shop_id: str, event_id: str) -> str:
    """STRING marker of a widget event id already counted; expires after
    WIDGET_EVENT_DEDUPE_SECONDS (browsers resend a beacon within seconds)."""
    return f"{_shop(shop_id)}:widget:seen:{event_id}"


WIDGET_EVENT_DEDUPE_SECONDS = 2 * 24 * 3600


def widget_counts(shop_id: str, day: str) -> str:
    """HASH "<placement>:<impression|click|add_to_cart>" -> count of one UTC day (YYYY-MM-DD);
    expires after WIDGET_COUNTS_TTL_SECONDS."""
    return f"{_shop(shop_id)}:widget:counts:{day}"


WIDGET_COUNTS_TTL_SECONDS = 400 * 24 * 3600


def widget_clicks_customer(shop_id: str, customer_id: str) -> str:
    """ZSET JSON [placement, product id, event id] scored by click time (epoch seconds) of one
    customer; trimmed to WIDGET_CLICKS_TTL_SECONDS, the key expires that long after the last."""
    return f"{_shop(shop_id)}:widget:clicks:customer:{customer_id}"


def widget_clicks_visitor(shop_id: str, visitor_id: str) -> str:
    """ZSET like widget_clicks_customer, of one anonymous visitor (browser)."""
    return f"{_shop(shop_id)}:widget:clicks:visitor:{visitor_id}"


WIDGET_CLICKS_TTL_SECONDS = 90 * 24 * 3600


def widget_customer_visitors(shop_id: str, customer_id: str) -> str:
    """SET visitor ids seen with this customer id (their clicks count for the customer);
    expires WIDGET_CLICKS_TTL_SECONDS after the last link."""
    return f"{_shop(shop_id)}:widget:visitors:{customer_id}"


def visitor_browsing(shop_id: str, visitor_id: str) -> str:
    """ZSET product id -> epoch seconds of one visitor's latest view of it (or add to cart):
    the newest plugin.store.browsing.MAX_BROWSED kept, none older than BROWSING_TTL_SECONDS;
    the key expires that long after the last event."""
    return f"{_shop(shop_id)}:browsing:{visitor_id}"


BROWSING_TTL_SECONDS = 30 * 24 * 3600


def browsing_notes(shop_id: str) -> str:
    """STREAM of browsing notes (n; v: a visitor's digest, or `*` for all) naming the histories
    processes must drop (plugin.store.visitor_cache); about browsing.NOTES_MAXLEN kept."""
    return f"{_shop(shop_id)}:browsing-notes"


def browsing_notes_sequence(shop_id: str) -> str:
    """STRING counter numbering the browsing notes (a missing number drops the shop's)."""
    return f"{_shop(shop_id)}:browsing-notes:seq"


def widget_attribution(shop_id: str) -> str:
    """HASH order id -> JSON attribution of an order with clicked products (currency, net
    value, created_at, per clicked product: placement, click time, line revenue)."""
    return f"{_shop(shop_id)}:widget:attribution"


def widget_attributed_orders(shop_id: str) -> str:
    """ZSET order ids in widget_attribution scored by the order's created_at (stats by date)."""
    return f"{_shop(shop_id)}:widget:attributed"


def email_link_secret(shop_id: str) -> str:
    """STRING the shop's secret (hex) that signs e-mail block and click links; created on
    first use, never shown. Deleting it revokes every link signed with it."""
    return f"{_shop(shop_id)}:email:link-secret"


def email_click_seen(shop_id: str, signature: str) -> str:
    """STRING marker that a tracked e-mail link (named by its signature) was counted; expires
    after EMAIL_CLICK_DEDUPE_SECONDS, so a reader's repeated clicks count once."""
    return f"{_shop(shop_id)}:email:click-seen:{signature}"


EMAIL_CLICK_DEDUPE_SECONDS = 24 * 3600


def shop_pattern(shop_id: str) -> str:
    """SCAN pattern matching every per-shop key of a shop."""
    return f"{PREFIX}:{{{shop_id}}}:*"


def connect_pending(platform: str, nonce_digest: str) -> str:
    """STRING JSON data of a one-click connect to `platform` we started (the nonce's sha256);
    expires after CONNECT_PENDING_SECONDS, deleted when the platform answers (single use)."""
    return f"{PREFIX}:connect:pending:{platform}:{nonce_digest}"


CONNECT_PENDING_SECONDS = 30 * 60


def connect_seen(platform: str, digest: str) -> str:
    """STRING marking a platform's authorization code or signed payload (its sha256) as used
    (expires in a day)."""
    return f"{PREFIX}:connect:seen:{platform}:{digest}"


def connection(shop_id: str) -> str:
    """HASH a connected shop's link to its platform: stage, orders, total, error, at (the
    import's progress), hooks and scripts (JSON lists of what we created on the platform)."""
    return f"{_shop(shop_id)}:connection"


def experiments(shop_id: str) -> str:
    """HASH experiment id -> JSON record (plugin.store.experiments: name, placement, arms,
    status, times, the results frozen when it stopped). The running ones are also in the
    shop's config (field `experiments`), which every process holds."""
    return f"{_shop(shop_id)}:experiments"


def experiment_units(shop_id: str, experiment_id: str) -> str:
    """HASH unit ("v:<visitor id>" or "c:<customer digest>") -> "<arm index> <epoch seconds>" of
    its first exposure in the experiment (a unit is counted once)."""
    return f"{_shop(shop_id)}:experiment:{experiment_id}:units"


def experiment_pins(shop_id: str, experiment_id: str) -> str:
    """HASH customer id -> the unit the customer was first seen with in the experiment (their
    visitor's, or their own): later requests and orders naming them count for that unit."""
    return f"{_shop(shop_id)}:experiment:{experiment_id}:pins"


def experiment_counts(shop_id: str, experiment_id: str) -> str:
    """HASH "<arm index>:<visitors|impression|click|add_to_cart|clicked|added>" -> count
    (clicked, added: units with at least one click, one add-to-cart)."""
    return f"{_shop(shop_id)}:experiment:{experiment_id}:counts"


def experiment_acts(shop_id: str, experiment_id: str) -> str:
    """HASH "<click|add_to_cart>:<unit>" -> "1": the units that clicked or added to cart."""
    return f"{_shop(shop_id)}:experiment:{experiment_id}:acts"


def experiment_orders(shop_id: str, experiment_id: str) -> str:
    """HASH order id -> JSON [unit, arm index, currency, net value] of each order counted for
    the experiment while it ran (recomputed whenever the order is stored)."""
    return f"{_shop(shop_id)}:experiment:{experiment_id}:orders"


def experiment_event_seen(shop_id: str, event_id: str) -> str:
    """STRING marker of a widget event id counted for an experiment; expires after
    WIDGET_EVENT_DEDUPE_SECONDS."""
    return f"{_shop(shop_id)}:experiment:seen:{event_id}"
