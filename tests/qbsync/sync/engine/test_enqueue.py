"""Enqueueing by task name: every name the services send is a registered task, routed to its queue, and
a message is sent only once the transaction that asked for it commits."""

from celery import current_app

from qbsync.changes import tasks as changes_tasks
from qbsync.health import tasks as health_tasks
from qbsync.sync import tasks as sync_tasks
from qbsync.sync.engine import enqueue

NAMES = [value for name, value in vars(enqueue).items() if name.isupper() and isinstance(value, str)]


def test_every_name_the_engine_sends_is_a_registered_task():
    registered = {
        task.name
        for module in (sync_tasks, changes_tasks, health_tasks)
        for task in vars(module).values()
        if hasattr(task, "apply_async")
    }
    assert set(NAMES) == registered
    assert all(name in current_app.tasks for name in NAMES)


def test_qbo_work_goes_to_the_qbo_queue_and_the_sweep_to_the_default_one():
    router = current_app.amqp.router
    for name in NAMES:
        expected = "qbo" if name.startswith("qbsync.qbo.") else "default"
        queue = router.route({}, name).get("queue")
        assert (queue.name if hasattr(queue, "name") else queue or "default") == expected, name


def test_a_message_waits_for_the_commit(django_capture_on_commit_callbacks, db):
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        enqueue.enqueue_invoice_push(41, countdown=3.0)
        enqueue.enqueue_outbox(7)

    assert [(cb.func.__self__.name, cb.args) for cb in callbacks] == [
        (enqueue.INVOICE_PUSH, ((41,), 3.0)),
        (enqueue.OUTBOX_PROCESS, ((7,), None)),
    ]
