"""Examples printed in the SET specifications, transcribed as test vectors.

Each :class:`SetVector` holds the claims exactly as the document prints them (key order
too), where it is printed (document, section, figure or title), and what a receiver
should make of it: the event type URIs, where the subject is and its format, and whether
the SET meets the SSF 1.0 §4.1 profile (top-level ``sub_id``, no ``sub``, no ``exp``).
Where a document prints a compact JWT, ``header`` and ``compact`` hold it too.

Documents: RFC 8417 (SET), RFC 8935 (push), RFC 8936 (poll), and the OpenID Shared
Signals Framework 1.0, CAEP 1.0 and RISC 1.0 final specifications of 29 August 2025
(openid/sharedsignals, files openid-sharedsignals-framework-1_0.md, openid-caep-1_0.md,
openid-risc-1_0.xml; section numbers as rendered). None of these examples is signed with
a key a test could have: they are data for parsers and subject matching, not SETs to
push as they are.

``subject_at``: ``"sub_id"`` (the SSF 1.0 place), ``"event"`` (a ``subject`` member in
the event object, the pre-SSF RISC shape, RFC 8417 §2.1.4), ``"sub"`` (the JWT claim,
which SSF 1.0 §4.1.2 forbids), or None (no subject at the top level).

:data:`NOT_PRINTED` lists the examples asked for that no document prints.
"""

from __future__ import annotations

import typing as t
from dataclasses import dataclass


@dataclass(frozen=True)
class SetVector:
    """One example SET: its claims as printed and what they mean."""

    name: str
    source: str
    claims: dict[str, t.Any]
    event_types: tuple[str, ...]
    subject_format: str | None
    subject_at: str | None
    ssf_1_0: bool
    header: dict[str, t.Any] | None = None
    compact: str | None = None
    notes: str = ""


@dataclass(frozen=True)
class HttpExample:
    """One example HTTP request or response of a delivery protocol; ``body`` None: no body."""

    name: str
    source: str
    kind: str
    headers: dict[str, str]
    body: dict[str, t.Any] | str | None
    status: int | None = None
    notes: str = ""


# Compact SETs as printed (folded lines joined).
RFC8936_SET_4D35 = (
    "eyJhbGciOiJub25lIn0.eyJqdGkiOiI0ZDM1NTllYzY3NTA0YWFiYTY1ZDQwYjAzNjNmYWFkOCIsImlhdCI6MTQ1OD"
    "Q5NjQwNCwiaXNzIjoiaHR0cHM6Ly9zY2ltLmV4YW1wbGUuY29tIiwiYXVkIjpbImh0dHBzOi8vc2NpbS5leGFtcGxl"
    "LmNvbS9GZWVkcy85OGQ1MjQ2MWZhNWJiYzg3OTU5M2I3NzU0IiwiaHR0cHM6Ly9zY2ltLmV4YW1wbGUuY29tL0ZlZW"
    "RzLzVkNzYwNDUxNmIxZDA4NjQxZDc2NzZlZTciXSwiZXZlbnRzIjp7InVybjppZXRmOnBhcmFtczpzY2ltOmV2ZW50"
    "OmNyZWF0ZSI6eyJyZWYiOiJodHRwczovL3NjaW0uZXhhbXBsZS5jb20vVXNlcnMvNDRmNjE0MmRmOTZiZDZhYjYxZT"
    "c1MjFkOSIsImF0dHJpYnV0ZXMiOlsiaWQiLCJuYW1lIiwidXNlck5hbWUiLCJwYXNzd29yZCIsImVtYWlscyJdfX19"
    "."
)
RFC8936_SET_3D0C = (
    "eyJhbGciOiJub25lIn0.eyJqdGkiOiIzZDBjM2NmNzk3NTg0YmQxOTNiZDBmYjFiZDRlN2QzMCIsImlhdCI6MTQ1OD"
    "Q5NjAyNSwiaXNzIjoiaHR0cHM6Ly9zY2ltLmV4YW1wbGUuY29tIiwiYXVkIjpbImh0dHBzOi8vamh1Yi5leGFtcGxl"
    "LmNvbS9GZWVkcy85OGQ1MjQ2MWZhNWJiYzg3OTU5M2I3NzU0IiwiaHR0cHM6Ly9qaHViLmV4YW1wbGUuY29tL0ZlZW"
    "RzLzVkNzYwNDUxNmIxZDA4NjQxZDc2NzZlZTciXSwic3ViIjoiaHR0cHM6Ly9zY2ltLmV4YW1wbGUuY29tL1VzZXJz"
    "LzQ0ZjYxNDJkZjk2YmQ2YWI2MWU3NTIxZDkiLCJldmVudHMiOnsidXJuOmlldGY6cGFyYW1zOnNjaW06ZXZlbnQ6cG"
    "Fzc3dvcmRSZXNldCI6eyJpZCI6IjQ0ZjYxNDJkZjk2YmQ2YWI2MWU3NTIxZDkifSwiaHR0cHM6Ly9leGFtcGxlLmNv"
    "bS9zY2ltL2V2ZW50L3Bhc3N3b3JkUmVzZXRFeHQiOnsicmVzZXRBdHRlbXB0cyI6NX19fQ."
)
RFC8935_SET = (
    "eyJ0eXAiOiJzZWNldmVudCtqd3QiLCJhbGciOiJIUzI1NiJ9Cg.eyJpc3MiOiJodHRwczovL2lkcC5leGFtcGxlLmN"
    "vbS8iLCJqdGkiOiI3NTZFNjk3MTc1NjUyMDY5NjQ2NTZFNzQ2OTY2Njk2NTcyIiwiaWF0IjoxNTA4MTg0ODQ1LCJhd"
    "WQiOiI2MzZDNjk2NTZFNzQ1RjY5NjQiLCJldmVudHMiOnsiaHR0cHM6Ly9zY2hlbWFzLm9wZW5pZC5uZXQvc2VjZXZ"
    "lbnQvcmlzYy9ldmVudC10eXBlL2FjY291bnQtZGlzYWJsZWQiOnsic3ViamVjdCI6eyJzdWJqZWN0X3R5cGUiOiJpc"
    "3Mtc3ViIiwiaXNzIjoiaHR0cHM6Ly9pZHAuZXhhbXBsZS5jb20vIiwic3ViIjoiNzM3NTYyNkE2NTYzNzQifSwicmV"
    "hc29uIjoiaGlqYWNraW5nIn19fQ.Y4rXxMD406P2edv00cr9Wf3_XwNtLjB9n-jTqN1_lLc"
)

