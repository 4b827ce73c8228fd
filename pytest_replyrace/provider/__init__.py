"""The fake LLM provider: an aiohttp server on loopback that speaks four provider APIs with a controlled RTT.

``server`` holds the server, its RTT plan and its journal; ``dialects`` the wire formats (OpenAI chat,
OpenAI Responses, Anthropic Messages, Ollama); ``faults`` the fault plan that picks which calls fail and how.
"""
