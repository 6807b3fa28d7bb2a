// Test vectors from better-auth's own functions, for the Python side to check against.
//   node vectors.mjs <package dir>  < requests.json  > answers.json
// <package dir> holds the better-auth line's node_modules (this folder: 1.7, line-1.4/: 1.4).
// Each request is {op: "sign" | "unsign" | "hash" | "verify", ...}; answers keep their order.
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { resolve } from "node:path";
import { pathToFileURL } from "node:url";

const dir = resolve(process.argv[2] ?? ".");
const require = createRequire(resolve(dir, "package.json"));
const load = (name) => import(pathToFileURL(require.resolve(name)).href);

const { createEndpoint, serializeSignedCookie } = await load("better-call");
const { hashPassword, verifyPassword } = await load("better-auth/crypto");
const manifest = resolve(dir, "node_modules", "better-auth", "package.json");
const { version } = JSON.parse(readFileSync(manifest, "utf8"));

// better-auth reads its session cookie with ctx.getSignedCookie inside an endpoint.
const readSigned = createEndpoint("/read", { method: "GET" }, async (ctx) => ({
  value: await ctx.getSignedCookie(ctx.query.name, ctx.query.secret),
}));

async function answer(request) {
  switch (request.op) {
    case "sign": {
      const header = await serializeSignedCookie("c", request.value, request.secret);
      return { cookie: header.slice(2).split(";")[0] };
    }
    case "unsign": {
      const headers = new Headers({ cookie: `${request.name}=${request.cookie}` });
      const query = { name: request.name, secret: request.secret };
      return await readSigned({ headers, query });
    }
    case "hash":
      return { hash: await hashPassword(request.password) };
    case "verify":
      return { ok: await verifyPassword({ hash: request.hash, password: request.password }) };
    default:
      throw new Error(`unknown op ${request.op}`);
  }
}

let input = "";
for await (const chunk of process.stdin) input += chunk;
const answers = [];
for (const request of JSON.parse(input)) answers.push(await answer(request));
process.stdout.write(JSON.stringify({ version, answers }));