SET_VECTORS: tuple[SetVector, ...] = (
    SetVector(
        name="rfc8417-scim-password-reset",
        source="RFC 8417 §2.1.1, Figure 1 (Example SCIM Password Reset Event)",
        claims={
            "iss": "https://scim.example.com",
            "iat": 1458496025,
            "jti": "3d0c3cf797584bd193bd0fb1bd4e7d30",
            "aud": [
                "https://jhub.example.com/Feeds/98d52461fa5bbc879593b7754",
                "https://jhub.example.com/Feeds/5d7604516b1d08641d7676ee7",
            ],
            "sub": "https://scim.example.com/Users/44f6142df96bd6ab61e7521d9",
            "events": {
                "urn:ietf:params:scim:event:passwordReset": {"id": "44f6142df96bd6ab61e7521d9"},
                "https://example.com/scim/event/passwordResetExt": {"resetAttempts": 5},
            },
        },
        event_types=("urn:ietf:params:scim:event:passwordReset", "https://example.com/scim/event/passwordResetExt"),
        subject_format=None,
        subject_at="sub",
        ssf_1_0=False,
        notes=(
            "Two event URIs in one SET: an event and an extension of it. The subject is the JWT 'sub' claim, not "
            "'sub_id'."
        ),
    ),
    SetVector(
        name="rfc8417-logout",
        source="RFC 8417 §2.1.2, Figure 2 (Example OpenID Back-Channel Logout Event)",
        claims={
            "iss": "https://server.example.com",
            "sub": "248289761001",
            "aud": "s6BhdRkqt3",
            "iat": 1471566154,
            "jti": "bWJq",
            "sid": "08a5019c-17e1-4977-8f42-65a12843ea02",
            "events": {"http://schemas.openid.net/event/backchannel-logout": {}},
        },
        event_types=("http://schemas.openid.net/event/backchannel-logout",),
        subject_format=None,
        subject_at="sub",
        ssf_1_0=False,
        notes="An OpenID Back-Channel Logout token shaped as a SET; subject in 'sub' and 'sid'. Not an SSF event.",
    ),
    SetVector(
        name="rfc8417-consent",
        source="RFC 8417 §2.1.3, Figure 3 (Example Consent Event)",
        claims={
            "iss": "https://my.med.example.org",
            "iat": 1458496025,
            "jti": "fb4e75b5411e4e19b6c0fe87950f7749",
            "aud": ["https://rp.example.com"],
            "events": {
                "https://openid.net/heart/specs/consent.html": {
                    "iss": "https://connect.example.com",
                    "sub": "248289761001",
                    "consentUri": ["https://terms.med.example.org/labdisclosure.html#Agree"],
                },
            },
        },
        event_types=("https://openid.net/heart/specs/consent.html",),
        subject_format=None,
        subject_at=None,
        ssf_1_0=False,
        notes=(
            "The event payload carries its own 'iss' and 'sub' (the subject's issuer), distinct from the SET's "
            "'iss'."
        ),
    ),
    SetVector(
        name="rfc8417-risc-account-disabled",
        source="RFC 8417 §2.1.4, Figure 4 (Example RISC Event)",
        claims={
            "iss": "https://idp.example.com/",
            "jti": "756E69717565206964656E746966696572",
            "iat": 1508184845,
            "aud": "636C69656E745F6964",
            "events": {
                "https://schemas.openid.net/secevent/risc/event-type/account-disabled": {
                    "subject": {
                        "subject_type": "iss-sub",
                        "iss": "https://idp.example.com/",
                        "sub": "7375626A656374",
                    },
                    "reason": "hijacking",
                },
            },
        },
        event_types=("https://schemas.openid.net/secevent/risc/event-type/account-disabled",),
        subject_format="iss-sub",
        subject_at="event",
        ssf_1_0=False,
        notes=(
            "Pre-SSF shape: the subject is inside the event ('subject', with 'subject_type': 'iss-sub', "
            "hyphenated), no top-level 'sub_id'. The prose mentions a 'cause-time' value the example does not have."
        ),
    ),
    SetVector(
        name="rfc8417-scim-create-unsecured",
        source="RFC 8417 §2.4, Figures 5 and 6 (Example Event Claims; Example Unsecured SET)",
        claims={
            "iss": "https://scim.example.com",
            "iat": 1458496404,
            "jti": "4d3559ec67504aaba65d40b0363faad8",
            "aud": [
                "https://scim.example.com/Feeds/98d52461fa5bbc879593b7754",
                "https://scim.example.com/Feeds/5d7604516b1d08641d7676ee7",
            ],
            "events": {
                "urn:ietf:params:scim:event:create": {
                    "ref": "https://scim.example.com/Users/44f6142df96bd6ab61e7521d9",
                    "attributes": ["id", "name", "userName", "password", "emails"],
                },
            },
        },
        event_types=("urn:ietf:params:scim:event:create",),
        subject_format=None,
        subject_at=None,
        ssf_1_0=False,
        header={"typ": "secevent+jwt", "alg": "none"},
        compact=(
            "eyJ0eXAiOiJzZWNldmVudCtqd3QiLCJhbGciOiJub25lIn0.eyJpc3MiOiJodHRwczovL3NjaW0uZXhhbXBsZS5jb2"
            "0iLCJpYXQiOjE0NTg0OTY0MDQsImp0aSI6IjRkMzU1OWVjNjc1MDRhYWJhNjVkNDBiMDM2M2ZhYWQ4IiwiYXVkIjpb"
            "Imh0dHBzOi8vc2NpbS5leGFtcGxlLmNvbS9GZWVkcy85OGQ1MjQ2MWZhNWJiYzg3OTU5M2I3NzU0IiwiaHR0cHM6Ly"
            "9zY2ltLmV4YW1wbGUuY29tL0ZlZWRzLzVkNzYwNDUxNmIxZDA4NjQxZDc2NzZlZTciXSwiZXZlbnRzIjp7InVybjpp"
            "ZXRmOnBhcmFtczpzY2ltOmV2ZW50OmNyZWF0ZSI6eyJyZWYiOiJodHRwczovL3NjaW0uZXhhbXBsZS5jb20vVXNlcn"
            "MvNDRmNjE0MmRmOTZiZDZhYjYxZTc1MjFkOSIsImF0dHJpYnV0ZXMiOlsiaWQiLCJuYW1lIiwidXNlck5hbWUiLCJw"
            "YXNzd29yZCIsImVtYWlscyJdfX19."
        ),
        notes=(
            "Printed as claims and as an unsecured JWT (alg none, empty signature): a receiver must refuse alg "
            "none."
        ),
    ),
    SetVector(
        name="rfc8935-risc-account-disabled",
        source="RFC 8935 §2.1, Figure 1 (Example SET Transmission Request)",
        claims={
            "iss": "https://idp.example.com/",
            "jti": "756E69717565206964656E746966696572",
            "iat": 1508184845,
            "aud": "636C69656E745F6964",
            "events": {
                "https://schemas.openid.net/secevent/risc/event-type/account-disabled": {
                    "subject": {
                        "subject_type": "iss-sub",
                        "iss": "https://idp.example.com/",
                        "sub": "7375626A656374",
                    },
                    "reason": "hijacking",
                },
            },
        },
        event_types=("https://schemas.openid.net/secevent/risc/event-type/account-disabled",),
        subject_format="iss-sub",
        subject_at="event",
        ssf_1_0=False,
        header={"typ": "secevent+jwt", "alg": "HS256"},
        compact=RFC8935_SET,
        notes=(
            "Printed only as a compact JWS (HS256, key not given, so the signature cannot be checked); 'claims' is "
            "its decoded payload, equal to RFC 8417 §2.1.4. The header JSON ends with a newline ('Cg' in "
            "base64url)."
        ),
    ),
    SetVector(
        name="ssf-verification-array-aud",
        source="SSF 1.0 §4.1.8 (\"Example: SET with array 'aud' claim\")",
        claims={
            "jti": "123456",
            "iss": "https://transmitter.example.com",
            "aud": ["receiver.example.com/web", "receiver.example.com/mobile"],
            "iat": 1493856000,
            "txn": "8675309",
            "sub_id": {"format": "opaque", "id": "72e6991badb44e08a69672960053b342"},
            "events": {
                "https://schemas.openid.net/secevent/ssf/event-type/verification": {
                    "state": "VGhpcyBpcyBhbiBleGFtcGxlIHN0YXRlIHZhbHVlLgo=",
                },
            },
        },
        event_types=("https://schemas.openid.net/secevent/ssf/event-type/verification",),
        subject_format="opaque",
        subject_at="sub_id",
        ssf_1_0=True,
        notes="'aud' is an array; verification event with 'state'; 'sub_id' is opaque but not a stream id.",
    ),
    SetVector(
        name="ssf-account-enabled-email",
        source="SSF 1.0 §5 (\"Example: SET Containing an SSF Event with a Simple Subject Member\")",
        claims={
            "iss": "https://idp.example.com/",
            "jti": "756E69717565206964656E746966696572",
            "iat": 1520364019,
            "txn": "8675309",
            "aud": "636C69656E745F6964",
            "sub_id": {"format": "email", "email": "foo@example.com"},
            "events": {"https://schemas.openid.net/secevent/risc/event-type/account-enabled": {}},
        },
        event_types=("https://schemas.openid.net/secevent/risc/event-type/account-enabled",),
        subject_format="email",
        subject_at="sub_id",
        ssf_1_0=True,
    ),
    SetVector(
        name="ssf-account-disabled-phone",
        source="SSF 1.0 §5 (\"Example: SET Containing a RISC Event with a Phone Number Subject\")",
        claims={
            "iss": "https://idp.example.com/",
            "jti": "756E69717565206964656E746966696572",
            "iat": 1520364019,
            "txn": "8675309",
            "aud": "636C69656E745F6964",
            "sub_id": {"format": "phone_number", "phone_number": "+1 206 555 0123"},
            "events": {
                "https://schemas.openid.net/secevent/risc/event-type/account-disabled": {"reason": "hijacking"},
            },
        },
        event_types=("https://schemas.openid.net/secevent/risc/event-type/account-disabled",),
        subject_format="phone_number",
        subject_at="sub_id",
        ssf_1_0=True,
    ),
    SetVector(
        name="ssf-token-claims-change-token",
        source="SSF 1.0 §5 (\"Example: SET Containing a CAEP Event with Properties\")",
        claims={
            "iss": "https://idp.example.com/",
            "jti": "756E69717565206964656E746966696572",
            "iat": 1520364019,
            "txn": "8675309",
            "aud": "636C69656E745F6964",
            "sub_id": {"format": "email", "email": "user@example.com"},
            "events": {
                "https://schemas.openid.net/secevent/caep/event-type/token-claims-change": {
                    "claims": {"token": "some-token-value"},
                },
            },
        },
        event_types=("https://schemas.openid.net/secevent/caep/event-type/token-claims-change",),
        subject_format="email",
        subject_at="sub_id",
        ssf_1_0=True,
    ),
    SetVector(
        name="ssf-session-revoked-complex",
        source="SSF 1.0 §5 (\"Example: SET Containing an SSF Event with a Complex Subject Member\")",
        claims={
            "iss": "https://idp.example.com/",
            "jti": "756E69717565206964656E746966696572",
            "iat": 1520364019,
            "txn": "8675309",
            "aud": "636C69656E745F6964",
            "sub_id": {
                "format": "complex",
                "user": {
                    "format": "iss_sub",
                    "iss": "https://idp.example.com/3957ea72-1b66-44d6-a044-d805712b9288/",
                    "sub": "jane.smith@example.com",
                },
                "device": {
                    "format": "iss_sub",
                    "iss": "https://idp.example.com/3957ea72-1b66-44d6-a044-d805712b9288/",
                    "sub": "e9297990-14d2-42ec-a4a9-4036db86509a",
                },
            },
            "events": {
                "https://schemas.openid.net/secevent/caep/event-type/session-revoked": {
                    "initiating_entity": "policy",
                    "reason_admin": {"en": "Policy Violation: C076E82F"},
                    "reason_user": {"en": "Land speed violation.", "es": "Violación de velocidad en tierra."},
                    "event_timestamp": 1600975810,
                },
            },
        },
        event_types=("https://schemas.openid.net/secevent/caep/event-type/session-revoked",),
        subject_format="complex",
        subject_at="sub_id",
        ssf_1_0=True,
        notes="Complex subject user + device, both iss_sub.",
    ),
    SetVector(
        name="ssf-token-claims-change-role",
        source="SSF 1.0 §5 (\"Example: SET Containing an SSF Event with a Simple Subject and a Property Member\")",
        claims={
            "iss": "https://sp.example2.com/",
            "jti": "756E69717565206964656E746966696572",
            "iat": 1520364019,
            "txn": "8675309",
            "aud": "636C69656E745F6964",
            "sub_id": {"format": "email", "email": "foo@example2.com"},
            "events": {
                "https://schemas.openid.net/secevent/caep/event-type/token-claims-change": {
                    "event_timestamp": 1600975810,
                    "claims": {"role": "ro-admin"},
                },
            },
        },
        event_types=("https://schemas.openid.net/secevent/caep/event-type/token-claims-change",),
        subject_format="email",
        subject_at="sub_id",
        ssf_1_0=True,
    ),
    SetVector(
        name="ssf-proprietary-subject",
        source="SSF 1.0 §5 (\"Example: SET Containing an SSF Event with a Proprietary Subject Identifier Format\")",
        claims={
            "iss": "https://myservice.example3.com/",
            "jti": "756E69717565206964656E746966696534",
            "iat": 15203800012,
            "txn": "8675309",
            "aud": "636C69656E745F6324",
            "sub_id": {"format": "catalog_item", "catalog_id": "c0384/winter/2354122"},
            "events": {
                "https://schemas.openid.net/secevent/caep/event-type/token-claims-change": {
                    "event_timestamp": 1600975810,
                    "claims": {"role": "ro-admin"},
                },
            },
        },
        event_types=("https://schemas.openid.net/secevent/caep/event-type/token-claims-change",),
        subject_format="catalog_item",
        subject_at="sub_id",
        ssf_1_0=True,
        notes="Proprietary 'catalog_item' format; 'iat' 15203800012 has 11 digits (year 2451) as printed.",
    ),
    SetVector(
        name="ssf-verification",
        source="SSF 1.0 §8.1.4.2 (\"Example: Verification SET\")",
        claims={
            "jti": "123456",
            "iss": "https://transmitter.example.com",
            "aud": "receiver.example.com",
            "iat": 1493856000,
            "sub_id": {"format": "opaque", "id": "f67e39a0a4d34d56b3aa1bc4cff0069f"},
            "events": {
                "https://schemas.openid.net/secevent/ssf/event-type/verification": {
                    "state": "VGhpcyBpcyBhbiBleGFtcGxlIHN0YXRlIHZhbHVlLgo=",
                },
            },
        },
        event_types=("https://schemas.openid.net/secevent/ssf/event-type/verification",),
        subject_format="opaque",
        subject_at="sub_id",
        ssf_1_0=True,
        notes=(
            "The answer to a verification request for stream f67e39a0...; 'sub_id' is opaque with the stream id "
            "(§8.1.4.1)."
        ),
    ),
    SetVector(
        name="ssf-stream-updated",
        source="SSF 1.0 §8.1.5 (\"Example: Stream Updated SET\")",
        claims={
            "jti": "123456",
            "iss": "https://transmitter.example.com",
            "aud": "receiver.example.com",
            "iat": 1493856000,
            "sub_id": {"format": "opaque", "id": "f67e39a0a4d34d56b3aa1bc4cff0069f"},
            "events": {
                "https://schemas.openid.net/secevent/ssf/event-type/stream-updated": {
                    "status": "paused",
                    "reason": "Internal error",
                },
            },
        },
        event_types=("https://schemas.openid.net/secevent/ssf/event-type/stream-updated",),
        subject_format="opaque",
        subject_at="sub_id",
        ssf_1_0=True,
    ),
    SetVector(
        name="caep-session-revoked-simple",
        source="CAEP 1.0 §3.1.2 (\"Example: Session Revoked - Required claims + Simple Subject\")",
        claims={
            "iss": "https://idp.example.com/123456789/",
            "jti": "24c63fb56e5a2d77a6b512616ca9fa24",
            "iat": 1615305159,
            "aud": "https://sp.example.com/caep",
            "txn": "8675309",
            "sub_id": {"format": "opaque", "id": "dMTlD|1600802906337.16|16008.16"},
            "events": {
                "https://schemas.openid.net/secevent/caep/event-type/session-revoked": {
                    "event_timestamp": 1615304991,
                },
            },
        },
        event_types=("https://schemas.openid.net/secevent/caep/event-type/session-revoked",),
        subject_format="opaque",
        subject_at="sub_id",
        ssf_1_0=True,
    ),
    SetVector(
        name="caep-session-revoked-user-session",
        source="CAEP 1.0 §3.1.2 (\"Example: Session Revoked - subject as `sub` claim (includes optional claims)\")",
        claims={
            "iss": "https://idp.example.com/123456789/",
            "jti": "24c63fb56e5a2d77a6b512616ca9fa24",
            "iat": 1615305159,
            "aud": "https://sp.example.com/caep",
            "txn": "8675309",
            "sub_id": {
                "format": "complex",
                "session": {"format": "opaque", "id": "dMTlD|1600802906337.16|16008.16"},
                "user": {
                    "format": "iss_sub",
                    "iss": "https://idp.example.com/123456789/",
                    "sub": "99beb27c-c1c2-4955-882a-e0dc4996fcbc",
                },
                "tenant": {"format": "opaque", "id": "123456789"},
            },
            "events": {
                "https://schemas.openid.net/secevent/caep/event-type/session-revoked": {
                    "initiating_entity": "policy",
                    "reason_admin": {"en": "Landspeed Policy Violation: C076E82F"},
                    "reason_user": {
                        "en": "Access attempt from multiple regions.",
                        "es-410": "Intento de acceso desde varias regiones.",
                    },
                    "event_timestamp": 1615304991,
                },
            },
        },
        event_types=("https://schemas.openid.net/secevent/caep/event-type/session-revoked",),
        subject_format="complex",
        subject_at="sub_id",
        ssf_1_0=True,
        notes="Complex subject session + user + tenant, despite the title's 'sub claim'.",
    ),
    SetVector(
        name="caep-session-revoked-user-device",
        source=(
            "CAEP 1.0 §3.1.2 (\"Example: Session Revoked - Complex Subject describing user + device + tenant "
            "(includes optional claims)\")"
        ),
        claims={
            "iss": "https://idp.example.com/123456789/",
            "jti": "24c63fb56e5a2d77a6b512616ca9fa24",
            "iat": 1615305159,
            "aud": "https://sp.example.com/caep",
            "txn": "8675309",
            "sub_id": {
                "format": "complex",
                "user": {
                    "format": "iss_sub",
                    "iss": "https://idp.example.com/123456789/",
                    "sub": "jane.smith@example.com",
                },
                "device": {
                    "format": "iss_sub",
                    "iss": "https://idp.example.com/123456789/",
                    "sub": "e9297990-14d2-42ec-a4a9-4036db86509a",
                },
                "tenant": {"format": "opaque", "id": "123456789"},
            },
            "events": {
                "https://schemas.openid.net/secevent/caep/event-type/session-revoked": {
                    "initiating_entity": "policy",
                    "reason_admin": {"en": "Policy Violation: C076E822"},
                    "reason_user": {
                        "en": "This device is no longer compliant.",
                        "it": "Questo dispositivo non è più conforme.",
                    },
                    "event_timestamp": 1615304991,
                },
            },
        },
        event_types=("https://schemas.openid.net/secevent/caep/event-type/session-revoked",),
        subject_format="complex",
        subject_at="sub_id",
        ssf_1_0=True,
    ),
    SetVector(
        name="caep-token-claims-change-oidc",
        source="CAEP 1.0 §3.2.2 (\"Example: OIDC ID Token Claims Change - Required claims only\")",
        claims={
            "iss": "https://idp.example.com/987654321/",
            "jti": "9afce1e4e642b165fcaacdd0e7aa4903",
            "iat": 1615305159,
            "aud": "https://sp.example2.net/caep",
            "txn": "8675309",
            "sub_id": {
                "format": "jwt_id",
                "iss": "https://idp.example.com/987654321/",
                "jti": "f61t6e20zdo3px56gepu8rzlsp4c1dpc0fx7",
            },
            "events": {
                "https://schemas.openid.net/secevent/caep/event-type/token-claims-change": {
                    "event_timestamp": 1615304991,
                    "claims": {"role": "ro-admin"},
                },
            },
        },
        event_types=("https://schemas.openid.net/secevent/caep/event-type/token-claims-change",),
        subject_format="jwt_id",
        subject_at="sub_id",
        ssf_1_0=True,
    ),
    SetVector(
        name="caep-token-claims-change-oidc-optional",
        source="CAEP 1.0 §3.2.2 (\"Example: OIDC ID Token Claims Change - Optional claims\")",
        claims={
            "iss": "https://idp.example.com/987654321/",
            "jti": "9afce1e4e642b165fcaacdd0e7aa4903",
            "iat": 1615305159,
            "aud": "https://sp.example2.net/caep",
            "txn": "8675309",
            "sub_id": {
                "format": "jwt_id",
                "iss": "https://idp.example.com/987654321/",
                "jti": "f61t6e20zdo3px56gepu8rzlsp4c1dpc0fx7",
            },
            "events": {
                "https://schemas.openid.net/secevent/caep/event-type/token-claims-change": {
                    "event_timestamp": 1615304991,
                    "initiating_entity": "policy",
                    "reason_admin": {"en": "User left trusted network: CorpNet3"},
                    "reason_user": {
                        "en": "You're no longer connected to a trusted network.",
                        "it": "Non sei più connesso a una rete attendibile.",
                    },
                    "claims": {"trusted_network": False},
                },
            },
        },
        event_types=("https://schemas.openid.net/secevent/caep/event-type/token-claims-change",),
        subject_format="jwt_id",
        subject_at="sub_id",
        ssf_1_0=True,
    ),
    SetVector(
        name="caep-token-claims-change-saml",
        source="CAEP 1.0 §3.2.2 (\"Example: SAML Assertion Claims Change - Required claims only\")",
        claims={
            "iss": "https://idp.example.com/987654321/",
            "jti": "dae94fed5f459881efa38b65c6772ddc",
            "iat": 1615305159,
            "aud": "https://sp.example2.net/caep",
            "txn": "8675309",
            "sub_id": {
                "format": "saml_assertion_id",
                "issuer": "https://idp.example.com/987654321/",
                "assertion_id": "_a75adf55-01d7-dbd8372ebdfc",
            },
            "events": {
                "https://schemas.openid.net/secevent/caep/event-type/token-claims-change": {
                    "event_timestamp": 1615304991,
                    "claims": {"http://schemas.xmlsoap.org/ws/2005/05/identity/claims/role": "ro-admin"},
                },
            },
        },
        event_types=("https://schemas.openid.net/secevent/caep/event-type/token-claims-change",),
        subject_format="saml_assertion_id",
        subject_at="sub_id",
        ssf_1_0=True,
    ),
    SetVector(
        name="caep-credential-change-fido2",
        source=(
            "CAEP 1.0 §3.3.2 (\"Example: Provisioning a new FIDO2 authenticator - Simple Subject + optional claims\")"
        ),
        claims={
            "iss": "https://idp.example.com/3456789/",
            "jti": "07efd930f0977e4fcc1149a733ce7f78",
            "iat": 1615305159,
            "aud": "https://sp.example2.net/caep",
            "txn": "8675309",
            "sub_id": {
                "format": "iss_sub",
                "iss": "https://idp.example.com/3456789/",
                "sub": "jane.smith@example.com",
            },
            "events": {
                "https://schemas.openid.net/secevent/caep/event-type/credential-change": {
                    "credential_type": "fido2-roaming",
                    "change_type": "create",
                    "fido2_aaguid": "accced6a-63f5-490a-9eea-e59bc1896cfc",
                    "friendly_name": "Jane's USB authenticator",
                    "initiating_entity": "user",
                    "reason_admin": {"en": "User self-enrollment"},
                    "event_timestamp": 1615304991,
                },
            },
        },
        event_types=("https://schemas.openid.net/secevent/caep/event-type/credential-change",),
        subject_format="iss_sub",
        subject_at="sub_id",
        ssf_1_0=True,
    ),
    SetVector(
        name="caep-assurance-level-increase",
        source="CAEP 1.0 §3.4.2 (\"Example: Assurance Level Increase - Simple Subject + optional claims\")",
        claims={
            "iss": "https://idp.example.com/3456789/",
            "jti": "07efd930f0977e4fcc1149a733ce7f78",
            "iat": 1615305159,
            "aud": "https://sp.example2.net/caep",
            "txn": "8675309",
            "sub_id": {
                "format": "iss_sub",
                "iss": "https://idp.example.com/3456789/",
                "sub": "jane.smith@example.com",
            },
            "events": {
                "https://schemas.openid.net/secevent/caep/event-type/assurance-level-change": {
                    "namespace": "NIST-AAL",
                    "current_level": "nist-aal2",
                    "previous_level": "nist-aal1",
                    "change_direction": "increase",
                    "initiating_entity": "user",
                    "event_timestamp": 1615304991,
                },
            },
        },
        event_types=("https://schemas.openid.net/secevent/caep/event-type/assurance-level-change",),
        subject_format="iss_sub",
        subject_at="sub_id",
        ssf_1_0=True,
    ),
    SetVector(
        name="caep-assurance-level-custom",
        source="CAEP 1.0 §3.4.2 (\"Example: Custom Assurance Level - Simple Subject\")",
        claims={
            "iss": "https://idp.example.com/3456789/",
            "jti": "07efd930f0977e4fcc1149a733ce7f78",
            "iat": 1615305159,
            "aud": "https://sp.example2.net/caep",
            "txn": "8675309",
            "sub_id": {
                "format": "iss_sub",
                "iss": "https://idp.example.com/3456789/",
                "sub": "jane.smith@example.com",
            },
            "events": {
                "https://schemas.openid.net/secevent/caep/event-type/assurance-level-change": {
                    "namespace": "Retinal Scan",
                    "current_level": "hi-res-scan",
                    "initiating_entity": "user",
                    "event_timestamp": 1615304991,
                },
            },
        },
        event_types=("https://schemas.openid.net/secevent/caep/event-type/assurance-level-change",),
        subject_format="iss_sub",
        subject_at="sub_id",
        ssf_1_0=True,
    ),
    SetVector(
        name="caep-device-compliance-change",
        source="CAEP 1.0 §3.5.2 (\"Example: Device No Longer Compliant - Complex Subject + optional claims\")",
        claims={
            "iss": "https://idp.example.com/123456789/",
            "jti": "24c63fb56e5a2d77a6b512616ca9fa24",
            "iat": 1615305159,
            "aud": "https://sp.example.com/caep",
            "txn": "8675309",
            "sub_id": {
                "format": "complex",
                "device": {
                    "format": "iss_sub",
                    "iss": "https://idp.example.com/123456789/",
                    "sub": "e9297990-14d2-42ec-a4a9-4036db86509a",
                },
                "tenant": {"format": "opaque", "id": "123456789"},
            },
            "events": {
                "https://schemas.openid.net/secevent/caep/event-type/device-compliance-change": {
                    "current_status": "not-compliant",
                    "previous_status": "compliant",
                    "initiating_entity": "policy",
                    "reason_admin": {"en": "Location Policy Violation: C076E8A3"},
                    "reason_user": {"en": "Device is no longer in a trusted location."},
                    "event_timestamp": 1615304991,
                },
            },
        },
        event_types=("https://schemas.openid.net/secevent/caep/event-type/device-compliance-change",),
        subject_format="complex",
        subject_at="sub_id",
        ssf_1_0=True,
    ),
    SetVector(
        name="caep-session-established",
        source="CAEP 1.0 §3.6.2 (Examples)",
        claims={
            "iss": "https://idp.example.com/123456789/",
            "jti": "24c63fb56e5a2d77a6b512616ca9fa24",
            "iat": 1615305159,
            "aud": "https://sp.example.com/caep",
            "txn": "8675309",
            "sub_id": {"format": "email", "email": "someuser@somedomain.com"},
            "events": {
                "https://schemas.openid.net/secevent/caep/event-type/session-established": {
                    "fp_ua": "abb0b6e7da81a42233f8f2b1a8ddb1b9a4c81611",
                    "acr": "AAL2",
                    "amr": ["otp"],
                    "event_timestamp": 1615304991,
                },
            },
        },
        event_types=("https://schemas.openid.net/secevent/caep/event-type/session-established",),
        subject_format="email",
        subject_at="sub_id",
        ssf_1_0=True,
    ),
    SetVector(
        name="caep-session-presented",
        source="CAEP 1.0 §3.7.2 (Examples)",
        claims={
            "iss": "https://idp.example.com/123456789/",
            "jti": "24c63fb56e5a2d77a6b512616ca9fa24",
            "iat": 1615305159,
            "aud": "https://sp.example.com/caep",
            "txn": "8675309",
            "sub_id": {"format": "email", "email": "someuser@somedomain.com"},
            "events": {
                "https://schemas.openid.net/secevent/caep/event-type/session-presented": {
                    "fp_ua": "abb0b6e7da81a42233f8f2b1a8ddb1b9a4c81611",
                    "ext_id": "12345",
                    "event_timestamp": 1615304991,
                },
            },
        },
        event_types=("https://schemas.openid.net/secevent/caep/event-type/session-presented",),
        subject_format="email",
        subject_at="sub_id",
        ssf_1_0=True,
    ),
    SetVector(
        name="caep-risk-level-change",
        source="CAEP 1.0 §3.8.2 (Examples)",
        claims={
            "iss": "https://idp.example.com/123456789/",
            "jti": "24c63fb56e5a2d77a6b512616ca9fa24",
            "iat": 1615305159,
            "aud": "https://sp.example.com/caep",
            "txn": "8675309",
            "sub_id": {"format": "iss_sub", "iss": "https://idp.example.com/3456789/", "sub": "jane.doe@example.com"},
            "events": {
                "https://schemas.openid.net/secevent/caep/event-type/risk-level-change": {
                    "current_level": "LOW",
                    "previous_level": "HIGH",
                    "event_timestamp": 1615304991,
                    "principal": "USER",
                    "risk_reason": "PASSWORD_FOUND_IN_DATA_BREACH",
                },
            },
        },
        event_types=("https://schemas.openid.net/secevent/caep/event-type/risk-level-change",),
        subject_format="iss_sub",
        subject_at="sub_id",
        ssf_1_0=True,
    ),
    SetVector(
        name="risc-account-credential-change-required",
        source="RISC 1.0 §2.1 (\"Example: Account Credential Change Required\")",
        claims={
            "iss": "https://idp.example.com/",
            "jti": "756E69717565206964656E746966696572",
            "iat": 1508184845,
            "aud": "636C69656E745F6964",
            "sub_id": {"format": "iss_sub", "iss": "https://idp.example.com/", "sub": "7375626A656374"},
            "events": {"https://schemas.openid.net/secevent/risc/event-type/account-credential-change-required": {}},
        },
        event_types=("https://schemas.openid.net/secevent/risc/event-type/account-credential-change-required",),
        subject_format="iss_sub",
        subject_at="sub_id",
        ssf_1_0=True,
    ),
    SetVector(
        name="risc-account-disabled",
        source="RISC 1.0 §2.3 (\"Example: Account Disabled\")",
        claims={
            "iss": "https://idp.example.com/",
            "jti": "756E69717565206964656E746966696572",
            "iat": 1508184845,
            "aud": "636C69656E745F6964",
            "sub_id": {"format": "iss_sub", "iss": "https://idp.example.com/", "sub": "7375626A656374"},
            "events": {
                "https://schemas.openid.net/secevent/risc/event-type/account-disabled": {"reason": "hijacking"},
            },
        },
        event_types=("https://schemas.openid.net/secevent/risc/event-type/account-disabled",),
        subject_format="iss_sub",
        subject_at="sub_id",
        ssf_1_0=True,
        notes="As printed the JSON is invalid: a trailing comma after \"sub\" in 'sub_id'. Transcribed without it.",
    ),
    SetVector(
        name="risc-identifier-changed",
        source="RISC 1.0 §2.5 (\"Example: Identifier Changed\")",
        claims={
            "iss": "https://idp.example.com/",
            "jti": "756E69717565206964656E746966696572",
            "iat": 1508184845,
            "aud": "636C69656E745F6964",
            "sub_id": {"format": "email", "email": "john.doe@example.com"},
            "events": {
                "https://schemas.openid.net/secevent/risc/event-type/identifier-changed": {
                    "new-value": "john.roe@example.com",
                },
            },
        },
        event_types=("https://schemas.openid.net/secevent/risc/event-type/identifier-changed",),
        subject_format="email",
        subject_at="sub_id",
        ssf_1_0=True,
        notes="The subject names the old address; 'new-value' (hyphenated) the new one.",
    ),
    SetVector(
        name="risc-identifier-recycled",
        source="RISC 1.0 §2.6 (\"Example: Identifier Recycled\")",
        claims={
            "iss": "https://idp.example.com/",
            "jti": "756E69717565206964656E746966696572",
            "iat": 1508184845,
            "aud": "636C69656E745F6964",
            "sub_id": {"format": "email", "email": "foo@example.com"},
            "events": {"https://schemas.openid.net/secevent/risc/event-type/identifier-recycled": {}},
        },
        event_types=("https://schemas.openid.net/secevent/risc/event-type/identifier-recycled",),
        subject_format="email",
        subject_at="sub_id",
        ssf_1_0=True,
    ),
    SetVector(
        name="risc-credential-compromise",
        source="RISC 1.0 §2.7 (\"Example: Compromised credential found\")",
        claims={
            "iss": "https://idp.example.com/3456790/",
            "jti": "756E69717565206964656E746966696572",
            "iat": 1508184845,
            "aud": "https://sp.example2.net/caep",
            "sub_id": {
                "format": "iss_sub",
                "iss": "https://idp.example.com/3456790/",
                "sub": "joe.smith@example.com",
            },
            "events": {
                "https://schemas.openid.net/secevent/risc/event-type/credential-compromise": {
                    "credential_type": "password",
                },
            },
        },
        event_types=("https://schemas.openid.net/secevent/risc/event-type/credential-compromise",),
        subject_format="iss_sub",
        subject_at="sub_id",
        ssf_1_0=True,
    ),
)

