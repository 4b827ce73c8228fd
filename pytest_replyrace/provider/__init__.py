"""The fake LLM provider: an aiohttp server on loopback that speaks four provider APIs with a controlled RTT.

``server`` holds :class:`~.server.FakeProvider`, the public face; ``site`` its thread, loop and aiohttp site;
``journal`` the journal; ``turns`` the turn plan (RTT, faults, the scripted model, tool calls issued);
``responder`` the handlers; ``wire`` the answer on the wire; ``rtt`` the RTT spec; ``model`` the scripted model;
``dialects`` the wire formats (OpenAI chat, OpenAI Responses, Anthropic Messages, Ollama); ``faults`` the fault
plan that picks which calls fail and how.
"""
