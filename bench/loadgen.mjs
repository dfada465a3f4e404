// Closed-loop HTTPS load generator: C virtual users, each with one keep-alive connection,
// each sending its next request as soon as the previous answer is read.
//
// Node's built-in https module only (no npm packages): one process, one event loop, TLS in
// OpenSSL's C code. bench/run.py points it at a trivial responder first to report its
// ceiling, so a reader can see it is not the bottleneck.
//
//   node bench/loadgen.mjs CONFIG.json   (config below; results as JSON on stdout)
//
// Scenarios:
//   refresh   POST /oidc/token grant_type=refresh_token; each user follows its own rotating
//             chain (the answer's refresh_token is the next request's).
//   userinfo  GET /oidc/userinfo with the user's bearer access token.
//   refresh-dpop, userinfo-dpop  the same with DPoP-bound tokens (RFC 9449): each request
//             carries a fresh ES256 proof signed here with the user's own key (node:crypto),
//             userinfo's with `ath`; what a proof costs the server is the difference.
//   discovery GET /oidc/.well-known/openid-configuration (no database: the framework's floor).
//   jwks      GET /oidc/jwks (key parsing and caching, off the hot path but public).
//   trivial   GET / (the responder's, for the ceiling).
//
// Progress lines on stderr: "measure-start" after the warm-up and "measure-end" after the
// measured window, so the caller can read server CPU counters at exactly those moments.

import crypto from "node:crypto";
import fs from "node:fs";
import https from "node:https";
import { performance } from "node:perf_hooks";

const config = JSON.parse(fs.readFileSync(process.argv[2], "utf8"));
const { url, scenario, concurrency, warmupSeconds, durationSeconds, clientId, hostHeader } = config;
const users = config.users; // [{refresh_token, access_token}], one per virtual user
const target = new URL(url);
const ca = fs.readFileSync(config.caFile);
const REQUEST_TIMEOUT_MS = 10000;

let measuring = false;
let stopping = false;
const latenciesMs = [];
const errors = {};
let completed = 0;

function countError(kind) {
  if (measuring) errors[kind] = (errors[kind] || 0) + 1;
}

const b64url = (data) => Buffer.from(data).toString("base64url");
const dpopKeys = new Map(); // user -> KeyObject, parsed once

// RFC 9449 §4.2: a proof for one request, as a client makes it (a new jti, iat now).
function dpopProof(user, method, path, accessToken) {
  if (!dpopKeys.has(user)) dpopKeys.set(user, crypto.createPrivateKey({ key: user.dpop_jwk, format: "jwk" }));
  const { d, ...publicJwk } = user.dpop_jwk;
  const header = { typ: "dpop+jwt", alg: "ES256", jwk: publicJwk };
  const claims = {
    jti: crypto.randomUUID(),
    htm: method,
    htu: `${target.origin}${path}`,
    iat: Math.floor(Date.now() / 1000),
  };
  if (accessToken) claims.ath = b64url(crypto.createHash("sha256").update(accessToken).digest());
  const input = `${b64url(JSON.stringify(header))}.${b64url(JSON.stringify(claims))}`;
  const signature = crypto.sign("sha256", Buffer.from(input), {
    key: dpopKeys.get(user),
    dsaEncoding: "ieee-p1363", // JWS's r || s, not DER (RFC 7518 §3.4)
  });
  return `${input}.${b64url(signature)}`;
}

