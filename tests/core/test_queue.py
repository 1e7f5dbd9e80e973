"""``delay_on_commit``: follow-up work reaches the workers only after its transaction commits, and a
broker outage never undoes or fails the committed work (issue 11)."""

import logging
from unittest import mock

import pytest
from celery import current_app
from django.db import transaction

from releasemgmt.core.queue import delay_on_commit, task_get

pytestmark = pytest.mark.django_db

TASK = "releases.tasks.send_callback"


@pytest.fixture
def delay():
    with mock.patch.object(task_get(TASK), "delay") as delay:
        yield delay


def test_the_message_is_sent_after_commit_with_its_arguments(
    delay, django_capture_on_commit_callbacks
):
    # given / when: enqueued inside a transaction
    with django_capture_on_commit_callbacks(execute=True) as callbacks, transaction.atomic():
        delay_on_commit(TASK, delivery_id=7, if_lost="the picker sends it.")
        # then: nothing reaches the broker before the commit
        delay.assert_not_called()
    assert len(callbacks) == 1
    delay.assert_called_once_with(delivery_id=7)


def test_a_rolled_back_transaction_sends_nothing(delay, django_capture_on_commit_callbacks):
    with (
        django_capture_on_commit_callbacks(execute=True) as callbacks,
        pytest.raises(RuntimeError),
        transaction.atomic(),
    ):
        delay_on_commit(TASK, delivery_id=7, if_lost="the picker sends it.")
        raise RuntimeError("rolled back")
    assert callbacks == []
    delay.assert_not_called()


def test_a_broker_outage_is_logged_with_what_makes_up_for_it_not_raised(
    delay, django_capture_on_commit_callbacks, caplog
):
    # given a broker that refuses every message
    delay.side_effect = ConnectionRefusedError("broker down")
    # when
    with (
        caplog.at_level(logging.WARNING, logger="releasemgmt.core.queue"),
        django_capture_on_commit_callbacks(execute=True),
    ):
        delay_on_commit(TASK, delivery_id=7, if_lost="the picker will send the callback.")
    # then
    (record,) = caplog.records
    assert record.levelno == logging.WARNING
    assert record.getMessage() == (
        f"{TASK}(delivery_id=7) not enqueued; the picker will send the callback."
    )
    assert record.exc_info is not None


def test_the_level_is_the_callers(delay, django_capture_on_commit_callbacks, caplog):
    delay.side_effect = OSError("broker down")
    with caplog.at_level(logging.ERROR), django_capture_on_commit_callbacks(execute=True):
        delay_on_commit(TASK, delivery_id=7, if_lost="lost.", level=logging.ERROR)
    assert [record.levelno for record in caplog.records] == [logging.ERROR]


def test_a_task_is_found_by_its_celery_name_before_any_tasks_module_is_imported(monkeypatch):
    # given a registry that does not know the task yet (as in a web process)
    registered = current_app.tasks
    task = registered[TASK]
    monkeypatch.delitem(registered, TASK)
    with mock.patch.object(
        current_app.loader,
        "import_default_modules",
        side_effect=lambda: registered.__setitem__(TASK, task),
    ) as discover:
        # then the task modules are discovered once, and the task is found
        assert task_get(TASK) is task
    discover.assert_called_once_with()
