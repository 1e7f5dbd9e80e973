"""Real Celery processes on whatever broker and database the suite runs on (the embedded
filesystem broker and SQLite by default): a worker runs a task, and beat's picker releases a
due installation.

Each test uses its own queue, so a developer's running `make run` never takes its messages."""

import os
import subprocess
import sys
import time
import uuid
from datetime import timedelta
from pathlib import Path

import pytest
from django.db import connection
from django.utils import timezone

from cmdb.choices import ErrorKind
from cmdb.models import Discrepancy
from releasemgmt.celery import app
from releasemgmt.core.models import Heartbeat
from releases.choices import InstallationState, ReleaseState
from releases.models import ReleaseTarget
from tests.factories import ConfigurationItemFactory, ReleaseFactory

ROOT = Path(__file__).resolve().parents[2]
pytestmark = [
    pytest.mark.slow,
    pytest.mark.django_db(transaction=True),
    pytest.mark.filterwarnings("ignore::celery.exceptions.AlwaysEagerIgnored"),
]


def _database_url() -> str:
    db = connection.settings_dict
    if db["ENGINE"].endswith("sqlite3"):
        return f"sqlite:///{Path(db['NAME']).resolve()}"
    auth = db["USER"] + (f":{db['PASSWORD']}" if db["PASSWORD"] else "")
    return f"postgres://{auth}@{db['HOST'] or 'localhost'}:{db['PORT'] or 5432}/{db['NAME']}"


@pytest.fixture
def queue():
    return f"test-{uuid.uuid4().hex[:12]}"


@pytest.fixture
def celery_process(queue, tmp_path):
    """``celery_process("worker")`` starts a real process against the test database and queue."""
    started = []

    def start(*args):
        env = {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "releasemgmt.settings.base",
            "DATABASE_URL": _database_url(),
            "CELERY_DEFAULT_QUEUE": queue,
            "INSTALLATION_PICK_SECONDS": "1",
            "HEARTBEAT_INTERVAL_SECONDS": "1",
        }
        log = open(tmp_path / f"{args[0]}.log", "w")  # noqa: SIM115 (closed at teardown)
        process = subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "releasemgmt", *args, "--loglevel=INFO"],
            cwd=ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        started.append((process, log))
        return process

    yield start
    for process, log in started:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
        log.close()


def wait_for(predicate, timeout=60.0, what="condition", logs: Path | None = None):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.3)
    detail = ""
    if logs is not None:
        detail = "\n".join(
            f"--- {p.name}\n{p.read_text()[-3000:]}" for p in sorted(logs.glob("*.log"))
        )
    pytest.fail(f"timed out waiting for {what}\n{detail}")


def test_a_real_worker_runs_a_task(celery_process, queue, tmp_path):
    # given: two machines sharing a serial number, and a worker on the test queue
    ConfigurationItemFactory(identifier="a", attributes={"serial_number": "SN-1"})
    ConfigurationItemFactory(identifier="b", attributes={"serial_number": "SN-1"})
    celery_process("worker", "--pool=solo", "-Q", queue, "--without-mingle", "--without-gossip")

    # when: the message goes through the broker (not run inline)
    app.send_task("cmdb.tasks.integrity_check", queue=queue)

    # then: the integrity check ran in the worker and recorded the duplicate
    wait_for(
        lambda: Discrepancy.objects.filter(kind=ErrorKind.DUPLICATE_IDENTITY).exists(),
        what="the integrity check",
        logs=tmp_path,
    )
    assert Heartbeat.objects.filter(component="worker").exists()


def test_beat_fires_a_due_time_row(celery_process, queue, tmp_path):
    # given: an installing release with one installation due in two seconds, a worker and beat
    now = timezone.now()
    release = ReleaseFactory(
        state=ReleaseState.INSTALLING,
        installation_start=now - timedelta(minutes=5),
        installation_end=now + timedelta(hours=2),
        with_plan=False,
    )
    target = ReleaseTarget.objects.create(
        release=release,
        ci=ConfigurationItemFactory(),
        installation_state=InstallationState.SCHEDULED,
        due_at=now + timedelta(seconds=2),
    )
    celery_process("worker", "--pool=solo", "-Q", queue, "--without-mingle", "--without-gossip")
    celery_process("beat", "--pidfile=", f"--schedule={tmp_path / 'beat-schedule'}")

    # then: beat's picker releases it once due (a worker runs the picker), both report heartbeats
    wait_for(
        lambda: (
            ReleaseTarget.objects.get(pk=target.pk).installation_state == InstallationState.RUNNING
        ),
        what="the installation",
        logs=tmp_path,
    )
    target.refresh_from_db()
    assert target.attempts == 1
    assert target.dispatched_at >= target.due_at
    wait_for(
        lambda: set(Heartbeat.objects.values_list("component", flat=True)) == {"worker", "beat"},
        what="heartbeats",
        logs=tmp_path,
    )


