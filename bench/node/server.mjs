// node-oidc-provider (npm `oidc-provider` 9), configured to behave like dangnhap for the benchmark.
//
//   node bench/node/server.mjs --port <P> --setup <setup.json>
//
// Issuer http://127.0.0.1:<P>, listening on 127.0.0.1 only. Prints exactly one line, `ready`, on
// stdout once listening; everything else goes to stderr. Exits on SIGTERM/SIGINT. See README.md
// beside this file for the setup.json format, the login interaction and what differs from dangnhap.

import { createServer } from 'node:http';
import { generateKeyPairSync, randomBytes, timingSafeEqual } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';

import Provider, { errors } from 'oidc-provider';

// oidc-provider prints its notices with console.info, i.e. on stdout, which the harness reads for
// `ready` alone. Everything the library or this file says besides that goes to stderr. (Its import-
// time warning, about Node 20 not being an LTS it supports, already uses stderr.)
console.log = console.error;
console.info = console.error;

const { values: args } = parseArgs({
  options: { port: { type: 'string' }, setup: { type: 'string' } },
});
const port = Number(args.port);
if (!Number.isInteger(port) || port <= 0 || port > 65535 || !args.setup) {
  console.error('usage: node server.mjs --port <P> --setup <setup.json>');
  process.exit(2);
}
const setup = JSON.parse(readFileSync(args.setup, 'utf8'));
const user = setup.user;
const issuer = `http://127.0.0.1:${port}`;

// The one resource server. Asking for it (`resource=` at the token endpoint, or by default for
// client_credentials) gets an RFC 9068 JWT access token; not asking in the code flow gets the opaque
// token that node's userinfo endpoint requires (see loadExistingGrant / defaultResource below).
const RESOURCE = 'urn:dangnhap:bench:api';

const ACR = 'urn:dangnhap:acr:pwd'; // dangnhap's level for a password sign-in
const TEN_MINUTES = 600;
const FOURTEEN_DAYS = 14 * 24 * 3600;

// ---------------------------------------------------------------------------------------------
// Storage: an unbounded in-memory adapter.
//
// node's built-in memory adapter is an LRU of about 1,000 entries: under load it silently drops
// sessions, grants and refresh tokens (a refresh then fails with invalid_grant, a login loses its
// interaction), which would make the benchmark measure evictions. This one keeps every entry until
// it expires, like dangnhap's database, and persists nothing across restarts.
// ---------------------------------------------------------------------------------------------
const entries = new Map(); // "Model:id" -> { payload, expiresAt (ms) }
const byGrant = new Map(); // "Model:grantId" -> Set of "Model:id" (to revoke a grant's tokens)
const sessionByUid = new Map(); // session uid -> session id (node looks sessions up by both)

function live(key) {
  const entry = entries.get(key);
  if (entry && entry.expiresAt <= Date.now()) {
    entries.delete(key);
    return undefined;
  }
  return entry;
}

class MapAdapter {
  constructor(model) {
    this.model = model;
  }

  key(id) {
    return `${this.model}:${id}`;
  }

  async upsert(id, payload, expiresIn) {
    const key = this.key(id);
    entries.set(key, { payload, expiresAt: expiresIn ? Date.now() + expiresIn * 1000 : Infinity });
    if (this.model === 'Session') sessionByUid.set(payload.uid, id);
    if (payload.grantId) {
      const grantKey = this.key(payload.grantId);
      if (!byGrant.has(grantKey)) byGrant.set(grantKey, new Set());
      byGrant.get(grantKey).add(key);
    }
  }

  async find(id) {
    return live(this.key(id))?.payload;
  }

  async findByUid(uid) {
    const id = sessionByUid.get(uid);
    return id === undefined ? undefined : this.find(id);
  }

  async findByUserCode() {
    return undefined; // the device flow is not enabled
  }

  async consume(id) {
    const entry = live(this.key(id));
    if (entry) entry.payload.consumed = Math.floor(Date.now() / 1000);
  }

  async destroy(id) {
    entries.delete(this.key(id));
  }

