"""Secrets that grant access to a shop, encrypted at rest.

A platform access token (Shopify's offline token, Ecwid's and BigCommerce's tokens,
WooCommerce's consumer secret) lets whoever holds it read the shop's orders and customers. It is
stored only sealed: Fernet (AES-128-CBC with HMAC-SHA256, from the `cryptography` package) under
the first key of the keyring, as `sealed:v1:<token>`; any key of the keyring opens it, so keys
rotate without downtime:

1. put a new key first in SHOPRECO_SECRET_KEYS, keep the old ones after it, restart;
2. `shopreco secrets rotate` seals every stored token again under the new key;
3. drop the old keys from SHOPRECO_SECRET_KEYS.

Keys are Fernet keys (`shopreco secrets new-key` prints one). Without SHOPRECO_SECRET_KEYS the
keyring is one key kept in the data folder (`secret-keys`, created on first use, mode 0600): an
installation that shares one Redis across machines sets SHOPRECO_SECRET_KEYS on all of them
instead. A token stored before sealing existed is sealed by the migration `seal-tokens-1`;
until then it is read as it was.

Every process opens the store through plugin.store.connection.open_redis, which installs the
keyring its settings name (`add`: the first one seals); `seal` and `unseal` use that keyring.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Sequence
from pathlib import Path

from cryptography.fernet import Fernet, InvalidToken, MultiFernet

from plugin.config import Settings

SEALED = "sealed:v1:"
KEY_FILE = "secret-keys"


class SealError(ValueError):
    """A stored secret cannot be opened with the keyring; the message says what to check (and
    never holds the secret)."""


class Keyring:
    """Fernet keys, the first of which seals; any of them opens."""

    def __init__(self, keys: Sequence[str]) -> None:
        if not keys:
            raise SealError("a keyring needs at least one key")
        self.keys = tuple(dict.fromkeys(key.strip() for key in keys))
        try:
            self._fernet = MultiFernet([Fernet(key) for key in self.keys])
        except ValueError:
            raise SealError("SHOPRECO_SECRET_KEYS holds a value that is not a Fernet key (32 "
                            "url-safe base64 bytes; `shopreco secrets new-key` makes one)"
                            ) from None

    @classmethod
    def for_settings(cls, settings: Settings) -> Keyring:
        """SHOPRECO_SECRET_KEYS when set, else the data folder's key file."""
        if settings.secret_keys:
            return cls([key.reveal() for key in settings.secret_keys])
        return cls.for_data_dir(settings.data_dir)

    @classmethod
    def for_data_dir(cls, data_dir: Path) -> Keyring:
        """The keyring kept in the data folder, made (one new key) if there is none yet."""
        path = Path(data_dir) / KEY_FILE
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=".secret-keys-")
            try:
                os.fchmod(handle, 0o600)
                os.write(handle, Fernet.generate_key() + b"\n")
                os.close(handle)
                with contextlib.suppress(FileExistsError):  # another process was first
                    os.link(temporary, path)
            finally:
                os.unlink(temporary)
        return cls([line for line in path.read_text().split() if line])

    def seal(self, secret: str) -> str:
        """The stored form of `secret` ("" stays "": no secret)."""
        if not secret:
            return ""
        return SEALED + self._fernet.encrypt(secret.encode()).decode()

    def unseal(self, stored: str) -> str:
        """The secret of a stored value; a value stored before sealing is returned as it is."""
        if not stored.startswith(SEALED):
            return stored
        try:
            return self._fernet.decrypt(stored[len(SEALED):].encode()).decode()
        except InvalidToken:
            raise SealError("a stored access token cannot be opened with the configured keys: "
                            "SHOPRECO_SECRET_KEYS (or the data folder's secret-keys file) must "
                            "hold the key it was sealed with") from None

    def reseal(self, stored: str) -> str:
        """`stored` sealed under the first key (a plain stored value is sealed)."""
        if not stored.startswith(SEALED):
            return self.seal(stored)
        try:
            token = self._fernet.rotate(stored[len(SEALED):].encode())
        except InvalidToken:
            raise SealError("a stored access token cannot be opened with the configured keys "
                            "to rotate it") from None
        return SEALED + token.decode()


def new_key() -> str:
    return Fernet.generate_key().decode()


_keyring: Keyring | None = None


def use(keyring: Keyring) -> None:
    """Make `keyring` the one this process seals with; keys it knew before still open."""
    global _keyring
    _keyring = keyring if _keyring is None else Keyring([*keyring.keys, *_keyring.keys])


def add(keyring: Keyring) -> None:
    """What open_redis does: the first keyring of the process seals; a later one (another
    store opened by the same process, as tests do) only adds keys that open."""
    global _keyring
    _keyring = keyring if _keyring is None else Keyring([*_keyring.keys, *keyring.keys])


def keyring() -> Keyring:
    if _keyring is None:
        raise SealError("no keyring: open the store with plugin.store.connection.open_redis "
                        "(or call plugin.store.sealing.use) before reading or writing tokens")
    return _keyring


def seal(secret: str) -> str:
    return keyring().seal(secret) if secret else ""


def unseal(stored: str) -> str:
    return keyring().unseal(stored) if stored.startswith(SEALED) else stored
