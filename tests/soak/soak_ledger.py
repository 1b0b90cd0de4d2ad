"""What the soak test saw: credentials, requests, revocations, single sessions ended, and what they add up to.

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

#: (how a session was ended alone, a request that must have tried it afterwards): the
#: admin's DELETE of an API login (its access and refresh tokens) and of a browser session
#: (the copy of its cookie taken at login, the one taken just before the end), the user's
#: own DELETE and their logout (both copies).
REQUIRED_END_TRIES = (
    ("api-end-session", "ping-jwt"), ("api-end-session", "refresh-jwt"),
    ("api-end-session", "ping-copied-cookie"), ("api-end-session", "ping-latest-copy"),
    ("own-end-session", "ping-copied-cookie"), ("own-end-session", "page-latest-copy"),
    ("logout", "ping-copied-cookie"), ("logout", "page-copied-cookie"), ("logout", "ping-latest-copy"),
)


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
    #: The login's session record (the server's opaque id), once known: read from the JWTs'
    #: claim, from a signed cookie's stamp, or from ``GET /api/v1/session_epoch/me/sessions``.
    record_id: str | None = None


@dataclass(eq=False)
class Attempt:
    """One request made with a credential."""

    credential: Credential
    #: "ping-cookie", "page-cookie", "ping-copied-cookie", "page-copied-cookie", "ping-latest-copy",
    #: "page-latest-copy", "ping-jwt", "refresh-jwt", "my-sessions-cookie", "my-sessions-jwt"
    what: str
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
class Ending:
    """One session ended alone: its record deleted through the REST API, or its user logged out.

    It ends this credential only (every copy of its cookie; a JWT login's access and
    refresh tokens); the user's other sessions and tokens live on.
    """

    kind: str  # "api-end-session" (the admin's DELETE), "own-end-session" (the user's), "logout"
    credential: Credential
    started: float
    committed: float  # when the DELETE answered 200, or /logout/ its redirect

    def affects(self, user: str) -> bool:
        return user == self.credential.user


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


@dataclass(eq=False)
class EndCheck:
    """After one session ended alone: its copies tried until every worker refused them, and the
    same user's other sessions (a cookie and a JWT login from before the end) until every
    worker served them. Requests carry ``<tag>-ended`` and ``<tag>-others``."""

    ending: Ending
    tag: str
    ended: list[str] = field(default_factory=list)  # outcomes: each must be REFUSED
    others: list[str] = field(default_factory=list)  # outcomes: each must be OK
    ended_workers: set[str] = field(default_factory=set)
    other_workers: set[str] = field(default_factory=set)


class Ledger:
    """Thread-safe lists of everything that happened."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.attempts: list[Attempt] = []
        self.logins: list[Login] = []
        self.revocations: list[Revocation] = []
        self.endings: list[Ending] = []
        self.disabled: list[tuple[str, float, float]] = []  # user, disable started, enable returned
        self.verifications: list[Verification] = []
        self.end_checks: list[EndCheck] = []
        self.operator_calls: list[tuple[str, int | None, int]] = []  # what, status (None: no answer), expected
        self.problems: list[str] = []  # failures a thread could not turn into a record

    def add(self, item: Attempt | Login | Revocation | Ending | Verification | EndCheck) -> None:
        with self._lock:
            if isinstance(item, Attempt):
                self.attempts.append(item)
            elif isinstance(item, Login):
                self.logins.append(item)
            elif isinstance(item, Revocation):
                self.revocations.append(item)
            elif isinstance(item, Ending):
                self.endings.append(item)
            elif isinstance(item, EndCheck):
                self.end_checks.append(item)
            else:
                self.verifications.append(item)

    def operator_call(self, what: str, status: int | None, expected: int = 200) -> None:
        with self._lock:
            self.operator_calls.append((what, status, expected))

    def disabled_between(self, user: str, started: float, ended: float) -> None:
        with self._lock:
            self.disabled.append((user, started, ended))

    def problem(self, message: str) -> None:
        with self._lock:
            self.problems.append(message)


