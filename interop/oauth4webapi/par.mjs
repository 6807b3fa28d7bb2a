// panva's oauth4webapi pushing its authorization request (RFC 9126) to Django's /oauth2/par,
// then redeeming the code; its defaults, plus allowInsecureRequests (plain http on loopback).
// Usage: node par.mjs '<json>'; prints one JSON object.
import * as oauth from "oauth4webapi";

const input = JSON.parse(process.argv[2]);
const options = { [oauth.allowInsecureRequests]: true };
const issuer = new URL(input.issuer);
const client = { client_id: input.client_id, id_token_signed_response_alg: "EdDSA" };

async function discover() {
  const response = await oauth.discoveryRequest(issuer, { ...options, algorithm: "oidc" });
  return oauth.processDiscoveryResponse(issuer, response);
}

const commands = {
  async push() {
    const as = await discover();
    const auth = oauth.ClientSecretBasic(input.client_secret);
    const code_verifier = oauth.generateRandomCodeVerifier();
    const state = oauth.generateRandomState();
    const nonce = oauth.generateRandomNonce();
    const params = new URLSearchParams({
      redirect_uri: input.redirect_uri,
      response_type: "code",
      scope: input.scope,
      state,
      nonce,
      code_challenge: await oauth.calculatePKCECodeChallenge(code_verifier),
      code_challenge_method: "S256",
    });
    const response = await oauth.pushedAuthorizationRequest(as, client, auth, params, options);
    const pushed = await oauth.processPushedAuthorizationResponse(as, client, response);
    const url = new URL(as.authorization_endpoint);
    url.search = new URLSearchParams({
      client_id: input.client_id,
      request_uri: pushed.request_uri,
    }).toString();
    return {
      url: url.href,
      request_uri: pushed.request_uri,
      expires_in: pushed.expires_in,
      endpoint: as.pushed_authorization_request_endpoint,
      state,
      nonce,
      code_verifier,
    };
  },

  async finish() {
    const as = await discover();
    const auth = oauth.ClientSecretBasic(input.client_secret);
    const params = oauth.validateAuthResponse(as, client, new URL(input.callback), input.state);
    const response = await oauth.authorizationCodeGrantRequest(
      as, client, auth, params, input.redirect_uri, input.code_verifier, options,
    );
    const tokens = await oauth.processAuthorizationCodeResponse(as, client, response, {
      expectedNonce: input.nonce,
      requireIdToken: true,
    });
    const claims = oauth.getValidatedIdTokenClaims(tokens);
    return { sub: claims.sub, nonce: claims.nonce, scope: tokens.scope };
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
