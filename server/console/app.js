// cityagent console: a small single-page app on the public API only. It
// holds nothing but the key the user signs in with (sessionStorage, this
// tab) and builds every element with textContent, never from HTML strings,
// so text from agents, documents and tickets cannot become markup.
import { strings } from "./i18n.js";

const KEY = "cityagent.key", LANG = "cityagent.lang";
const browserZh = (navigator.language || "en").toLowerCase().startsWith("zh");
let lang = sessionStorage.getItem(LANG) || localStorage.getItem(LANG) || (browserZh ? "zh" : "en");
let me = null;          // GET /v1/me
let liveFeed = null;    // AbortController of the /v1/events stream
const t = (k) => (strings[lang] && strings[lang][k]) || strings.en[k] || k;

// ---- DOM helpers -----------------------------------------------------------
function h(tag, attrs, ...kids) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith("on")) el.addEventListener(k.slice(2), v);
    else if (k === "text") el.textContent = v;
    else el.setAttribute(k, v === true ? "" : String(v));
  }
  for (const kid of kids.flat(Infinity)) {
    if (kid === null || kid === undefined || kid === false) continue;
    el.append(kid instanceof Node ? kid : document.createTextNode(String(kid)));
  }
  return el;
}
const $ = (sel) => document.querySelector(sel);
// fill replaces el's children with kids the way h() adds them: arrays
// flattened, null/undefined/false dropped, strings as text.
function fill(el, ...kids) {
  el.replaceChildren(...kids.flat(Infinity).filter((k) => k !== null && k !== undefined && k !== false).map((k) => (k instanceof Node ? k : document.createTextNode(String(k)))));
  return el;
}
function view(...kids) { return fill($("#view"), ...kids); }
function toast(msg, bad) {
  const d = h("div", { class: bad ? "err" : "" }, msg);
  $("#toast").append(d);
  setTimeout(() => d.remove(), 6000);
}
function fmtTime(s) {
  if (!s) return "";
  const d = new Date(s);
  if (isNaN(d)) return String(s);
  const zone = me && me.city && me.city.time_zone;
  const opts = { year: "numeric", month: "2-digit", day: "2-digit", hour: "2-digit", minute: "2-digit", second: "2-digit", hourCycle: "h23", timeZoneName: "short" };
  let f;
  try { f = new Intl.DateTimeFormat("en-US", { ...opts, timeZone: zone || undefined }); } catch { f = new Intl.DateTimeFormat("en-US", opts); } // an unknown zone: the browser's
  const p = Object.fromEntries(f.formatToParts(d).map((x) => [x.type, x.value]));
  return `${p.year}-${p.month}-${p.day} ${p.hour}:${p.minute}:${p.second} ${p.timeZoneName}`; // 2026-12-02 11:55:42 GMT+8 in both languages
}
function countdown(until) {
  const ms = new Date(until) - Date.now();
  if (isNaN(ms)) return "";
  if (ms <= 0) return t("expired");
  const m = Math.floor(ms / 60000), hrs = Math.floor(m / 60), days = Math.floor(hrs / 24);
  const txt = days > 0 ? `${days}d ${hrs % 24}h` : hrs > 0 ? `${hrs}h ${m % 60}m` : `${m}m ${Math.floor(ms / 1000) % 60}s`;
  return `${txt} ${t("left")}`;
}
const badge = (txt, kind) => h("span", { class: "badge " + (kind || ""), title: txt }, label(txt));
// label shows an API code (a status, urgency or risk) in the UI language.
const label = (code) => (lang === "zh" && strings.zh.codes[code]) || code;
const statusKind = (s) => ({ approved: "ok", executed: "ok", done: "ok", closed: "ok", proposed: "warn", queued: "warn", running: "warn", triaged: "warn", dispatched: "warn", rejected: "bad", expired: "bad", failed: "bad", fail: "bad", error: "bad", pass: "ok" })[s] || "";
const json = (v) => h("pre", {}, JSON.stringify(v, null, 2));
// bi is a bilingual {zh, en} name in the UI language, or the code when absent.
const bi = (txt, code) => (txt && (txt[lang] || txt.en || txt.zh)) || code || "";

