import * as client from "openid-client";

// The server's metadata as every script here reads it: its issuer (plain http on loopback in
// the tests), EdDSA ID tokens, openid-client's non-repudiation checks of them on.
export async function discover(input, clientAuth) {
  const config = await client.discovery(
    new URL(input.issuer),
    input.client_id,
    { id_token_signed_response_alg: "EdDSA" },
    clientAuth,
    { execute: [client.allowInsecureRequests] },
  );
  client.enableNonRepudiationChecks(config);
  return config;
}

// A code + PKCE authorization request's parameters (S256; a fresh state and nonce; extra
// ones added) and what the code's redemption checks against.
export async function authorizationRequest(input, extra = {}) {
  const code_verifier = client.randomPKCECodeVerifier();
  const state = client.randomState();
  const nonce = client.randomNonce();
  const params = {
    redirect_uri: input.redirect_uri,
    scope: input.scope,
    state,
    nonce,
    code_challenge: await client.calculatePKCECodeChallenge(code_verifier),
    code_challenge_method: "S256",
    ...extra,
  };
  return { params, code_verifier, state, nonce };
}

// A customFetch for openid-client that records what the server answered (time, method, URL,
// grant_type, status, OAuth error code, WWW-Authenticate) so a test can see the library's own
// polling and retries; requests and responses pass through unchanged.
export const seen = [];

export async function recordingFetch(url, options) {
  const response = await fetch(url, options);
  const entry = { at: Date.now(), method: options.method, url: String(url), status: response.status };
  if (options.body instanceof URLSearchParams) entry.grant_type = options.body.get("grant_type");
  if (!response.ok) {
    const body = await response.clone().json().catch(() => null);
    entry.error = body?.error ?? null;
    entry.challenge = response.headers.get("www-authenticate");
  }
  seen.push(entry);
  return response;
}

// One JSON line on stdout: what the test reads (tests/npm.py NodeSession).
export function emit(value) {
  process.stdout.write(JSON.stringify(value) + "\n");
}

// Run a script's main(): its outcome as one JSON line, or the error with what the server
// answered so far (and a failing exit code).
export async function run(main) {
  try {
    emit(await main());
  } catch (error) {
    emit({ error: String(error), code: error.code ?? null, cause: error.cause ?? null, seen });
    process.exitCode = 1;
  }
}
