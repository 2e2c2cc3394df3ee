// The operator console: a customer page and a health page over the admin routes. The page embeds no
// credential: it asks for one, keeps it in this tab's session storage, and sends it with every call.
"use strict";

const { lineChart, barChart, hbarChart, htmlNode: h } = window.ParityCharts;
const KEY = "parity.console.credential";
const $ = (id) => document.getElementById(id);
const enc = encodeURIComponent;

// ------------------------------------------------------------------------------------ credential

function credential() { return sessionStorage.getItem(KEY); }

function takeTokenFromLink() {
  // `parity console` prints a link carrying its session token in the fragment (never sent to a server).
  const match = location.hash.match(/[#&]token=([^&]+)/);
  if (match) {
    sessionStorage.setItem(KEY, "Bearer " + decodeURIComponent(match[1]));
    history.replaceState(null, "", location.pathname + "#/customer");
  }
}

function signOut(message) {
  sessionStorage.removeItem(KEY);
  route();
  if (message) showError(message);
}

// ------------------------------------------------------------------------------------ API calls

class ApiError extends Error {
  constructor(status, code, message) { super(message); this.status = status; this.code = code; }
}

async function api(method, path, body) {
  const headers = { Authorization: credential() || "" };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  let response;
  try {
    response = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  } catch (error) {
    throw new ApiError(0, "unreachable", `The console could not reach ${path}: ${error.message}`);
  }
  const text = await response.text();
  let document = null;
  try { document = text ? JSON.parse(text) : null; } catch { document = null; }
  if (!response.ok) {
    const error = (document && document.error) || {};
    if (response.status === 401) signOut("The credential was refused (401): sign in again.");
    throw new ApiError(response.status, error.code || "http_" + response.status,
      error.message || `${method} ${path} answered ${response.status}.`);
  }
  return document;
}

function describe(error) {
  return error instanceof ApiError ? `${error.status || ""} ${error.code}: ${error.message}`.trim() : String(error);
}

// ------------------------------------------------------------------------------------ messages

function say(text) { $("status").textContent = text; }

function showError(text) {
  const alert = $("alert");
  alert.textContent = text;
  alert.hidden = !text;
}

function clearError() { showError(""); }

async function attempt(label, work) {
  clearError();
  say(label + "…");
  try {
    const result = await work();
    say(label + ": done.");
    return result;
  } catch (error) {
    say("");
    showError(`${label} failed — ${describe(error)}`);
    return undefined;
  }
}

// A confirmation dialog with optional fields: resolves to the fields' values, or null when cancelled.
function confirmAction(title, text, fields = [], danger = false) {
  const dialog = $("confirm");
  $("confirm-title").textContent = title;
  $("confirm-text").textContent = text;
  const box = $("confirm-fields");
  box.replaceChildren();
  for (const field of fields) {
    const id = "field-" + field.name;
    box.append(h("label", { for: id, text: field.label }));
    const input = h("input", { id, name: field.name, type: field.type || "text", autocomplete: "off" });
    if (field.required) input.required = true;
    if (field.value) input.value = field.value;
    box.append(input);
  }
  $("confirm-ok").className = danger ? "danger" : "";
  return new Promise((resolve) => {
    dialog.onclose = () => {
      if (dialog.returnValue !== "ok") return resolve(null);
      const values = {};
      for (const field of fields) values[field.name] = $("field-" + field.name).value.trim();
      resolve(values);
    };
    dialog.returnValue = "cancel";
    dialog.showModal();
    (box.querySelector("input") || $("confirm-cancel")).focus();
  });
}

// ------------------------------------------------------------------------------------ helpers

const cell = (value) => h("td", {}, [value instanceof Node ? value : document.createTextNode(value ?? "—")]);

function table(headers, rows, empty) {
  if (!rows.length) return h("p", { class: "empty", text: empty });
  const head = h("tr", {}, headers.map((text) => h("th", { scope: "col", text })));
  return h("table", {}, [h("thead", {}, [head]), h("tbody", {}, rows.map((row) => h("tr", {}, row.map(cell))))]);
}

function pill(text, kind) { return h("span", { class: "pill " + (kind || ""), text }); }

function button(text, onClick, kind) {
  const node = h("button", { type: "button", class: kind || "", text });
  node.addEventListener("click", onClick);
  return node;
}

function card(title, children) {
  return h("section", { class: "card", "aria-label": title }, [h("h3", { text: title }), ...children]);
}

// ------------------------------------------------------------------------------------ customers

let currentUser = null;

async function search(query) {
  $("matches").replaceChildren();
  $("customer").replaceChildren();
  const found = await attempt(`Searching for “${query}”`, () => api("GET", `/v1/admin/lookup?q=${enc(query)}`));
  if (!found) return;
  const users = [...new Set(found.matches.filter((m) => m.userId).map((m) => m.userId))];
  if (users.length === 1) return showUser(users[0]);
  if (!found.matches.length) {
    $("matches").append(h("p", { class: "empty", text: found.hint || `No customer matches “${query}”.` }));
    return;
  }
  $("matches").append(card(`${found.matches.length} matches`, [table(["user", "matched by", "purchase"],
    found.matches.map((m) => [m.userId ? button(m.userId, () => showUser(m.userId), "quiet") : "nobody holds it", m.matched, m.purchaseId]),
    "No match.")]));
}

async function showUser(userId) {
  currentUser = userId;
  history.replaceState(null, "", `#/customer?user=${enc(userId)}`);
  const [report, answer] = await attempt(`Loading ${userId}`, () => Promise.all([
    api("GET", `/v1/admin/users/${enc(userId)}`),
    api("GET", `/v1/admin/users/${enc(userId)}/entitlements`).catch((error) => ({ unavailable: describe(error) })),
  ])) || [];
  if (!report) return;
  $("matches").replaceChildren();
  const box = $("customer");
  box.replaceChildren(
    userCard(report),
    entitlementsCard(report, answer),
    purchasesCard(report),
    auditCard(report),
    actionsCard(report),
  );
  box.querySelector("h3").focus?.();
  say(`Showing ${report.userId}.`);
}

function userCard(report) {
  const abuse = report.flags.refundAbuse;
  const dl = h("dl", { class: "kv" }, [
    h("dt", { text: "User id" }), h("dd", { text: report.userId }),
    h("dt", { text: "appAccountToken" }), h("dd", { text: report.appAccountToken || "—" }),
    h("dt", { text: "Aliases" }), h("dd", { text: report.aliases.join(", ") || "none" }),
    h("dt", { text: "Refund abuse" }),
    h("dd", {}, [abuse.flagged ? pill(`flagged ${abuse.flaggedAt}`, "bad") : pill("not flagged", "ok"),
      document.createTextNode(` ${abuse.refunds} refund(s) or chargeback(s), threshold ${abuse.threshold} `),
      ...(abuse.flagged ? [button("Clear flag", () => clearFlag(report.userId), "quiet")] : [])]),
    h("dt", { text: "Double billing" }),
    h("dd", { text: report.flags.doubleBilling.map((d) => `${d.entitlement}: ${d.purchaseIds.join(" + ")}`).join("; ") || "none" }),
  ]);
  return card(`Customer ${report.userId}`, [dl]);
}

function entitlementsCard(report, answer) {
  const rows = Object.entries(report.entitlements).map(([id, e]) => [
    id, e.active ? pill("active", "ok") : pill("no access", "bad"), e.state, e.expiresAt, e.gracePeriodExpiresAt,
    e.store, e.productId, e.purchaseId,
  ]);
  const parts = [table(["entitlement", "access", "state", "expires", "grace ends", "store", "product", "purchase"], rows,
    "No entitlement, ever: this customer has no purchase or grant.")];
  if (answer && answer.unavailable) {
    parts.push(h("p", { class: "help", text: `The app's answer could not be read: ${answer.unavailable}` }));
  } else if (answer) {
    parts.push(h("dl", { class: "kv" }, [
      h("dt", { text: "cacheUntil" }), h("dd", { text: answer.cacheUntil || "—" }),
      h("dt", { text: "requestDate" }), h("dd", { text: answer.requestDate || "—" }),
      h("dt", { text: "signedEntitlements" }),
      h("dd", { class: "signed", text: answer.signedEntitlements || "not signed by this stack" }),
    ]));
  }
  return card("Entitlements (what the app is told)", parts);
}

function purchasesCard(report) {
  if (!report.purchases.length) return card("Purchases", [h("p", { class: "empty", text: "No purchase." })]);
  const list = report.purchases.map((p) => {
    const details = h("details", {}, [h("summary", { text: `Event timeline (${p.events.length})` })]);
    details.append(table(["received", "type", "outcome", ""], p.events.map((e) => [
      e.receivedAt, e.eventType, e.outcome || "not processed",
      button("Show", (event) => showEvent(e, event.currentTarget), "quiet"),
    ]), "No stored event."));
    const actions = h("div", { class: "actions" }, [
      button("Assign owner…", () => assignOwner(p), "quiet"),
      button("Reconcile now", () => reconcile({ purchaseId: p.purchaseId }), "quiet"),
      ...(p.store === "manual" ? [button("Revoke grant", () => revokeGrant(report.userId, p), "danger")] : []),
    ]);
    const summary = h("dl", { class: "kv" }, [
      h("dt", { text: "State" }), h("dd", {}, [pill(p.state, p.grantsAccess ? "ok" : "warn"),
        document.createTextNode(` expires ${p.expiresAt || "never"}, renews ${p.willRenew ? "yes" : "no"}`)]),
      h("dt", { text: "Product" }), h("dd", { text: `${p.productId} → ${(p.entitlements || []).join(", ")}` }),
      h("dt", { text: "Ownership" }), h("dd", { text: `${p.ownership}; owners ${p.ownerIds.join(", ") || "none"}` }),
      h("dt", { text: "Environment" }), h("dd", { text: `${p.environment || "—"}${p.app ? ", " + p.app : ""}` }),
    ]);
    return h("article", { class: "card", "aria-label": p.purchaseId }, [
      h("h4", { text: `${p.purchaseId} (${p.store})` }), summary, actions, details]);
  });
  return card("Purchases", list);
}

async function showEvent(summary, anchor) {
  const detail = await attempt(`Reading ${summary.source}/${summary.eventId}`,
    () => api("GET", `/v1/admin/events/${enc(summary.source)}/${enc(summary.eventId)}`));
  if (!detail) return;
  const block = h("div", { class: "card" }, [
    h("h4", { text: `${detail.eventType} — ${detail.outcome || "not processed"}` }),
    h("p", { text: `received ${detail.receivedAt}, processed ${detail.processedAt || "not yet"}` +
      (detail.failure ? `; failed ${detail.failure.failures} time(s): ${detail.failure.error}` : "") }),
    h("h5", { text: "Verified body" }), h("pre", { tabindex: "0", text: JSON.stringify(detail.body, null, 2) }),
    h("h5", { text: "Replay step" }), h("pre", { tabindex: "0", text: JSON.stringify(detail.replayStep, null, 2) }),
    h("h5", { text: "Changes it published" }), h("pre", { tabindex: "0", text: JSON.stringify(detail.changes, null, 2) }),
  ]);
  anchor.closest("tr").after(h("tr", {}, [h("td", { colspan: "4" }, [block])]));
  anchor.disabled = true;
}

function auditCard(report) {
  const lines = [...report.claims, ...report.refusals].sort((a, b) => (a.at < b.at ? 1 : -1));
  return card("Audit trail", [table(["at", "action", "purchase", "other users", "actor", "detail"],
    lines.map((r) => [r.at, r.action, r.purchaseId, r.otherUserIds.join(", "), r.actor, r.detail]),
    "No audit line yet.")]);
}

function actionsCard(report) {
  const id = report.userId;
  return card("Actions", [h("div", { class: "actions" }, [
    button("Grant an entitlement…", () => grant(id)),
    button("Merge another user into this one…", () => merge(id), "quiet"),
    button("Reconcile all purchases now", () => reconcile({ userId: id }), "quiet"),
    button("Erase this account…", () => erase(id), "danger"),
  ])]);
}

async function act(label, call) {
  const done = await attempt(label, call);
  if (done !== undefined && currentUser) await showUser(currentUser);
  return done;
}

async function grant(userId) {
  const values = await confirmAction("Grant an entitlement", `A manual grant to ${userId}, audited.`, [
    { name: "entitlement", label: "Entitlement id", required: true, value: "pro" },
    { name: "expiresAt", label: "Expires at (RFC 3339, empty: until revoked)" },
    { name: "reason", label: "Reason", required: true },
  ]);
  if (!values) return;
  await act(`Granting ${values.entitlement}`, () => api("POST", `/v1/admin/users/${enc(userId)}/grants`,
    { entitlement: values.entitlement, expiresAt: values.expiresAt || null, reason: values.reason }));
}

async function revokeGrant(userId, purchase) {
  if (!await confirmAction("Revoke the grant", `End ${purchase.purchaseId}: ${userId} loses what it grants.`, [], true)) return;
  await act("Revoking the grant", () => api("DELETE", `/v1/admin/users/${enc(userId)}/grants/${enc(purchase.purchaseId)}`));
}

async function assignOwner(purchase) {
  const values = await confirmAction("Assign the owner", `Make one user the only owner of ${purchase.purchaseId}; claims by anyone else are refused until another assignment.`, [
    { name: "userId", label: "User id", required: true, value: currentUser },
    { name: "reason", label: "Reason", required: true },
  ]);
  if (!values) return;
  await act("Assigning the owner", () => api("PUT", `/v1/admin/purchases/${enc(purchase.purchaseId)}/owner`, values));
}

async function merge(userId) {
  const values = await confirmAction("Merge users", `Move another user's purchases, claims and tokens into ${userId}; the other id becomes an alias.`, [
    { name: "fromUserId", label: "User id to merge in", required: true },
    { name: "reason", label: "Reason", required: true },
  ]);
  if (!values) return;
  await act("Merging", () => api("POST", `/v1/admin/users/${enc(userId)}/merge`, values));
}

async function clearFlag(userId) {
  const values = await confirmAction("Clear the review flag", `Clear ${userId}'s refund-abuse flag (audited).`, [
    { name: "reason", label: "Reason", required: true }]);
  if (!values) return;
  await act("Clearing the flag", () => api("DELETE", `/v1/admin/users/${enc(userId)}/flags/refund-abuse`, values));
}

async function reconcile(target) {
  const what = target.userId ? `every purchase of ${target.userId}` : target.purchaseId;
  if (!await confirmAction("Reconcile now", `Ask the stores about ${what} now (the reconcile worker checks and repairs).`)) return;
  const queued = await act("Queueing the checks", () => api("POST", "/v1/admin/reconcile", target));
  if (queued) say(`${queued.queued} check(s) queued under report ${queued.reportId}.`);
}

async function erase(userId) {
  const values = await confirmAction("Erase the account", `Erase ${userId}: the profile, links and personal data go; this cannot be undone. Type the user id to confirm.`, [
    { name: "confirmId", label: "User id", required: true }], true);
  if (!values) return;
  if (values.confirmId !== userId) return showError("Not erased: the user id typed does not match.");
  const done = await attempt(`Erasing ${userId}`, () => api("DELETE", `/v1/admin/users/${enc(userId)}`));
  if (done !== undefined) { currentUser = null; $("customer").replaceChildren(h("p", { class: "empty", text: `${userId} was erased.` })); }
}

// ------------------------------------------------------------------------------------ health

async function loadHealth() {
  const hours = $("hours").value;
  const [stats, letters] = await attempt("Loading the health page", () => Promise.all([
    api("GET", `/v1/admin/stats?hours=${hours}`),
    api("GET", "/v1/admin/dlq?max=20").catch((error) => ({ unavailable: describe(error) })),
  ])) || [];
  if (!stats) return;
  const box = $("health");
  const silence = Object.entries(stats.silence).map(([store, s]) => [store, s.lastEventAt || "none seen",
    s.hours === null ? pill("silent", "warn") : pill(`${s.hours} h`, s.hours > 24 ? "bad" : "ok")]);
  const states = stats.entitlements.map((e) => [`${e.store} · ${e.state}${e.active ? "" : " (no access)"}`, e.count, e.active ? 0 : 1]);
  const drift = stats.drift.slice().reverse().map((r) => [(r.reportId || "").slice(4, 8) + " " + (r.reportId || "").slice(9, 13), r.found]);
  const dlqSeries = {};
  for (const q of stats.deadLetterQueues) {
    const byHour = Object.fromEntries(q.history.map((p) => [p.at.slice(0, 13), p.depth]));
    dlqSeries[q.name] = stats.hours.map((hour) => byHour[hour] ?? 0);
  }
  box.replaceChildren(
    ...stats.notes.map((note) => h("p", { class: "help", text: note })),
    card("Silence per store", [table(["store", "last notification", "since"], silence, "")]),
    h("div", { class: "grid" }, [
      lineChart("Store events per hour", stats.hours, stats.storeEvents, "events"),
      barChart("Entitlement changes per hour", stats.hours.map((hour, i) => [hour.slice(11) + "h", stats.entitlementChanges[i]]), "changes"),
      states.length ? hbarChart("Entitlements by store and state", states, "entitlements")
        : card("Entitlements by store and state", [h("p", { class: "empty", text: "No entitlement yet." })]),
      drift.length ? barChart("Drift found per scan", drift, "drifted purchases")
        : card("Drift found per scan", [h("p", { class: "empty", text: "No drift scan has run yet." })]),
      lineChart("Dead-letter queue depth", stats.hours, dlqSeries, "maximum depth"),
    ]),
    deadLettersCard(stats.deadLetterQueues, letters),
  );
  say(`Health of the last ${hours} hours (${stats.itemsRead} items read${stats.complete ? "" : ", partial"}).`);
}

function deadLettersCard(queues, letters) {
  const parts = [table(["queue", "visible", "in flight", ""], queues.map((q) => [q.name, String(q.visible), String(q.inFlight),
    h("div", { class: "actions" }, [
      button(`Redrive ${q.name}`, () => redrive(q.name), q.visible ? "" : "quiet"),
      button(`Purge ${q.name}`, () => purge(q.name, q.visible), "danger"),
    ])]), "No dead-letter queue is configured.")];
  if (letters && letters.unavailable) {
    parts.push(h("p", { class: "help", text: `The dead letters could not be read: ${letters.unavailable}` }));
  } else if (letters) {
    parts.push(table(["queue", "event", "receives", "sent", "why it failed"], letters.messages.map((m) => [
      m.queue, m.source ? `${m.source} ${m.eventId}${m.event ? " (" + m.event.eventType + ")" : ""}` : JSON.stringify(m.subject),
      String(m.receiveCount), m.sentAt, m.event && m.event.failure ? m.event.failure.error : "not recorded",
    ]), "No dead letters: every message was processed."));
  }
  return card("Dead letters", parts);
}

async function redrive(queue) {
  if (!await confirmAction("Redrive", `Move ${queue}'s dead letters back to their queue (safe: processing is idempotent).`)) return;
  const done = await attempt(`Redriving ${queue}`, () => api("POST", "/v1/admin/dlq/redrive", { queue }));
  if (done) { await loadHealth(); say(`${queue}: ${done.moved ?? "a move task started for the"} message(s) moved back (${done.method}).`); }
}

async function purge(queue, visible) {
  if (!await confirmAction("Purge", `Delete about ${visible} dead letter(s) of ${queue} for good; they cannot be redriven after.`, [], true)) return;
  const done = await attempt(`Purging ${queue}`, () => api("DELETE", `/v1/admin/dlq?queue=${enc(queue)}`));
  if (done) { await loadHealth(); say(`${queue}: about ${done.purged} message(s) purged.`); }
}

// ------------------------------------------------------------------------------------ routing

function route() {
  const signedIn = Boolean(credential());
  const page = location.hash.startsWith("#/health") ? "health" : "customer";
  $("sign-in").hidden = signedIn;
  $("sign-out").hidden = !signedIn;
  $("page-customer").hidden = !signedIn || page !== "customer";
  $("page-health").hidden = !signedIn || page !== "health";
  for (const name of ["customer", "health"]) {
    const link = $("nav-" + name);
    if (name === page) link.setAttribute("aria-current", "page"); else link.removeAttribute("aria-current");
  }
  if (!signedIn) { $("credential").focus(); return; }
  if (page === "health") loadHealth();
  const user = new URLSearchParams(location.hash.split("?")[1] || "").get("user");
  if (page === "customer" && user && user !== currentUser) showUser(user);
}

function start() {
  takeTokenFromLink();
  $("sign-in-form").addEventListener("submit", (event) => {
    event.preventDefault();
    const value = $("credential").value.trim();
    sessionStorage.setItem(KEY, /^bearer /i.test(value) ? value : "Bearer " + value);
    $("credential").value = "";
    clearError();
    route();
  });
  $("sign-out").addEventListener("click", () => signOut());
  $("search-form").addEventListener("submit", (event) => { event.preventDefault(); search($("search").value.trim()); });
  $("health-form").addEventListener("submit", (event) => { event.preventDefault(); loadHealth(); });
  window.addEventListener("hashchange", route);
  route();
}

start();