// ---- API -------------------------------------------------------------------
class ApiError extends Error {
  constructor(status, problem) { super(problemText(problem) || `HTTP ${status}`); this.status = status; this.problem = problem; }
}
// problemText is what a user reads of a problem+json: its detail and each
// field's message.
function problemText(p) {
  if (!p || typeof p !== "object") return typeof p === "string" ? p.slice(0, 300) : "";
  const fields = (p.errors || []).map((e) => (e.field ? `${e.field}: ${e.message}` : e.message)).join("; ");
  return [p.detail || p.title, fields].filter(Boolean).join(" — ");
}
async function api(path, opts = {}) {
  const headers = { Authorization: "Bearer " + sessionStorage.getItem(KEY), ...(opts.headers || {}) };
  let body = opts.body;
  if (body !== undefined && !(body instanceof FormData) && typeof body !== "string") { body = JSON.stringify(body); headers["Content-Type"] = "application/json"; }
  const res = await fetch(path, { method: opts.method || "GET", headers, body, signal: opts.signal });
  const ct = res.headers.get("Content-Type") || "";
  const data = ct.includes("json") ? await res.json().catch(() => null) : await res.text();
  if (res.status === 401 && path !== "/v1/me") { signOut(); throw new ApiError(401, data); }
  if (!res.ok) throw new ApiError(res.status, data);
  return data;
}
// sse reads a text/event-stream response (fetch, so that the key goes in a
// header, never in a URL) and calls onEvent(type, data, id) per event.
async function sse(path, { method = "GET", body, signal, onEvent }) {
  const headers = { Authorization: "Bearer " + sessionStorage.getItem(KEY), Accept: "text/event-stream" };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  const res = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body), signal });
  if (!res.ok) {
    const p = await res.json().catch(() => null);
    throw new ApiError(res.status, p);
  }
  const reader = res.body.getReader(), dec = new TextDecoder();
  let buf = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    buf += dec.decode(value, { stream: true }).replace(/\r\n/g, "\n");
    let i;
    while ((i = buf.indexOf("\n\n")) >= 0) {
      const block = buf.slice(0, i); buf = buf.slice(i + 2);
      let type = "message", data = "", id = "";
      for (const line of block.split("\n")) {
        if (line.startsWith(":")) continue;
        const [f, ...rest] = line.split(":"); const v = rest.join(":").replace(/^ /, "");
        if (f === "event") type = v; else if (f === "data") data += (data ? "\n" : "") + v; else if (f === "id") id = v;
      }
      if (!data) continue;
      let parsed = data; try { parsed = JSON.parse(data); } catch { /* plain text */ }
      onEvent(type, parsed, id);
    }
  }
}
const can = (role) => !!me && me.includes.includes(role);

// ---- shell -----------------------------------------------------------------
const pages = [
  { id: "chat", need: "operator", label: "nav_chat" },
  { id: "approvals", need: "supervisor", label: "nav_approvals" },
  { id: "hotline", need: ["hotline", "department"], label: "nav_hotline" },
  { id: "knowledge", need: "operator", label: "nav_knowledge" },
  { id: "evals", need: "developer", label: "nav_evals" },
  { id: "audit", need: "developer", label: "nav_audit" },
];
const allowed = (p) => [].concat(p.need).some(can);
function shell(current) {
  document.documentElement.lang = lang === "zh" ? "zh-CN" : "en";
  $("#lang").textContent = lang === "zh" ? "English" : "中文";
  for (const el of document.querySelectorAll("[data-i18n]")) el.textContent = t(el.dataset.i18n);
  $("#signout").hidden = !me;
  $("#who").textContent = me ? `${t("signedas")}: ${me.name || me.key_id} · ${me.role} · ${me.clearance}${me.department ? " · " + me.department : ""}` : "";
  fill($("#nav"), ...(me ? pages.filter(allowed).map((p) => h("a", { href: "#/" + p.id, "aria-current": p.id === current ? "page" : null }, t(p.label))) : []));
}
function signOut() {
  sessionStorage.removeItem(KEY);
  me = null;
  if (liveFeed) { liveFeed.abort(); liveFeed = null; }
  location.hash = "#/signin";
}

// route renders the page of the current hash. Routes run one at a time: a
// hash change while a page is still loading renders again afterwards, so a
// slow page never overwrites the one the user moved on to.
// #view's data-ready ("<page> <lang>", e.g. "chat zh") is set once the last
// pending render is on screen and removed while one is pending, so a script
// (or a test) driving the page knows which form it is typing into.
let routing = null, routeAgain = false;
async function route() {
  $("#view").removeAttribute("data-ready");
  if (routing) { routeAgain = true; return routing; }
  routing = (async () => {
    do { routeAgain = false; await routeOnce(); } while (routeAgain);
    $("#view").dataset.ready = ((location.hash || "#/").split("/")[1] || "") + " " + lang;
  })();
  try { await routing; } finally { routing = null; }
}
async function routeOnce() {
  const [, page = "", ...rest] = (location.hash || "#/").split("/");
  if (!sessionStorage.getItem(KEY)) { shell("signin"); return signinView(); }
  if (!me) {
    try { me = await api("/v1/me"); } catch (e) { sessionStorage.removeItem(KEY); shell("signin"); return signinView(e.message); }
  }
  const first = pages.find(allowed);
  const target = pages.find((p) => p.id === page) || (page === "proposal" ? { id: "proposal" } : page === "ticket" ? { id: "ticket" } : page === "run" ? { id: "run" } : null);
  if (!target || (target.need && !allowed(target))) { location.hash = first ? "#/" + first.id : "#/none"; if (!first) { shell(""); view(h("p", {}, t("none"))); } return; }
  shell(target.id === "proposal" ? "approvals" : target.id === "ticket" ? "hotline" : target.id === "run" ? "evals" : target.id);
  const arg = rest.map(decodeURIComponent).join("/");
  try {
    await ({ chat: chatView, approvals: approvalsView, proposal: proposalView, hotline: hotlineView, ticket: ticketView, knowledge: knowledgeView, evals: evalsView, run: runView, audit: auditView })[target.id](arg);
  } catch (e) { view(h("p", { class: "err", role: "alert" }, `${t("error")}: ${e.message}`)); }
  $("#view").focus();
}