  async revokeByGrantId(grantId) {
    const grantKey = this.key(grantId);
    for (const key of byGrant.get(grantKey) ?? []) entries.delete(key);
    byGrant.delete(grantKey);
  }
}

// Expired entries are dropped when read; this sweep bounds what is never read again. unref():
// the timer alone must not keep the process alive.
setInterval(() => {
  const now = Date.now();
  for (const [key, entry] of entries) if (entry.expiresAt <= now) entries.delete(key);
  for (const [grantKey, keys] of byGrant) {
    for (const key of keys) if (!entries.has(key)) keys.delete(key);
    if (!keys.size) byGrant.delete(grantKey);
  }
  for (const [uid, id] of sessionByUid) if (!entries.has(`Session:${id}`)) sessionByUid.delete(uid);
}, 60_000).unref();

// ---------------------------------------------------------------------------------------------
// Signing keys: one RSA 2048 (RS256) and one P-256 (ES256), new at every start, as private JWKs.
// node derives each kid (the JWK thumbprint) and publishes the public halves at jwks_uri.
// ---------------------------------------------------------------------------------------------
function signingKey(type, options, alg) {
  const { privateKey } = generateKeyPairSync(type, options);
  return { ...privateKey.export({ format: 'jwk' }), alg, use: 'sig' };
}
const jwks = {
  keys: [
    signingKey('rsa', { modulusLength: 2048 }, 'RS256'),
    signingKey('ec', { namedCurve: 'P-256' }, 'ES256'),
  ],
};

// ---------------------------------------------------------------------------------------------
// Clients and the one account, from setup.json.
// ---------------------------------------------------------------------------------------------
const STANDARD_SCOPES = ['openid', 'offline_access', 'profile', 'email'];
const scopes = new Set(STANDARD_SCOPES);
const clients = setup.clients.map((c) => {
  for (const s of (c.scope ?? '').split(' ').filter(Boolean)) scopes.add(s);
  const client = {
    client_id: c.client_id,
    token_endpoint_auth_method: c.token_endpoint_auth_method,
    grant_types: c.grant_types,
    redirect_uris: c.redirect_uris ?? [],
    response_types: c.response_types ?? [],
    scope: c.scope,
    id_token_signed_response_alg: c.id_token_signed_response_alg ?? 'RS256',
    access_token_alg: c.access_token_alg ?? 'RS256',
  };
  if (c.client_secret != null) client.client_secret = c.client_secret; // absent or null: public
  return client;
});

const account = {
  accountId: user.sub,
  // `claims` is called for the ID token and userinfo; node filters the result by granted scope.
  // setup.json may give name and email; otherwise they are made from the login.
  async claims() {
    return {
      sub: user.sub,
      name: user.name ?? user.login,
      email: user.email ?? `${user.login}@example.test`,
      email_verified: true,
      preferred_username: user.login,
    };
  },
};

// Plain-text comparison with the password in setup.json: no hashing (dangnhap verifies argon2id).
// Constant-time only so that a wrong guess costs the same as a right one.
function passwordMatches(login, password) {
  const a = Buffer.from(`${login}\n${password}`);
  const b = Buffer.from(`${user.login}\n${user.password}`);
  return a.length === b.length && timingSafeEqual(a, b);
}

