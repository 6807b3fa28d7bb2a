// The official MCP TypeScript SDK's client (Client + StreamableHTTPClientTransport with an
// OAuthClientProvider) against an MCP server protected by beep-iam. Nothing but the server
// URL and a pre-registered client is configured: the SDK finds the authorization server from
// the bare 401 (RFC 9728 resource_metadata), discovers it (RFC 8414), authorizes with PKCE
// and the resource indicator (RFC 8707), redeems the code and calls a tool. Without a
// pre-registered client it registers itself (RFC 7591), or, given input.client_metadata_url
// and a server advertising client_id_metadata_document_supported, uses that https URL as its
// client_id (a Client ID Metadata Document the server fetches).
// Usage: node client.mjs '<json>'; prints one JSON object. Two steps, as a browser redirect
// splits them: "start" (until the authorization URL) and "finish" (code -> token -> tool);
// the provider's state between them is a JSON file (input.state_file).
import fs from "node:fs";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import { auth, UnauthorizedError } from "@modelcontextprotocol/sdk/client/auth.js";

const input = JSON.parse(process.argv[2]);
const load = () => (fs.existsSync(input.state_file) ? JSON.parse(fs.readFileSync(input.state_file, "utf8")) : {});
const store = (patch) => fs.writeFileSync(input.state_file, JSON.stringify({ ...load(), ...patch }));

const provider = {
  get redirectUrl() {
    return input.redirect_uri;
  },
  get clientMetadata() {
    return {
      redirect_uris: [input.redirect_uri],
      client_name: "MCP SDK client",
      grant_types: ["authorization_code", "refresh_token"],
      response_types: ["code"],
      token_endpoint_auth_method: "none",
    };
  },
  // SEP-991: the SDK uses this URL as the client_id instead of registering when the
  // authorization server says it fetches metadata documents.
  clientMetadataUrl: input.client_metadata_url,
  state: () => "mcp-state",
  // Pre-registered: the client's id and secret; without them the SDK registers itself
  // (RFC 7591) at the registration endpoint the authorization server advertises.
  clientInformation: () =>
    load().client ??
    (input.client_id ? { client_id: input.client_id, client_secret: input.client_secret } : undefined),
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

  // The SDK's own refresh: auth() with stored tokens that hold a refresh token rotates them
  // (with the resource indicator again), then the server takes the new access token.
  async refresh() {
    const result = await auth(provider, { serverUrl: new URL(input.server_url) });
    const { client, transport } = await connect();
    await client.connect(transport);
    const called = await client.callTool({ name: "whoami", arguments: {} });
    await client.close();
    return { result, called, tokens: load().tokens, client: load().client };
  },
};

try {
  process.stdout.write(JSON.stringify(await commands[input.command]()) + "\n");
} catch (error) {
  process.stdout.write(JSON.stringify({ error: String(error), stack: error.stack }) + "\n");
  process.exitCode = 1;
}