function signinView(err) {
  const input = h("input", { type: "password", id: "key", autocomplete: "off", required: true, size: 60, "aria-describedby": "keyhint" });
  const form = h("form", { class: "card", onsubmit: async (ev) => {
    ev.preventDefault();
    sessionStorage.setItem(KEY, input.value.trim());
    me = null;
    try { me = await api("/v1/me"); location.hash = "#/"; route(); } catch (e) { sessionStorage.removeItem(KEY); msg.textContent = e.message; }
  } },
    h("h1", {}, t("signin")),
    h("label", { for: "key" }, h("span", {}, t("key")), input),
    h("p", { id: "keyhint", class: "muted small" }, t("keyhint")),
    h("button", { type: "submit" }, t("signin")));
  const msg = h("p", { class: "err", role: "alert" }, err || "");
  view(form, msg);
  input.focus();
}

// ---- chat --------------------------------------------------------------------
let chatState = { agent: "", session: "", draft: "" }; // draft: the unsent message, kept across a re-render (a language switch)
async function chatView(sessionID) {
  const [{ agents }, { sessions }] = await Promise.all([api("/v1/agents"), api("/v1/sessions?limit=30")]);
  const usable = agents.filter((a) => !a.roles || a.roles.length === 0 || a.roles.some(can));
  chatState.session = sessionID || ""; // #/chat starts a new session; #/chat/<id> continues one
  const picker = h("select", { id: "agent", "aria-label": t("agent"), onchange: () => { chatState.agent = picker.value; } },
    usable.map((a) => h("option", { value: a.name, selected: a.name === chatState.agent }, `${a.name} — ${a.description}`)));
  if (!chatState.agent && usable[0]) chatState.agent = usable[0].name;
  const log = h("div", { class: "log", id: "log", "aria-live": "polite" });
  const side = h("div", { id: "details" });
  const box = h("textarea", { id: "message", rows: 3, maxlength: 8000, placeholder: t("ask"), "aria-label": t("ask") });
  const sendBtn = h("button", { type: "submit", id: "send" }, t("send"));
  const form = h("form", { class: "row", onsubmit: (ev) => { ev.preventDefault(); send(); } }, box, sendBtn);
  box.value = chatState.draft;
  box.addEventListener("input", () => { chatState.draft = box.value; });
  box.addEventListener("keydown", (ev) => { if (ev.key === "Enter" && (ev.ctrlKey || ev.metaKey)) send(); });
  const list = h("ul", { class: "sessions", "data-testid": "sessions" });
  const listSessions = (items) => fill(list,
    h("li", {}, h("a", { href: "#/chat", onclick: (ev) => { if (location.hash === "#/chat") { ev.preventDefault(); route(); } } }, "+ " + t("newchat"))),
    items.map((s) => h("li", {}, h("a", { href: "#/chat/" + encodeURIComponent(s.id), "aria-current": s.id === chatState.session ? "page" : null }, s.title || s.id), h("div", { class: "muted small" }, `${s.agent} · ${fmtTime(s.updated_at)}`))));
  listSessions(sessions);
  view(h("h1", {}, t("nav_chat")), h("div", { class: "grid" },
    h("aside", { class: "card" }, h("h2", {}, t("sessions")), list),
    h("section", { class: "card" }, h("label", { for: "agent" }, h("span", {}, t("agent")), picker), log, form),
    h("aside", { class: "card" }, side)));
  if (chatState.session) {
    const sess = await api("/v1/sessions/" + encodeURIComponent(chatState.session));
    chatState.agent = sess.agent; picker.value = sess.agent;
    let last = null;
    for (const e of sess.events) {
      if (e.type === "user") log.append(h("div", { class: "msg user" }, e.data.text));
      if (e.type === "done") { log.append(h("div", { class: "msg bot" }, e.data.answer)); last = e.data; }
    }
    if (last) renderDetails(side, last);
    log.scrollTop = log.scrollHeight;
  }
  box.focus();

  async function send() {
    const message = box.value.trim();
    if (!message || sendBtn.disabled) return;
    box.value = ""; chatState.draft = ""; sendBtn.disabled = true;
    log.append(h("div", { class: "msg user" }, message));
    // data-deltas counts the streamed pieces shown before the turn ended.
    const answer = h("div", { class: "msg bot", "data-testid": "answer", "data-state": "streaming", "data-deltas": 0 });
    const live = h("ol", { class: "timeline small" });
    log.append(answer); fill(side, h("h2", {}, t("tools")), live);
    log.scrollTop = log.scrollHeight;
    try {
      await sse(`/v1/agents/${encodeURIComponent(chatState.agent)}/chat`, { method: "POST", body: { message, session_id: chatState.session || undefined, stream: true }, onEvent: (type, d) => {
        if (type === "session") chatState.session = d.session_id;
        else if (type === "delta") { answer.append(d.text); answer.dataset.deltas = Number(answer.dataset.deltas) + 1; }
        else if (type === "reset") answer.textContent = "";
        else if (type === "tool_call") live.append(h("li", {}, h("code", {}, d.name), " ", JSON.stringify(d.arguments || {})));
        else if (type === "done") { answer.textContent = d.answer; answer.dataset.state = "done"; renderDetails(side, d); }
        else if (type === "error") answer.append(h("div", { class: "err", role: "alert" }, problemText(d) || JSON.stringify(d)));
        log.scrollTop = log.scrollHeight;
      } });
    } catch (e) { answer.append(h("div", { class: "err", role: "alert" }, e.message)); }
    sendBtn.disabled = false; box.focus();
    if (chatState.session && location.hash !== "#/chat/" + chatState.session) history.replaceState(null, "", "#/chat/" + encodeURIComponent(chatState.session));
    api("/v1/sessions?limit=30").then((r) => listSessions(r.sessions)).catch(() => {});
  }
}

