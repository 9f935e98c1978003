// Herald's web console: a client of the public Zaqar v2 API and nothing more.
// Every rule stays on the server; what the page shows is what the API answered.
// Text from the server is only ever set with textContent, so a message body
// can never become markup.
"use strict";

const PAGE = 20;
const session = window.sessionStorage;
const state = { queue: null, queuesNext: null, messagesNext: null, subscriptionsNext: null };

function $(id) {
  return document.getElementById(id);
}

function clientId() {
  let id = session.getItem("herald.client_id");
  if (!id) {
    id = crypto.randomUUID();
    session.setItem("herald.client_id", id);
  }
  return id;
}

function headers(withBody) {
  const h = { "Client-ID": clientId(), Accept: "application/json" };
  const project = session.getItem("herald.project");
  const token = session.getItem("herald.token");
  if (project) h["X-Project-ID"] = project;
  if (token) h["X-Auth-Token"] = token;
  if (withBody) h["Content-Type"] = "application/json";
  return h;
}

class ApiError extends Error {}

async function api(method, path, body) {
  const init = { method, headers: headers(body !== undefined) };
  if (body !== undefined) init.body = JSON.stringify(body);
  let response;
  try {
    response = await fetch(path, init);
  } catch (err) {
    throw new ApiError(`Herald is not reachable: ${err.message}`);
  }
  const text = await response.text();
  let data = null;
  if (text) {
    try {
      data = JSON.parse(text);
    } catch {
      data = null;
    }
  }
  if (!response.ok) {
    const title = (data && data.title) || `${response.status}`;
    const description = data && data.description ? `: ${data.description}` : "";
    throw new ApiError(`${title}${description}`);
  }
  return { status: response.status, data, location: response.headers.get("Location") };
}

function say(text, kind) {
  const status = $("status");
  status.textContent = text;
  status.className = kind || "";
  status.hidden = !text;
}

function guarded(action) {
  return async (event) => {
    if (event) event.preventDefault();
    try {
      await action(event);
    } catch (err) {
      if (!(err instanceof ApiError)) throw err;
      say(err.message, "error");
    }
  };
}

function cell(row, text) {
  const td = document.createElement("td");
  td.textContent = text;
  row.appendChild(td);
  return td;
}

function button(label, onClick, className) {
  const b = document.createElement("button");
  b.type = "button";
  b.textContent = label;
  if (className) b.className = className;
  b.addEventListener("click", guarded(onClick));
  return b;
}

function queuePath(name, rest) {
  return `/v2/queues/${encodeURIComponent(name)}${rest || ""}`;
}

function nextHref(links) {
  const next = (links || []).find((link) => link.rel === "next");
  return next ? next.href : null;
}

// Queues

async function loadQueues(href) {
  const { data } = await api("GET", href || `/v2/queues?limit=${PAGE}`);
  const queues = (data && data.queues) || [];
  const body = $("queues").tBodies[0];
  if (!href) body.replaceChildren();
  for (const queue of queues) {
    const row = body.insertRow();
    row.dataset.queue = queue.name;
    const name = cell(row, "");
    name.appendChild(button(queue.name, () => openQueue(queue.name), "link"));
    for (let i = 0; i < 3; i++) cell(row, "…");
    api("GET", queuePath(queue.name, "/stats")).then(
      ({ data: stats }) => showCounts(queue.name, stats.messages),
      () => showCounts(queue.name, null),
    );
  }
  state.queuesNext = queues.length === PAGE ? nextHref(data.links) : null;
  $("queues-more").hidden = !state.queuesNext;
  $("queues-panel").hidden = false;
}

function showCounts(name, counts) {
  const row = [...$("queues").tBodies[0].rows].find((r) => r.dataset.queue === name);
  if (!row) return;
  const values = counts ? [counts.free, counts.claimed, counts.total] : ["?", "?", "?"];
  values.forEach((n, i) => (row.cells[i + 1].textContent = String(n)));
}

async function createQueue() {
  const name = $("new-queue").value.trim();
  await api("PUT", queuePath(name), {});
  $("new-queue").value = "";
  say(`Queue ${name} created.`);
  await loadQueues();
  await openQueue(name);
}

// One queue

