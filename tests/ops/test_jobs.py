"""Jobs: steps in order with progress, a failure stops the job, one job of a kind at a time."""

from __future__ import annotations

import threading

import pytest

from liveinsight.ops.jobs import Busy, Jobs
from tests.support import wait_until


def test_steps_run_in_order_and_a_second_job_of_a_kind_waits_its_turn() -> None:
    jobs = Jobs()
    release, seen = threading.Event(), []
    job = jobs.start("optimize", [("one", lambda: seen.append(1)),
                                  ("two", lambda: release.wait(10) and 2)])
    with pytest.raises(Busy):
        jobs.start("optimize", [("again", lambda: None)])
    jobs.start("other", [("fine", lambda: None)])  # another kind may run
    wait_until(lambda: job.done == 1, 10, "the first step")
    assert job.describe()["progress"] == 0.5 and job.current == "two"
    release.set()
    wait_until(lambda: job.status == "done", 10, "the job")
    assert seen == [1] and job.results == {"two": 2} and jobs.get(job.id) is job


def test_a_failing_step_fails_the_job_and_skips_the_rest() -> None:
    jobs = Jobs()
    ran = []

    def broken() -> None:
        raise RuntimeError("disk full")

    job = jobs.start("optimize", [("a", broken), ("b", lambda: ran.append(1))])
    wait_until(lambda: job.status != "running", 10, "the job")
    assert (job.status, job.error, ran) == ("failed", "a: disk full", [])