function renderDetails(side, r) {
  const cites = r.citations || [], calls = r.tool_calls || [], props = r.proposals || [];
  fill(side,
    r.degraded ? h("p", { class: "notice", "data-testid": "degraded" }, t("degraded")) : null,
    h("p", { class: "muted small" }, `${t("model")}: ${r.model || "?"} · trace ${r.trace_id || ""}`),
    h("h2", {}, t("citations")),
    h("ul", { class: "small", "data-testid": "citations" }, cites.map((c) => h("li", {},
      badge(c.kind), " ", h("strong", {}, c.title || c.ref), c.source ? h("div", { class: "muted" }, c.source) : null,
      c.as_of ? h("div", { class: "muted", "data-testid": "asof" }, `${t("asof")} ${fmtTime(c.as_of)}`) : null,
      c.snippet ? h("div", {}, c.snippet) : null))),
    h("h2", {}, t("tools")),
    h("ol", { class: "timeline small", "data-testid": "toolcalls" }, calls.map((c) => h("li", {},
      h("code", {}, c.name), " ", badge(c.ok ? "ok" : "error", c.ok ? "ok" : "bad"), ` ${c.duration_ms ?? "?"} ms`,
      h("div", { class: "muted" }, JSON.stringify(c.arguments || {})), c.error ? h("div", { class: "err" }, c.error) : null))),
    h("h2", {}, t("proposals")),
    props.length ? h("ul", { "data-testid": "proposals" }, props.map((p) => h("li", {},
      h("a", { href: "#/proposal/" + encodeURIComponent(p.id) }, `${p.action} · ${p.id}`), " ", badge(p.status, statusKind(p.status)), " ", badge(p.risk || "")))) : h("p", { class: "muted small" }, t("noproposals")),
    (r.warnings || []).length ? h("ul", { class: "small" }, r.warnings.map((w) => h("li", { class: "muted" }, typeof w === "string" ? w : JSON.stringify(w)))) : null);
}

