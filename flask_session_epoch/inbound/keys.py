"""The signing keys of a provider or transmitter: its JWKS, fetched, cached, and refetched sparingly.

A token naming a ``kid`` the cached set lacks fetches the set again, at most once per
``REFETCH_INTERVAL_SECONDS`` per key set: anyone can send a token with a made-up
``kid``, and without a limit each one would make this app fetch the keys.
"""

from __future__ import annotations

import threading
import time
import typing as t

import jwt

from .errors import InboundError

if t.TYPE_CHECKING:
    from collections.abc import Callable

# How long a fetched JWKS is trusted before it is fetched again, and how long one fetch may take.
JWKS_LIFESPAN_SECONDS = 300
HTTP_TIMEOUT_SECONDS = 10
REFETCH_INTERVAL_SECONDS = 10


class Keys:
    """The public signing keys published at a ``jwks_uri``.

    :param jwks_uri: gives the URI when the keys are first needed (it may come from a
        discovery document that is read lazily).
    :param token: what the tokens are called, in refusals ("logout token", "SET").
    :param owner: who publishes the keys, in refusals ("provider", "transmitter").
    """

    def __init__(self, jwks_uri: Callable[[], str], token: str, owner: str) -> None:
        self._jwks_uri = jwks_uri
        self._token, self._owner = token, owner
        self._client: jwt.PyJWKClient | None = None
        self._lock = threading.Lock()
        self._last_refetch: float | None = None

    def _jwks_client(self) -> jwt.PyJWKClient:
        with self._lock:
            if self._client is None:
                self._client = jwt.PyJWKClient(self._jwks_uri(), cache_keys=False, cache_jwk_set=True,
                                               lifespan=JWKS_LIFESPAN_SECONDS, timeout=HTTP_TIMEOUT_SECONDS)
            return self._client

    def _may_refetch(self) -> bool:
        with self._lock:
            now = time.monotonic()
            if self._last_refetch is not None and now - self._last_refetch < REFETCH_INTERVAL_SECONDS:
                return False
            self._last_refetch = now
            return True

    def signing_key(self, kid: str | None) -> jwt.PyJWK:
        """The public key with this ``kid`` (or the only one, without a ``kid``).

        :raises InboundError: ``invalid_key`` if the keys cannot be fetched or none matches.
        """
        client = self._jwks_client()
        cache = client.jwk_set_cache
        # A set that is fetched now is fresh already: fetching it again would not help.
        fetched_before = cache is not None and cache.get() is not None
        for refresh in (False, True):
            if refresh and not (fetched_before and self._may_refetch()):
                break
            try:
                keys = [key for key in client.get_jwk_set(refresh).keys if key.public_key_use in ("sig", None)]
            except jwt.PyJWKClientError as exc:
                raise InboundError(f"the {self._owner}'s keys could not be fetched ({exc})", "invalid_key") from None
            if kid is None and len(keys) == 1:
                return keys[0]
            for key in keys:
                if kid is not None and key.key_id == kid:
                    return key
        raise InboundError(f"the {self._token} is signed with a key the {self._owner} does not publish",
                           "invalid_key")
