# A one-node graph on the fake provider (a gateway-file template: {provider_url} is filled in before each launch).
from langchain_openai import ChatOpenAI
from langgraph.graph import END, START, MessagesState, StateGraph

llm = ChatOpenAI(model="fake-model", base_url="{provider_url}", api_key="dummy", max_retries=0, timeout=60)


async def chat(state: MessagesState) -> dict:
    return {"messages": [await llm.ainvoke(state["messages"])]}


builder = StateGraph(MessagesState)
builder.add_node("chat", chat)
builder.add_edge(START, "chat")
builder.add_edge("chat", END)
graph = builder.compile()
