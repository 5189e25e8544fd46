// Drives RazorStream's OpenAI-compatible HTTP API with the official openai package, as a chat front end would,
// and prints what it saw as one JSON object (OpenAiHttpTest asserts on it).
// Usage: node openai-client.mjs BASE_URL MODEL SESSION_ID
import OpenAI from "openai";

const [baseURL, model, session] = process.argv.slice(2);
const client = new OpenAI({ baseURL, apiKey: "unused", maxRetries: 0 });
const out = {};

const question = "Note this. The code is #K7Q2. the quick brown fox jumps over a lazy dog. Remember the code #";

// A one-off request (no session id), not streamed.
const plain = await client.chat.completions.create({ model, messages: [{ role: "user", content: question }], max_tokens: 8 });
out.plain = { content: plain.choices[0].message.content, finish: plain.choices[0].finish_reason, usage: plain.usage, object: plain.object };

// The same, streamed.
const stream = await client.chat.completions.create({
  model, messages: [{ role: "user", content: question }], max_tokens: 8, stream: true, stream_options: { include_usage: true },
});
let text = "", finish = null, usage = null, chunks = 0;
for await (const chunk of stream) {
  chunks++;
  if (chunk.usage) usage = chunk.usage;
  for (const c of chunk.choices) {
    if (c.delta?.content) text += c.delta.content;
    if (c.finish_reason) finish = c.finish_reason;
  }
}
out.streamed = { content: text, finish, usage, chunks };

// Log probabilities of a greedy reply: one entry per token, each its step's most likely, streamed too (last chunk).
const lp = await client.chat.completions.create({
  model, messages: [{ role: "user", content: question }], max_tokens: 6, logprobs: true, top_logprobs: 2,
});
out.logprobs = { content: lp.choices[0].message.content, entries: lp.choices[0].logprobs.content };
let lpStreamed = [];
for await (const chunk of await client.chat.completions.create({
  model, messages: [{ role: "user", content: question }], max_tokens: 6, logprobs: true, stream: true,
})) {
  for (const c of chunk.choices) if (c.logprobs?.content) lpStreamed = lpStreamed.concat(c.logprobs.content);
}
out.logprobsStreamed = lpStreamed;

// /v1/completions: the prompt as it is, continued; one-off, then streamed, then on a named session.
const completion = await client.completions.create({ model, prompt: question, max_tokens: 8 });
out.completion = { text: completion.choices[0].text, finish: completion.choices[0].finish_reason,
  usage: completion.usage, object: completion.object };
let ctext = "", cfinish = null;
for await (const chunk of await client.completions.create({ model, prompt: question, max_tokens: 8, stream: true })) {
  for (const c of chunk.choices) {
    ctext += c.text ?? "";
    if (c.finish_reason) cfinish = c.finish_reason;
  }
}
out.completionStreamed = { text: ctext, finish: cfinish };
const first = await client.completions.create(
  { model, prompt: "Note this. The code is #ZX81. ", max_tokens: 1 }, { headers: { "X-Session-Id": "cmpl-session" } });
const second = await client.completions.create(
  { model, prompt: "the quick brown fox. Remember the code #", max_tokens: 6 }, { headers: { "X-Session-Id": "cmpl-session" } });
out.completionSession = { first: first.choices[0].text, second: second.choices[0].text };

// Three turns the stateless way: the whole list every time, the session named by a header.
const turns = ["My name is Ada. Remember the code #", " Tell me the code again #", " Once more, the code is #"];
const messages = [];
out.conversation = [];
const headers = { "X-Session-Id": session };
for (const t of turns) {
  messages.push({ role: "user", content: t });
  const r = await client.chat.completions.create({ model, messages, max_tokens: 6 }, { headers });
  const reply = r.choices[0].message.content;
  out.conversation.push({ content: reply, usage: r.usage });
  messages.push({ role: "assistant", content: reply });
}

// The user edits the last message: same history, another last message.
messages.splice(messages.length - 2, 2, { role: "user", content: " Edited: what was the code? #" });
const edited = await client.chat.completions.create({ model, messages, max_tokens: 6 }, { headers });
out.edited = { content: edited.choices[0].message.content, usage: edited.usage };

// Any model name is answered (one model is served); errors come back as the package's typed errors.
try {
  const any = await client.chat.completions.create({
    model: "no-such-model", messages: [{ role: "user", content: "hi" }], max_tokens: 3,
  });
  out.unknownModel = { status: 200, content: any.choices[0].message.content };
} catch (e) {
  out.unknownModel = { status: e.status, type: e.type, code: e.code, message: e.message };
}
try {
  await client.chat.completions.create({ model, messages: [] });
  out.noMessages = { status: 200 };
} catch (e) {
  out.noMessages = { status: e.status, type: e.type, message: e.message };
}
out.models = (await client.models.list()).data.map((m) => m.id);

process.stdout.write(JSON.stringify(out) + "\n");