// ---- approvals ---------------------------------------------------------------
async function approvalsView() {
  const saved = sessionStorage.getItem("cityagent.approvals");
  const params = new URLSearchParams(saved === null ? "status=proposed" : saved);
  const field = (name, options) => h("label", {}, h("span", {}, t(name)),
    h("select", { name, onchange: (ev) => { params.set(name, ev.target.value); if (!ev.target.value) params.delete(name); sessionStorage.setItem("cityagent.approvals", params.toString()); approvalsView(); } },
      options.map((o) => h("option", { value: o, selected: (params.get(name) || "") === o }, o || t("all")))));
  const [{ proposals }, types, { agents }] = await Promise.all([api("/v1/proposals?" + params), api("/v1/actions").catch(() => ({ actions: [] })), api("/v1/agents")]);
  const actionNames = (types.actions || []).map((a) => a.name || a.id).filter(Boolean);
  const risk = params.get("risk");
  const rows = (proposals || []).filter((p) => !risk || p.risk === risk);
  view(h("h1", {}, t("nav_approvals"), " ", badge(t("live"), "ok")),
    h("div", { class: "card row" },
      field("status", ["", "proposed", "approved", "executed", "failed", "rejected", "expired"]),
      field("action", ["", ...actionNames]), field("agent", ["", ...agents.map((a) => a.name)]), field("risk", ["", "low", "medium", "high"])),
    h("table", { class: "card", "data-testid": "queue" },
      h("thead", {}, h("tr", {}, [t("created"), t("action"), t("agent"), t("risk"), t("status"), t("expires")].map((x) => h("th", {}, x)))),
      h("tbody", {}, rows.length ? rows.map((p) => h("tr", {},
        h("td", {}, fmtTime(p.created_at)), h("td", {}, h("a", { href: "#/proposal/" + encodeURIComponent(p.id) }, lang === "zh" ? p.title_zh || p.title || p.action : p.title || p.action)),
        h("td", {}, p.agent), h("td", {}, badge(p.risk)), h("td", {}, badge(p.status, statusKind(p.status))), h("td", {}, p.status === "proposed" ? countdown(p.expires_at) : ""))) :
        h("tr", {}, h("td", { colspan: 6, class: "muted" }, t("none"))))));
}

async function proposalView(id) {
  const p = await api("/v1/proposals/" + encodeURIComponent(id));
  const comment = h("textarea", { id: "comment", rows: 2, "aria-label": t("comment"), placeholder: t("comment") });
  const out = h("p", { role: "alert", id: "decision-result" });
  const decide = (verb) => async () => {
    try { await api(`/v1/proposals/${encodeURIComponent(id)}/${verb}`, { method: "POST", body: { comment: comment.value } }); toast(`${verb}: ${id}`); proposalView(id); }
    catch (e) { out.className = "err"; out.textContent = e.message; }
  };
  const expiry = h("span", {}, p.status === "proposed" ? countdown(p.expires_at) : "");
  const timer = setInterval(() => { if (!document.body.contains(expiry)) return clearInterval(timer); expiry.textContent = countdown(p.expires_at); }, 1000);
  view(h("h1", {}, (lang === "zh" ? p.title_zh || p.title : p.title || p.title_zh) || p.action, " ", badge(p.status, statusKind(p.status)), " ", badge(p.risk)),
    h("div", { class: "card" },
      h("p", {}, `${t("action")}: `, h("code", {}, p.action), ` · ${t("agent")}: ${p.agent} · ${t("proposer")}: ${p.proposed_by}`),
      h("p", {}, `${t("created")}: ${fmtTime(p.created_at)}`, p.status === "proposed" ? [` · ${t("expires")}: `, expiry] : null),
      h("h2", {}, t("arguments")), json(p.arguments),
      h("h2", {}, t("rationale")), h("p", {}, p.rationale || ""),
      p.question ? h("p", { class: "muted" }, "“" + p.question + "”") : null,
      (p.flags || []).length ? h("p", { class: "notice", "data-testid": "flags" }, `${t("flags")}: ${p.flags.join(", ")}`) : null),
    h("div", { class: "card" }, h("h2", {}, t("evidence")), h("ul", {}, (p.evidence || []).map((e) => h("li", {},
      badge(e.kind), " ", h("strong", {}, e.title || e.ref), e.source ? ` · ${e.source}` : "", e.as_of ? ` · ${t("asof")} ${fmtTime(e.as_of)}` : "",
      h("div", { class: "muted small" }, `sha256 ${e.sha256 || ""} · ${e.clearance || ""}`), e.snippet ? h("div", { class: "small" }, e.snippet) : null)))),
    p.decision ? h("div", { class: "card" }, h("h2", {}, t("decision")), json(p.decision)) : null,
    p.execution ? h("div", { class: "card" }, h("h2", {}, t("execution")), json(p.execution)) : null,
    can("supervisor") && p.status === "proposed" ? h("div", { class: "card" }, comment,
      h("div", { class: "row" }, h("button", { type: "button", id: "approve", onclick: decide("approve") }, t("approve")), h("button", { type: "button", class: "danger", id: "reject", onclick: decide("reject") }, t("reject")))) : null,
    out);
}

