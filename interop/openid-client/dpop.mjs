// panva's openid-client with DPoP (RFC 9449) against Django's endpoints, for a public client:
// a key from the library (randomDPoPKeyPair / getDPoPHandle), code + PKCE bound to it
// (dpop_jkt), userinfo, a resource on another origin, a refresh with the bound refresh token
// and the resource again, each with the library's own retry when the server asks for a nonce
// (use_dpop_nonce at the token endpoint, a WWW-Authenticate DPoP challenge at a resource).
// Strict: its defaults plus allowInsecureRequests (plain http on loopback), the client's
// registered id_token_signed_response_alg (EdDSA) and enableNonRepudiationChecks; customFetch
// only records what the server answered (record.mjs).
// Usage: node dpop.mjs '<json>'; prints the authorization URL as a JSON line, reads the
// callback URL from stdin (the test plays the browser), prints the outcome.
import { createInterface } from "node:readline";
import * as client from "openid-client";
import { authorizationRequest, discover, emit, recordingFetch, run, seen } from "./record.mjs";

const input = JSON.parse(process.argv[2]);
const lines = createInterface({ input: process.stdin })[Symbol.asyncIterator]();

async function resource(config, accessToken, DPoP) {
  const response = await client.fetchProtectedResource(
    config, accessToken, new URL(input.resource), "GET", undefined, undefined, { DPoP },
  );
  return { status: response.status, body: await response.json() };
}

async function main() {
  const config = await discover(input, client.None());
  config[client.customFetch] = recordingFetch;
  const DPoP = client.getDPoPHandle(config, await client.randomDPoPKeyPair("ES256"));
  const jkt = await DPoP.calculateThumbprint();
  const { params, code_verifier, state, nonce } = await authorizationRequest(input, { dpop_jkt: jkt });
  const url = client.buildAuthorizationUrl(config, params);
  emit({ url: url.href, jkt });
  const callback = (await lines.next()).value;
  const tokens = await client.authorizationCodeGrant(
    config,
    new URL(callback),
    { pkceCodeVerifier: code_verifier, expectedState: state, expectedNonce: nonce, idTokenExpected: true },
    undefined,
    { DPoP },
  );
  const sub = tokens.claims().sub;
  const userinfo = await client.fetchUserInfo(config, tokens.access_token, sub, { DPoP });
  const first = await resource(config, tokens.access_token, DPoP);
  const refreshed = await client.refreshTokenGrant(config, tokens.refresh_token, undefined, { DPoP });
  const second = await resource(config, refreshed.access_token, DPoP);
  return {
    token_type: tokens.token_type,
    refreshed_token_type: refreshed.token_type,
    access_token: tokens.access_token,
    refreshed_access_token: refreshed.access_token,
    sub,
    userinfo,
    first,
    second,
    seen,
  };
}

await run(main);
process.stdin.destroy();
