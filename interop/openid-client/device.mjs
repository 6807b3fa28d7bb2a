// panva's openid-client's own device flow (RFC 8628) against Django's endpoints:
// initiateDeviceAuthorization, then pollDeviceAuthorizationGrant, which waits the server's
// interval, keeps polling on authorization_pending, adds 5 seconds on slow_down and reports
// access_denied / expired_token as a ResponseBodyError. With "dpop": a DPoP key from the
// library (randomDPoPKeyPair / getDPoPHandle): the poll, userinfo and a resource call carry
// proofs, with the library's own nonce retry; then a refresh with the bound refresh token.
// Strict: its defaults plus allowInsecureRequests (plain http on loopback) and the client's
// registered id_token_signed_response_alg (EdDSA). customFetch only records what the server
// answered (record.mjs); requests and responses pass unchanged.
// With "indicator": an RFC 8707 resource asked for with the codes, which the user approves.
// Usage: node device.mjs '<json>'; prints one JSON line once the codes are there (the test
// then plays the user), and one with the outcome.
import * as client from "openid-client";
import { discover, emit, recordingFetch, run, seen } from "./record.mjs";

const input = JSON.parse(process.argv[2]);

async function main() {
  const config = await discover(input, client.None());
  config[client.customFetch] = recordingFetch;
  const options = {};
  let jkt = null;
  if (input.dpop) {
    options.DPoP = client.getDPoPHandle(config, await client.randomDPoPKeyPair("ES256"));
    jkt = await options.DPoP.calculateThumbprint();
  }
  // "indicator": an RFC 8707 resource on the device authorization request.
  const device = await client.initiateDeviceAuthorization(config, {
    scope: input.scope,
    ...(input.indicator ? { resource: input.indicator } : {}),
  });
  emit({
    user_code: device.user_code,
    verification_uri: device.verification_uri,
    verification_uri_complete: device.verification_uri_complete,
    interval: device.interval,
    expires_in: device.expires_in,
    jkt,
  });
  const started = Date.now();
  let tokens;
  try {
    tokens = await client.pollDeviceAuthorizationGrant(config, device, undefined, options);
  } catch (error) {
    return { error: error.error ?? String(error), code: error.code ?? null, seen, started };
  }
  const result = {
    token_type: tokens.token_type,
    scope: tokens.scope,
    access_token: tokens.access_token,
    sub: tokens.claims()?.sub ?? null,
    seen,
    started,
  };
  result.userinfo = await client.fetchUserInfo(config, tokens.access_token, result.sub, options);
  if (input.resource) {
    const response = await client.fetchProtectedResource(
      config, tokens.access_token, new URL(input.resource), "GET", undefined, undefined, options,
    );
    result.resource = { status: response.status, body: await response.json() };
  }
  if (tokens.refresh_token) {
    const refreshed = await client.refreshTokenGrant(config, tokens.refresh_token, undefined, options);
    result.refreshed = { token_type: refreshed.token_type, access_token: refreshed.access_token };
  }
  return result;
}

await run(main);
