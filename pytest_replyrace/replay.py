"""The seed and the replay line beside it: which seed a run uses, where it is kept, and the command that runs a
test again as this run did."""

from __future__ import annotations

import random
import shlex

import pytest

from .settings import OPTIONS, Settings

__all__ = ["SEED_CACHE_KEY", "replay_command", "resolve_seed"]

SEED_CACHE_KEY = "replyrace/seed"
_NOT_REPLAYED = ("seed", "force_calls", "report", "html")
"""Set by the replay line itself, or outputs a replay does not need."""


def resolve_seed(config: pytest.Config, raw: int | str | None) -> tuple[int, str]:
    """The run's seed and how it was chosen: the xdist controller's, the previous run's, the one given, or fresh."""
    workerinput = getattr(config, "workerinput", None)
    if workerinput is not None and "replyrace_seed" in workerinput:
        return int(workerinput["replyrace_seed"]), "from the xdist controller"
    cache = getattr(config, "cache", None)
    if raw == "last":
        previous = cache.get(SEED_CACHE_KEY, None) if cache is not None else None
        if isinstance(previous, int):
            return previous, "the previous run's (--replyrace-seed last)"
        return random.SystemRandom().randrange(2**32), "fresh: no previous seed was recorded"
    if isinstance(raw, int):
        return raw, "given"
    return random.SystemRandom().randrange(2**32), "fresh"


def replay_command(
    config: pytest.Config, settings: Settings, node_id: str, seed: int, force_calls: int | None = None
) -> str:
    """A command that reruns ``node_id`` as this run did: the seed and every option given on the command line
    (ini and environment stay where they are), and the forced call count if any."""
    args = ["pytest", node_id, "--replyrace-seed", str(seed)]
    for option in OPTIONS:
        if option.name not in _NOT_REPLAYED and settings.source(option.name) == option.flag:
            args.append(f"{option.flag}={config.getoption(option.dest)}")
    args += [f"--replyrace-log-pattern={p}" for p in config.getoption("replyrace_log_pattern") or []]
    calls = force_calls if force_calls is not None else settings.force_calls
    if calls is not None:
        args += ["--replyrace-force-calls", str(calls)]
    return shlex.join(args)
