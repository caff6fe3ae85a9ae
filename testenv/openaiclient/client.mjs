// Drives a running cityagent server with the official openai npm client, as
// any OpenAI application would: models, a completion, a stream with usage,
// errors, and a client tool round trip (JSON and streamed). Run by
// server/openai_npm_test.go with CITYAGENT_BASE (ending in /v1) and
// CITYAGENT_KEY; prints one JSON line per check and exits non-zero on the
// first failed assertion.
import assert from "node:assert/strict";
import OpenAI from "openai";

const baseURL = process.env.CITYAGENT_BASE;
const apiKey = process.env.CITYAGENT_KEY;
const client = new OpenAI({ baseURL, apiKey, maxRetries: 0, timeout: 30_000 });
const report = (check, detail) => console.log(JSON.stringify({ check, ...detail }));

const weather = {
  type: "function",
  function: {
    name: "get_weather",
    description: "The weather in a city, from the client's own service",
    parameters: { type: "object", properties: { city: { type: "string" } }, required: ["city"] },
  },
};
const weatherResult = JSON.stringify({ city: "Paris", sky: "light rain", temp_c: 9 });

async function models() {
  const list = await client.models.list();
  const ids = list.data.map((m) => m.id);
  assert.ok(ids.includes("traffic"), `models ${ids}`);
  const one = await client.models.retrieve("traffic");
  assert.equal(one.id, "traffic");
  report("models", { ids });
}

async function completion() {
  const { data, response } = await client.chat.completions
    .create({
      model: "traffic",
      messages: [
        { role: "system", content: "Answer briefly." },
        { role: "user", content: "Is Zhongshan Road congested?" },
      ],
    })
    .withResponse();
  const choice = data.choices[0];
  assert.equal(choice.finish_reason, "stop");
  assert.ok(choice.message.content.length > 0);
  assert.ok(data.usage.total_tokens > 0);
  assert.equal(response.headers.get("x-cityagent-session-id"), data.cityagent.session_id);
  report("completion", { session: data.cityagent.session_id });
}

async function streamWithUsage() {
  const stream = await client.chat.completions.create({
    model: "traffic",
    messages: [{ role: "user", content: "Is Zhongshan Road congested?" }],
    stream: true,
    stream_options: { include_usage: true },
  });
  let text = "";
  let finish = null;
  let last = null;
  for await (const chunk of stream) {
    last = chunk;
    for (const c of chunk.choices) {
      text += c.delta.content ?? "";
      finish = c.finish_reason ?? finish;
    }
  }
  assert.equal(finish, "stop");
  assert.ok(text.length > 0);
  assert.equal(last.choices.length, 0, "the usage chunk has no choices");
  assert.ok(last.usage.total_tokens > 0);
  assert.match(last.cityagent.session_id, /^ses_/);
  report("stream", { chars: text.length, usage: last.usage.total_tokens });
}

async function expectError(check, request, want) {
  try {
    await request();
  } catch (err) {
    assert.ok(err instanceof OpenAI.APIError, `${check}: ${err}`);
    assert.equal(err.status, want.status, `${check}: ${err.message}`);
    for (const k of ["code", "param", "type"]) {
      if (want[k] !== undefined) assert.equal(err[k], want[k], `${check}: ${k} of ${JSON.stringify(err.error)}`);
    }
    assert.ok(!/no body/.test(err.message), `${check}: ${err.message}`);
    report(check, { status: err.status, message: err.message });
    return;
  }
  assert.fail(`${check}: no error`);
}

async function errors() {
  const user = [{ role: "user", content: "hi" }];
  await expectError("unknown model", () => client.chat.completions.create({ model: "weather", messages: user }),
    { status: 404, code: "model_not_found", type: "invalid_request_error" });
  await expectError("bad temperature", () => client.chat.completions.create({ model: "traffic", messages: user, temperature: 5 }),
    { status: 400, param: "temperature" });
  await expectError("reserved tool name", () => client.chat.completions.create({
    model: "traffic", messages: user,
    tools: [{ type: "function", function: { name: "propose_signal_timing", parameters: { type: "object" } } }],
  }), { status: 400, param: "tools[0].function.name" });
  const stranger = new OpenAI({ baseURL, apiKey: "not-a-key", maxRetries: 0 });
  await expectError("bad key", () => stranger.models.list(), { status: 401, type: "authentication_error" });
  await expectError("unknown model by id", () => client.models.retrieve("weather"), { status: 404, code: "model_not_found" });
}

// toolRoundTrip asks for the client tool, answers its call, and checks the
// answer uses the result.
async function toolRoundTrip(stream) {
  const messages = [{ role: "user", content: "Call get_weather with city Paris." }];
  const ask = async () => {
    if (!stream) {
      const r = await client.chat.completions.create({ model: "traffic", messages, tools: [weather] });
      return { message: r.choices[0].message, finish: r.choices[0].finish_reason };
    }
    const s = await client.chat.completions.create({ model: "traffic", messages, tools: [weather], stream: true });
    const message = { role: "assistant", content: "", tool_calls: [] };
    let finish = null;
    for await (const chunk of s) {
      for (const c of chunk.choices) {
        message.content += c.delta.content ?? "";
        for (const d of c.delta.tool_calls ?? []) {
          const call = (message.tool_calls[d.index] ??= { id: "", type: "function", function: { name: "", arguments: "" } });
          call.id ||= d.id ?? "";
          call.function.name += d.function?.name ?? "";
          call.function.arguments += d.function?.arguments ?? "";
        }
        finish = c.finish_reason ?? finish;
      }
    }
    if (message.tool_calls.length === 0) delete message.tool_calls;
    return { message, finish };
  };
  const first = await ask();
  assert.equal(first.finish, "tool_calls");
  const call = first.message.tool_calls[0];
  assert.equal(call.function.name, "get_weather");
  assert.deepEqual(JSON.parse(call.function.arguments), { city: "Paris" });
  messages.push(first.message, { role: "tool", tool_call_id: call.id, content: weatherResult });
  const second = await ask();
  assert.equal(second.finish, "stop");
  assert.match(second.message.content, /light rain/);
  report(stream ? "client tools (stream)" : "client tools", { call: call.id });
}

await models();
await completion();
await streamWithUsage();
await errors();
await toolRoundTrip(false);
await toolRoundTrip(true);
report("done", { ok: true });
