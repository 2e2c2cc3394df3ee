// Parity from a web app (docs/clients/web.md): what a browser (or Node 20+) does, with `jose` for the
// signature. tests/e2e/test_web_client.py runs this file against a local stack.
//
//   node example.mjs checkout-params <priceId> <userId>   the Stripe Checkout session your server creates
//   node example.mjs read <parityBaseUrl> <userId>        reads and verifies (token in $PARITY_TOKEN)
//   node example.mjs verify <parityBaseUrl> <userId>      verifies a signedEntitlements read from stdin
import { pathToFileURL } from "node:url";

import { createRemoteJWKSet, jwtVerify } from "jose";

// ------------------------------------------------------------------------------------ 1. buying (Stripe)

// Your server creates the Checkout session (Stripe's secret key never reaches the browser). The one thing
// Parity needs is `client_reference_id`: the Parity user id, which links the subscription to the user
// (put it in `subscription_data.metadata.user_id` too, so later subscription events name the user).
export function checkoutSessionParams(priceId, userId, origin = "https://app.example.com") {
  return {
    mode: "subscription",
    line_items: [{ price: priceId, quantity: 1 }],
    client_reference_id: userId,
    subscription_data: { metadata: { user_id: userId } },
    success_url: `${origin}/purchase/done?session_id={CHECKOUT_SESSION_ID}`,
    cancel_url: `${origin}/purchase/cancelled`,
  };
}
// On the server: `const session = await stripe.checkout.sessions.create(checkoutSessionParams(price, user))`,
// then send the browser to `session.url`. Parity hears of the purchase from Stripe's webhook; on the
// success page you may also claim it at once (below) instead of waiting for the webhook.

// ------------------------------------------------------------------------------- 2. reading entitlements

export class ParityError extends Error {
  constructor(status, body) {
    super(body?.error?.message ?? `HTTP ${status}`);
    this.name = "ParityError";
    this.status = status;
    this.code = body?.error?.code ?? null;
  }
}

async function call(baseUrl, path, token, init = {}) {
  const response = await fetch(new URL(path, baseUrl), {
    ...init,
    headers: { Authorization: `Bearer ${token}`, "Content-Type": "application/json", ...init.headers },
  });
  const body = await response.json().catch(() => null);
  if (!response.ok) throw new ParityError(response.status, body);
  return body;
}

// `token` is the user's JWT from your identity provider (its `sub` is the Parity user id).
export function readEntitlements(baseUrl, userId, token) {
  return call(baseUrl, `/v1/users/${encodeURIComponent(userId)}/entitlements`, token);
}

// The success page of Checkout can claim the purchase right away (the same answer as a read).
export function claimCheckout(baseUrl, userId, token, checkoutSessionId) {
  return call(baseUrl, `/v1/users/${encodeURIComponent(userId)}/receipts`, token, {
    method: "POST",
    body: JSON.stringify({ store: "stripe", checkoutSessionId }),
  });
}

// ------------------------------------------------------------- 3. trusting an answer (signedEntitlements)

// One key set per Parity base URL: jose fetches /.well-known/jwks.json once, caches it, and fetches it
// again when a token names a `kid` it does not hold (a key rotation).
const keySets = new Map();
function keySet(baseUrl) {
  const url = new URL("/.well-known/jwks.json", baseUrl).href;
  if (!keySets.has(url)) keySets.set(url, createRemoteJWKSet(new URL(url)));
  return keySets.get(url);
}

// Verifies the compact JWS (ES256, `kid` in its header) and returns its payload:
// {sub, iat, exp, entitlements: {<id>: {active, state, expiresAt, store, environment}}}.
// Throws when the signature, the algorithm, the subject or the expiry (`exp` = cacheUntil) is wrong.
export async function verifySignedEntitlements(baseUrl, signed, userId) {
  const { payload, protectedHeader } = await jwtVerify(signed, keySet(baseUrl), {
    algorithms: ["ES256"],
    subject: userId,
  });
  if (!protectedHeader.kid) throw new Error("signedEntitlements carries no kid");
  if (typeof payload.entitlements !== "object" || payload.entitlements === null) {
    throw new Error("signedEntitlements carries no entitlements");
  }
  return payload;
}

// ---------------------------------------------------------------------------- 4. offline, until cacheUntil

// `storage` is anything with getItem/setItem (window.localStorage in a browser). A fresh answer is kept
// with its cacheUntil; when Parity cannot be reached, the kept answer is used until then, never after.
export async function entitlementsWithCache(baseUrl, userId, token, storage, now = () => Date.now()) {
  const key = `parity:entitlements:${userId}`;
  try {
    const answer = await readEntitlements(baseUrl, userId, token);
    storage.setItem(key, JSON.stringify(answer));
    return { answer, fromCache: false };
  } catch (error) {
    if (error instanceof ParityError && error.status < 500) throw error; // refused: never fall back
    const kept = JSON.parse(storage.getItem(key) ?? "null");
    if (kept && Date.parse(kept.cacheUntil) > now()) return { answer: kept, fromCache: true };
    throw error;
  }
}

// What the app unlocks: the entitlements with `active: true` (the server already applied the rules).
export function activeEntitlements(answer) {
  return Object.entries(answer.entitlements)
    .filter(([, entitlement]) => entitlement.active)
    .map(([id]) => id)
    .sort();
}

// ------------------------------------------------------------------------------------------------ main

async function main([command, ...args]) {
  if (command === "checkout-params") {
    const [priceId, userId] = args;
    return checkoutSessionParams(priceId, userId);
  }
  const [baseUrl, userId] = args;
  if (command === "read") {
    const storage = new Map();
    storage.getItem = storage.get;
    storage.setItem = storage.set;
    const { answer } = await entitlementsWithCache(baseUrl, userId, process.env.PARITY_TOKEN, storage);
    const verified = answer.signedEntitlements
      ? await verifySignedEntitlements(baseUrl, answer.signedEntitlements, userId)
      : null;
    return { active: activeEntitlements(answer), answer, verified };
  }
  if (command === "verify") {
    const chunks = [];
    for await (const chunk of process.stdin) chunks.push(chunk);
    const signed = Buffer.concat(chunks).toString().trim();
    return { verified: await verifySignedEntitlements(baseUrl, signed, userId) };
  }
  throw new Error(`unknown command ${command}: checkout-params, read or verify`);
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  main(process.argv.slice(2)).then(
    (result) => console.log(JSON.stringify(result)),
    (error) => {
      console.error(`${error.name}: ${[error.status, error.code, error.message].filter(Boolean).join(" ")}`);
      process.exit(1);
    },
  );
}