async function openQueue(name) {
  state.queue = name;
  $("queue-title").textContent = `Queue ${name}`;
  $("queue-panel").hidden = false;
  $("claim-result").hidden = true;
  await Promise.all([refreshQueue(), loadSubscriptions(null)]);
}

async function refreshQueue() {
  const { data } = await api("GET", queuePath(state.queue, "/stats"));
  const m = data.messages;
  $("queue-stats").textContent = `${m.free} free, ${m.claimed} claimed, ${m.total} in all`;
  showCounts(state.queue, m);
  await loadMessages(null);
}

function messagesQuery(marker, delayed) {
  const params = new URLSearchParams({ limit: String(PAGE), echo: "true", include_claimed: "true" });
  if (delayed) params.set("include_delayed", "true");
  if (marker) params.set("marker", marker);
  return queuePath(state.queue, `/messages?${params}`);
}

async function loadMessages(marker) {
  // The API marks no message as delayed, so the page is read twice: a message
  // listed with include_delayed but not without it is one still delayed.
  const [all, available] = await Promise.all([
    api("GET", messagesQuery(marker, true)),
    api("GET", messagesQuery(marker, false)),
  ]);
  const messages = (all.data && all.data.messages) || [];
  const ready = new Set(((available.data && available.data.messages) || []).map((m) => m.id));
  const body = $("messages").tBodies[0];
  body.replaceChildren();
  for (const message of messages) {
    const row = body.insertRow();
    row.dataset.message = message.id;
    const claimed = message.href.includes("claim_id=");
    const stateText = !ready.has(message.id) ? "delayed" : claimed ? "claimed" : "free";
    cell(row, message.id);
    cell(row, stateText).className = `state ${stateText}`;
    cell(row, String(message.age));
    cell(row, String(message.ttl));
    const pre = document.createElement("pre");
    pre.textContent = JSON.stringify(message.body);
    cell(row, "").appendChild(pre);
    cell(row, "").appendChild(button("Delete", () => deleteMessage(message.href)));
  }
  const last = messages.length === PAGE ? messages[messages.length - 1].id : null;
  state.messagesNext = last;
  $("messages-next").hidden = !last;
}

async function deleteMessage(href) {
  await api("DELETE", href);
  say("Message deleted.");
  await refreshQueue();
}

async function postMessage() {
  const body = parseJson($("post-body").value, "The body");
  const message = { body, ttl: Number($("post-ttl").value) };
  const delay = Number($("post-delay").value);
  if (delay) message.delay = delay;
  await api("POST", queuePath(state.queue, "/messages"), { messages: [message] });
  say("Message posted.");
  await refreshQueue();
}

async function claimMessages() {
  const limit = Number($("claim-limit").value);
  const { status, data, location } = await api("POST", queuePath(state.queue, `/claims?limit=${limit}`), {
    ttl: Number($("claim-ttl").value),
    grace: Number($("claim-grace").value),
  });
  if (status === 204) {
    say("Nothing to claim.");
    $("claim-result").hidden = true;
    return;
  }
  const claimId = location.split("/").pop();
  const count = ((data && data.messages) || []).length;
  $("claim-id").textContent = claimId;
  $("claim-count").textContent = `${count} message${count === 1 ? "" : "s"}`;
  $("claim-result").hidden = false;
  $("release").dataset.claim = claimId;
  say(`Claimed ${count} message${count === 1 ? "" : "s"}.`);
  await refreshQueue();
}

async function releaseClaim() {
  await api("DELETE", queuePath(state.queue, `/claims/${encodeURIComponent($("release").dataset.claim)}`));
  $("claim-result").hidden = true;
  say("Claim released.");
  await refreshQueue();
}

function confirmByName(text) {
  // Destructive actions on a whole queue ask for its name, as a typed confirmation.
  return confirmAction(text, state.queue);
}

function confirmAction(text, typed) {
  const dialog = $("confirm");
  const input = $("confirm-name");
  $("confirm-text").textContent = text;
  $("confirm-typed").hidden = !typed;
  input.value = "";
  $("confirm-ok").disabled = Boolean(typed);
  input.oninput = () => ($("confirm-ok").disabled = input.value !== typed);
  dialog.showModal();
  return new Promise((resolve) => {
    dialog.addEventListener("close", () => resolve(dialog.returnValue === "ok"), { once: true });
  });
}

