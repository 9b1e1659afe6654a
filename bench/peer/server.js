// The Express 5 peer of Bazaar's two hot reads, for bench.run: GET /api/auth/me and
// GET /api/address over the same PostgreSQL tables, with the same checks and envelopes.
// What a plain Express + pg service does for the same work: the reference for Bazaar's CPU.
//
// Environment: PG_URL, JWT_SECRET (Bazaar's), PORT, FRONTEND_URL; PG_POOL_SIZE (10, as
// Bazaar's read pool); ACCESS_LOG=0 turns the JSON access log (one line per request, as
// Bazaar writes) off.
"use strict";

const crypto = require("node:crypto");
const express = require("express");
const helmet = require("helmet");
const cors = require("cors");
const { rateLimit } = require("express-rate-limit");
const jwt = require("jsonwebtoken");
const { Pool } = require("pg");

const env = process.env;
// A KeyObject, built once: with a string secret jsonwebtoken 9 first tries (and fails) to
// read it as a public key on every verify (0.9 ms of CPU per verify here, 0.02 ms without).
const jwtKey = crypto.createSecretKey(Buffer.from(env.JWT_SECRET || "", "utf8"));
const pool = new Pool({
  connectionString: env.PG_URL,
  max: Number(env.PG_POOL_SIZE || 10),
});
const accessLog = env.ACCESS_LOG !== "0";

const USER_BY_ID = "SELECT * FROM users WHERE id = $1";
// A token bound to a sign-in session (`sid`, the refresh-token family): the same read with
// whether that session is still live, in one statement, as Bazaar does.
const USER_AND_SESSION =
  "SELECT users.*, EXISTS (SELECT 1 FROM refresh_tokens " +
  "WHERE family_id = $2 AND revoked_at IS NULL) AS live FROM users WHERE id = $1";
const UUID = /^[0-9a-f]{8}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{12}$/i;
const ADDRESS_PAGE =
  "SELECT * FROM addresses WHERE user_id = $1 " +
  "ORDER BY is_default DESC, created_at DESC, id DESC LIMIT $2 OFFSET $3";
const ADDRESS_COUNT = "SELECT count(*)::int AS total FROM addresses WHERE user_id = $1";

class HttpError extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

const invalidToken = () =>
  new HttpError(401, "INVALID_TOKEN", "Invalid or expired access token");

const iso = (value) => (value == null ? null : value.toISOString());

// -- middleware ------------------------------------------------------------------------

const VALID_ID = /^[A-Za-z0-9._:-]{1,128}$/;

function requestId(req, res, next) {
  const incoming = req.get("x-request-id");
  req.id = incoming && VALID_ID.test(incoming) ? incoming : crypto.randomUUID();
  res.set("X-Request-Id", req.id);
  if (accessLog) {
    const started = process.hrtime.bigint();
    res.on("finish", () => {
      const ms = Number(process.hrtime.bigint() - started) / 1e6;
      process.stdout.write(
        JSON.stringify({
          event: "request",
          level: "info",
          request_id: req.id,
          method: req.method,
          path: req.path,
          status: res.statusCode,
          duration_ms: Math.round(ms * 100) / 100,
          client: req.ip,
          timestamp: new Date().toISOString(),
        }) + "\n",
      );
    });
  }
  next();
}

// Bazaar's checks: an HS256 access token (sub, ver, exp, typ, and sid when present), then
// the user row on every request — missing, token_version moved on or the session ended:
// 401; banned: 403.
async function currentUser(req) {
  const header = req.get("authorization") || "";
  if (!header.startsWith("Bearer ")) {
    throw new HttpError(401, "UNAUTHORIZED", "Authentication required");
  }
  let claims;
  try {
    claims = jwt.verify(header.slice(7), jwtKey, { algorithms: ["HS256"] });
  } catch {
    throw invalidToken();
  }
  if (typeof claims.exp !== "number" || !UUID.test(claims.sub)) throw invalidToken();
  if ((claims.typ ?? "access") !== "access") throw invalidToken();
  const sid = claims.sid;
  if (sid !== undefined && !UUID.test(sid)) throw invalidToken();
  const { rows } = await pool.query(
    sid === undefined
      ? { name: "user-by-id", text: USER_BY_ID, values: [claims.sub] }
      : { name: "user-and-session", text: USER_AND_SESSION, values: [claims.sub, sid] },
  );
  const user = rows[0];
  if (!user || user.token_version !== (claims.ver ?? 0) || user.live === false) {
    throw invalidToken();
  }
  if (user.banned_at !== null) {
    throw new HttpError(403, "ACCOUNT_BANNED", "This account has been banned");
  }
  return user;
}