@dataclass
class Leak:
    attempt: Attempt
    revocation: Revocation | Ending

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


def _endings_of(ledger: Ledger) -> dict[Credential, list[Ending]]:
    found: dict[Credential, list[Ending]] = {}
    for ending in ledger.endings:
        found.setdefault(ending.credential, []).append(ending)
    return found


def end_leaks(ledger: Ledger) -> tuple[list[Leak], Counter[tuple[str, str]]]:
    """Successes of a session after it was ended alone, and the tries per (ending kind, request kind).

    A single end names its credential, so there is no window to leave out: every
    request with it (any copy of its cookie, its access or refresh token) that started
    after the end returned must be refused. The tries prove that each way was used.
    """
    found: list[Leak] = []
    tries: Counter[tuple[str, str]] = Counter()
    endings = _endings_of(ledger)
    for attempt in ledger.attempts:
        for ending in endings.get(attempt.credential, ()):
            if attempt.started > ending.committed:
                tries[(ending.kind, attempt.what)] += 1
                if attempt.outcome == OK:
                    found.append(Leak(attempt, ending))
    return found, tries


def _explained(attempt: Attempt, ledger: Ledger, endings: dict[Credential, list[Ending]]) -> bool:
    """Whether a revocation of its user, or the end of its very session, may have refused it."""
    credential = attempt.credential
    return any(
        revocation.affects(credential.user)
        and revocation.started < attempt.ended
        and credential.login_started < revocation.committed
        for revocation in ledger.revocations
    ) or any(ending.started < attempt.ended for ending in endings.get(credential, ()))


def bystanders(ledger: Ledger) -> tuple[int, int]:
    """Requests with the other sessions of a user after one of theirs ended alone, and the refused ones.

    Other sessions: logins of the same user finished before the end began, neither ended
    themselves nor caught by a revocation by then. Each of them must have been served;
    a refusal is also an unexplained refusal.
    """
    endings = _endings_of(ledger)
    tried = refused = 0
    for attempt in ledger.attempts:
        credential = attempt.credential
        after_an_end = any(
            ending.credential is not credential and ending.affects(credential.user)
            and credential.login_ended < ending.started and attempt.started > ending.committed
            for ending in ledger.endings
        )
        if after_an_end and not _explained(attempt, ledger, endings):
            tried += 1
            refused += attempt.outcome == REFUSED
    return tried, refused


def unexplained_refusals(ledger: Ledger) -> list[Attempt]:
    """The first refusal of each credential that no revocation of its user, nor the end of its
    very session, can explain. Ending one session explains nothing about the user's others."""
    first: dict[Credential, Attempt] = {}
    endings = _endings_of(ledger)
    for attempt in ledger.attempts:
        if attempt.outcome != REFUSED:
            continue
        credential = attempt.credential
        explained = _explained(attempt, ledger, endings)
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
    endings: Counter[str]
    ending_seconds: dict[str, float]  # median time from start to return, per kind
    end_leaks: list[Leak]
    end_tries: Counter[tuple[str, str]]
    bystander_requests: int
    bystander_refusals: int
    end_checks: list[EndCheck]
    workers: int
    p50_ms: float
    p99_ms: float
    login_p50_ms: float
    problems: list[str]

    def lines(self) -> list[str]:
        checked, ends = self.verifications, self.end_checks
        tries_by_kind: Counter[str] = Counter()
        tries_by_way: Counter[str] = Counter()
        for (kind, what), count in self.end_tries.items():
            tries_by_kind[kind] += count
            tries_by_way[what] += count
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
            (f"  single sessions ended: {sum(self.endings.values())} {dict(sorted(self.endings.items()))}, "
             f"median seconds to return: {dict(sorted(self.ending_seconds.items()))}"),
            (f"  requests with those sessions after their end: {sum(self.end_tries.values())} "
             f"{dict(sorted(tries_by_kind.items()))} {dict(sorted(tries_by_way.items()))}; "
             f"leaks: {len(self.end_leaks)}"),
            (f"  requests with their users' other sessions after the ends: {self.bystander_requests}, "
             f"refused: {self.bystander_refusals}; checked on every worker after each end: {len(ends)}, "
             f"{sum(len(c.ended) for c in ends)} requests with the ended copies "
             f"({sum(o != REFUSED for c in ends for o in c.ended)} not refused), "
             f"{sum(len(c.others) for c in ends)} with the other sessions "
             f"({sum(o != OK for c in ends for o in c.others)} not served)"),
            (f"  refusals no revocation or single end explains: {len(self.unexplained_refusals)}; "
             f"login failures outside a disable: {len(self.unexplained_login_failures)}"),
            (f"  fresh logins checked after revocations: {len(checked)}, "
             f"{sum(len(v.statuses) for v in checked)} requests, "
             f"workers reached per check: min {min((len(v.workers) for v in checked), default=0)} of {self.workers}"),
            f"  latency p50 {self.p50_ms:.1f} ms, p99 {self.p99_ms:.1f} ms; login p50 {self.login_p50_ms:.1f} ms",
        ]


