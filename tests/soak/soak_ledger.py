"""What the soak test saw: credentials, requests, revocations, and what they add up to.

Every time is ``time.time()`` on this host, the same clock the servers run on.
"""

from __future__ import annotations

import itertools
import statistics
import threading
import typing as t
from collections import Counter
from dataclasses import dataclass, field

#: Outcomes of one authenticated request.
OK = "ok"  # 200, and the body names the credential's user
REFUSED = "refused"  # 401, or a page's redirect to the login form
WRONG_USER = "wrong-user"  # 200 for somebody else
UNEXPECTED = "unexpected"  # any other status
ERROR = "error"  # no answer at all (connection reset, timeout)

_numbers = itertools.count(1)


@dataclass(eq=False)
class Credential:
    """One login: a cookie session (and the copies of its cookie) or a JWT pair.

    Access tokens refreshed from this login's refresh token belong to it: they are as
    old as the login, whenever they were minted.
    """

    user: str
    kind: str  # "cookie" or "jwt"
    login_started: float
    login_ended: float
    number: int = field(default_factory=lambda: next(_numbers))


@dataclass(eq=False)
class Attempt:
    """One request made with a credential."""

    credential: Credential
    what: str  # "ping-cookie", "page-cookie", "ping-copied-cookie", "ping-jwt", "refresh-jwt"
    started: float
    ended: float
    status: int | None
    outcome: str
    source: str  # "load" or "verify"


@dataclass(eq=False)
class Revocation:
    """An operator action that must end credentials; ``users`` None means everyone."""

    kind: str
    users: frozenset[str] | None
    started: float
    committed: float  # when the CLI exited 0 or the API answered 200

    def affects(self, user: str) -> bool:
        return self.users is None or user in self.users


@dataclass(eq=False)
class Login:
    user: str
    kind: str
    started: float
    ended: float
    status: int | None
    ok: bool
    source: str


@dataclass(eq=False)
class Verification:
    """A fresh login of an affected user after a revocation, and the requests made with it."""

    after: str  # the revocation kind
    user: str
    tag: str  # sent as X-Soak-Tag, so the access log tells which worker served each request
    statuses: list[int | None] = field(default_factory=list)
    login_ok: bool = False
    workers: set[str] = field(default_factory=set)