// ---------------------------------------------------------------------------------------------
// The provider.
// ---------------------------------------------------------------------------------------------
const provider = new Provider(issuer, {
  adapter: MapAdapter,
  clients,
  jwks,
  scopes: [...scopes],
  claims: {
    // auth_time, acr and amr under openid: node then puts them in every ID token, as dangnhap does
    // (node's default leaves them out unless asked for). Userinfo has none of them to give.
    openid: ['sub', 'auth_time', 'acr', 'amr'],
    profile: ['name', 'preferred_username'],
    email: ['email', 'email_verified'],
  },
  async findAccount(ctx, sub) {
    return sub === user.sub ? account : undefined;
  },

  // Per-client access token algorithm, a property node does not know: allow it, check its value.
  extraClientMetadata: {
    properties: ['access_token_alg'],
    validator(ctx, key, value) {
      if (key === 'access_token_alg' && !['RS256', 'ES256'].includes(value)) {
        throw new errors.InvalidClientMetadata('access_token_alg must be RS256 or ES256');
      }
    },
  },

  acrValues: [ACR],
  responseTypes: ['code'],
  pkce: { required: () => true }, // S256 for every client, confidential or public (node: S256 only)
  cookies: { keys: [randomBytes(32).toString('base64url')] }, // signed cookies, new key per start

  features: {
    devInteractions: { enabled: false }, // our own minimal login below
    clientCredentials: { enabled: true },
    introspection: {
      enabled: true,
      // As dangnhap: public clients get nothing (they cannot authenticate); a refresh token only
      // for the client it was issued to. node answers {active: false} where dangnhap refuses the
      // caller outright.
      async allowedPolicy(ctx, client, token) {
        if (client.clientAuthMethod === 'none') return false;
        return token.kind !== 'RefreshToken' || token.clientId === client.clientId;
      },
    },
    revocation: {
      enabled: true,
      async allowedPolicy(ctx, client, token) {
        return token.clientId === client.clientId; // a client revokes only its own tokens
      },
    },
    userinfo: { enabled: true },
    resourceIndicators: {
      enabled: true,
      // Called with no `oneOf` at the authorization endpoint and for client_credentials: every
      // grant then includes RESOURCE, so the client may ask for a JWT for it at the token endpoint,
      // and client_credentials always gets one. With `oneOf` (resources already granted) pick ours.
      async defaultResource(ctx, client, oneOf) {
        if (oneOf) return oneOf.includes(RESOURCE) ? RESOURCE : oneOf;
        return RESOURCE;
      },
      // Never apply a granted resource the client did not name at the token endpoint: a code flow
      // without `resource` gets the opaque token that userinfo accepts (node refuses JWT / audience-
      // bound tokens there).
      async useGrantedResource() {
        return false;
      },
      async getResourceServerInfo(ctx, resourceIndicator, client) {
        if (resourceIndicator !== RESOURCE) throw new errors.InvalidTarget();
        return {
          scope: client.scope ?? [...scopes].join(' '), // whatever the client may ask for
          audience: client.clientId, // dangnhap's access tokens name the client as audience
          accessTokenTTL: TEN_MINUTES,
          accessTokenFormat: 'jwt', // RFC 9068, typ at+jwt
          jwt: { sign: { alg: client.access_token_alg } },
        };
      },
    },
  },

  // dangnhap skips consent for first-party clients: grant whatever was asked, at once, so node's
  // consent prompt never fires. Called once the user is known (after login, on resume).
  async loadExistingGrant(ctx) {
    const { client, account: acct, session } = ctx.oidc;
    const { Grant } = ctx.oidc.provider;
    const grantId = ctx.oidc.result?.consent?.grantId || session.grantIdFor(client.clientId);
    let grant = grantId ? await Grant.find(grantId) : undefined;
    if (!grant || grant.accountId !== acct.accountId) {
      grant = new Grant({ clientId: client.clientId, accountId: acct.accountId });
    }
    const oidcScopes = [...ctx.oidc.requestParamOIDCScopes];
    if (oidcScopes.length) grant.addOIDCScope(oidcScopes.join(' '));
    const claims = [...ctx.oidc.requestParamClaims];
    if (claims.length) grant.addOIDCClaims(claims);
    for (const [indicator, server] of Object.entries(ctx.oidc.resourceServers)) {
      const granted = [...ctx.oidc.requestParamScopes].filter((s) => server.scopes.has(s));
      if (granted.length) grant.addResourceScope(indicator, granted.join(' '));
    }
    await grant.save();
    return grant;
  },

  // node drops offline_access from an authorization request unless it also says prompt=consent,
  // and by default issues refresh tokens only for offline_access. dangnhap issues one to every
  // client allowed the refresh_token grant, public ones included: do the same, and keep those
  // tokens alive past the browser session (node binds them to it without offline_access).
  async issueRefreshToken(ctx, client) {
    return client.grantTypeAllowed('refresh_token');
  },
  async expiresWithSession() {
    return false;
  },
  rotateRefreshToken: true, // a new refresh token at every use; reusing an old one revokes the grant

  ttl: {
    AccessToken: TEN_MINUTES,
    ClientCredentials: TEN_MINUTES,
    IdToken: TEN_MINUTES,
    AuthorizationCode: 60,
    Interaction: 15 * 60,
    Session: 10 * 3600, // dangnhap's absolute session limit
    Grant: FOURTEEN_DAYS,
    // 14 days from the code exchange; a rotated token keeps what was left of the one it replaces,
    // as dangnhap's refresh tokens never outlive their grant.
    RefreshToken(ctx, token) {
      return ctx?.oidc?.entities.RotatedRefreshToken?.remainingTTL ?? FOURTEEN_DAYS;
    },
  },
});