def _medians(actions: t.Sequence[Revocation | Ending]) -> dict[str, float]:
    return {
        kind: round(statistics.median(a.committed - a.started for a in actions if a.kind == kind), 2)
        for kind in {a.kind for a in actions}
    }


def summarize(ledger: Ledger, mode: str, seconds: float, workers: int) -> Summary:
    found, unclear, tries = leaks(ledger)
    ended_leaks, ended_tries = end_leaks(ledger)
    bystander_requests, bystander_refusals = bystanders(ledger)
    attempts = ledger.attempts
    statuses = [a.status for a in attempts] + [login.status for login in ledger.logins]
    statuses += [status for _, status, _ in ledger.operator_calls]
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
        revocation_seconds=_medians(ledger.revocations),
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
        endings=Counter(e.kind for e in ledger.endings),
        ending_seconds=_medians(ledger.endings),
        end_leaks=ended_leaks,
        end_tries=ended_tries,
        bystander_requests=bystander_requests,
        bystander_refusals=bystander_refusals,
        end_checks=list(ledger.end_checks),
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
    if s.end_leaks:
        problems.append(f"{len(s.end_leaks)} leaks of sessions ended alone, for example: "
                        + "; ".join(map(str, s.end_leaks[:3])))
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
    for call, status, expected in ledger.operator_calls:
        if status != expected:
            problems.append(f"operator call {call} answered {status}, not {expected}")
    for v in s.verifications:
        if not v.login_ok or len(v.statuses) < 8 or any(status != 200 for status in v.statuses):
            problems.append(f"fresh login of {v.user} after {v.after}: login ok={v.login_ok}, "
                            f"statuses {v.statuses}")
    for kind in ("cli-revoke", "api-revoke", "password", "disable", "revoke-all"):
        if not s.tries.get(kind):
            problems.append(f"no request used a credential ended by a {kind}: the test proved nothing there")
    for c in s.end_checks:
        e = c.ending
        if len(c.ended) < 8 or any(outcome != REFUSED for outcome in c.ended):
            problems.append(f"after the {e.kind} of {e.credential.user}'s login #{e.credential.number} "
                            f"({e.credential.kind}), its copies answered {c.ended}")
        if len(c.others) < 8 or any(outcome != OK for outcome in c.others):
            problems.append(f"after the {e.kind} of {e.credential.user}'s login #{e.credential.number}, "
                            f"the user's other sessions answered {c.others}")
    # Every way of ending one session, and every copy of what it ended, was tried after the end.
    for kind, what in REQUIRED_END_TRIES:
        if not s.end_tries.get((kind, what)):
            problems.append(f"no {what} request used a session ended by a {kind}: the test proved nothing there")
    if not s.bystander_requests:
        problems.append("no request used a user's other sessions after one of theirs ended alone")
    return problems
