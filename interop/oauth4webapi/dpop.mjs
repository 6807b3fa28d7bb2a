// panva's oauth4webapi with DPoP (RFC 9449) against Django's endpoints: a public client's code
// flow bound to a key (dpop_jkt too), a resource call, a refresh and another resource call, each
// retried once when the server asks for a nonce (use_dpop_nonce), as oauth4webapi documents.
// Strict: its defaults, plus allowInsecureRequests (plain http on loopback) and the client's
// registered id_token_signed_response_alg (EdDSA, as better-auth signs).
// Usage: node dpop.mjs '<json>'; prints one JSON object.
import * as oauth from "oauth4webapi";

const input = JSON.parse(process.argv[2]);
const options = { [oauth.allowInsecureRequests]: true };
const issuer = new URL(input.issuer);
const client = { client_id: input.client_id, id_token_signed_response_alg: "EdDSA" };
const ALG = { name: "ECDSA", namedCurve: "P-256" };

async function discover() {
  const response = await oauth.discoveryRequest(issuer, { ...options, algorithm: "oidc" });
  return oauth.processDiscoveryResponse(issuer, response);
}

async function keyPair() {
  const privateKey = await crypto.subtle.importKey("jwk", input.key, ALG, false, ["sign"]);
  const { d: _d, key_ops: _ops, ...publicJwk } = input.key;
  const publicKey = await crypto.subtle.importKey("jwk", publicJwk, ALG, true, ["verify"]);
  return { privateKey, publicKey };
}

const retries = { token: 0, refresh: 0, resource: 0 };

// Once more with the nonce the handle has just cached, when the server asked for one.
async function withNonceRetry(kind, attempt) {
  try {
    return await attempt();
  } catch (error) {
    if (!oauth.isDPoPNonceError(error)) throw error;
    retries[kind] += 1;
    return attempt();
  }
}

async function callResource(DPoP, accessToken) {
  // Throws on a WWW-Authenticate challenge (use_dpop_nonce among them), having cached the nonce.
  const response = await withNonceRetry("resource", () =>
    oauth.protectedResourceRequest(
      accessToken, "GET", new URL(input.resource), undefined, undefined, { ...options, DPoP },
    ),
  );
  return { status: response.status, body: await response.json() };
}

const commands = {
  async start() {
    const as = await discover();
    const pair = await oauth.generateKeyPair("ES256", { extractable: true });
    const DPoP = oauth.DPoP(client, pair);
    const code_verifier = oauth.generateRandomCodeVerifier();
    const state = oauth.generateRandomState();
    const nonce = oauth.generateRandomNonce();
    const url = new URL(as.authorization_endpoint);
    url.search = new URLSearchParams({
      client_id: input.client_id,
      redirect_uri: input.redirect_uri,
      response_type: "code",
      scope: input.scope,
      state,
      nonce,
      code_challenge: await oauth.calculatePKCECodeChallenge(code_verifier),
      code_challenge_method: "S256",
      dpop_jkt: await DPoP.calculateThumbprint(),
    }).toString();
    const key = await crypto.subtle.exportKey("jwk", pair.privateKey);
    return { url: url.href, state, nonce, code_verifier, key, jkt: await DPoP.calculateThumbprint() };
  },

  async finish() {
    const as = await discover();
    const DPoP = oauth.DPoP(client, await keyPair());
    const auth = oauth.None();
    const params = oauth.validateAuthResponse(as, client, new URL(input.callback), input.state);
    const tokens = await withNonceRetry("token", async () => {
      const response = await oauth.authorizationCodeGrantRequest(
        as, client, auth, params, input.redirect_uri, input.code_verifier, { ...options, DPoP },
      );
      return oauth.processAuthorizationCodeResponse(as, client, response, {
        expectedNonce: input.nonce,
        requireIdToken: true,
      });
    });
    const first = await callResource(DPoP, tokens.access_token);
    const refreshed = await withNonceRetry("refresh", async () => {
      const response = await oauth.refreshTokenGrantRequest(
        as, client, auth, tokens.refresh_token, { ...options, DPoP },
      );
      return oauth.processRefreshTokenResponse(as, client, response);
    });
    const second = await callResource(DPoP, refreshed.access_token);
    return {
      token_type: tokens.token_type,
      refreshed_token_type: refreshed.token_type,
      access_token: tokens.access_token,
      refreshed_access_token: refreshed.access_token,
      first,
      second,
      retries,
    };
  },
};

try {
  process.stdout.write(JSON.stringify(await commands[input.command]()) + "\n");
} catch (error) {
  process.stdout.write(
    JSON.stringify({ error: String(error), code: error.code, cause: error.cause ?? null }) + "\n",
  );
  process.exitCode = 1;
}
