// oauth4webapi's Dynamic Client Registration (RFC 7591) against Django's /oauth2/register:
// discovery finds registration_endpoint, the initial access token goes as a Bearer token.
// Usage: node register.mjs '<json>'; prints one JSON object (the registered client, or the
// error oauth4webapi raised).
import * as oauth from "oauth4webapi";

const input = JSON.parse(process.argv[2]);
const options = { [oauth.allowInsecureRequests]: true };
const issuer = new URL(input.issuer);

try {
  const as = await oauth.processDiscoveryResponse(
    issuer,
    await oauth.discoveryRequest(issuer, { ...options, algorithm: "oidc" }),
  );
  const response = await oauth.dynamicClientRegistrationRequest(as, input.metadata, {
    ...options,
    initialAccessToken: input.initial_access_token,
  });
  const client = await oauth.processDynamicClientRegistrationResponse(response);
  process.stdout.write(JSON.stringify({ registration_endpoint: as.registration_endpoint, client }) + "\n");
} catch (error) {
  process.stdout.write(
    JSON.stringify({ error: String(error), code: error.code, status: error.status ?? null }) + "\n",
  );
  process.exitCode = 1;
}