function pageParam(value, fallback, max, name) {
  if (value === undefined) return fallback;
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1 || n > max) {
    throw new HttpError(400, "VALIDATION_FAILED", `${name} must be an integer from 1 to ${max}`);
  }
  return n;
}

// -- routes ----------------------------------------------------------------------------

const app = express();
app.use(requestId);
app.use(helmet());
app.use(
  cors({
    origin: (env.FRONTEND_URL || "http://localhost:3000").split(",").map((o) => o.trim()),
    credentials: true,
    exposedHeaders: ["X-Request-Id", "Retry-After", "X-RateLimit-Limit", "X-RateLimit-Remaining"],
  }),
);
app.use(
  rateLimit({
    windowMs: 15 * 60 * 1000,
    limit: Number(env.RATE_LIMIT_GLOBAL || 1e9),
    standardHeaders: false,
    legacyHeaders: true,
  }),
);
app.use(express.json({ limit: "10mb" }));

app.get("/health", (req, res) => res.json({ success: true, data: { status: "ok" } }));

app.get("/api/auth/me", async (req, res) => {
  const user = await currentUser(req);
  res.json({
    success: true,
    data: {
      id: user.id,
      email: user.email,
      name: user.name,
      roles: user.roles ?? [],
      avatarFileId: user.avatar_file_id,
      locale: user.locale,
      timezone: user.timezone,
      emailVerified: user.email_verified_at !== null,
      emailVerifiedAt: iso(user.email_verified_at),
      referralCode: user.referral_code,
      createdAt: iso(user.created_at),
      lastLoginAt: iso(user.last_login_at),
    },
  });
});

// The caller's addresses, default first, then the newest; the total is counted only when
// the page does not show it (a page neither full nor empty is the last one), as Bazaar does.
app.get("/api/address", async (req, res) => {
  const user = await currentUser(req);
  const page = pageParam(req.query.page, 1, 100000, "page");
  const limit = pageParam(req.query.limit, 20, 100, "limit");
  const offset = (page - 1) * limit;
  const { rows } = await pool.query({
    name: "address-page",
    text: ADDRESS_PAGE,
    values: [user.id, limit, offset],
  });
  let total;
  if (rows.length < limit && (rows.length > 0 || offset === 0)) {
    total = offset + rows.length;
  } else {
    const counted = await pool.query({ name: "address-count", text: ADDRESS_COUNT, values: [user.id] });
    total = counted.rows[0].total;
  }
  res.json({
    success: true,
    data: {
      items: rows.map((a) => ({
        id: a.id,
        label: a.label,
        fullName: a.full_name,
        line1: a.line1,
        line2: a.line2,
        city: a.city,
        region: a.region,
        postalCode: a.postal_code,
        country: a.country,
        phone: a.phone,
        isDefault: a.is_default,
        createdAt: iso(a.created_at),
        updatedAt: iso(a.updated_at),
      })),
      pagination: { page, limit, total, pages: total ? Math.ceil(total / limit) : 0 },
    },
  });
});

app.use((req, res) => {
  res.status(404).json({ success: false, error: { code: "NOT_FOUND", message: "Not found" } });
});

// Express 5 hands rejected promises of async handlers to the error middleware.
app.use((err, req, res, next) => {
  if (err instanceof HttpError) {
    res.status(err.status).json({ success: false, error: { code: err.code, message: err.message } });
    return;
  }
  console.error(err);
  res.status(500).json({
    success: false,
    error: { code: "INTERNAL_ERROR", message: "Something went wrong", details: { requestId: req.id } },
  });
});

const server = app.listen(Number(env.PORT || 5002), env.HOST || "127.0.0.1");
server.keepAliveTimeout = 65_000;
const stop = () => server.close(() => pool.end().then(() => process.exit(0)));
process.on("SIGTERM", stop);
process.on("SIGINT", stop);
