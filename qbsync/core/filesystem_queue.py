"""kombu's filesystem transport (the zero-setup broker of `dev.py up` and `dev.py test`), with each message
written atomically.

kombu creates a message file under its final name and only then writes it. A worker polling the folder can
move and read the file in between, get an empty or half-written message, and die on the JSON error (a
worker lost mid-test, or mid-demo). Here a message is written under a name no consumer picks up and renamed
into place once complete: a rename within one folder is atomic, so a consumer sees all of it or nothing.
"""

from __future__ import annotations

import logging
import os
import uuid
from queue import Empty
from time import monotonic

from kombu.exceptions import ChannelError
from kombu.transport import filesystem
from kombu.utils.encoding import str_to_bytes
from kombu.utils.json import dumps

logger = logging.getLogger(__name__)

# kombu takes a file for queue Q only when the name after its first dot is exactly "Q.msg".
PARTIAL_SUFFIX = ".partial"


class Channel(filesystem.Channel):
    def _put(self, queue, payload, **kwargs):
        """Put ``payload`` onto ``queue``: written under a partial name, then renamed into the queue."""
        name = f"{round(monotonic() * 1000)}_{uuid.uuid4()}.{queue}.msg"
        final = os.path.join(self.data_folder_out, name)
        partial = final + PARTIAL_SUFFIX
        try:
            with open(partial, "wb") as file:
                file.write(str_to_bytes(dumps(payload)))
            os.replace(partial, final)
        except OSError as exc:
            raise ChannelError(f"Cannot add file {final!r} to directory") from exc

    def _get(self, queue):
        try:
            return super()._get(queue)
        except ValueError:
            # Not JSON: a file written some other way than _put. It is gone from the queue already; losing it
            # is better than losing the worker (the sync sweep puts back whatever work it carried).
            logger.error("Dropped an unreadable message file from the %s queue", queue)
            raise Empty() from None


class Transport(filesystem.Transport):
    Channel = Channel
