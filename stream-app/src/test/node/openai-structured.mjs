// Structured output through the official openai package: json_schema and json_object replies of a random-weights
// model, one per seed, printed as JSON for StructuredOutputHttpTest to parse and validate; and the 400s a schema the
// grammar cannot express and an unknown format get. Usage: node openai-structured.mjs BASE_URL MODEL SCHEMA_JSON RUNS
import OpenAI from "openai";

const [base, model, schemaJson, runs] = process.argv.slice(2);
const client = new OpenAI({ baseURL: base, apiKey: "unused" });
const schema = JSON.parse(schemaJson);
const out = { schema: [], object: [], streamed: null };
const messages = [{ role: "user", content: "Describe a person in JSON." }];

for (let seed = 0; seed < Number(runs); seed++) {
  const r = await client.chat.completions.create({
    model, messages, seed, temperature: 1, max_tokens: 64,
    response_format: { type: "json_schema", json_schema: { name: "person", schema, strict: true } },
  });
  out.schema.push(r.choices[0].message.content);
  const o = await client.chat.completions.create({
    model, messages, seed, temperature: 1, max_tokens: 64, response_format: { type: "json_object" },
  });
  out.object.push(o.choices[0].message.content);
}
// streamed: the deltas join into the same constrained reply
let streamed = "";
const stream = await client.chat.completions.create({
  model, messages, seed: 7, temperature: 1, max_tokens: 64, stream: true,
  response_format: { type: "json_schema", json_schema: { name: "person", schema } },
});
for await (const chunk of stream) streamed += chunk.choices[0]?.delta?.content ?? "";
out.streamed = streamed;

for (const [name, format] of [
  ["pattern", { type: "json_schema", json_schema: { name: "p", schema: { type: "string", pattern: "^a+$" } } }],
  ["unknownType", { type: "xml" }],
]) {
  try {
    await client.chat.completions.create({ model, messages, response_format: format });
    out[name] = { status: 200 };
  } catch (e) {
    out[name] = { status: e.status, type: e.type, message: e.message };
  }
}
process.stdout.write(JSON.stringify(out) + "\n");