@pytest.mark.postgres
def test_a_webhook_burst_survives_a_killed_worker_exactly_once(
    celery_process, queue, tmp_path, settings, monkeypatch
):
    """Issue 13: deliveries are drained in batches by whichever worker is alive. A worker killed
    mid-batch rolls its batch back; the next worker (or the sweeper) processes those deliveries,
    each exactly once."""
    import json
    import threading
    from unittest import mock

    from django.test import Client

    from releasemgmt.core.queue import task_get
    from releases.models import ChangeRequest, Release, WebhookDelivery
    from releases.webhooks.services import WAKE_TASK
    from tests.factories import WebhookSourceFactory
    from tests.factories.webhooks import generic_event, sign_headers

    if not settings.REDIS_URL:
        pytest.skip("needs Redis (the shared wake key and broker): set REDIS_URL=redis://…")
    # given an auto-release source, a worker and beat (sweeping every 2 s what is 3 s old)
    WebhookSourceFactory(name="burst")
    monkeypatch.setenv("WEBHOOK_SWEEP_SECONDS", "2")
    monkeypatch.setenv("WEBHOOK_SWEEP_AFTER_SECONDS", "3")
    first = celery_process(
        "worker", "--pool=solo", "-Q", queue, "--without-mingle", "--without-gossip"
    )
    celery_process("beat", "--pidfile=", f"--schedule={tmp_path / 'beat-schedule'}")
    wait_for(
        lambda: Heartbeat.objects.filter(component="worker").exists(),
        what="the worker",
        logs=tmp_path,
    )
    # this process wakes that worker's drain: through the broker (not inline), on its queue
    settings.CELERY_TASK_DEFAULT_QUEUE = queue
    wake = task_get(WAKE_TASK)
    through_the_broker = lambda **kw: app.send_task(WAKE_TASK, kwargs=kw, queue=queue)  # noqa: E731

    # when 360 signed deliveries are posted, every fifth a repeat of an earlier one, ...
    posts = []
    for n in range(360):
        if n % 5 == 4:
            posts.append(posts[n - 3])
            continue
        posts.append((f"msg_burst_{n}", json.dumps(generic_event(ext=f"b{n}", number=f"CHG{n}"))))
    answers = []

    def send():
        try:
            client = Client()
            for msg_id, body in posts:
                response = client.post(
                    "/api/v1/webhooks/burst/",
                    data=body,
                    content_type="application/json",
                    **sign_headers(body, msg_id=msg_id),
                )
                answers.append(response.status_code)
                time.sleep(0.01)
        finally:
            connection.close()

    processed = WebhookDelivery.objects.filter(status="processed")
    with mock.patch.object(wake, "delay", side_effect=through_the_broker):
        sender = threading.Thread(target=send)
        sender.start()
        # ... the worker is killed mid-stream (SIGKILL: no clean-up, its batch rolls back) ...
        wait_for(lambda: processed.count() >= 30, what="the first deliveries", logs=tmp_path)
        first.kill()
        first.wait(timeout=10)
        killed_at = len(answers)
        # ... and another one starts while deliveries keep coming
        celery_process("worker", "-c", "2", "-Q", queue, "--without-mingle", "--without-gossip")
        sender.join(timeout=120)

    # then every accepted delivery is stored once and processed exactly once
    distinct = {msg_id for msg_id, _ in posts}
    assert killed_at < len(posts), "the worker was killed after the burst: send more"
    assert sorted(answers) == [200] * (len(posts) - len(distinct)) + [202] * len(distinct)
    wait_for(
        lambda: processed.count() == len(distinct),
        timeout=120,
        what="every delivery processed",
        logs=tmp_path,
    )
    deliveries = WebhookDelivery.objects.filter(source__name="burst")
    assert set(deliveries.values_list("webhook_id", flat=True)) == distinct
    assert deliveries.count() == len(distinct)
    assert set(deliveries.values_list("status", "attempts")) == {("processed", 1)}
    assert ChangeRequest.objects.count() == len(distinct)
    assert Release.objects.count() == len(distinct)
    assert set(ChangeRequest.objects.values_list("releases__number", flat=True)) == set(
        Release.objects.values_list("number", flat=True)
    )


def test_a_real_worker_drains_posted_webhooks(celery_process, queue, tmp_path, settings):
    """On whatever the suite runs on — the embedded filesystem broker and local-memory cache
    (every delivery wakes a drain) or Redis (one wake pending at a time) — posted deliveries are
    processed promptly, without the sweeper."""
    import json
    from unittest import mock

    from django.test import Client

    from releasemgmt.core.queue import task_get
    from releases.models import WebhookDelivery
    from releases.webhooks.services import WAKE_TASK
    from tests.factories import WebhookSourceFactory
    from tests.factories.webhooks import generic_event, sign_headers

    WebhookSourceFactory(name="embedded")
    celery_process("worker", "--pool=solo", "-Q", queue, "--without-mingle", "--without-gossip")
    settings.CELERY_TASK_DEFAULT_QUEUE = queue
    client = Client()
    with mock.patch.object(
        task_get(WAKE_TASK),
        "delay",
        side_effect=lambda **kw: app.send_task(WAKE_TASK, kwargs=kw, queue=queue),
    ):
        for n in range(5):
            body = json.dumps(generic_event(ext=f"e{n}"))
            response = client.post(
                "/api/v1/webhooks/embedded/",
                data=body,
                content_type="application/json",
                **sign_headers(body),
            )
            assert response.status_code == 202
    wait_for(
        lambda: WebhookDelivery.objects.filter(status="processed").count() == 5,
        what="the deliveries processed",
        logs=tmp_path,
    )
