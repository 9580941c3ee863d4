"""A target that stops answering in the middle of a contract run: the run stops after a few
unanswered requests (not after every request's timeout), says UNAVAILABLE and exits 2; what got no
answer is an error of the run, never a violation."""

from __future__ import annotations

import asyncio

import pytest

from tests.rule_variants import staging_contract
from tests.support import fresh_fake

pytestmark = pytest.mark.slow


class HangsAfter:
    """The fake for its first ``answered`` requests; after them every request hangs for longer than the
    run waits for an answer. Counts the requests that came after."""

    def __init__(self, app, answered: int):
        self.app, self.answered, self.seen, self.after = app, answered, 0, 0

    async def __call__(self, scope, receive, send):
        if scope["type"] == "http":
            self.seen += 1
            if self.seen > self.answered:
                self.after += 1
                await asyncio.sleep(5)
        await self.app(scope, receive, send)


def test_a_target_that_hangs_mid_run_is_unavailable_after_a_few_requests():
    target = HangsAfter(fresh_fake()[0], answered=30)
    code, out, err = staging_contract(target, request_timeout=0.5, seed=0)
    assert code == 2, out + err
    verdict = out.rstrip().splitlines()[-1]
    assert verdict.startswith("UNAVAILABLE: "), verdict
    assert "VIOLATIONS" not in out and "Target stopped answering" in out, out
    # Three unanswered checks' requests, then the restore tries each user it changed once or twice.
    assert target.after <= 12, (target.after, out)