// A live feed of events (GET /v1/events) refreshes the approvals queue and
// the hotline board when something happens, without a reload.
function startLiveFeed() {
  if (liveFeed || !me) return;
  liveFeed = new AbortController();
  const ctl = liveFeed;
  sse("/v1/events", { signal: ctl.signal, onEvent: (type) => {
    const page = (location.hash.split("/")[1] || "");
    if (type.startsWith("proposal.") && page === "approvals") approvalsView();
    if (type.startsWith("ticket.") && page === "hotline") hotlineView();
    if (type === "proposal.created" && can("supervisor")) toast(type);
  } }).catch(() => {}).finally(() => { if (liveFeed === ctl) { liveFeed = null; setTimeout(startLiveFeed, 5000); } });
}

// ---- hotline -----------------------------------------------------------------
async function hotlineView() {
  const dept = me.role === "department";
  const data = !can("hotline") ? await api("/v1/hotline/queue?limit=100") : await api("/v1/hotline/tickets?limit=100");
  const tickets = data.tickets || [];
  view(h("h1", {}, t("nav_hotline"), dept ? ` · ${me.department}` : "", " ", badge(t("live"), "ok")),
    h("div", { class: "scroll" }, h("table", { class: "card", "data-testid": "board" },
      h("thead", {}, h("tr", {}, [t("ticket"), t("type"), t("category"), t("department"), t("urgency"), t("status"), t("deadline")].map((x) => h("th", {}, x)))),
      h("tbody", {}, tickets.length ? tickets.map((tk) => {
        const late = (tk.deadline && new Date(tk.deadline) < Date.now() && !["closed", "merged"].includes(tk.status)) || (tk.lifecycle && tk.lifecycle.overdue);
        return h("tr", { class: late ? "overdue" : "" },
          h("td", {}, h("a", { href: "#/ticket/" + encodeURIComponent(tk.ticket_id) }, tk.ticket_id), h("div", { class: "muted small" }, (tk.text || "").slice(0, 80))),
          h("td", {}, bi(tk.type_name, tk.type)), h("td", {}, bi(tk.category_name, tk.category)), h("td", {}, bi(tk.department_name, tk.department)),
          h("td", {}, badge(tk.urgency, tk.urgency === "emergency" ? "bad" : "")),
          h("td", {}, badge(tk.status, statusKind(tk.status))), h("td", {}, late ? badge(t("overdue"), "bad") : countdown(tk.deadline)));
      }) : h("tr", {}, h("td", { colspan: 7, class: "muted" }, t("none")))))));
}
async function ticketView(id) {
  // A department key reads its tickets through its queue (it has no hotline
  // role); everyone else reads the ticket itself.
  const tk = can("hotline") ? await api("/v1/hotline/tickets/" + encodeURIComponent(id))
    : ((await api("/v1/hotline/queue?limit=100")).tickets || []).find((x) => x.ticket_id === id);
  if (!tk) throw new Error(t("none"));
  const cites = tk.citations || [];
  view(h("h1", {}, `${t("ticket")} ${tk.ticket_id}`, " ", badge(tk.status, statusKind(tk.status))),
    h("div", { class: "card" }, h("p", {}, tk.text),
      h("p", { class: "muted" }, `${t("type")}: ${bi(tk.type_name, tk.type)} · ${t("category")}: ${bi(tk.category_path, tk.category)} · ${t("department")}: ${bi(tk.department_name, tk.department)} · ${t("urgency")}: ${tk.urgency}`),
      h("p", {}, `${t("deadline")}: ${fmtTime(tk.deadline)} (${countdown(tk.deadline)}) · ${tk.deadline_rule || ""}`),
      tk.degraded ? h("p", { class: "notice" }, t("degraded")) : null),
    h("div", { class: "card" }, h("h2", {}, t("reply")), h("p", { "data-testid": "reply" }, tk.draft_reply || "")),
    h("div", { class: "card" }, h("h2", {}, t("sources")), h("ul", {}, cites.map((c) => h("li", {}, h("strong", {}, c.title || c.ref), c.source ? ` · ${c.source}` : "",
      c.as_of ? ` · ${t("asof")} ${fmtTime(c.as_of)}` : "", c.snippet ? h("div", { class: "small muted" }, c.snippet) : null)))));
}

