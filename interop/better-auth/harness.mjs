// A stock better-auth server on the beep-iam database, driven by tests/better_auth over
// stdin/stdout: one JSON request per line in, one JSON reply per line out. Requests go
// through better-auth's own HTTP handler (`auth.handler`) or its server API (`auth.api`).
//
// Environment: BEEP_BETTER_AUTH_LINE ("1.7" or "1.4"), DATABASE_URL (the beep_auth role),
// BETTER_AUTH_SECRET, BETTER_AUTH_URL.
import readline from "node:readline";
import pg from "pg";
import { drizzle } from "drizzle-orm/node-postgres";
import { betterAuthOptions, drizzleSchema } from "./generated/beep-iam-better-auth.mjs";
import { schemaFromDatabase } from "./introspected.mjs";

const line = process.env.BEEP_BETTER_AUTH_LINE ?? "1.7";
const ba = await import(line === "1.4" ? "./line-1.4/index.mjs" : "./line-1.7.mjs");
const baseURL = process.env.BETTER_AUTH_URL ?? "http://localhost:3000";

// DATABASE_URL, or the libpq variables (PGHOST may be a socket folder).
const pool = new pg.Pool({ connectionString: process.env.DATABASE_URL, max: 4 });

// BEEP_OMIT_MODEL=<model key> leaves that table out of the Drizzle schema handed to
// better-auth: the tests prove that 1.7's schema check then refuses to start.
// BEEP_SCHEMA_FROM_DATABASE=1: the schema is read from the database instead of the generated
// module (introspected.mjs), as a user who pulls it from the database gets it.
const schema = process.env.BEEP_SCHEMA_FROM_DATABASE
  ? await schemaFromDatabase(pool)
  : { ...drizzleSchema };
if (process.env.BEEP_OMIT_MODEL) delete schema[process.env.BEEP_OMIT_MODEL];
const db = drizzle(pool, { schema });

const auth = ba.betterAuth({
  ...betterAuthOptions(),
  baseURL,
  secret: process.env.BETTER_AUTH_SECRET,
  database: ba.drizzleAdapter(db, { provider: "pg", schema }),
  emailAndPassword: { enabled: true },
  disabledPaths: ["/token"],
  logger: { level: "error" },
  telemetry: { enabled: false },
  plugins: [
    ba.organization({ teams: { enabled: true } }),
    ba.jwt(),
    // Bans and impersonation (user.role/banned/ban_*, session.impersonated_by).
    ba.admin(),
    ba.oauthProvider({
      loginPage: "/login",
      consentPage: "/consent",
      allowDynamicClientRegistration: true,
      allowUnauthenticatedClientRegistration: true,
      scopes: ["openid", "profile", "email", "offline_access"],
    }),
    // RFC 8628 for OAuth clients on the shared device_code table, tokens from /oauth2/token
    // (1.7 line only: tests/better_auth/test_device.py).
    ...(ba.oauthDeviceAuthorization
      ? [ba.oauthDeviceAuthorization({ verificationUri: "/device" })]
      : []),
  ],
});

async function request({ method = "GET", path, query, headers = {}, json, form }) {
  const init = { method, headers: { origin: baseURL, ...headers } };
  if (json !== undefined) {
    init.body = JSON.stringify(json);
    init.headers["content-type"] = "application/json";
  } else if (form !== undefined) {
    init.body = new URLSearchParams(form).toString();
    init.headers["content-type"] = "application/x-www-form-urlencoded";
  }
  const url = new URL(path, baseURL);
  for (const [name, value] of Object.entries(query ?? {})) url.searchParams.set(name, value);
  const response = await auth.handler(new Request(url, init));
  const text = await response.text();
  let body = text;
  try {
    body = JSON.parse(text);
  } catch {}
  return {
    status: response.status,
    location: response.headers.get("location"),
    setCookie: response.headers.getSetCookie(),
    body,
  };
}

async function api({ name, body, headers, query }) {
  const fn = auth.api[name];
  if (typeof fn !== "function") throw new Error(`no server API ${name}`);
  return await fn({ body, query, headers: headers ? new Headers(headers) : undefined });
}

// The models and fields this configuration of better-auth reads and writes, by key.
async function tables() {
  const context = await auth.$context;
  return Object.fromEntries(
    Object.entries(context.tables).map(([key, table]) => [key, Object.keys(table.fields)]),
  );
}

// better-auth's resource-server check of a JWT access token (RFC 9068): signature against
// this server's JWKS, issuer and audience (verifyJwsAccessToken of better-auth/oauth2, 1.7).
async function verifyAccessToken({ token, audience, issuer }) {
  const { verifyJwsAccessToken } = await import("better-auth/oauth2");
  const jwksFetch = async () => (await request({ path: "/api/auth/jwks" })).body;
  try {
    return { payload: await verifyJwsAccessToken(token, { jwksFetch, verifyOptions: { audience, issuer } }) };
  } catch (error) {
    return { error: String(error?.message ?? error), name: error?.name ?? null };
  }
}

const ops = {
  ping: async () => ({ line, version: ba.line }),
  tables,
  request,
  api,
  verifyAccessToken,
};

// 1.7 checks its schema against the Drizzle schema and refuses requests on a mismatch; a
// first request here makes a mismatch fail the start rather than a later step.
try {
  await auth.api.getSession({ headers: new Headers() });
} catch (error) {
  process.stdout.write(JSON.stringify({ ready: false, line, error: String(error?.message) }) + "\n");
  process.exit(1);
}
process.stdout.write(JSON.stringify({ ready: true, line }) + "\n");

const input = readline.createInterface({ input: process.stdin });
for await (const raw of input) {
  const { id, op, args } = JSON.parse(raw);
  let reply;
  try {
    reply = { id, ok: true, result: await ops[op](args ?? {}) };
  } catch (error) {
    reply = {
      id,
      ok: false,
      error: String(error?.message ?? error),
      status: error?.status ?? error?.statusCode,
      body: error?.body,
    };
  }
  process.stdout.write(JSON.stringify(reply) + "\n");
}
await pool.end();
