"""The one retry loop (``premarket.retry``) shared by the services and the orchestrator."""

from __future__ import annotations

import asyncio

import pytest

from premarket.retry import retry


class Flaky(Exception):
    pass


def _calls(outcomes: list):
    """A call that raises or returns each outcome in turn, and the list of waits it saw."""
    waits: list[float] = []

    async def call():
        outcome = outcomes.pop(0)
        if isinstance(outcome, Exception):
            raise outcome
        return outcome

    async def sleep(seconds: float) -> None:
        waits.append(seconds)

    return call, sleep, waits


def test_a_transient_failure_is_tried_again_with_backoff():
    call, sleep, waits = _calls([Flaky(), Flaky(), "ok"])
    result = asyncio.run(
        retry(call, tries=3, transient=lambda e: isinstance(e, Flaky), backoff_s=0.5, sleep=sleep)
    )
    assert result == ("ok", 3)
    assert waits == [0.5, 1.0]


def test_a_permanent_failure_is_not_retried():
    call, sleep, waits = _calls([ValueError("bad input"), "never"])
    gave_up = []
    with pytest.raises(ValueError, match="bad input"):
        asyncio.run(
            retry(
                call,
                tries=3,
                transient=lambda e: isinstance(e, Flaky),
                on_give_up=lambda exc, attempts: gave_up.append(attempts),
                sleep=sleep,
            )
        )
    assert waits == [] and gave_up == [1]


def test_the_last_transient_failure_propagates_after_every_try():
    call, sleep, _ = _calls([Flaky("1"), Flaky("2")])
    gave_up = []
    with pytest.raises(Flaky, match="2"):
        asyncio.run(
            retry(
                call,
                tries=2,
                transient=lambda e: True,
                on_give_up=lambda exc, attempts: gave_up.append((str(exc), attempts)),
                sleep=sleep,
            )
        )
    assert gave_up == [("2", 2)]


def test_a_retry_after_longer_than_the_backoff_is_honoured():
    call, sleep, waits = _calls([Flaky(), Flaky(), "ok"])
    asked = iter([3.0, None])
    result = asyncio.run(
        retry(
            call,
            tries=3,
            transient=lambda e: True,
            backoff_s=0.5,
            retry_after=lambda exc: next(asked),
            sleep=sleep,
        )
    )
    assert result == ("ok", 3) and waits == [3.0, 1.0]
