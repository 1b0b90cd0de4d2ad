"""The registered client's logout settings, kept where idpyoidc reads them: its client database."""

from __future__ import annotations

import typing as t

if t.TYPE_CHECKING:
    from collections.abc import Iterable


class ClientRegistration:
    """Logout URIs of the one statically registered client (a mixin of ``OpenIDProvider``)."""

    client_id: str
    _context: t.Any

    @property
    def _client(self) -> dict[str, t.Any]:
        return self._context.cdb[self.client_id]

    @property
    def backchannel_logout_uri(self) -> str | None:
        return self._client.get("backchannel_logout_uri")

    @backchannel_logout_uri.setter
    def backchannel_logout_uri(self, uri: str | None) -> None:
        if uri is None:
            self._client.pop("backchannel_logout_uri", None)
        else:
            self._client["backchannel_logout_uri"] = uri

    @property
    def frontchannel_logout_uri(self) -> str | None:
        """The RP's front-channel logout URI, registered with ``frontchannel_logout_session_required``."""
        return self._client.get("frontchannel_logout_uri")

    @frontchannel_logout_uri.setter
    def frontchannel_logout_uri(self, uri: str | None) -> None:
        if uri is None:
            self._client.pop("frontchannel_logout_uri", None)
            self._client.pop("frontchannel_logout_session_required", None)
        else:
            self._client["frontchannel_logout_uri"] = uri
            self._client["frontchannel_logout_session_required"] = True

    @property
    def post_logout_redirect_uris(self) -> list[str]:
        return [uri for uri, _ in self._client.get("post_logout_redirect_uri", [])]

    @post_logout_redirect_uris.setter
    def post_logout_redirect_uris(self, uris: Iterable[str]) -> None:
        self._client["post_logout_redirect_uri"] = [(uri, {}) for uri in uris]
