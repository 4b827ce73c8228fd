// One agent, "agent", on the fake provider, with memory on LibSQL in the gateway's state dir, served on
// 127.0.0.1. Built once into the cache (`npx mastra build`), so it reads what changes per launch from the
// environment the replyrace launcher sets: REPLYRACE_PROVIDER_URL, REPLYRACE_GATEWAY_PORT, REPLYRACE_STATE_DIR.
import { Mastra } from "@mastra/core/mastra";
import { Agent } from "@mastra/core/agent";
import { Memory } from "@mastra/memory";
import { LibSQLStore } from "@mastra/libsql";

const storage = new LibSQLStore({ id: "store", url: "file:" + process.env.REPLYRACE_STATE_DIR + "/mastra.db" });

export const agent = new Agent({
  id: "agent",
  name: "agent",
  instructions: "You echo.",
  model: { id: "fake/fake-model", url: process.env.REPLYRACE_PROVIDER_URL, apiKey: "dummy" },
  memory: new Memory({ storage, options: { lastMessages: 100 } }),
});

export const mastra = new Mastra({
  agents: { agent },
  storage,
  server: { host: "127.0.0.1", port: Number(process.env.REPLYRACE_GATEWAY_PORT) },
});
