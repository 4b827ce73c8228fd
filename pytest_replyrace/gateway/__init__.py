"""The gateway under test: started as a real process (or attached to), waited for, watched and always ended.

``launcher`` starts one from a command template (``command``), ``readiness`` waits for it, ``log`` scans
what it writes, ``processes`` and ``reaper`` end its process group and anything that escaped it,
``attached`` wraps one already running, ``pool`` keeps one per configuration, ``nemesis`` pauses it,
and ``openclaw`` is the profile that wires a real OpenClaw release to the fake provider.
"""