POLL_VECTORS: tuple[HttpExample, ...] = (
    HttpExample(
        name="rfc8936-initial-poll",
        source="RFC 8936 §2.4.1, Figure 1 (Example Initial Poll Request)",
        kind="request",
        headers={"Host": "notify.idp.example.com", "Content-Type": "application/json"},
        body={"returnImmediately": True},
    ),
    HttpExample(
        name="rfc8936-default-poll",
        source="RFC 8936 §2.4.1, Figure 2 (Example Default Poll Request)",
        kind="request",
        headers={"Host": "notify.idp.example.com", "Content-Type": "application/json"},
        body={},
        notes="Every member defaulted: no maxEvents limit, returnImmediately false (a long poll).",
    ),
    HttpExample(
        name="rfc8936-acknowledge-only",
        source="RFC 8936 §2.4.2, Figure 3 (Example Acknowledge-Only Request)",
        kind="request",
        headers={"Host": "notify.idp.example.com", "Content-Type": "application/json"},
        body={
            "ack": [
                "4d3559ec67504aaba65d40b0363faad8",
                "3d0c3cf797584bd193bd0fb1bd4e7d30"
            ],
            "maxEvents": 0,
            "returnImmediately": True
        },
    ),
    HttpExample(
        name="rfc8936-poll-with-ack",
        source="RFC 8936 §2.4.3, Figure 4 (Example Poll with Acknowledgement and No Errors)",
        kind="request",
        headers={"Host": "notify.idp.example.com", "Content-Type": "application/json"},
        body={
            "ack": [
                "4d3559ec67504aaba65d40b0363faad8",
                "3d0c3cf797584bd193bd0fb1bd4e7d30"
            ],
            "returnImmediately": False
        },
    ),
    HttpExample(
        name="rfc8936-poll-with-ack-and-error",
        source="RFC 8936 §2.4.4, Figure 5 (Example Poll Acknowledgement with Error)",
        kind="request",
        headers={"Host": "notify.idp.example.com", "Content-Language": "en-US", "Content-Type": "application/json"},
        body={
            "ack": ["3d0c3cf797584bd193bd0fb1bd4e7d30"],
            "setErrs": {
                "4d3559ec67504aaba65d40b0363faad8": {
                    "err": "authentication_failed",
                    "description": "The SET could not be authenticated"
                }
            },
            "returnImmediately": True
        },
        notes="A request carrying setErrs MUST carry Content-Language (RFC 8936 §2.6).",
    ),
    HttpExample(
        name="rfc8936-poll-response",
        source="RFC 8936 §2.5, Figure 6 (Example Poll Response)",
        kind="response",
        status=200,
        headers={"Content-Type": "application/json"},
        body={
            "sets": {
                "4d3559ec67504aaba65d40b0363faad8": RFC8936_SET_4D35,
                "3d0c3cf797584bd193bd0fb1bd4e7d30": RFC8936_SET_3D0C,
            }
        },
        notes=(
            "The SETs are printed folded across lines inside the JSON strings; here they are joined. Both are "
            "unsecured ({\"alg\":\"none\"}, no typ) and decode to the claims of RFC 8417 §2.4 and §2.1.1 "
            "(members in another order). No moreAvailable: the same as false."
        ),
    ),
    HttpExample(
        name="rfc8936-no-sets",
        source="RFC 8936 §2.5, Figure 7 (Example No SETs Poll Response)",
        kind="response",
        status=200,
        headers={"Content-Type": "application/json"},
        body={"sets": {}},
    ),
    HttpExample(
        name="rfc8936-poll-error",
        source="RFC 8936 §2.5.1, Figure 8 (Example Poll Error Response)",
        kind="response",
        status=400,
        headers={},
        body=None,
        notes="The body of an answer to an invalid poll is undefined and SHOULD be ignored.",
    ),
)