// ---- knowledge ---------------------------------------------------------------
let knowledgeRefresh = null; // re-reads the collection counts after an upload
async function knowledgeView() {
  const { collections } = await api("/v1/collections");
  const canWrite = can("developer");
  const counts = h("table", { class: "card", "data-testid": "collections" });
  const showCounts = (cols) => fill(counts, h("thead", {}, h("tr", {}, [t("collections"), t("documents"), t("chunks")].map((x) => h("th", {}, x)))),
    h("tbody", {}, cols.map((c) => h("tr", {}, h("td", {}, c.name), h("td", {}, c.documents ?? ""), h("td", {}, c.chunks ?? "")))));
  showCounts(collections);
  knowledgeRefresh = () => api("/v1/collections").then((r) => showCounts(r.collections)).catch(() => {});
  const results = h("div", { id: "search-results" });
  const q = h("input", { id: "q", type: "search", size: 50, "aria-label": t("query"), placeholder: t("query") });
  const coll = h("select", { id: "coll", "aria-label": t("collections") }, collections.map((c) => h("option", { value: c.name }, c.name)));
  const search = async (ev) => {
    ev.preventDefault();
    try {
      const r = await api(`/v1/collections/${encodeURIComponent(coll.value)}/search`, { method: "POST", body: { query: q.value, k: 8 } });
      fill(results, h("table", {}, h("tbody", {}, (r.hits || []).map((x) => h("tr", {},
        h("td", {}, x.score !== undefined ? x.score.toFixed(3) : ""), h("td", {}, h("strong", {}, x.title || x.doc_id), h("div", { class: "small" }, (x.text || "").slice(0, 240))),
        h("td", {}, badge((x.metadata && x.metadata.clearance) || x.clearance || ""), h("div", { class: "muted small" }, x.source || "")))))));
      if (!(r.hits || []).length) fill(results, h("p", { class: "muted" }, t("none")));
    } catch (e) { fill(results, h("p", { class: "err" }, e.message)); }
  };
  view(h("h1", {}, t("nav_knowledge")),
    counts,
    h("form", { class: "card row", onsubmit: search }, coll, q, h("button", { type: "submit" }, t("search"))), results,
    canWrite ? uploader(collections) : null);
}
function uploader(collections) {
  const target = h("select", { "aria-label": t("collections") }, collections.map((c) => h("option", { value: c.name }, c.name)));
  const list = h("ul", { class: "small" });
  const input = h("input", { type: "file", multiple: true, id: "files", onchange: () => sendFiles(input.files) });
  const drop = h("div", { class: "drop" }, h("label", { for: "files" }, t("dropfiles")), input);
  drop.addEventListener("dragover", (e) => { e.preventDefault(); drop.classList.add("over"); });
  drop.addEventListener("dragleave", () => drop.classList.remove("over"));
  drop.addEventListener("drop", (e) => { e.preventDefault(); drop.classList.remove("over"); sendFiles(e.dataTransfer.files); });
  function sendFiles(files) {
    for (const f of files) {
      const bar = h("progress", { max: 100, value: 0 }), res = h("span", { class: "muted" });
      list.append(h("li", {}, f.name, " ", bar, res));
      const fd = new FormData(); fd.append("file", f, f.name);
      const xhr = new XMLHttpRequest(); // XHR reports upload progress; fetch does not
      xhr.open("POST", `/v1/collections/${encodeURIComponent(target.value)}/documents`);
      xhr.setRequestHeader("Authorization", "Bearer " + sessionStorage.getItem(KEY));
      xhr.upload.onprogress = (e) => { if (e.lengthComputable) bar.value = (100 * e.loaded) / e.total; };
      xhr.onload = () => {
        bar.value = 100;
        let body = null; try { body = JSON.parse(xhr.responseText); } catch { /* not JSON */ }
        if (knowledgeRefresh) knowledgeRefresh();
        if (xhr.status >= 200 && xhr.status < 300) res.textContent = " ✓ " + ((body && (body.results || []).map((d) => `${d.doc_id} ${d.status} (${d.chunks} ${t("chunks")})`).join(", ")) || xhr.status);
        else { res.className = "err"; res.textContent = " ✗ " + ((body && (body.detail || body.title)) || xhr.status); }
      };
      xhr.onerror = () => { res.className = "err"; res.textContent = " ✗ network"; };
      xhr.send(fd);
    }
  }
  return h("div", { class: "card" }, h("h2", {}, t("upload")), h("label", {}, h("span", {}, t("collections")), target), drop, list);
}

