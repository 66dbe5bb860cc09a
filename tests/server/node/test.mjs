// The official openai client, unchanged, against `ponder serve` on the bundled toy
// models: a chat completion, streaming, n > 1, a ponder strategy, errors, and SIGTERM.
import { spawn } from "node:child_process";
import assert from "node:assert/strict";
import OpenAI from "openai";

const ponder = process.argv[2];
const server = spawn(ponder, ["serve", "--port", "0", "-t", "2", "--max-sequences", "16", "--api-key", "test-key"], {
  stdio: ["ignore", "pipe", "inherit"],
});
const port = await new Promise((resolve, reject) => {
  let out = "";
  server.stdout.on("data", (d) => {
    out += d;
    const m = out.match(/listening on http:\/\/127\.0\.0\.1:(\d+)/);
    if (m) resolve(Number(m[1]));
  });
  server.on("exit", (code) => reject(new Error(`ponder serve exited with ${code} before listening`)));
  setTimeout(() => reject(new Error("ponder serve did not start within 60 s")), 60000);
});

const client = new OpenAI({ baseURL: `http://127.0.0.1:${port}/v1`, apiKey: "test-key", maxRetries: 0 });
const question = "a=44; b=a*2; b?";
let failures = 0;
async function check(name, body) {
  try {
    await body();
    console.log(`ok - ${name}`);
  } catch (e) {
    failures++;
    console.log(`not ok - ${name}: ${e.stack ?? e}`);
  }
}

await check("models lists both toy reasoners", async () => {
  const ids = [];
  for await (const m of client.models.list()) ids.push(m.id);
  assert.deepEqual(ids.sort(), ["toy-reasoner-l", "toy-reasoner-s"]);
});

await check("chat completion", async () => {
  const r = await client.chat.completions.create({
    model: "toy-reasoner-l:greedy",
    messages: [{ role: "user", content: question }],
  });
  assert.equal(r.object, "chat.completion");
  assert.match(r.choices[0].message.content, /#### 88/);
  assert.ok(r.usage.completion_tokens > 0);
});

await check("streaming with the strategy's events", async () => {
  const stream = await client.chat.completions.create({
    model: "toy-reasoner-l",
    messages: [{ role: "user", content: question }],
    stream: true,
    stream_options: { include_usage: true },
    ponder: { strategy: "vote@4" },
  });
  let content = "";
  let finished = 0;
  let usage = null;
  for await (const chunk of stream) {
    if (chunk.ponder?.event === "finished") finished++;
    if (chunk.usage) usage = chunk.usage;
    content += chunk.choices[0]?.delta?.content ?? "";
  }
  assert.equal(finished, 4);
  assert.match(content, /####/);
  assert.ok(usage.completion_tokens_details.reasoning_tokens > 0, "hidden samples are counted");
});

await check("n > 1 with a ponder strategy", async () => {
  const r = await client.chat.completions.create({
    model: "toy-reasoner-s:vote@3",
    messages: [{ role: "user", content: question }],
    n: 2,
    seed: 4,
  });
  assert.equal(r.choices.length, 2);
  for (const c of r.choices) assert.equal(c.ponder.samples, 3);
});

await check("prm-vote with the bundled verifier, on the completions endpoint", async () => {
  const r = await client.completions.create({
    model: "toy-reasoner-l",
    prompt: question + "\n",
    ponder: { strategy: "prm-vote@4" },
  });
  assert.equal(r.object, "text_completion");
  assert.ok(r.ponder.cost.verifier_tokens > 0);
});

await check("raw samples with logprobs", async () => {
  const r = await client.chat.completions.create({
    model: "toy-reasoner-l",
    messages: [{ role: "user", content: question }],
    n: 3,
    logprobs: true,
    top_logprobs: 2,
    ponder: { strategy: "sample" },
  });
  assert.equal(r.choices.length, 3);
  assert.ok(r.choices[0].logprobs.content.length > 0);
});

await check("errors arrive as the client's typed errors", async () => {
  await assert.rejects(
    client.chat.completions.create({ model: "gpt-4o", messages: [{ role: "user", content: "hi" }] }),
    (e) => e instanceof OpenAI.NotFoundError && e.code === "model_not_found",
  );
  await assert.rejects(
    client.chat.completions.create({ model: "toy-reasoner-l", messages: [{ role: "user", content: "hi" }], temperature: 7 }),
    (e) => e instanceof OpenAI.BadRequestError && e.param === "temperature",
  );
  const stranger = new OpenAI({ baseURL: `http://127.0.0.1:${port}/v1`, apiKey: "wrong", maxRetries: 0 });
  await assert.rejects(stranger.models.list(), (e) => e instanceof OpenAI.AuthenticationError);
});

const exited = new Promise((resolve) => server.on("exit", (code, signal) => resolve({ code, signal })));
server.kill("SIGTERM");
const { code } = await exited;
await check("SIGTERM shuts the server down cleanly", async () => assert.equal(code, 0));

console.log(failures ? `${failures} failed` : "all passed");
process.exit(failures ? 1 : 0);
