// The side-by-side reference for make bench: panva's oidc-provider (pinned in package.json),
// configured like our IdP's bench client and served over TLS with our CA's certificate.
//
//   node bench/reference/server.mjs PORT CERT.pem KEY.pem
//
// Prints "listening" on stdout once it accepts connections. The issuer is
// https://localhost:PORT; the token endpoint is /token and userinfo is /userinfo, the paths
// bench/loadgen.mjs asks for. The interaction page signs the fixed account in and grants
// what the client asked for, without a form: the bench measures the back channel only.

import crypto from "node:crypto";
import fs from "node:fs";
import https from "node:https";

import Provider from "oidc-provider";

const [port, certFile, keyFile] = process.argv.slice(2);
const ISSUER = `https://localhost:${port}`;
const CLIENT_ID = "bench-cli";
const REDIRECT_URI = "https://127.0.0.1:9/"; // registered, never followed (as bench/run.py's)
const ACCOUNT_ID = "bench";
const SWEEP_EVERY_MS = 10_000;

// --- storage --------------------------------------------------------------------------------

// One Map for every model, keyed by model name and id: each call is O(1), as the library's
// documentation asks of an adapter used for benchmarks (its bundled memory adapter is an LRU
// of 1,000 entries, which a run outgrows). Entries past their expiry are never returned and
// are swept now and then.
const entries = new Map(); // "Model:id" -> { payload, expiresAt (ms, or Infinity) }
const grantMembers = new Map(); // grantId -> Set of "Model:id" issued under that grant
const sessionIdByUid = new Map();
const idByUserCode = new Map();

function live(key) {
  const entry = entries.get(key);
  if (!entry) return undefined;
  if (entry.expiresAt <= Date.now()) {
    entries.delete(key);
    return undefined;
  }
  return entry.payload;
}

setInterval(() => {
  const now = Date.now();
  for (const [key, entry] of entries) if (entry.expiresAt <= now) entries.delete(key);
}, SWEEP_EVERY_MS).unref();

class MapAdapter {
  constructor(model) {
    this.model = model;
  }

  key(id) {
    return `${this.model}:${id}`;
  }

  async upsert(id, payload, expiresIn) {
    const key = this.key(id);
    const expiresAt = typeof expiresIn === "number" ? Date.now() + expiresIn * 1000 : Infinity;
    entries.set(key, { payload, expiresAt });
    if (payload.grantId) {
      if (!grantMembers.has(payload.grantId)) grantMembers.set(payload.grantId, new Set());
      grantMembers.get(payload.grantId).add(key);
    }
    if (this.model === "Session" && payload.uid) sessionIdByUid.set(payload.uid, id);
    if (payload.userCode) idByUserCode.set(payload.userCode, id);
  }

  async find(id) {
    return live(this.key(id));
  }

  async findByUid(uid) {
    const id = sessionIdByUid.get(uid);
    return id === undefined ? undefined : this.find(id);
  }

  async findByUserCode(userCode) {
    const id = idByUserCode.get(userCode);
    return id === undefined ? undefined : this.find(id);
  }

  async consume(id) {
    const payload = live(this.key(id));
    if (payload) payload.consumed = Math.floor(Date.now() / 1000);
  }

  async destroy(id) {
    const key = this.key(id);
    const payload = live(key);
    entries.delete(key);
    if (payload?.grantId) grantMembers.get(payload.grantId)?.delete(key);
  }

  async revokeByGrantId(grantId) {
    for (const key of grantMembers.get(grantId) ?? []) entries.delete(key);
    grantMembers.delete(grantId);
  }
}

// --- the provider ---------------------------------------------------------------------------

function signingKey() {
  // A fresh RS256 key per run; its public half is served at /jwks as usual.
  const { privateKey } = crypto.generateKeyPairSync("rsa", { modulusLength: 2048 });
  return { ...privateKey.export({ format: "jwk" }), kid: "bench-rs256", alg: "RS256", use: "sig" };
}

const provider = new Provider(ISSUER, {
  adapter: MapAdapter,
  clients: [
    {
      client_id: CLIENT_ID,
      token_endpoint_auth_method: "none", // a public client; PKCE is then required (default)
      grant_types: ["authorization_code", "refresh_token"],
      response_types: ["code"],
      redirect_uris: [REDIRECT_URI],
      id_token_signed_response_alg: "RS256",
    },
  ],
  jwks: { keys: [signingKey()] },
  cookies: { keys: [crypto.randomBytes(32).toString("base64url")] },
  scopes: ["openid", "profile", "email", "offline_access"],
  claims: {
    openid: ["sub"],
    profile: ["name", "given_name"],
    email: ["email", "email_verified"],
  },
  async findAccount(_ctx, accountId) {
    return {
      accountId,
      async claims() {
        return {
          sub: accountId,
          name: "Bench",
          given_name: "Bench",
          email: "bench@example.com",
          email_verified: true,
        };
      },
    };
  },
  issueRefreshToken: async (_ctx, client, grant) =>
    client.grantTypeAllowed("refresh_token") && grant.scopes.has("offline_access"),
  rotateRefreshToken: true, // a new refresh token on every use, as ours
  ttl: { AccessToken: 3600 }, // as bench/run.py sets OIDC_TOKEN_EXPIRE for ours
  routes: { token: "/token", userinfo: "/userinfo" },
  features: { devInteractions: { enabled: false } },
  interactions: { url: (_ctx, interaction) => `/interaction/${interaction.uid}` },
});

// --- the interaction: sign in the fixed account, grant what was asked -----------------------

async function interact(req, res) {
  const { prompt, params, session } = await provider.interactionDetails(req, res);
  let result;
  if (prompt.name === "login") {
    result = { login: { accountId: ACCOUNT_ID } };
  } else if (prompt.name === "consent") {
    const grant = new provider.Grant({ accountId: session.accountId, clientId: params.client_id });
    const { missingOIDCScope, missingOIDCClaims, missingResourceScopes } = prompt.details;
    if (missingOIDCScope) grant.addOIDCScope(missingOIDCScope.join(" "));
    if (missingOIDCClaims) grant.addOIDCClaims(missingOIDCClaims);
    for (const [indicator, scopes] of Object.entries(missingResourceScopes ?? {})) {
      grant.addResourceScope(indicator, scopes.join(" "));
    }
    result = { consent: { grantId: await grant.save() } };
  } else {
    result = { error: "access_denied", error_description: `unexpected prompt ${prompt.name}` };
  }
  await provider.interactionFinished(req, res, result, { mergeWithLastSubmission: true });
}

const providerHandler = provider.callback();
const server = https.createServer(
  { cert: fs.readFileSync(certFile), key: fs.readFileSync(keyFile) },
  (req, res) => {
    if (req.method === "GET" && req.url.startsWith("/interaction/")) {
      interact(req, res).catch((err) => {
        res.statusCode = 500;
        res.end(String(err));
      });
    } else {
      providerHandler(req, res);
    }
  },
);
server.keepAliveTimeout = 60_000; // as granian keeps ours: idle users between windows stay
server.listen(Number(port), "127.0.0.1", () => process.stdout.write("listening\n"));
process.on("SIGTERM", () => process.exit(0)); // state is in memory: nothing to flush