// ---- evals -------------------------------------------------------------------
async function evalsView() {
  const { runs } = await api("/v1/evals/runs");
  const msg = h("p", { role: "alert", class: "err", id: "start-error" });
  const start = async () => {
    msg.textContent = "";
    try { const r = await api("/v1/evals/runs", { method: "POST", body: { suites: ["all"], thresholds: true } }); location.hash = "#/run/" + encodeURIComponent(r.id); }
    catch (e) { msg.textContent = e.message; }
  };
  view(h("h1", {}, t("nav_evals")), h("p", {}, h("button", { type: "button", id: "start-run", onclick: start }, t("startrun"))), msg,
    h("table", { class: "card" }, h("thead", {}, h("tr", {}, ["ID", t("status"), t("created"), t("cases"), t("passrate"), t("passed")].map((x) => h("th", {}, x)))),
      h("tbody", {}, runs.length ? runs.map((r) => h("tr", {}, h("td", {}, h("a", { href: "#/run/" + encodeURIComponent(r.id) }, r.id)), h("td", {}, badge(r.status, statusKind(r.status))),
        h("td", {}, fmtTime(r.created_at)), h("td", {}, `${r.done}/${r.total}`), h("td", {}, r.summary && r.summary.metrics.case_pass_rate !== undefined ? r.summary.metrics.case_pass_rate.toFixed(3) : ""),
        h("td", {}, r.passed === undefined ? "" : badge(r.passed ? t("passed") : t("failed"), r.passed ? "ok" : "bad")))) : h("tr", {}, h("td", { colspan: 6, class: "muted" }, t("none"))))));
}
async function runView(id) {
  const r = await api("/v1/evals/runs/" + encodeURIComponent(id));
  if (r.status === "queued" || r.status === "running") {
    view(h("h1", {}, id), h("progress", { max: r.total || 1, value: r.done }), h("p", {}, `${r.done}/${r.total}`));
    setTimeout(() => { if (location.hash === "#/run/" + encodeURIComponent(id)) runView(id); }, 1500);
    return;
  }
  const { runs } = await api("/v1/evals/runs");
  const others = runs.filter((x) => x.id !== id && x.status === "done");
  const diffBox = h("div", {});
  const cmp = h("select", { "aria-label": t("compare"), onchange: async () => {
    if (!cmp.value) return fill(diffBox);
    const o = await api("/v1/evals/runs/" + encodeURIComponent(cmp.value));
    const before = new Map((o.report.cases || []).map((c) => [c.suite + "/" + c.id, c.status]));
    const changed = (r.report.cases || []).filter((c) => before.has(c.suite + "/" + c.id) && before.get(c.suite + "/" + c.id) !== c.status);
    fill(diffBox, h("ul", { "data-testid": "diff" }, changed.length ? changed.map((c) => h("li", {}, `${c.suite}/${c.id}: ${before.get(c.suite + "/" + c.id)} → ${c.status}`)) : h("li", { class: "muted" }, t("none"))));
  } }, h("option", { value: "" }, "—"), others.map((o) => h("option", { value: o.id }, o.id)));
  const rep = r.report || { metrics: {}, cases: [] };
  view(h("h1", {}, id, " ", r.passed === undefined ? "" : badge(r.passed ? t("passed") : t("failed"), r.passed ? "ok" : "bad")),
    h("div", { class: "card" }, h("table", {}, h("tbody", {}, Object.entries(rep.metrics || {}).map(([k, v]) => h("tr", {}, h("td", {}, k), h("td", {}, typeof v === "number" ? v.toFixed(4) : String(v))))))),
    h("div", { class: "card row" }, h("label", {}, h("span", {}, t("compare")), cmp)), diffBox,
    h("table", { class: "card" }, h("thead", {}, h("tr", {}, [t("suite"), t("case"), t("agent"), t("status"), ""].map((x) => h("th", {}, x)))),
      h("tbody", {}, (rep.cases || []).map((c) => h("tr", {}, h("td", {}, c.suite), h("td", {}, c.id), h("td", {}, c.agent),
        h("td", {}, badge(c.status, c.status === "pass" ? "ok" : "bad")),
        h("td", { class: "small muted" }, c.reason || (c.checks || []).filter((k) => !k.passed && !k.skipped).map((k) => `${k.name}: ${k.detail || ""}`).join("; ")))))));
}

// ---- audit -------------------------------------------------------------------
async function auditView() {
  const [v, list] = await Promise.all([api("/v1/audit/verify"), api("/v1/audit?limit=50")]);
  const records = list.records || [];
  view(h("h1", {}, t("nav_audit")),
    h("p", { class: "card", "data-testid": "verify" }, `${t("verify")}: `, badge(v.ok ? t("verified") : t("broken"), v.ok ? "ok" : "bad"), ` · ${v.records} records · head ${v.head ? v.head.seq : ""}${v.problem ? " · " + v.problem : ""}`),
    h("table", { class: "card" }, h("thead", {}, h("tr", {}, [t("seq"), t("time"), t("actor"), t("kind"), t("subject")].map((x) => h("th", {}, x)))),
      h("tbody", {}, records.map((r) => h("tr", {}, h("td", {}, r.seq), h("td", {}, fmtTime(r.time)), h("td", {}, r.actor), h("td", {}, h("code", {}, r.kind)), h("td", {}, r.subject))))));
}

// ---- start -------------------------------------------------------------------
$("#lang").addEventListener("click", () => { lang = lang === "zh" ? "en" : "zh"; sessionStorage.setItem(LANG, lang); route(); });
$("#signout").addEventListener("click", signOut);
window.addEventListener("hashchange", route);
route().then(() => startLiveFeed());
window.addEventListener("hashchange", () => startLiveFeed());
