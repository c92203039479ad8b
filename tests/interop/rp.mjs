// A relying party built on openid-client v6 (panva, OpenID certified), run against a live dangnhap.
//
// Nobody here wrote openid-client, so when it accepts our discovery document, ID tokens, JWKS,
// token responses and UserInfo, that is evidence of interoperability our own tests cannot give.
// tests/interop/test_openid_client.py starts the server and runs this script.
//
// Configuration (environment): ISSUER, CLIENT_ID, CLIENT_SECRET (empty or absent: a public client,
// token_endpoint_auth_method "none"), REDIRECT_URI, USERNAME, PASSWORD.
// Output: ONE JSON object on stdout. Exit 0 with the observations, or exit 1 with {"error": ...}.

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

async function main() {
  const issuer = new URL(env("ISSUER"));
  const clientId = env("CLIENT_ID");
  const clientSecret = env("CLIENT_SECRET", { optional: true });
  const redirectUri = env("REDIRECT_URI");
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

  step = "authorization request";
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
  });

  step = "sign-in";
  const callbackUrl = await driveInteraction(authorizationUrl, redirectUri, credentials);

  step = "code exchange";
  // Checks state, iss (RFC 9207) and the ID token: signature, iss, aud, azp, exp, iat, nonce.
  const tokens = await client.authorizationCodeGrant(config, callbackUrl, {
    pkceCodeVerifier: codeVerifier,
    expectedState: state,
    expectedNonce: nonce,
    idTokenExpected: true,
  });
  const claims = tokens.claims();

  step = "userinfo";
  // Fails unless the UserInfo sub is the ID token's (OIDC Core §5.3.2).
  const userinfo = await client.fetchUserInfo(config, tokens.access_token, claims.sub);

  step = "refresh";
  if (!tokens.refresh_token) throw new Error("the token response has no refresh_token");
  const refreshed = await client.refreshTokenGrant(config, tokens.refresh_token);

  step = "refresh token reuse";
  // The rotated-out refresh token must be refused now (RFC 9700 §4.14.2).
  let reuseError = null;
  try {
    await client.refreshTokenGrant(config, tokens.refresh_token);
  } catch (error) {
    reuseError = error.error ?? error.code ?? error.message;
  }

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
    refresh: {
      new_refresh_token: Boolean(refreshed.refresh_token) && refreshed.refresh_token !== tokens.refresh_token,
      new_access_token: refreshed.access_token !== tokens.access_token,
      id_token: Boolean(refreshed.id_token),
      id_token_claims: refreshed.claims() ?? null,
      reused_refresh_token_error: reuseError,
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
