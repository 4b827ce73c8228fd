"""A Pydantic AI agent on the fake provider, served as A2A (fasta2a) or AG-UI (its AGUIAdapter), for the suite.

    python server.py a2a|agui-client|agui-server PORT PROVIDER_URL

``agui-client``: the adapter as it comes (the server keeps nothing; the client sends the conversation).
``agui-server``: the adapter with its in-memory conversation store (the server keeps each thread; the client sends
only its new message). Run by the pinned virtualenv's python (tests/integration/pydantic_ai_install.py).
"""

from __future__ import annotations

import sys

import uvicorn
from pydantic_ai import Agent
from pydantic_ai.models.openai import OpenAIChatModel
from pydantic_ai.providers.openai import OpenAIProvider
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route


def main(mode: str, port: int, provider_url: str) -> None:
    model = OpenAIChatModel("fake-model", provider=OpenAIProvider(base_url=provider_url, api_key="dummy"))
    agent = Agent(model, name="replyrace")
    if mode == "a2a":
        from fasta2a.pydantic_ai import agent_to_a2a

        app = agent_to_a2a(agent, url=f"http://127.0.0.1:{port}")
    else:
        from pydantic_ai.conversation_store import InMemoryConversationStore
        from pydantic_ai.ui.ag_ui import AGUIAdapter

        store = InMemoryConversationStore() if mode == "agui-server" else None
        kept = {"manage_message_history": "server", "conversation_store": store} if store is not None else {}

        async def run(request: Request) -> Response:
            return await AGUIAdapter.dispatch_request(request, agent=agent, **kept)

        async def ready(request: Request) -> Response:
            return JSONResponse({"ok": True})

        app = Starlette(routes=[Route("/", run, methods=["POST"]), Route("/readyz", ready)])
    uvicorn.run(app, host="127.0.0.1", port=port, log_level="info")


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]), sys.argv[3])
