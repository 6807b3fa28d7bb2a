// The official MCP TypeScript SDK's client (Client + StreamableHTTPClientTransport with an
// OAuthClientProvider) against an MCP server protected by beep-iam. Nothing but the server
// URL and a pre-registered client is configured: the SDK finds the authorization server from
// the bare 401 (RFC 9728 resource_metadata), discovers it (RFC 8414), authorizes with PKCE
// and the resource indicator (RFC 8707), redeems the code and calls a tool.
// Usage: node client.mjs '<json>'; prints one JSON object. Two steps, as a browser redirect
// splits them: "start" (until the authorization URL) and "finish" (code -> token -> tool);
// the provider's state between them is a JSON file (input.state_file).
import fs from "node:fs";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import { UnauthorizedError } from "@modelcontextprotocol/sdk/client/auth.js";

const input = JSON.parse(process.argv[2]);
const load = () => (fs.existsSync(input.state_file) ? JSON.parse(fs.readFileSync(input.state_file, "utf8")) : {});
const store = (patch) => fs.writeFileSync(input.state_file, JSON.stringify({ ...load(), ...patch }));

const provider = {
  get redirectUrl() {
    return input.redirect_uri;
  },
  get clientMetadata() {
    return { redirect_uris: [input.redirect_uri], client_name: "MCP SDK client" };
  },
  state: () => "mcp-state",
  // Pre-registered (no dynamic registration): the client's id and secret.
  clientInformation: () => load().client ?? { client_id: input.client_id, client_secret: input.client_secret },
  saveClientInformation: (client) => store({ client }),
  tokens: () => load().tokens,
  saveTokens: (tokens) => store({ tokens }),
  redirectToAuthorization: (url) => store({ authorization_url: url.href }),
  saveCodeVerifier: (verifier) => store({ verifier }),
  codeVerifier: () => load().verifier,
  saveDiscoveryState: (discovery) => store({ discovery }),
  discoveryState: () => load().discovery,
};

async function connect() {
  const client = new Client({ name: "beep-iam-test", version: "1.0.0" });
  const transport = new StreamableHTTPClientTransport(new URL(input.server_url), { authProvider: provider });
  return { client, transport };
}

const commands = {
  async start() {
    const { client, transport } = await connect();
    try {
      await client.connect(transport);
      return { connected: true };
    } catch (error) {
      if (!(error instanceof UnauthorizedError)) throw error;
      const state = load();
      return { authorization_url: state.authorization_url, discovery: state.discovery };
    }
  },

  async finish() {
    const { client, transport } = await connect();
    await transport.finishAuth(input.code);
    await client.connect(transport);
    const tools = await client.listTools();
    const called = await client.callTool({ name: "whoami", arguments: {} });
    await client.close();
    return { tools: tools.tools.map((tool) => tool.name), called, tokens: load().tokens };
  },
};

try {
  process.stdout.write(JSON.stringify(await commands[input.command]()) + "\n");
} catch (error) {
  process.stdout.write(JSON.stringify({ error: String(error), stack: error.stack }) + "\n");
  process.exitCode = 1;
}
