"""What an inbound receiver answers when it refuses a request: a reason and its error code."""

from __future__ import annotations


class InboundError(Exception):
    """A request from a provider or transmitter that must be refused; nothing has ended.

    :param description: why, in words that are sent back (they name no user or session).
    :param code: the error code sent back: RFC 8935's (``invalid_request``,
        ``invalid_key``, ``invalid_issuer``, ``invalid_audience``,
        ``authentication_failed``, ``access_denied``) for SETs; back-channel logout
        answers ``invalid_request`` whatever the code.
    """

    def __init__(self, description: str, code: str = "invalid_request") -> None:
        super().__init__(description)
        self.code = code
