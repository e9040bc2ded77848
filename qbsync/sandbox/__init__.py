"""A local, stateful emulator of the QuickBooks Online v3 API and Intuit OAuth 2.0.

Start it with ``python -m qbsync.sandbox --port 8765 --seed demo``, or in-process with
:func:`qbsync.sandbox.testing.running_sandbox`. Standard library only; no Django. See docs/sandbox.md.
"""

from .server import Request, Response, Sandbox, SandboxConfig, make_server

__all__ = ["Request", "Response", "Sandbox", "SandboxConfig", "make_server"]