PUSH_VECTORS: tuple[HttpExample, ...] = (
    HttpExample(
        name="rfc8935-transmission-request",
        source="RFC 8935 §2.1, Figure 1 (Example SET Transmission Request)",
        kind="request",
        headers={
            "Host": "notify.rp.example.com",
            "Accept": "application/json",
            "Accept-Language": "en-US, en;q=0.5",
            "Content-Type": "application/secevent+jwt",
        },
        body=RFC8935_SET,
        notes="POST /Events; the body is the compact SET of the rfc8935-risc-account-disabled vector.",
    ),
    HttpExample(
        name="rfc8935-accepted",
        source="RFC 8935 §2.2, Figure 2 (Example Successful Delivery Response)",
        kind="response",
        status=202,
        headers={},
        body=None,
        notes="Success is 202 Accepted with an empty body.",
    ),
    HttpExample(
        name="rfc8935-invalid-key",
        source="RFC 8935 §2.3, Figure 3 (Example Error Response (invalid_key))",
        kind="response",
        status=400,
        headers={"Content-Language": "en-US", "Content-Type": "application/json"},
        body={"err": "invalid_key", "description": "Key ID 12345 has been revoked."},
    ),
    HttpExample(
        name="rfc8935-authentication-failed",
        source="RFC 8935 §2.3, Figure 4 (Example Error Response (authentication_failed))",
        kind="response",
        status=400,
        headers={"Content-Language": "en-US", "Content-Type": "application/json"},
        body={"err": "authentication_failed", "description": "Access token has expired."},
    ),
    HttpExample(
        name="rfc8935-invalid-issuer",
        source="RFC 8935 §2.3, Figure 5 (Example Error Response (access_denied))",
        kind="response",
        status=400,
        headers={"Content-Language": "en-US", "Content-Type": "application/json"},
        body={"err": "invalid_issuer", "description": "Not authorized for issuer https://iss.example.com/"},
        notes="The figure's title says access_denied; the body it prints says invalid_issuer.",
    ),
)

# RFC 8935 §2.4 (Table 1) error codes, and the one SSF 1.0 §8.1.4.1 adds to the registry.
SET_ERROR_CODES = (
    "invalid_request",
    "invalid_key",
    "invalid_issuer",
    "invalid_audience",
    "authentication_failed",
    "access_denied",
)
SSF_ERROR_CODES = ("invalid_state",)

NOT_PRINTED: tuple[tuple[str, str], ...] = (
    ("RISC account-purged", "RISC 1.0 §2.2 defines it ('Attributes: none') with no example; no document has one."),
    ("RISC account-enabled", "RISC 1.0 §2.4 has no example; SSF 1.0 §5 has one (ssf-account-enabled-email)."),
    ("RISC sessions-revoked", "RISC 1.0 §2.11 (deprecated: use CAEP session-revoked) has no example; no document has."),
)