provider.on('server_error', (ctx, err) => console.error('server_error:', err));

// ---------------------------------------------------------------------------------------------
// The login interaction, three requests (node's /auth redirects to the first):
//   GET  /interaction/<uid>        200, the form
//   POST /interaction/<uid>/login  login=..&password=..  → 303 to node's resume URL, or the form again
// ---------------------------------------------------------------------------------------------
const INTERACTION = /^\/interaction\/([\w-]+)(\/login)?$/;

function loginForm(res, uid) {
  // uid is node's own identifier (checked against the stored interaction), nothing user-supplied.
  res.writeHead(200, { 'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-store' });
  res.end(`<!doctype html><title>Sign in</title>
<form method="post" action="/interaction/${uid}/login">
<input name="login" autocomplete="username"> <input name="password" type="password" autocomplete="current-password">
<button>Sign in</button></form>\n`);
}

// The form's fields, or null past `limit` characters (a sign-in form is a few dozen).
function readForm(req, limit = 4096) {
  return new Promise((resolve, reject) => {
    let body = '';
    req.setEncoding('utf8');
    req.on('data', (chunk) => {
      body += chunk;
      if (body.length > limit) {
        req.removeAllListeners('data').resume(); // drain the rest unread
        resolve(null);
      }
    });
    req.on('end', () => resolve(new URLSearchParams(body)));
    req.on('error', reject);
  });
}

async function interaction(req, res, uid, isLogin) {
  let details;
  try {
    details = await provider.interactionDetails(req, res); // via the cookie scoped to /interaction/<uid>
  } catch (err) {
    if (err instanceof errors.SessionNotFound) details = undefined;
    else throw err;
  }
  if (!details || details.uid !== uid || details.prompt.name !== 'login') {
    res.writeHead(400, { 'content-type': 'text/plain' }).end('unknown or expired sign-in\n');
    return;
  }
  if (!isLogin) {
    if (req.method !== 'GET') return res.writeHead(405, { allow: 'GET' }).end();
    return loginForm(res, uid);
  }
  if (req.method !== 'POST') return res.writeHead(405, { allow: 'POST' }).end();
  const form = await readForm(req);
  if (!form) return res.writeHead(413).end();
  if (!passwordMatches(form.get('login') ?? '', form.get('password') ?? '')) return loginForm(res, uid);
  // 303 to node's resume endpoint, which then redirects to the client with the code.
  await provider.interactionFinished(req, res, {
    login: { accountId: user.sub, acr: ACR, amr: ['pwd'] },
  }, { mergeWithLastSubmission: false });
}

const oidc = provider.callback();
const server = createServer((req, res) => {
  const match = INTERACTION.exec(req.url);
  if (!match) return oidc(req, res);
  interaction(req, res, match[1], Boolean(match[2])).catch((err) => {
    console.error('interaction error:', err);
    if (!res.headersSent) res.writeHead(500, { 'content-type': 'text/plain' });
    res.end();
  });
});

server.listen(port, '127.0.0.1', () => process.stdout.write('ready\n'));

function stop() {
  server.close(() => process.exit(0));
  server.closeAllConnections(); // keep-alive clients (wrk) would otherwise hold close() open
}
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
