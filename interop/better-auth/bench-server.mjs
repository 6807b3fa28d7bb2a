// Stock better-auth 1.7 (the harness's configuration) as an HTTP server for
// benchmarks/oauth_http.py: node:cluster with BENCH_WORKERS processes (Node serves one
// request at a time per process, so one per core), better-auth's own Node adapter.
// GET /ping answers at once (the load generator's ceiling against Node).
//
// Environment: BENCH_PORT, BENCH_WORKERS, BETTER_AUTH_SECRET, BETTER_AUTH_URL, and the libpq
// variables of the better-auth role on the benchmark's scratch database.
import cluster from "node:cluster";
import http from "node:http";

const workers = Number(process.env.BENCH_WORKERS ?? 2);
const port = Number(process.env.BENCH_PORT ?? 3000);

if (cluster.isPrimary) {
  let stopping = false;
  const stop = () => {
    stopping = true;
    for (const worker of Object.values(cluster.workers)) worker.kill();
    process.exit(0);
  };
  process.on("SIGTERM", stop);
  process.on("SIGINT", stop);
  cluster.on("exit", (_worker, code) => {
    if (!stopping) {
      process.stderr.write(`a worker ended (${code}); stopping\n`);
      stop();
    }
  });
  for (let i = 0; i < workers; i++) cluster.fork();
} else {
  const pg = (await import("pg")).default;
  const { drizzle } = await import("drizzle-orm/node-postgres");
  const { toNodeHandler } = await import("better-auth/node");
  const { betterAuthOptions, drizzleSchema } = await import(
    "./generated/beep-iam-better-auth.mjs"
  );
  const ba = await import("./line-1.7.mjs");
  const pool = new pg.Pool({ max: 10 });
  const schema = { ...drizzleSchema };
  const db = drizzle(pool, { schema });
  const auth = ba.betterAuth({
    ...betterAuthOptions(),
    baseURL: process.env.BETTER_AUTH_URL,
    secret: process.env.BETTER_AUTH_SECRET,
    database: ba.drizzleAdapter(db, { provider: "pg", schema }),
    emailAndPassword: { enabled: true },
    disabledPaths: ["/token"],
    logger: { level: "error" },
    telemetry: { enabled: false },
    // Every request comes from one address; the other systems run without limits too.
    rateLimit: { enabled: false },
    plugins: [
      ba.organization({ teams: { enabled: true } }),
      ba.jwt(),
      ba.admin(),
      ba.oauthProvider({
        loginPage: "/login",
        consentPage: "/consent",
        scopes: ["openid", "profile", "email", "offline_access", "invoices:read"],
      }),
    ],
  });
  const handler = toNodeHandler(auth);
  const server = http.createServer((req, res) => {
    if (req.url === "/ping") {
      res.writeHead(200, { "content-type": "text/plain", "content-length": "2" });
      res.end("ok");
      return;
    }
    handler(req, res);
  });
  server.keepAliveTimeout = 65_000;
  server.listen(port, "127.0.0.1");
}
