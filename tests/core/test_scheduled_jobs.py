import threading
from datetime import timedelta
from unittest import mock

import pytest
from django.db import connection
from django.utils import timezone

from releasemgmt.core.choices import JobStatus
from releasemgmt.core.exceptions import DomainValidationError
from releasemgmt.core.models import ScheduledJob
from releasemgmt.core.services import (
    REDISPATCH_AFTER,
    scheduled_job_create,
    scheduled_job_run,
    scheduled_jobs_dispatch,
)
from tests.factories import ScheduledJobFactory


@pytest.mark.django_db
def test_create_validates_task_and_time():
    with pytest.raises(DomainValidationError):
        scheduled_job_create(task_name="no.such.task", due_at=timezone.now())
    with pytest.raises(DomainValidationError):
        scheduled_job_create(
            task_name="releasemgmt.core.tasks.ping", due_at=timezone.now().replace(tzinfo=None)
        )
    job = scheduled_job_create(task_name="releasemgmt.core.tasks.ping", due_at=timezone.now())
    assert job.status == JobStatus.PENDING


@pytest.mark.django_db
def test_dispatch_takes_only_due_jobs_and_runs_them_after_commit(
    django_capture_on_commit_callbacks,
):
    now = timezone.now()
    due = ScheduledJobFactory(due_at=now - timedelta(seconds=1))
    later = ScheduledJobFactory(due_at=now + timedelta(hours=1))
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        ids = scheduled_jobs_dispatch(now=now)
    assert ids == [due.pk]
    assert len(callbacks) == 1
    due.refresh_from_db()
    later.refresh_from_db()
    assert (due.status, due.attempts) == (JobStatus.DONE, 1)
    assert later.status == JobStatus.PENDING


@pytest.mark.django_db
def test_a_repeated_message_finds_the_job_done():
    job = ScheduledJobFactory(status=JobStatus.DISPATCHED)
    assert scheduled_job_run(job_id=job.pk) == "done"
    assert scheduled_job_run(job_id=job.pk) == "skipped"
    assert scheduled_job_run(job_id=123456789) == "skipped"


@pytest.mark.django_db
def test_a_failing_job_keeps_the_reason():
    job = ScheduledJobFactory(status=JobStatus.DISPATCHED)
    with mock.patch(
        "releasemgmt.core.tasks.ping.run", side_effect=RuntimeError("target unreachable")
    ):
        assert scheduled_job_run(job_id=job.pk) == "failed"
    job.refresh_from_db()
    assert job.status == JobStatus.FAILED
    assert job.last_error == "RuntimeError: target unreachable"


@pytest.mark.django_db
def test_a_lost_dispatch_is_sent_again(django_capture_on_commit_callbacks):
    now = timezone.now()
    lost = ScheduledJobFactory(
        status=JobStatus.DISPATCHED, dispatched_at=now - REDISPATCH_AFTER, attempts=1
    )
    recent = ScheduledJobFactory(status=JobStatus.DISPATCHED, dispatched_at=now, attempts=1)
    with django_capture_on_commit_callbacks(execute=False):
        assert scheduled_jobs_dispatch(now=now) == [lost.pk]
    recent.refresh_from_db()
    assert recent.attempts == 1


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_two_pickers_never_claim_the_same_job():
    # given: 40 due jobs and two pickers starting at the same moment
    ScheduledJobFactory.create_batch(40, due_at=timezone.now() - timedelta(seconds=5))
    barrier = threading.Barrier(2)
    claimed: list[list[int]] = []
    errors = []

    def picker():
        try:
            barrier.wait()
            claimed.append(scheduled_jobs_dispatch(limit=25))
        except Exception as error:  # surfaced below
            errors.append(error)
        finally:
            connection.close()

    # when (the dispatched messages are not sent: this is about the claim)
    threads = [threading.Thread(target=picker) for _ in range(2)]
    with mock.patch("releasemgmt.core.tasks.run_scheduled_job.delay"):
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=30)

    # then: disjoint claims that together cover every job
    assert not errors
    first, second = claimed
    assert not set(first) & set(second)
    assert len(first) + len(second) == 40
    assert ScheduledJob.objects.filter(status=JobStatus.DISPATCHED, attempts=1).count() == 40
