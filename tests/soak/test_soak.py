"""Soak: revocations and single sessions ended under concurrent load against gunicorn with several workers.

Clients log many users in (cookie sessions and JWTs) and keep using their credentials
while an operator ends them through the CLI, the REST API, disable/enable, password
changes and one revoke-all. No request that started after a revocation returned may
succeed with a credential from before it; nothing may answer 5xx; a fresh login after
each revocation must work on every worker.

Meanwhile another operator ends one session at a time (the REST API's DELETE of one
session, as the admin or as its user, and the user's logout): from the moment that
returned, every request with that session (each copy of its cookie; a JWT login's
access and refresh tokens) must be refused, on every worker, while every other
session and token of the same user keeps working.
"""

from __future__ import annotations

import time

import pytest
from soak_clients import AnyLogin, LoadWorker, Schedule
from soak_ledger import Ledger, summarize
from soak_operator import Desk, Operator, SessionEnder
from soak_servers import Site

pytestmark = pytest.mark.soak

#: Seconds of load per session backend; more if the revoke-all comes late, never more than
#: LOAD_AT_MOST. The load goes on for AFTER_REVOKE_ALL seconds past the revoke-all.
LOAD_SECONDS = 45.0
LOAD_AT_MOST = 100.0
AFTER_REVOKE_ALL = 10.0
#: Concurrent client threads; each owns a few of the soak users.
CLIENTS = 8
#: Revocations start once every client has logged its users in, stop being started at
#: this share of the load, and are followed by one revoke-all.
LAST_REVOCATION_AT = 0.55
#: Past the load's end, how long the threads may take to wind down.
GRACE_SECONDS = 90.0


@pytest.mark.parametrize("soak_mode", ["redis", "cookie"], ids=["redis-sessions", "cookie-sessions"])
def test_revoked_credentials_never_succeed_under_load(soak_site: Site, capsys: pytest.CaptureFixture[str]) -> None:
    site = soak_site
    ledger = Ledger()
    desk = Desk(site)
    schedule = Schedule(LOAD_SECONDS, LOAD_AT_MOST, AFTER_REVOKE_ALL)
    began, latest = schedule.began, schedule.latest
    users = site.soak_users
    loaders = [LoadWorker(site, ledger, users[n::CLIENTS], schedule, seed=n) for n in range(CLIENTS)]

    logged_in: list[float] = []

    def all_logged_in() -> None:
        for loader in loaders:
            loader.ready.wait(timeout=max(0.0, latest - time.time()))
        logged_in.append(time.time())

    def live_login(user: str, kind: str) -> AnyLogin | None:
        return loaders[users.index(user) % CLIENTS].live.get((user, kind))

    last_start, give_up = began + LAST_REVOCATION_AT * LOAD_SECONDS, latest + GRACE_SECONDS / 2
    api = Operator("soak-operator-api", site, ledger, desk, ("api-revoke", "password"), schedule=schedule,
                   begin=all_logged_in, last_start=last_start, give_up=give_up, pause=1.0)
    # Each way of ending one session once, from the moment the load has sessions to end.
    ender = SessionEnder("soak-operator-sessions", site, ledger, desk, live_login=live_login, schedule=schedule,
                         begin=lambda: None, last_start=last_start, give_up=give_up, pause=0.3, once=True)
    cli = Operator("soak-operator-cli", site, ledger, desk, ("cli-revoke", "disable"), schedule=schedule,
                   begin=all_logged_in, last_start=last_start, give_up=give_up, pause=0.3, others=[api, ender],
                   # Both ways across the two modes: the CLI with Redis sessions, the REST API with cookies.
                   revoke_all_via="cli" if site.mode == "redis" else "api")
    threads = (*loaders, api, ender, cli)
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=max(1.0, latest + GRACE_SECONDS - time.time()))
    desk.close(ledger)
    stuck = [thread.name for thread in threads if thread.is_alive()]
    seconds = time.time() - began

    summary = summarize(ledger, site.mode, schedule.load_until - began, site.workers)
    problems = summary.problems + [f"server: {line}" for line in site.trouble()]
    if stuck:
        problems.append(f"threads still running after the grace period: {stuck}")
    workers = site.workers_for(None)
    for check in summary.verifications:
        if check.workers != workers:
            problems.append(f"the fresh login of {check.user} after a {check.after} was used on workers "
                            f"{sorted(check.workers)}, not on all of {sorted(workers)}")
    for end in summary.end_checks:
        for side, reached in (("its copies", end.ended_workers), ("the other sessions", end.other_workers)):
            if reached != workers:
                problems.append(f"after the {end.ending.kind} of {end.ending.credential.user}'s login "
                                f"#{end.ending.credential.number}, {side} were tried on workers {sorted(reached)}, "
                                f"not on all of {sorted(workers)}")
    with capsys.disabled():
        print()
        for line in summary.lines():
            print(line)
        print(f"  {seconds:.1f}s from the first login to the last check; {len(workers)} workers; "
              f"server logs: {site.server_log.parent}")
        print("  timeline (seconds from the start): " + ", ".join(f"{what} {when - began:.1f}" for what, when in (
            ("all logged in", min(logged_in, default=began)),
            ("last revocation returned", max((r.committed for r in ledger.revocations if r.users), default=began)),
            ("last single end returned", max((e.committed for e in ledger.endings), default=began)),
            ("revoke-all returned", schedule.revoke_all_at or began),
            ("load until", schedule.load_until),
        )))
    assert not problems, "\n".join(problems)
