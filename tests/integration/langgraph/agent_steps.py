# A two-node graph on the fake provider (a gateway-file template: {provider_url} is filled in before each launch):
# the reply, then a summary node whose prompt quotes the reply as a human message, as multi-agent graphs pass one
# agent's output to another. The summary is kept beside the conversation, not in it.
from langchain_core.messages import HumanMessage
from langchain_openai import ChatOpenAI
from langgraph.graph import END, START, MessagesState, StateGraph

llm = ChatOpenAI(model="fake-model", base_url="{provider_url}", api_key="dummy", max_retries=0, timeout=60)


class State(MessagesState):
    summary: str


async def chat(state: State) -> dict:
    return {"messages": [await llm.ainvoke(state["messages"])]}


async def summary(state: State) -> dict:
    reply = state["messages"][-1].content
    quote = HumanMessage(f"For context: [responder] said: {reply}\nSummarise the exchange in one line.")
    note = await llm.ainvoke([*state["messages"], quote])
    return {"summary": note.content}


builder = StateGraph(State)
builder.add_node("chat", chat)
builder.add_node("summary", summary)
builder.add_edge(START, "chat")
builder.add_edge("chat", "summary")
builder.add_edge("summary", END)
graph = builder.compile()
