// A relying party built on openid-client v6 (panva, OpenID certified), run against a live dangnhap.
//
// Nobody here wrote openid-client, so when it accepts our discovery document, ID tokens, JWKS,
// token responses and UserInfo, that is evidence of interoperability our own tests cannot give.
// tests/interop/test_openid_client.py starts the server and runs this script.
//
// The run, in order: discovery; a sign-in (code flow with PKCE); UserInfo; refresh and refresh token
// reuse; a second sign-in from the same session whose tokens are introspected (RFC 7662, confidential
// clients only) and revoked (RFC 7009); a third one ended by RP-initiated logout, after which a
// prompt=none request must come back with login_required and the third grant's tokens must be dead.
//
// Configuration (environment): ISSUER, CLIENT_ID, CLIENT_SECRET (empty or absent: a public client,
// token_endpoint_auth_method "none"), REDIRECT_URI, POST_LOGOUT_REDIRECT_URI, USERNAME, PASSWORD.
// Output: ONE JSON object on stdout. Exit 0 with the observations, or exit 1 with {"error": ...}.
// An operation that must be refused is not an error: what the library raised is an observation.

import { createHash } from "node:crypto";
import * as client from "openid-client";

const MAX_STEPS = 15; // redirects and form posts between the authorization URL and the callback
const TIMEOUT_MS = 10_000; // per HTTP request made by the browser imitation below

let step = "configuration"; // which phase failed, reported with the error

function env(name, { optional = false } = {}) {
  const value = process.env[name];
  if (!value && !optional) throw new Error(`environment variable ${name} is required`);
  return value ?? "";
}

// ---------------------------------------------------------------------------------------------
// A tiny browser: a cookie jar, manual redirects, and "fill and submit the first form".
// ---------------------------------------------------------------------------------------------

const jar = new Map(); // cookie name -> value; one origin only, attributes ignored (plain http)

function storeCookies(response) {
  for (const header of response.headers.getSetCookie()) {
    const [pair, ...attributes] = header.split(";");
    const eq = pair.indexOf("=");
    if (eq < 1) continue;
    const name = pair.slice(0, eq).trim();
    const value = pair.slice(eq + 1).trim();
    // A server deletes a cookie with Max-Age=0 or an Expires date in the past.
    const expired = attributes.some((attribute) => {
      const [key, val = ""] = attribute.split("=").map((s) => s.trim());
      if (key.toLowerCase() === "max-age") return Number(val) <= 0;
      if (key.toLowerCase() === "expires") return Date.parse(val) < Date.now();
      return false;
    });
    if (expired) jar.delete(name);
    else jar.set(name, value);
  }
}

async function browse(url, init = {}) {
  const headers = { ...init.headers };
  if (jar.size) headers.cookie = [...jar].map(([name, value]) => `${name}=${value}`).join("; ");
  const response = await fetch(url, {
    ...init,
    headers,
    redirect: "manual", // every hop is inspected, and the last one (to REDIRECT_URI) never followed
    signal: AbortSignal.timeout(TIMEOUT_MS),
  });
  storeCookies(response);
  return response;
}

const ENTITIES = { amp: "&", lt: "<", gt: ">", quot: '"', apos: "'" };

function unescapeHtml(text) {
  return text.replace(/&(#x[0-9a-f]+|#[0-9]+|[a-z]+);/gi, (whole, ref) => {
    if (ref[0] !== "#") return ENTITIES[ref.toLowerCase()] ?? whole;
    const hex = ref[1] === "x" || ref[1] === "X";
    return String.fromCodePoint(parseInt(ref.slice(hex ? 2 : 1), hex ? 16 : 10));
  });
}

