// panva's oauth4webapi against Django's endpoints for resource-bound (RFC 8707) tokens, and
// its resource-server function validateJwtAccessToken (RFC 9068) on what Django issued.
// Strict: its defaults plus allowInsecureRequests (the live server is plain http on loopback).
// Usage: node resource.mjs '<json>'; prints one JSON object.
import * as oauth from "oauth4webapi";

const input = JSON.parse(process.argv[2]);
const options = { [oauth.allowInsecureRequests]: true };
const issuer = new URL(input.issuer);
const client = { client_id: input.client_id, id_token_signed_response_alg: "EdDSA" };

async function discover() {
  const response = await oauth.discoveryRequest(issuer, { ...options, algorithm: "oauth2" });
  return oauth.processDiscoveryResponse(issuer, response);
}

// The resource server's side: the token as a request to the resource would carry it.
async function validate(as, accessToken, audience) {
  const request = new Request(audience, { headers: { authorization: `Bearer ${accessToken}` } });
  try {
    return { claims: await oauth.validateJwtAccessToken(as, request, audience, options) };
  } catch (error) {
    return { error: String(error), code: error.code ?? null };
  }
}

const commands = {
  async client_credentials() {
    const as = await discover();
    const auth = oauth.ClientSecretBasic(input.client_secret);
    const params = new URLSearchParams({ scope: input.scope, resource: input.resource });
    const response = await oauth.clientCredentialsGrantRequest(as, client, auth, params, options);
    const tokens = await oauth.processClientCredentialsResponse(as, client, response);
    return {
      access_token: tokens.access_token,
      at_resource: await validate(as, tokens.access_token, input.resource),
      at_other: await validate(as, tokens.access_token, input.other_resource),
    };
  },

  async start() {
    const as = await discover();
    const code_verifier = oauth.generateRandomCodeVerifier();
    const state = oauth.generateRandomState();
    const url = new URL(as.authorization_endpoint);
    url.search = new URLSearchParams({
      client_id: input.client_id,
      redirect_uri: input.redirect_uri,
      response_type: "code",
      scope: input.scope,
      state,
      resource: input.resource,
      code_challenge: await oauth.calculatePKCECodeChallenge(code_verifier),
      code_challenge_method: "S256",
    }).toString();
    return { url: url.href, state, code_verifier };
  },

  async finish() {
    const as = await discover();
    const auth = oauth.ClientSecretBasic(input.client_secret);
    const params = oauth.validateAuthResponse(as, client, new URL(input.callback), input.state);
    const response = await oauth.authorizationCodeGrantRequest(
      as, client, auth, params, input.redirect_uri, input.code_verifier,
      { ...options, additionalParameters: { resource: input.resource } },
    );
    const tokens = await oauth.processAuthorizationCodeResponse(as, client, response);
    const refreshResponse = await oauth.refreshTokenGrantRequest(
      as, client, auth, tokens.refresh_token,
      { ...options, additionalParameters: { resource: input.resource } },
    );
    const refreshed = await oauth.processRefreshTokenResponse(as, client, refreshResponse);
    return {
      at_resource: await validate(as, tokens.access_token, input.resource),
      refreshed_at_resource: await validate(as, refreshed.access_token, input.resource),
      at_other: await validate(as, tokens.access_token, input.other_resource),
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