function request(agent, user) {
  let method = "GET";
  let path = "/";
  let body = null;
  const headers = { Host: hostHeader || target.host };
  if (scenario === "refresh" || scenario === "refresh-dpop") {
    method = "POST";
    path = `${target.pathname.replace(/\/$/, "")}/token`;
    body = new URLSearchParams({
      grant_type: "refresh_token",
      refresh_token: user.refresh_token,
      client_id: clientId,
    }).toString();
    headers["Content-Type"] = "application/x-www-form-urlencoded";
    headers["Content-Length"] = Buffer.byteLength(body);
    if (scenario === "refresh-dpop") headers.DPoP = dpopProof(user, method, path);
  } else if (scenario === "discovery") {
    path = `${target.pathname.replace(/\/$/, "")}/.well-known/openid-configuration`;
  } else if (scenario === "healthz") {
    path = "/healthz"; // the cheapest Django view: what serving and Django cost per request
  } else if (scenario === "jwks") {
    path = `${target.pathname.replace(/\/$/, "")}/jwks`;
  } else if (scenario === "userinfo") {
    path = `${target.pathname.replace(/\/$/, "")}/userinfo`;
    headers.Authorization = `Bearer ${user.access_token}`;
  } else if (scenario === "userinfo-dpop") {
    path = `${target.pathname.replace(/\/$/, "")}/userinfo`;
    headers.Authorization = `DPoP ${user.access_token}`;
    headers.DPoP = dpopProof(user, method, path, user.access_token);
  }
  return new Promise((resolve) => {
    const started = performance.now();
    const req = https.request(
      { host: target.hostname, port: target.port, method, path, headers, agent, ca,
        servername: target.hostname, timeout: REQUEST_TIMEOUT_MS },
      (res) => {
        const chunks = [];
        res.on("data", (chunk) => chunks.push(chunk));
        res.on("end", () => {
          const elapsed = performance.now() - started;
          const text = Buffer.concat(chunks).toString("utf8");
          let ok = res.statusCode === 200;
          if (ok && scenario.startsWith("refresh")) {
            try {
              const answer = JSON.parse(text);
              if (answer.refresh_token) {
                user.refresh_token = answer.refresh_token;
                user.access_token = answer.access_token;
              } else {
                ok = false;
                countError("200 without refresh_token");
              }
            } catch {
              ok = false;
              countError("200 with a body that is not JSON");
            }
          } else if (!ok) {
            let detail = "";
            try {
              detail = JSON.parse(text).error || "";
            } catch {
              detail = /database is locked/.test(text) ? "database is locked" : "";
            }
            countError(`HTTP ${res.statusCode}${detail ? ` ${detail}` : ""}`);
          }
          if (ok && measuring) {
            latenciesMs.push(elapsed);
            completed += 1;
          }
          resolve();
        });
        res.on("error", (err) => {
          countError(`response ${err.code || err.message}`);
          resolve();
        });
      },
    );
    req.on("timeout", () => req.destroy(new Error("timeout")));
    req.on("error", (err) => {
      countError(`network ${err.code || err.message}`);
      resolve();
    });
    if (body) req.write(body);
    req.end();
  });
}

async function virtualUser(index) {
  // One connection per user, as a real client keeps its own.
  const agent = new https.Agent({ keepAlive: true, maxSockets: 1 });
  const user = users[index % users.length];
  while (!stopping) {
    await request(agent, user);
  }
  agent.destroy();
}

function percentile(sorted, p) {
  if (sorted.length === 0) return null;
  const rank = Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1);
  return sorted[Math.max(0, rank)];
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

async function main() {
  const running = Array.from({ length: concurrency }, (_, i) => virtualUser(i));
  await sleep(warmupSeconds * 1000);
  process.stderr.write("measure-start\n");
  const cpuBefore = process.cpuUsage();
  const t0 = performance.now();
  measuring = true;
  await sleep(durationSeconds * 1000);
  measuring = false;
  const elapsedSeconds = (performance.now() - t0) / 1000;
  const cpu = process.cpuUsage(cpuBefore);
  process.stderr.write("measure-end\n");
  stopping = true;
  await Promise.all(running);
  latenciesMs.sort((a, b) => a - b);
  const result = {
    scenario,
    concurrency,
    seconds: elapsedSeconds,
    requests: completed,
    requestsPerSecond: completed / elapsedSeconds,
    latencyMs: {
      p50: percentile(latenciesMs, 50),
      p90: percentile(latenciesMs, 90),
      p99: percentile(latenciesMs, 99),
      max: latenciesMs.length ? latenciesMs[latenciesMs.length - 1] : null,
    },
    errors,
    generatorCpuMsPerRequest: completed ? (cpu.user + cpu.system) / 1000 / completed : null,
    users: users.slice(0, concurrency),
  };
  process.stdout.write(JSON.stringify(result));
}

main();
