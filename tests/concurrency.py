"""Run test code on several connections at once (PostgreSQL race tests)."""

import threading
from functools import partial


def run_together(*calls, timeout: float = 60) -> None:
    """Start every call in its own thread at once and wait for all of them. A thread is named
    after its function (``threading.current_thread().name``), so a patched service can tell who
    is calling; each call should close its database connection when done."""
    threads = [
        threading.Thread(
            target=call, name=(call.func if isinstance(call, partial) else call).__name__
        )
        for call in calls
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=timeout)
