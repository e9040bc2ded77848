"""The filesystem queue (the broker without Redis) never hands a worker a half-written message: a consumer
polling the folder as fast as it can, while big messages are being written, reads every one whole. kombu's
own transport fails the same check (it writes into the file under its final name)."""

import threading

import pytest
from django.conf import settings
from kombu import Connection
from kombu.transport import filesystem

from qbsync.core.filesystem_queue import Transport

MESSAGES = 150
BIG = "x" * 300_000  # a write long enough for a polling consumer to land in the middle of it


def options(folder) -> dict:
    for name in ("queue", "processed"):
        (folder / name).mkdir(parents=True, exist_ok=True)
    return {
        "data_folder_in": str(folder / "queue"),
        "data_folder_out": str(folder / "queue"),
        "processed_folder": str(folder / "processed"),
        "store_processed": False,
    }


def race(transport, folder) -> tuple[list[int], list[str]]:
    """Write MESSAGES big payloads while a consumer polls without pause; what it read, and how it failed."""
    received: list[int] = []
    errors: list[str] = []
    done = threading.Event()
    with Connection(transport=transport, transport_options=options(folder)) as writer_connection:
        writer = writer_connection.default_channel
        with Connection(transport=transport, transport_options=options(folder)) as reader_connection:
            reader = reader_connection.default_channel

            def consume():
                while not done.is_set() or len(received) < MESSAGES:
                    try:
                        received.append(reader._get("q")["n"])
                    except filesystem.Empty:
                        if done.is_set() and not any(folder.joinpath("queue").glob("*.q.msg")):
                            return
                    except Exception as exc:  # noqa: BLE001 - what the worker would die of
                        errors.append(f"{type(exc).__name__}: {exc}"[:120])
                        if len(errors) > 5:
                            return

            consumer = threading.Thread(target=consume)
            consumer.start()
            for n in range(MESSAGES):
                writer._put("q", {"n": n, "body": BIG})
            done.set()
            consumer.join(timeout=60)
    return received, errors


def test_a_polling_consumer_reads_every_message_whole(tmp_path):
    received, errors = race(Transport, tmp_path)

    assert errors == []
    assert sorted(received) == list(range(MESSAGES))
    assert not list(tmp_path.joinpath("queue").iterdir()), "a partial file was left behind"


def visible_while_writing(transport, module, folder, monkeypatch) -> list[list[str]]:
    """Put one message; at the moment its body is being encoded (before any byte is written), which files
    would a consumer polling the queue folder pick up?"""
    seen: list[list[str]] = []
    real = module.dumps

    def spy(payload):
        seen.append(sorted(p.name for p in folder.joinpath("queue").glob("*.q.msg")))
        return real(payload)

    monkeypatch.setattr(module, "dumps", spy)
    with Connection(transport=transport, transport_options=options(folder)) as connection:
        connection.default_channel._put("q", {"n": 1})
    return seen


def test_kombus_own_transport_shows_a_consumer_the_file_before_it_is_written(tmp_path, monkeypatch):
    """The control, without timing: kombu creates the message file under its final name and then writes it,
    so a polling worker can read it empty; ours shows nothing until the whole message is in place."""
    from qbsync.core import filesystem_queue

    [kombus] = visible_while_writing(filesystem.Transport, filesystem, tmp_path / "kombu", monkeypatch)
    assert len(kombus) == 1, "kombu's empty message file is already in the queue"
    [ours] = visible_while_writing(Transport, filesystem_queue, tmp_path / "ours", monkeypatch)
    assert ours == []
    assert len(list(tmp_path.joinpath("ours", "queue").glob("*.q.msg"))) == 1, "and then it is there, whole"


@pytest.mark.skipif(bool(settings.REDIS_URL), reason="Redis is the broker in this run")
def test_the_app_uses_it_without_redis():
    from qbsync.celery import app

    with app.connection_for_write() as connection:
        assert connection.transport_cls == "qbsync.core.filesystem_queue:Transport"
        assert isinstance(connection.transport, Transport)
