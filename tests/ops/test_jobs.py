"""Jobs: steps in order with progress, a failure stops the job, one job of a kind at a time."""

from __future__ import annotations

import threading

import pytest

from liveinsight.ops.jobs import KEEP, Busy, Job, Jobs
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


def test_only_the_last_finished_jobs_are_kept_and_the_newest_come_first() -> None:
    jobs = Jobs()
    first = jobs.start("optimize", [("a", lambda: None)])
    wait_until(lambda: first.status == "done", 10, "the first job")
    made = [first]
    for _ in range(KEEP + 1):  # finished ones are let go when the next job starts
        job = jobs.start("optimize", [("a", lambda: None)])
        wait_until(lambda job=job: job.status == "done", 10, "a job")
        made.append(job)
    assert jobs.get(first.id) is None  # the oldest finished one is forgotten
    assert [j.id for j in jobs.all()] == [j.id for j in reversed(made[1:])]  # KEEP + 1
    assert made[-1].describe()["finished_at"] is not None


def test_ensure_idle_refuses_while_a_job_of_the_kind_runs() -> None:
    jobs = Jobs()
    release = threading.Event()
    job = jobs.start("reset", [("wait", lambda: release.wait(10))])
    with pytest.raises(Busy, match="a reset job is running already"):
        jobs.ensure_idle("reset")
    jobs.ensure_idle("delete")  # another kind: free to go
    assert job.describe()["current"] == "wait" and job.describe()["finished_at"] is None
    release.set()
    wait_until(lambda: job.status == "done", 10, "the job")
    jobs.ensure_idle("reset")
    assert Job("x", "empty", []).describe()["progress"] == 1.0  # no steps: nothing left
