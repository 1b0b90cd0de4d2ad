"""How long a back-channel logout takes, end to end inside the app.

Builds the test app (``tests/fabapp.py``) with one OpenID provider whose discovery
document and keys a loopback key server serves (``tests/keyserver.py``), then POSTs
signed logout tokens to ``/session_epoch/backchannel-logout/idp`` through Flask's test
client: one kind naming a ``sub`` (the user's epoch is stamped when the subject is
known), one naming a ``sid`` (a provider session is recorded as ended). Each request
validates the token, records its ``jti`` and writes in one transaction::

    python benchmarks/backchannel.py                                  # SQLite in a temp dir
    python benchmarks/backchannel.py --database-url postgresql+psycopg2://...  # an empty database

Needs the ``test`` extra. A server database is set up afresh (its tables are dropped).
It starts no process (the key server is a thread); the SQLite directory is removed at
the end, Ctrl-C and SIGTERM included.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import sys
import tempfile
import time
import typing as t
from pathlib import Path

TESTS = Path(__file__).resolve().parent.parent / "tests"
sys.path.insert(0, str(TESTS))

from _processes import guarded  # noqa: E402  (benchmarks/_processes.py)
from databases import dispose, drop_all, prepare_database  # noqa: E402
from fabapp import ALICE, create_app  # noqa: E402
from helpers import CLIENT_ID, oauth_config  # noqa: E402
from keyserver import KeyServer  # noqa: E402

from flask_session_epoch import oidc  # noqa: E402
from flask_session_epoch.revoke import db_session  # noqa: E402


def measure(url: str, tokens: int) -> None:
    if not url.startswith("sqlite"):
        drop_all(url)
    prepare_database(url)
    with KeyServer() as keys:
        app = create_app(url, **oauth_config(keys.metadata_url))
        with app.app_context():
            sm = app.appbuilder.sm
            db = db_session(sm)
            login = oidc.ProviderLogin(keys.issuer, "subject-alice", None)
            oidc.record_subject(db.connection(), login, sm.find_user(ALICE[0]).id, oidc.store.utcnow())
            db.commit()
        client = app.test_client()
        kinds: dict[str, t.Callable[[int], dict[str, t.Any]]] = {
            "sub, known user (stamps the epoch)": lambda i: keys.claims(CLIENT_ID),
            "sub, unknown subject": lambda i: keys.claims(CLIENT_ID, sub=f"nobody-{i}"),
            "sid (records an ended provider session)": lambda i: keys.claims(CLIENT_ID, sub=None, sid=f"sid-{i}"),
        }
        dialect = url.split(":", 1)[0]
        for kind, claims in kinds.items():
            times = []
            for i in range(tokens):
                token = keys.sign(claims(i))
                start = time.perf_counter()
                response = client.post("/session_epoch/backchannel-logout/idp", data={"logout_token": token})
                times.append((time.perf_counter() - start) * 1000)
                if response.status_code != 200:
                    raise SystemExit(f"unexpected {response.status_code}: {response.get_data(as_text=True)}")
            times.sort()
            p95 = times[int(len(times) * 0.95) - 1]
            print(f"{dialect:24} {kind:42} median {statistics.median(times):6.2f} ms   p95 {p95:6.2f} ms")
        print(f"{dialect:24} JWKS fetches: {keys.jwks_fetches} for {3 * tokens} tokens")
        dispose(app)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database-url", help="default: a new SQLite file")
    parser.add_argument("--tokens", type=int, default=300, help="tokens per kind (default 300)")
    args = parser.parse_args()
    scratch = None if args.database_url else tempfile.mkdtemp(prefix="fse-backchannel-")
    try:
        measure(args.database_url or f"sqlite:///{scratch}/app.db", args.tokens)
    finally:
        if scratch:
            shutil.rmtree(scratch, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(guarded(main))
