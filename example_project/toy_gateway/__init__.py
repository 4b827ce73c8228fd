"""A toy gateway with OpenClaw's reply-race family, for pytest-replyrace's demo.

It is modelled on OpenClaw's reply machinery (a per-session active-run guard,
a follow-up queue with a debounced drain, post-final cleanup, background work
started with each run), not on bare sleeps, and switches between modes that
stand for measured OpenClaw release families (see :mod:`toy_gateway.modes`).
"""

__version__ = "0.1.0"
