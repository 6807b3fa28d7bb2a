// The better-auth 1.7 line, resolved from this folder's node_modules.
export { betterAuth } from "better-auth";
export { drizzleAdapter } from "better-auth/adapters/drizzle";
export { organization } from "better-auth/plugins/organization";
export { jwt } from "better-auth/plugins/jwt";
export { admin } from "better-auth/plugins/admin";
export { oauthDeviceAuthorization, oauthProvider } from "@better-auth/oauth-provider";
export const line = "1.7";