// The attributes of one start tag, e.g. `<input type="hidden" name="a" value="b">`.
function attributesOf(tag) {
  const attributes = {};
  const pattern = /([^\s"'<>\/=]+)(?:\s*=\s*(?:"([^"]*)"|'([^']*)'|([^\s"'=<>`]+)))?/g;
  for (const match of tag.replace(/^<\w+/, "").matchAll(pattern)) {
    attributes[match[1].toLowerCase()] = unescapeHtml(match[2] ?? match[3] ?? match[4] ?? "");
  }
  return attributes;
}

// What a person would see as the reason a page did not move on (an alert, else the title).
function pageSummary(html) {
  const alert = html.match(/role="alert"[^>]*>([\s\S]*?)</);
  const title = html.match(/<title[^>]*>([\s\S]*?)<\/title>/i);
  const text = (alert ?? title)?.[1] ?? html.slice(0, 200);
  return unescapeHtml(text.replace(/\s+/g, " ").trim());
}

// The first form of the page, filled as the person would: hidden fields kept, the credentials
// typed where the page asks for them, and consent given when a decision button is offered.
function fillFirstForm(html, pageUrl, credentials) {
  const form = html.match(/<form\b[^>]*>[\s\S]*?<\/form>/i);
  if (!form) throw new Error(`no form on ${pageUrl}: ${pageSummary(html)}`);
  const formAttributes = attributesOf(form[0].match(/<form\b[^>]*>/i)[0]);
  const fields = new URLSearchParams();
  let asksForCredentials = false;
  for (const [tag] of form[0].matchAll(/<input\b[^>]*>/gi)) {
    const input = attributesOf(tag);
    if (!input.name) continue;
    if ((input.type ?? "text").toLowerCase() === "hidden") {
      fields.append(input.name, input.value ?? "");
    } else if (input.name === "identifier") {
      fields.set("identifier", credentials.username);
      asksForCredentials = true;
    } else if (input.name === "password") {
      fields.set("password", credentials.password);
    }
  }
  for (const [tag] of form[0].matchAll(/<button\b[^>]*>/gi)) {
    const button = attributesOf(tag);
    if (button.name === "decision" && button.value === "allow") fields.set("decision", "allow");
  }
  return {
    action: new URL(formAttributes.action || pageUrl, pageUrl),
    method: (formAttributes.method || "get").toLowerCase(),
    fields,
    asksForCredentials,
  };
}

// From the authorization URL to the redirect back to the client, as a browser with a person at
// the keyboard would go. Returns the callback URL (code, state, iss) without requesting it.
async function driveInteraction(authorizationUrl, redirectUri, credentials) {
  let url = authorizationUrl;
  let request = {};
  let signedIn = false;
  for (let hop = 0; hop < MAX_STEPS; hop++) {
    const response = await browse(url, request);
    request = {};
    if (response.status >= 300 && response.status < 400) {
      const location = response.headers.get("location");
      if (!location) throw new Error(`${response.status} without Location from ${url}`);
      const next = new URL(location, url);
      if (next.href.startsWith(redirectUri)) return next;
      if (next.origin !== authorizationUrl.origin) throw new Error(`redirected off the provider to ${next.href}`);
      url = next;
      continue;
    }
    const body = await response.text();
    const type = response.headers.get("content-type") ?? "";
    if (response.status !== 200 || !type.startsWith("text/html")) {
      throw new Error(`${response.status} ${type || "(no content type)"} from ${url}: ${pageSummary(body)}`);
    }
    const form = fillFirstForm(body, url, credentials);
    // The sign-in form coming back after the credentials were posted means they were refused.
    if (form.asksForCredentials && signedIn) throw new Error(`sign-in refused at ${url}: ${pageSummary(body)}`);
    signedIn ||= form.asksForCredentials;
    if (form.method === "post") {
      url = form.action;
      request = {
        method: "POST",
        headers: { "content-type": "application/x-www-form-urlencoded" },
        body: form.fields.toString(),
      };
    } else {
      url = new URL(`?${form.fields}`, form.action);
    }
  }
  throw new Error(`no redirect to ${redirectUri} after ${MAX_STEPS} steps (last: ${url})`);
}

// ---------------------------------------------------------------------------------------------
// The relying party proper: everything below is openid-client's public v6 API.
// ---------------------------------------------------------------------------------------------

// OpenID Connect Core §3.1.3.6: at_hash is the left half of the access token's hash, base64url.
// openid-client does not check it in the code flow (it is optional there), so we do.
function atHashOf(accessToken) {
  const digest = createHash("sha256").update(accessToken, "ascii").digest();
  return digest.subarray(0, digest.length / 2).toString("base64url");
}

// The JOSE header of a JWT, or null for a token that is not one (an access token may be opaque).
function jwtHeader(token) {
  try {
    return JSON.parse(Buffer.from(token.split(".")[0], "base64url").toString("utf8"));
  } catch {
    return null;
  }
}

// An operation the provider must refuse: returns what openid-client raised for the refusal, or null
// when the operation succeeded (the test then fails on the null, next to the other observations).
// Any other failure (network, a response the library rejects as malformed) is rethrown: it is an
// error of the run, reported with its step.
async function refusal(operation) {
  try {
    await operation();
  } catch (error) {
    // RFC 6750 §3: a protected resource puts the error code in the WWW-Authenticate challenge.
    if (error instanceof client.WWWAuthenticateChallengeError) {
      return { name: error.name, error: error.cause[0]?.parameters.error ?? null, status: error.status };
    }
    // An RFC 6749 §5.2 JSON error body, or an error sent back to the redirect URI (§4.1.2.1).
    if (error instanceof client.ResponseBodyError || error instanceof client.AuthorizationResponseError) {
      return { name: error.name, error: error.error, status: error.status ?? null };
    }
    throw error;
  }
  return null;
}

// The authorization code flow from the authorization URL to validated tokens. `label` names the run
// in step errors. Once the person has a session, the provider answers at once: no form is shown.
async function codeFlow(config, { redirectUri, credentials, label, prompt }) {
  step = `${label}: authorization request`;
  const codeVerifier = client.randomPKCECodeVerifier();
  const state = client.randomState();
  const nonce = client.randomNonce();
  const authorizationUrl = client.buildAuthorizationUrl(config, {
    redirect_uri: redirectUri,
    response_type: "code",
    scope: "openid profile email phone address",
    code_challenge: await client.calculatePKCECodeChallenge(codeVerifier),
    code_challenge_method: "S256",
    state,
    nonce,
    ...(prompt ? { prompt } : {}),
  });

  step = `${label}: sign-in`;
  const callbackUrl = await driveInteraction(authorizationUrl, redirectUri, credentials);

  step = `${label}: code exchange`;
  // Checks state, iss (RFC 9207) and the ID token: signature, iss, aud, azp, exp, iat, nonce. An
  // error response (error=...) raises AuthorizationResponseError, after the iss and state checks.
  const tokens = await client.authorizationCodeGrant(config, callbackUrl, {
    pkceCodeVerifier: codeVerifier,
    expectedState: state,
    expectedNonce: nonce,
    idTokenExpected: true,
  });
  return { callbackUrl, tokens };
}

// Revocation (RFC 7009) of a fresh grant's access token, then of its refresh token, with what the
// provider says of them before and after. `introspect` answers null for a public client.
async function revokeTokens(config, tokens, introspect) {
  const { access_token: accessToken, refresh_token: refreshToken } = tokens;
  const sub = tokens.claims().sub;

  step = "introspection";
  // RFC 7662 §2.2: active, with what the token says; a resource server relies on exactly this.
  const before = { access_token: await introspect(accessToken), refresh_token: await introspect(refreshToken) };

  step = "revocation of the access token";
  await client.tokenRevocation(config, accessToken); // RFC 7009 §2.2: 200, empty body

  step = "after revocation of the access token";
  const afterAccessToken = {
    access_token: await introspect(accessToken),
    // RFC 7009 §2.1 leaves the refresh token to the server: ours keeps it (idp/oidc/revocation.py).
    refresh_token: await introspect(refreshToken),
    userinfo_refused: await refusal(() => client.fetchUserInfo(config, accessToken, sub)),
  };

  step = "revocation of the refresh token";
  await client.tokenRevocation(config, refreshToken);

  step = "after revocation of the refresh token";
  const afterRefreshToken = {
    access_token: await introspect(accessToken),
    refresh_token: await introspect(refreshToken),
    refresh_refused: await refusal(() => client.refreshTokenGrant(config, refreshToken)),
  };
  return { before, after_access_token: afterAccessToken, after_refresh_token: afterRefreshToken };
}

// OpenID Connect RP-Initiated Logout 1.0 §2, with the browser that signed in (same cookie jar): an
// ID token of ours naming the person signed in there ends the session without a confirmation page,
// and §3 sends the browser to the registered post_logout_redirect_uri with the state.
async function endSession(config, idToken, postLogoutRedirectUri) {
  step = "end session";
  const state = client.randomState();
  const endSessionUrl = client.buildEndSessionUrl(config, {
    id_token_hint: idToken,
    post_logout_redirect_uri: postLogoutRedirectUri,
    state,
  });
  const response = await browse(endSessionUrl); // one hop: the redirect is observed, not followed
  const location = response.headers.get("location");
  return {
    parameters: [...endSessionUrl.searchParams.keys()].sort(), // buildEndSessionUrl adds client_id
    state,
    status: response.status,
    location: location === null ? null : new URL(location, endSessionUrl).href,
    page: location === null ? pageSummary(await response.text()) : null, // why it stopped, if it did
  };
}

// What the provider says of a grant's tokens: introspection (null for a public client), UserInfo,
// and, only when `refresh` is set, a refresh (which, when it works, rotates the refresh token).
async function tokenFate(config, tokens, introspect, { refresh = false } = {}) {
  const { access_token: accessToken, refresh_token: refreshToken } = tokens;
  const sub = tokens.claims().sub;
  const fate = {
    access_token: await introspect(accessToken),
    refresh_token: await introspect(refreshToken),
    userinfo_refused: await refusal(() => client.fetchUserInfo(config, accessToken, sub)),
  };
  if (refresh) fate.refresh_refused = await refusal(() => client.refreshTokenGrant(config, refreshToken));
  return fate;
}

async function main() {
  const issuer = new URL(env("ISSUER"));
  const clientId = env("CLIENT_ID");
  const clientSecret = env("CLIENT_SECRET", { optional: true });
  const redirectUri = env("REDIRECT_URI");
  const postLogoutRedirectUri = env("POST_LOGOUT_REDIRECT_URI");
  const credentials = { username: env("USERNAME"), password: env("PASSWORD") };

  step = "discovery";
  // The issuer is plain http on loopback, which openid-client refuses unless told otherwise.
  // Signature checks of ID tokens are opt-in (over TLS they are optional, OIDC Core §3.1.3.7);
  // we turn them on so the library also validates our JWKS, RS256 and kid.
  const config = await client.discovery(
    issuer,
    clientId,
    { redirect_uris: [redirectUri] },
    clientSecret ? client.ClientSecretBasic(clientSecret) : client.None(),
    { execute: [client.allowInsecureRequests, client.enableNonRepudiationChecks], timeout: TIMEOUT_MS / 1000 },
  );
  const metadata = config.serverMetadata();

  const { callbackUrl, tokens } = await codeFlow(config, { redirectUri, credentials, label: "first sign-in" });
  const claims = tokens.claims();

  step = "userinfo";
  // Fails unless the UserInfo sub is the ID token's (OIDC Core §5.3.2).
  const userinfo = await client.fetchUserInfo(config, tokens.access_token, claims.sub);
  step = "userinfo again";
  // Once the provider has answered one, it answers UserInfo GETs past Flask's request cycle
  // (idp/web/prebuilt.py): this library must see the same answer, headers checked as before.
  const userinfoAgain = await client.fetchUserInfo(config, tokens.access_token, claims.sub);

  step = "refresh";
  if (!tokens.refresh_token) throw new Error("the token response has no refresh_token");
  const refreshed = await client.refreshTokenGrant(config, tokens.refresh_token);

  step = "refresh token reuse";
  // The rotated-out refresh token must be refused now (RFC 9700 §4.14.2); that revokes the grant.
  const reuse = await refusal(() => client.refreshTokenGrant(config, tokens.refresh_token));

  // RFC 7662 §2.1: introspection requires client authentication, which a public client cannot give.
  const confidential = Boolean(clientSecret);
  const introspect = async (token) => (confidential ? client.tokenIntrospection(config, token) : null);

  // A second grant from the same session (the first one died of the reuse above), to revoke.
  const second = await codeFlow(config, { redirectUri, credentials, label: "second sign-in" });
  step = "introspection by a public client";
  const introspectionRefused = confidential
    ? null
    : await refusal(() => client.tokenIntrospection(config, second.tokens.access_token));
  const revocation = await revokeTokens(config, second.tokens, introspect);

  // A third grant from the same session, then RP-initiated logout, which must end it too.
  const third = await codeFlow(config, { redirectUri, credentials, label: "third sign-in" });
  step = "before logout";
  const beforeLogout = await tokenFate(config, third.tokens, introspect); // no refresh: it would rotate
  const endSessionResult = await endSession(config, third.tokens.id_token, postLogoutRedirectUri);
  // OIDC Core §3.1.2.6: with the session gone, prompt=none must answer login_required.
  const silent = await refusal(() =>
    codeFlow(config, { redirectUri, credentials, label: "prompt=none after logout", prompt: "none" }));
  step = "after logout";
  const afterLogout = await tokenFate(config, third.tokens, introspect, { refresh: true });

  step = "report";
  return {
    issuer: metadata.issuer,
    authorization_response_iss_parameter_supported: metadata.authorization_response_iss_parameter_supported,
    callback_parameters: [...callbackUrl.searchParams.keys()].sort(),
    token_type: tokens.token_type,
    scope: tokens.scope ?? null,
    id_token_header: jwtHeader(tokens.id_token),
    id_token_claims: claims,
    at_hash_matches: claims.at_hash === atHashOf(tokens.access_token),
    access_token_header: jwtHeader(tokens.access_token),
    userinfo,
    userinfo_again: userinfoAgain,
    refresh: {
      new_refresh_token: Boolean(refreshed.refresh_token) && refreshed.refresh_token !== tokens.refresh_token,
      new_access_token: refreshed.access_token !== tokens.access_token,
      id_token: Boolean(refreshed.id_token),
      id_token_claims: refreshed.claims() ?? null,
      reused_refresh_token_error: reuse,
    },
    revocation: {
      sid: second.tokens.claims().sid ?? null,
      introspection_refused: introspectionRefused,
      ...revocation,
    },
    logout: {
      sid: third.tokens.claims().sid ?? null,
      before: beforeLogout,
      end_session: endSessionResult,
      prompt_none_refused: silent,
      after: afterLogout,
    },
  };
}

try {
  console.log(JSON.stringify(await main()));
} catch (error) {
  // openid-client's errors carry the server's answer: OAuth error code, description, HTTP status.
  const { error: code, error_description: description, status } = error;
  console.log(JSON.stringify({
    error: `${step}: ${error.message}`,
    step,
    name: error.name,
    code: error.code ?? null,
    oauth_error: code ?? null,
    error_description: description ?? null,
    status: status ?? null,
    // The cause is the server's JSON body for an OAuth error, or the lower-level error.
    cause: error.cause instanceof Error ? error.cause.message
      : error.cause instanceof Response ? `HTTP ${error.cause.status} from ${error.cause.url}` : (error.cause ?? null),
  }));
  process.exitCode = 1;
}
