// Drives cityagent's /mcp with the official MCP TypeScript SDK client
// (StreamableHTTPClientTransport), unmodified, and prints one JSON report on
// stdout for the Go test (cmd/cityagent/mcp_test.go) to check.
//
// Environment: MCP_URL (http://127.0.0.1:PORT/mcp), MCP_KEY (a developer
// key: it sees the city tools and may register one), API_BASE
// (http://127.0.0.1:PORT), TOOL_ENDPOINT (where the registered tool points).
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { ToolListChangedNotificationSchema } from '@modelcontextprotocol/sdk/types.js';

const { MCP_URL, MCP_KEY, API_BASE, TOOL_ENDPOINT } = process.env;
const auth = { Authorization: `Bearer ${MCP_KEY}` };
const report = {};

function connect(headers) {
  const client = new Client({ name: 'cityagent-test', version: '1.0.0' });
  const transport = new StreamableHTTPClientTransport(new URL(MCP_URL), { requestInit: { headers } });
  return { client, ready: client.connect(transport) };
}

// No key: the server answers 401 and the client fails to initialize.
{
  const { ready } = connect({});
  try {
    await ready;
    report.unauthenticated = 'connected';
  } catch (e) {
    report.unauthenticated = String(e.message ?? e);
  }
}

const { client, ready } = connect(auth);
await ready;
let changes = 0;
let onChange = () => {};
client.setNotificationHandler(ToolListChangedNotificationSchema, () => {
  changes++;
  onChange();
});
report.server = client.getServerVersion();
report.protocolVersion = client.transport?.protocolVersion ?? '';
report.tools = (await client.listTools()).tools.map((t) => ({ name: t.name, type: t.inputSchema?.type }));

const deltas = [];
const ask = await client.callTool(
  { name: 'ask_traffic', arguments: { message: 'How congested is Zhongshan Road right now?' } },
  undefined,
  { onprogress: (p) => deltas.push(p.message ?? '') },
);
report.ask = {
  isError: ask.isError ?? false,
  text: ask.content?.[0]?.text ?? '',
  structured: ask.structuredContent ?? null,
  progressDeltas: deltas.length,
  progressText: deltas.join(''),
};

const resources = (await client.listResources()).resources;
report.resources = resources.map((r) => r.uri);
const doc = resources.find((r) => r.uri.includes('/documents/'));
if (doc) {
  const read = await client.readResource({ uri: doc.uri });
  report.read = { uri: doc.uri, text: read.contents?.[0]?.text ?? '', mimeType: read.contents?.[0]?.mimeType ?? '' };
}

// Registering a tool over the HTTP API tells this session its tool list
// changed. The standalone GET stream that carries the notification opens
// in the background after initialize, so a change made before it is
// attached is not seen: register again under a new name until one is.
function waitChange(ms) {
  return new Promise((resolve) => {
    const timer = setTimeout(() => resolve(false), ms);
    onChange = () => {
      clearTimeout(timer);
      resolve(true);
    };
  });
}
async function api(method, path, body) {
  const res = await fetch(API_BASE + path, {
    method,
    headers: { ...auth, 'Content-Type': 'application/json' },
    body: body ? JSON.stringify(body) : undefined,
  });
  return res.status;
}
let registered = '';
for (let i = 0; i < 20 && !registered; i++) {
  const name = `bus_eta_${i}`;
  const seen = waitChange(500);
  const status = await api('POST', '/v1/tools', {
    name,
    description: 'Next buses at a stop',
    parameters: { type: 'object', properties: { stop: { type: 'string' } }, required: ['stop'] },
    endpoint: TOOL_ENDPOINT,
    clearance: 'internal',
  });
  if (status !== 201) {
    report.registerStatus = status;
    break;
  }
  if (await seen) registered = name;
}
report.registered = registered;
report.afterRegister = (await client.listTools()).tools.map((t) => t.name);
if (registered) {
  const seen = waitChange(10000);
  report.deleteStatus = await api('DELETE', `/v1/tools/${registered}`);
  report.removeNotified = await seen;
  report.afterRemove = (await client.listTools()).tools.map((t) => t.name);
}
report.listChanged = changes;
await client.close();
process.stdout.write(JSON.stringify(report) + '\n');
