"""Sequential sends on one session must all get real replies, at any provider speed.

Written as a gateway maintainer would: a fast provider (50 ms), a middling
one and a slow one (500 ms), the next message 0.2 s after each reply, and
every reply checked against what the provider really served.
"""

import pytest


@pytest.mark.rtt_range("50ms", "500ms", steps=3)
@pytest.mark.replyrace(calls=4, gap=0.2)
def test_sequential_sends_get_real_replies(toy_mode, sequential_sender):
    result = sequential_sender.run()
    result.assert_no_fast_fail()