class Ledger:
    """Thread-safe lists of everything that happened."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.attempts: list[Attempt] = []
        self.logins: list[Login] = []
        self.revocations: list[Revocation] = []
        self.disabled: list[tuple[str, float, float]] = []  # user, disable started, enable returned
        self.verifications: list[Verification] = []
        self.operator_calls: list[tuple[str, int | None]] = []  # what, status (None: no answer)
        self.problems: list[str] = []  # failures a thread could not turn into a record

    def add(self, item: Attempt | Login | Revocation | Verification) -> None:
        with self._lock:
            if isinstance(item, Attempt):
                self.attempts.append(item)
            elif isinstance(item, Login):
                self.logins.append(item)
            elif isinstance(item, Revocation):
                self.revocations.append(item)
            else:
                self.verifications.append(item)

    def operator_call(self, what: str, status: int | None) -> None:
        with self._lock:
            self.operator_calls.append((what, status))

    def disabled_between(self, user: str, started: float, ended: float) -> None:
        with self._lock:
            self.disabled.append((user, started, ended))

    def problem(self, message: str) -> None:
        with self._lock:
            self.problems.append(message)


@dataclass
class Leak:
    attempt: Attempt
    revocation: Revocation

    def __str__(self) -> str:
        a, r, c = self.attempt, self.revocation, self.attempt.credential
        return (
            f"{a.what} of {c.user} (login #{c.number} {c.kind}, done {r.started - c.login_ended:.3f}s before "
            f"the {r.kind}) answered {a.status}, started {a.started - r.committed:.3f}s after the {r.kind} returned"
        )


def leaks(ledger: Ledger) -> tuple[list[Leak], list[Leak], Counter[str]]:
    """Successes of credentials a revocation had ended, the ones that cannot be judged, and the tries.

    A leak: a 200 for a credential whose login finished before the revocation began, on
    a request that started after the revocation returned. A login that overlapped the
    revocation may or may not have seen it: its successes are counted apart, never as
    leaks (the README's "Limits" names this window). The tries count, per revocation
    kind, the requests that used an ended credential at all: without them the test
    would prove nothing.
    """
    found: list[Leak] = []
    unclear: list[Leak] = []
    tries: Counter[str] = Counter()
    for attempt in ledger.attempts:
        credential = attempt.credential
        for revocation in ledger.revocations:
            if not revocation.affects(credential.user) or attempt.started <= revocation.committed:
                continue
            if credential.login_ended < revocation.started:
                tries[revocation.kind] += 1
                if attempt.outcome == OK:
                    found.append(Leak(attempt, revocation))
            elif credential.login_started < revocation.committed and attempt.outcome == OK:
                unclear.append(Leak(attempt, revocation))
    return found, unclear, tries


def unexplained_refusals(ledger: Ledger) -> list[Attempt]:
    """The first refusal of each credential that no revocation of its user can explain."""
    first: dict[Credential, Attempt] = {}
    for attempt in ledger.attempts:
        if attempt.outcome != REFUSED:
            continue
        credential = attempt.credential
        explained = any(
            revocation.affects(credential.user)
            and revocation.started < attempt.ended
            and credential.login_started < revocation.committed
            for revocation in ledger.revocations
        )
        if not explained and (credential not in first or attempt.started < first[credential].started):
            first[credential] = attempt
    return sorted(first.values(), key=lambda attempt: attempt.started)


def unexplained_login_failures(ledger: Ledger) -> list[Login]:
    """Failed logins of a user who was not disabled at any moment of the attempt."""
    return [
        login for login in ledger.logins
        if not login.ok and not any(
            user == login.user and started < login.ended and login.started < ended
            for user, started, ended in ledger.disabled
        )
    ]


def percentile(values: t.Sequence[float], fraction: float) -> float:
    if not values:
        return float("nan")
    if len(values) == 1:
        return values[0]
    return statistics.quantiles(values, n=1000, method="inclusive")[round(fraction * 1000) - 1]


@dataclass
class Summary:
    """The figures printed at the end and the problems that fail the test."""

    mode: str
    seconds: float
    requests: int
    outcomes: Counter[str]
    logins: int
    login_failures: int
    revocations: Counter[str]
    revocation_seconds: dict[str, float]  # median time from start to return, per kind
    leaks: list[Leak]
    unclear: list[Leak]
    tries: Counter[str]
    server_errors: int
    transport_errors: int
    wrong_user: int
    unexpected: Counter[int | None]
    unexplained_refusals: list[Attempt]
    unexplained_login_failures: list[Login]
    verifications: list[Verification]
    workers: int
    p50_ms: float
    p99_ms: float
    login_p50_ms: float
    problems: list[str]

    def lines(self) -> list[str]:
        checked = self.verifications
        return [
            (f"soak [{self.mode}] {self.seconds:.1f}s of load, {self.requests} requests "
             f"({dict(sorted(self.outcomes.items()))}), {self.logins} logins ({self.login_failures} refused)"),
            (f"  revocations: {sum(self.revocations.values())} {dict(sorted(self.revocations.items()))}, "
             f"median seconds to return: {dict(sorted(self.revocation_seconds.items()))}"),
            (f"  requests with ended credentials: {sum(self.tries.values())} {dict(sorted(self.tries.items()))}; "
             f"leaks: {len(self.leaks)}"),
            f"  successes of logins that overlapped a revocation (not judged): {len(self.unclear)}",
            (f"  5xx: {self.server_errors}; no answer: {self.transport_errors}; wrong user: {self.wrong_user}; "
             f"other statuses: {dict(self.unexpected)}"),
            (f"  refusals no revocation explains: {len(self.unexplained_refusals)}; "
             f"login failures outside a disable: {len(self.unexplained_login_failures)}"),
            (f"  fresh logins checked after revocations: {len(checked)}, "
             f"{sum(len(v.statuses) for v in checked)} requests, "
             f"workers reached per check: min {min((len(v.workers) for v in checked), default=0)} of {self.workers}"),
            f"  latency p50 {self.p50_ms:.1f} ms, p99 {self.p99_ms:.1f} ms; login p50 {self.login_p50_ms:.1f} ms",
        ]


def summarize(ledger: Ledger, mode: str, seconds: float, workers: int) -> Summary:
    found, unclear, tries = leaks(ledger)
    attempts = ledger.attempts
    statuses = [a.status for a in attempts] + [login.status for login in ledger.logins]
    statuses += [status for _, status in ledger.operator_calls]
    refusals = unexplained_refusals(ledger)
    login_failures = unexplained_login_failures(ledger)
    latencies = sorted((a.ended - a.started) * 1000 for a in attempts if a.source == "load")
    login_latencies = sorted((login.ended - login.started) * 1000 for login in ledger.logins)
    unexpected = Counter(a.status for a in attempts if a.outcome == UNEXPECTED)
    summary = Summary(
        mode=mode,
        seconds=seconds,
        requests=len(attempts) + len(ledger.logins) + len(ledger.operator_calls),
        outcomes=Counter(a.outcome for a in attempts),
        logins=len(ledger.logins),
        login_failures=sum(not login.ok for login in ledger.logins),
        revocations=Counter(r.kind for r in ledger.revocations),
        revocation_seconds={
            kind: round(statistics.median(r.committed - r.started for r in ledger.revocations if r.kind == kind), 2)
            for kind in {r.kind for r in ledger.revocations}
        },
        leaks=found,
        unclear=unclear,
        tries=tries,
        server_errors=sum(status is not None and status >= 500 for status in statuses),
        transport_errors=sum(a.outcome == ERROR for a in attempts)
        + sum(login.status is None for login in ledger.logins),
        wrong_user=sum(a.outcome == WRONG_USER for a in attempts),
        unexpected=unexpected,
        unexplained_refusals=refusals,
        unexplained_login_failures=login_failures,
        verifications=list(ledger.verifications),
        workers=workers,
        p50_ms=percentile(latencies, 0.50),
        p99_ms=percentile(latencies, 0.99),
        login_p50_ms=percentile(login_latencies, 0.50),
        problems=[],
    )
    summary.problems = _problems(summary, ledger)
    return summary


def _problems(s: Summary, ledger: Ledger) -> list[str]:
    problems = list(ledger.problems)
    if s.leaks:
        problems.append(f"{len(s.leaks)} leaks, for example: " + "; ".join(map(str, s.leaks[:3])))
    if s.server_errors:
        problems.append(f"{s.server_errors} responses with a 5xx status")
    if s.transport_errors:
        problems.append(f"{s.transport_errors} requests got no answer")
    if s.wrong_user:
        problems.append(f"{s.wrong_user} successes answered for another user")
    if s.unexpected:
        problems.append(f"unexpected statuses: {dict(s.unexpected)}")
    if s.unexplained_refusals:
        first = s.unexplained_refusals[0]
        problems.append(
            f"{len(s.unexplained_refusals)} credentials refused with no revocation of their user, "
            f"first: {first.what} of {first.credential.user} (login #{first.credential.number})"
        )
    if s.unexplained_login_failures:
        problems.append(f"{len(s.unexplained_login_failures)} logins failed while the user was active")
    for call, status in ledger.operator_calls:
        if status != 200:
            problems.append(f"operator call {call} answered {status}")
    for v in s.verifications:
        if not v.login_ok or len(v.statuses) < 8 or any(status != 200 for status in v.statuses):
            problems.append(f"fresh login of {v.user} after {v.after}: login ok={v.login_ok}, "
                            f"statuses {v.statuses}")
    for kind in ("cli-revoke", "api-revoke", "password", "disable", "revoke-all"):
        if not s.tries.get(kind):
            problems.append(f"no request used a credential ended by a {kind}: the test proved nothing there")
    return problems
