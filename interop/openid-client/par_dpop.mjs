// panva's openid-client with DPoP at the pushed authorization request endpoint (RFC 9449
// 10.1) against Django's endpoints, for a public client: a key from the library
// (randomDPoPKeyPair / getDPoPHandle), buildAuthorizationUrlWithPAR with that handle (so the
// library sends a DPoP proof with POST /oauth2/par and no dpop_jkt parameter), code + PKCE,
// then authorizationCodeGrant and fetchUserInfo with a handle: the same one, or, with
// "other_key", a handle of another key the library made (the code is bound to the first).
// Each request with the library's own retry when the server asks for a nonce.
// Strict: its defaults plus allowInsecureRequests (plain http on loopback), the client's
// registered id_token_signed_response_alg (EdDSA) and enableNonRepudiationChecks; customFetch
// only records what the server answered (record.mjs).
// Usage: node par_dpop.mjs '<json>'; prints the authorization URL as a JSON line, reads the
// callback URL from stdin (the test plays the browser), prints the outcome.
import { createInterface } from "node:readline";
import * as client from "openid-client";
import { authorizationRequest, discover, emit, recordingFetch, run, seen } from "./record.mjs";

const input = JSON.parse(process.argv[2]);
const lines = createInterface({ input: process.stdin })[Symbol.asyncIterator]();

async function main() {
  const config = await discover(input, client.None());
  config[client.customFetch] = recordingFetch;
  const DPoP = client.getDPoPHandle(config, await client.randomDPoPKeyPair("ES256"));
  const jkt = await DPoP.calculateThumbprint();
  const { params, code_verifier, state, nonce } = await authorizationRequest(input);
  const url = await client.buildAuthorizationUrlWithPAR(config, params, { DPoP });
  emit({ url: url.href, jkt, seen: [...seen] });
  const callback = (await lines.next()).value;
  const tokenDPoP = input.other_key
    ? client.getDPoPHandle(config, await client.randomDPoPKeyPair("ES256"))
    : DPoP;
  const token_jkt = await tokenDPoP.calculateThumbprint();
  let tokens;
  try {
    tokens = await client.authorizationCodeGrant(
      config,
      new URL(callback),
      { pkceCodeVerifier: code_verifier, expectedState: state, expectedNonce: nonce, idTokenExpected: true },
      undefined,
      { DPoP: tokenDPoP },
    );
  } catch (error) {
    // What the library reports of the server's refusal (a ResponseBodyError: the OAuth error).
    return {
      token_jkt,
      refused: { name: error.name, code: error.code ?? null, error: error.error ?? null, status: error.status ?? null },
      seen,
    };
  }
  const sub = tokens.claims().sub;
  const userinfo = await client.fetchUserInfo(config, tokens.access_token, sub, { DPoP: tokenDPoP });
  return {
    token_jkt,
    token_type: tokens.token_type,
    access_token: tokens.access_token,
    refresh_token: tokens.refresh_token,
    sub,
    userinfo,
    seen,
  };
}

await run(main);
process.stdin.destroy();
