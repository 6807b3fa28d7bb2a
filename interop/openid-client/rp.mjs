// panva's openid-client as a relying party against Django's endpoints. Strict: its defaults,
// plus allowInsecureRequests (the test's live server is plain http on loopback) and the
// client's registered id_token_signed_response_alg (EdDSA, as better-auth signs); stricter
// than the defaults with enableNonRepudiationChecks (ID token signatures from the token
// endpoint are verified against the server's JWKS).
// Usage: node rp.mjs '<json>'; prints one JSON object.
import * as client from "openid-client";
import { authorizationRequest, discover } from "./record.mjs";

const input = JSON.parse(process.argv[2]);

async function auth() {
  if (input.private_jwk) {
    const { kid, ...jwk } = input.private_jwk;
    const key = await crypto.subtle.importKey(
      "jwk", jwk, { name: "ECDSA", namedCurve: jwk.crv }, false, ["sign"],
    );
    return client.PrivateKeyJwt({ key, kid });
  }
  return input.client_secret ? client.ClientSecretBasic(input.client_secret) : client.None();
}

async function configure() {
  return discover(input, await auth());
}

const commands = {
  async client_credentials() {
    const config = await configure();
    const tokens = await client.clientCredentialsGrant(config, { scope: input.scope });
    const before = await client.tokenIntrospection(config, tokens.access_token);
    await client.tokenRevocation(config, tokens.access_token);
    const after = await client.tokenIntrospection(config, tokens.access_token);
    return {
      scope: tokens.scope,
      token_type: tokens.token_type,
      before: { active: before.active, client_id: before.client_id, scope: before.scope },
      after,
    };
  },

  async start() {
    const config = await configure();
    const { params, code_verifier, state, nonce } = await authorizationRequest(input);
    const url = client.buildAuthorizationUrl(config, params);
    return { url: url.href, state, nonce, code_verifier };
  },

  async finish() {
    const config = await configure();
    // Checks state, RFC 9207's iss, the ID token's signature and claims (nonce included).
    const tokens = await client.authorizationCodeGrant(config, new URL(input.callback), {
      pkceCodeVerifier: input.code_verifier,
      expectedState: input.state,
      expectedNonce: input.nonce,
      idTokenExpected: true,
    });
    const claims = tokens.claims();
    const userinfo = await client.fetchUserInfo(config, tokens.access_token, claims.sub);
    const refreshed = await client.refreshTokenGrant(config, tokens.refresh_token);
    const active = await client.tokenIntrospection(config, refreshed.access_token);
    const endSession = client.buildEndSessionUrl(config, {
      id_token_hint: refreshed.id_token ?? tokens.id_token,
      post_logout_redirect_uri: input.post_logout_redirect_uri,
      state: "signed-out",
    });
    await client.tokenRevocation(config, refreshed.refresh_token, {
      token_type_hint: "refresh_token",
    });
    const afterRevocation = await client.tokenIntrospection(config, refreshed.access_token);
    return {
      sub: claims.sub,
      iss: claims.iss,
      aud: claims.aud,
      nonce: claims.nonce,
      id_token: tokens.id_token,
      userinfo,
      refreshed: refreshed.access_token !== tokens.access_token,
      refreshed_sub: refreshed.claims()?.sub ?? null,
      active: active.active,
      active_sub: active.sub,
      reference_id: active.reference_id ?? null,
      after_revocation: afterRevocation.active,
      end_session_url: endSession.href,
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
