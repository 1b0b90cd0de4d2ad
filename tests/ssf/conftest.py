from __future__ import annotations

import typing as t

import pytest
import requests

from ssf.transmitter import Transmitter


@pytest.fixture
def tx() -> t.Iterator[Transmitter]:
    with Transmitter(audience="https://rp.example.test/ssf", long_poll_timeout=0.5) as transmitter:
        yield transmitter


@pytest.fixture
def api(tx: Transmitter) -> t.Iterator[requests.Session]:
    """A session that authenticates to the transmitter's management API and poll endpoints."""
    with requests.Session() as session:
        session.headers["Authorization"] = f"Bearer {tx.bearer_token}"
        yield session
