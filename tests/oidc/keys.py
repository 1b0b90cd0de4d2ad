"""The provider's signing keys: in-memory, rotated and retired the way cryptojwt does."""

from __future__ import annotations

import typing as t

from cryptojwt.key_bundle import build_key_bundle
from cryptojwt.key_jar import build_keyjar

from oidc.config import KEY_SPECS

if t.TYPE_CHECKING:
    from cryptojwt import KeyJar
    from idpyoidc.server import Server


class SigningKeys:
    """Key rotation and the served JWKS (a mixin of ``OpenIDProvider``)."""

    issuer: str
    signing_alg: str
    _server: Server

    def rotate_keys(self, retire_old: bool = False) -> str:
        """Sign from now on with a new key under a new ``kid``.

        :param retire_old: by default the old key stays published in the JWKS (a normal
            rollover, so tokens already issued still verify). True marks it inactive the
            way cryptojwt retires keys: it leaves the JWKS, and tokens it signed no longer
            verify against the served JWKS.
        :return: the new ``kid``.
        """
        keyjar = self._server.keyjar
        bundle = build_key_bundle([KEY_SPECS[self.signing_alg]])
        # idpyoidc signs with the first matching key filed under its issuer id or "",
        # inactive ones included, so the new bundle goes first under both.
        for owner in ("", self.issuer):
            key_issuer = keyjar[owner]
            if retire_old:
                key_issuer.mark_all_keys_as_inactive()
            key_issuer.set([bundle, *key_issuer.get_bundles()])
            keyjar[owner] = key_issuer
        return bundle.keys()[0].kid

    def jwks(self) -> dict[str, t.Any]:
        """The public JWKS served at ``jwks_uri``."""
        return self._server.keyjar.export_jwks(issuer_id="")

    def _new_keyjar(self) -> KeyJar:
        keyjar = build_keyjar([KEY_SPECS[self.signing_alg]])
        keyjar.import_jwks(keyjar.export_jwks(private=True), self.issuer)
        return keyjar