async function purgeQueue() {
  if (!(await confirmByName(`Remove every message of ${state.queue}, claimed or not?`))) return;
  await api("POST", queuePath(state.queue, "/purge"), { resource_types: ["messages"] });
  say(`Queue ${state.queue} purged.`);
  await loadQueues();
  await refreshQueue();
}

async function deleteQueue() {
  if (!(await confirmByName(`Delete ${state.queue} with all its messages?`))) return;
  await api("DELETE", queuePath(state.queue));
  say(`Queue ${state.queue} deleted.`);
  state.queue = null;
  $("queue-panel").hidden = true;
  await loadQueues();
}

// Subscriptions of the open queue

function parseJson(text, what) {
  try {
    return JSON.parse(text);
  } catch (err) {
    throw new ApiError(`${what} must be JSON: ${err.message}`);
  }
}

async function loadSubscriptions(href) {
  const { data } = await api("GET", href || queuePath(state.queue, `/subscriptions?limit=${PAGE}`));
  const subscriptions = (data && data.subscriptions) || [];
  const body = $("subscriptions").tBodies[0];
  if (!href) body.replaceChildren();
  for (const subscription of subscriptions) {
    const row = body.insertRow();
    row.dataset.subscription = subscription.id;
    cell(row, subscription.subscriber);
    cell(row, String(subscription.ttl));
    cell(row, String(subscription.age));
    cell(row, subscription.confirmed ? "yes" : "no");
    const pre = document.createElement("pre");
    pre.textContent = JSON.stringify(subscription.options || {});
    cell(row, "").appendChild(pre);
    cell(row, "").appendChild(button("Delete", () => deleteSubscription(subscription)));
  }
  state.subscriptionsNext = subscriptions.length === PAGE ? nextHref(data.links) : null;
  $("subscriptions-more").hidden = !state.subscriptionsNext;
}

async function subscribe() {
  const subscriber = $("sub-subscriber").value.trim();
  const request = { subscriber };
  const ttl = $("sub-ttl").value.trim();
  if (ttl) request.ttl = Number(ttl);
  const options = $("sub-options").value.trim();
  if (options) request.options = parseJson(options, "The options");
  const { data } = await api("POST", queuePath(state.queue, "/subscriptions"), request);
  $("sub-subscriber").value = "";
  say(`Subscribed ${subscriber} (subscription ${data.subscription_id}).`);
  await loadSubscriptions(null);
}

async function deleteSubscription(subscription) {
  if (!(await confirmAction(`Delete the subscription of ${subscription.subscriber} to ${state.queue}?`))) return;
  await api("DELETE", queuePath(state.queue, `/subscriptions/${encodeURIComponent(subscription.id)}`));
  say(`Subscription of ${subscription.subscriber} deleted.`);
  await loadSubscriptions(null);
}

async function connect() {
  session.setItem("herald.project", $("project").value.trim());
  session.setItem("herald.token", $("token").value);
  say("");
  await loadQueues();
}

document.addEventListener("DOMContentLoaded", () => {
  $("project").value = session.getItem("herald.project") || "";
  $("connect").addEventListener("submit", guarded(connect));
  $("create-queue").addEventListener("submit", guarded(createQueue));
  $("queues-more").addEventListener("click", guarded(() => loadQueues(state.queuesNext)));
  $("refresh").addEventListener("click", guarded(() => Promise.all([refreshQueue(), loadSubscriptions(null)])));
  $("purge").addEventListener("click", guarded(purgeQueue));
  $("delete-queue").addEventListener("click", guarded(deleteQueue));
  $("post").addEventListener("submit", guarded(postMessage));
  $("claim").addEventListener("submit", guarded(claimMessages));
  $("release").addEventListener("click", guarded(releaseClaim));
  $("messages-first").addEventListener("click", guarded(() => loadMessages(null)));
  $("messages-next").addEventListener("click", guarded(() => loadMessages(state.messagesNext)));
  $("subscribe").addEventListener("submit", guarded(subscribe));
  $("subscriptions-more").addEventListener("click", guarded(() => loadSubscriptions(state.subscriptionsNext)));
});
