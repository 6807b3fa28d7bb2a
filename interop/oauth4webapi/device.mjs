// panva's oauth4webapi's device flow functions (RFC 8628) against Django's endpoints:
// deviceAuthorizationRequest / processDeviceAuthorizationResponse, then the polling loop of
// oauth4webapi's own example (examples/device_authorization_grant.ts: wait the interval, poll
// with deviceCodeGrantRequest, processDeviceCodeResponse; slow_down adds 5 seconds,
// authorization_pending polls again, anything else is thrown). "too_fast": the device polls
// once without waiting (a device that ignores the interval once), to meet slow_down. "dpop":
// the polls carry proofs of a key (oauth.DPoP), retried once when the server asks for a nonce
// (isDPoPNonceError, as oauth4webapi documents), and the tokens are bound to that key.
// Strict: its defaults plus allowInsecureRequests (plain http on loopback).
// Usage: node device.mjs '<json>'; prints one JSON line once the codes are there (the test
// then plays the user), and one with the outcome.
import * as oauth from "oauth4webapi";

const input = JSON.parse(process.argv[2]);
const options = { [oauth.allowInsecureRequests]: true };
const issuer = new URL(input.issuer);
const client = { client_id: input.client_id, id_token_signed_response_alg: "EdDSA" };
const clientAuth = oauth.None();
const polls = [];

function emit(value) {
  process.stdout.write(JSON.stringify(value) + "\n");
}

async function main() {
  const as = await oauth
    .discoveryRequest(issuer, { ...options, algorithm: "oidc" })
    .then((response) => oauth.processDiscoveryResponse(issuer, response));
  let DPoP;
  if (input.dpop) {
    DPoP = oauth.DPoP(client, await oauth.generateKeyPair("ES256"));
  }
  const parameters = new URLSearchParams({ scope: input.scope });
  const device = await oauth.processDeviceAuthorizationResponse(
    as, client, await oauth.deviceAuthorizationRequest(as, client, clientAuth, parameters, options),
  );
  let { device_code, interval = 5 } = device;
  emit({
    user_code: device.user_code,
    verification_uri: device.verification_uri,
    interval,
    jkt: DPoP ? await DPoP.calculateThumbprint() : null,
  });
  const started = Date.now();

  let success;
  let skipWait = false;
  const wait = () => new Promise((resolve) => setTimeout(resolve, skipWait ? 0 : interval * 1000));
  while (success === undefined) {
    await wait();
    skipWait = false;
    const poll = () => oauth.deviceCodeGrantRequest(as, client, clientAuth, device_code, { ...options, DPoP });
    success = await oauth.processDeviceCodeResponse(as, client, await poll()).catch(async (err) => {
      if (DPoP && oauth.isDPoPNonceError(err)) {
        polls.push({ at: Date.now(), error: err.error });
        return oauth.processDeviceCodeResponse(as, client, await poll());
      }
      throw err;
    }).catch((err) => {
      if (err instanceof oauth.ResponseBodyError) {
        polls.push({ at: Date.now(), error: err.error });
        switch (err.error) {
          case "slow_down":
            interval += 5;
          // falls through
          case "authorization_pending":
            skipWait = input.too_fast && polls.length === 1;
            return undefined;
        }
      }
      throw err;
    });
  }
  polls.push({ at: Date.now(), error: null });
  const result = { token_type: success.token_type, scope: success.scope, polls, started };
  result.access_token = success.access_token;
  const response = await oauth.userInfoRequest(as, client, success.access_token, { ...options, DPoP });
  result.userinfo = await oauth.processUserInfoResponse(as, client, oauth.skipSubjectCheck, response);
  return result;
}

try {
  emit(await main());
} catch (error) {
  emit({ error: error.error ?? String(error), code: error.code ?? null, polls });
  process.exitCode = error instanceof oauth.ResponseBodyError ? 0 : 1;
}
