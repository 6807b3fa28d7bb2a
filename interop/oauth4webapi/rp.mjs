// panva's oauth4webapi as a relying party against Django's endpoints. Strict: its defaults,
// plus allowInsecureRequests (the test's live server is plain http on loopback) and the
// client's registered id_token_signed_response_alg (EdDSA, as better-auth signs).
// Usage: node rp.mjs '<json>'; prints one JSON object.
import * as oauth from "oauth4webapi";

const input = JSON.parse(process.argv[2]);
const options = { [oauth.allowInsecureRequests]: true };
const issuer = new URL(input.issuer);

async function discover() {
  const response = await oauth.discoveryRequest(issuer, { ...options, algorithm: "oidc" });
  return oauth.processDiscoveryResponse(issuer, response);
}

function client() {
  return { client_id: input.client_id, id_token_signed_response_alg: "EdDSA" };
}

async function introspect(as, auth, token) {
  const response = await oauth.introspectionRequest(as, client(), auth, token, options);
  return oauth.processIntrospectionResponse(as, client(), response);
}

async function revoke(as, auth, token) {
  const response = await oauth.revocationRequest(as, client(), auth, token, options);
  await oauth.processRevocationResponse(response);
}

const commands = {
  async client_credentials() {
    const as = await discover();
    const auth = oauth.ClientSecretBasic(input.client_secret);
    const response = await oauth.clientCredentialsGrantRequest(
      as, client(), auth, new URLSearchParams({ scope: input.scope }), options,
    );
    const tokens = await oauth.processClientCredentialsResponse(as, client(), response);
    const before = await introspect(as, auth, tokens.access_token);
    await revoke(as, auth, tokens.access_token);
    const after = await introspect(as, auth, tokens.access_token);
    return { scope: tokens.scope, token_type: tokens.token_type, before, after };
  },

  async start() {
    const as = await discover();
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
    }).toString();
    return { url: url.href, state, nonce, code_verifier };
  },

  async finish() {
    const as = await discover();
    const auth = oauth.ClientSecretBasic(input.client_secret);
    // Checks state and RFC 9207's iss.
    const params = oauth.validateAuthResponse(as, client(), new URL(input.callback), input.state);
    const response = await oauth.authorizationCodeGrantRequest(
      as, client(), auth, params, input.redirect_uri, input.code_verifier, options,
    );
    const tokens = await oauth.processAuthorizationCodeResponse(as, client(), response, {
      expectedNonce: input.nonce,
      requireIdToken: true,
    });
    // oauth4webapi validates the ID token's claims; its signature (TLS-trusted here, OIDC
    // Core 3.1.3.7) is checked by the test against the JWKS.
    const claims = oauth.getValidatedIdTokenClaims(tokens);
    const userinfo = await oauth.processUserInfoResponse(
      as, client(), claims.sub,
      await oauth.userInfoRequest(as, client(), tokens.access_token, options),
    );
    const refreshResponse = await oauth.refreshTokenGrantRequest(
      as, client(), auth, tokens.refresh_token, options,
    );
    const refreshed = await oauth.processRefreshTokenResponse(as, client(), refreshResponse);
    const active = await introspect(as, auth, refreshed.access_token);
    await revoke(as, auth, refreshed.refresh_token);
    const afterRevocation = await introspect(as, auth, refreshed.access_token);
    return {
      id_token: tokens.id_token,
      sub: claims.sub,
      iss: claims.iss,
      nonce: claims.nonce,
      userinfo,
      refreshed: refreshed.access_token !== tokens.access_token,
      active: active.active,
      after_revocation: afterRevocation.active,
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
