"""How the driver talks to a gateway: one message on a session in, one reply out.

``base`` holds the :class:`~pytest_replyrace.transports.base.Transport` protocol, the reply record and the
HTTP client the HTTP transports share; ``http`` the replyrace HTTP contract; ``openai`` the OpenAI-style
chat and Responses transports; ``openclaw`` OpenClaw's WebSocket protocol.
"""
