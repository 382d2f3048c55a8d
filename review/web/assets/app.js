// The review app. Every piece of a record reaches the page as a text node
// (el() and textContent); nothing from the data is ever parsed as HTML.
"use strict";

const state = { csrf: "", stages: [], reasons: [], items: [], cur: -1, next: "", last: "", decided: [], mode: "" };

function el(tag, attrs, ...kids) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (k === "class") e.className = v; else e.setAttribute(k, v);
  }
  for (const k of kids) {
    if (k === null || k === undefined) continue;
    e.append(typeof k === "string" || typeof k === "number" ? String(k) : k);
  }
  return e;
}

const $ = (id) => document.getElementById(id);
const reviewer = () => $("reviewer").value.trim();

function say(msg, bad) {
  const s = $("status");
  s.textContent = msg;
  s.className = bad ? "bad" : "";
}

async function api(path, body) {
  const opts = { headers: { "X-Reviewer": reviewer() } };
  if (body !== undefined) {
    opts.method = "POST";
    opts.headers["Content-Type"] = "application/json";
    opts.headers["X-CSRF-Token"] = state.csrf;
    opts.body = JSON.stringify(body);
  }
  const res = await fetch(path, opts);
  const data = await res.json();
  if (!res.ok) throw new Error(data.error || res.statusText);
  return data;
}

async function start() {
  const s = await api("/api/session");
  state.csrf = s.csrf;
  state.reasons = s.reasons;
  state.stages = s.stages || [];
  $("run").textContent = s.run;
  // ?reviewer=NAME in the address names the reviewer of this page (a
  // bookmark per person); otherwise the name last typed here, or the server's.
  $("reviewer").value = new URLSearchParams(location.search).get("reviewer") || localStorage.getItem("reviewer") || s.reviewer;
  $("reviewer").addEventListener("change", () => { localStorage.setItem("reviewer", reviewer()); reload(); });
  const sel = $("stage");
  for (const st of state.stages) sel.append(el("option", { value: st.name }, `${st.name} (${st.counts.records})`));
  if (state.stages.length) sel.value = state.stages[state.stages.length - 1].name;
  sel.addEventListener("change", () => { fillFilters(); reload(); if (location.hash === "#insight") loadInsight(); });
  fillFilters();
  $("filters").addEventListener("change", reload);
  $("more").addEventListener("click", () => loadPage(false));
  $("sample-form").addEventListener("submit", drawSample);
  window.addEventListener("hashchange", route);
  document.addEventListener("keydown", onKey);
  // The key that opened a text box (e, c) must not type itself into it:
  // its keypress and input events come after the box has the focus.
  for (const ev of ["keypress", "beforeinput"]) {
    document.addEventListener(ev, (e) => {
      if (state.swallow && (e.key || e.data) === state.swallow) { e.preventDefault(); state.swallow = ""; }
    }, true);
  }
  document.addEventListener("keyup", () => { state.swallow = ""; });
  await reload(); // before route: a #record= link adds to the list reload empties
  route();
  if (s.read_only) {
    // A run still being written: show what it commits as it commits.
    say("live: the run is still being written; new records appear as they commit, decisions wait until it finishes");
    setInterval(follow, 3000);
  }
}

// follow asks for the records committed after the last one shown.
async function follow() {
  if (state.next || state.mode) return; // the reviewer pages by hand, or types
  try {
    if (await addPage(state.last) && state.cur < 0 && state.items.length) select(0);
  } catch (e) { say(e.message, true); }
}

// addPage lists the page of records after the cursor ("" for the first);
// false when the filters changed while it was asked for.
async function addPage(after) {
  const p = query(), gen = state.gen;
  if (after) p.set("after", after);
  const page = await api("/api/records?" + p);
  if (gen !== state.gen) return false;
  for (const it of page.items) {
    state.items.push(it);
    $("list").append(listEntry(it, state.items.length - 1));
  }
  state.next = page.next;
  if (page.items.length) state.last = page.last;
  $("more").hidden = !page.next;
  return true;
}

function fillFilters() {
  const st = state.stages.find((s) => s.name === $("stage").value);
  const sel = $("filters").elements.rejected_by;
  sel.replaceChildren(el("option", { value: "" }, "any filter"));
  for (const f of (st && st.filters) || []) sel.append(el("option", { value: f }, f));
}

function route() {
  if (location.hash.startsWith("#record=")) {
    openRecord(decodeURIComponent(location.hash.slice(8)));
    return;
  }
  const summary = location.hash === "#summary", insight = location.hash === "#insight";
  $("queue-page").hidden = summary || insight;
  $("summary-page").hidden = !summary;
  $("insight-page").hidden = !insight;
  $("keys").hidden = summary || insight; // the review keys work on the queue only
  if (summary) loadSummary();
  if (insight) loadInsight();
}

// openRecord shows a record named by a link (#record=ID) in the queue,
// added to the end of the list if the queue's filters left it out, so the
// review keys work on it as on any other.
async function openRecord(id) {
  $("queue-page").hidden = false;
  $("summary-page").hidden = true;
  $("insight-page").hidden = true;
  $("keys").hidden = false;
  try {
    const got = await api("/api/record?id=" + encodeURIComponent(id));
    let i = state.items.findIndex((it) => it.record.id === id);
    if (i < 0) {
      state.items.push(got);
      i = state.items.length - 1;
      $("list").append(listEntry(got, i));
    }
    history.replaceState(null, "", "#queue");
    select(i);
  } catch (e) { say(e.message, true); }
}

function query() {
  const p = new URLSearchParams();
  p.set("stage", $("stage").value);
  for (const e of $("filters").elements) {
    if (e.type === "checkbox") { if (e.checked) p.set(e.name, "1"); }
    else if (e.value) p.set(e.name, e.value);
  }
  return p;
}

async function reload() {
  // A reload started while another is waiting for its page (filters changed
  // twice quickly) owns the list: the older one's page is dropped.
  state.gen = (state.gen || 0) + 1;
  state.items = []; state.cur = -1; state.next = ""; state.last = "";
  $("list").replaceChildren();
  await loadPage(true);
}

async function loadPage(first) {
  try {
    if (await addPage(first ? "" : state.next) && first) select(state.items.length ? 0 : -1);
  } catch (e) { say(e.message, true); }
}

function mine(it) { return it.verdicts.find((v) => v.reviewer === reviewer()); }

function listEntry(it, i) {
  const r = it.record;
  const v = mine(it);
  const li = el("li", { "data-i": i, "data-id": r.id, class: "st-" + r.status + (v ? " v-" + v.kind : "") },
    el("span", { class: "mark" }, v ? v.kind[0].toUpperCase() : "·"), " ",
    (r.instruction || r.chosen || (r.messages && r.messages[0] && r.messages[0].content) || r.id).slice(0, 80));
  li.addEventListener("click", () => select(i));
  return li;
}

function select(i) {
  state.mode = "";
  $("reasons").hidden = true;
  if (i < 0 || i >= state.items.length) {
    state.cur = -1;
    $("view").replaceChildren(el("p", { class: "hint" }, "No records match."));
    return;
  }
  state.cur = i;
  for (const li of $("list").children) li.classList.toggle("cur", Number(li.dataset.i) === i);
  const li = $("list").children[i];
  if (li && li.scrollIntoView) li.scrollIntoView({ block: "nearest" });
  showRecord(state.items[i]);
  // Other reviewers may have decided since the page was loaded.
  refresh(i).then(() => { if (state.cur === i && !state.mode) showRecord(state.items[i]); }).catch((e) => say(e.message, true));
}

function field(name, text, extra) {
  if (!text) return null;
  return el("section", { class: "field", "data-field": name }, el("h3", {}, name), extra || el("pre", {}, text));
}

// withMark shows text with the first occurrence of quote highlighted.
function withMark(text, quote) {
  const i = quote ? text.indexOf(quote) : -1;
  if (i < 0) return el("pre", {}, text);
  return el("pre", {}, text.slice(0, i), el("mark", {}, quote), text.slice(i + quote.length));
}

// diff shows old → new word by word (LCS), removed words struck out.
function diff(a, b) {
  const x = a.split(/(\s+)/), y = b.split(/(\s+)/);
  if (x.length * y.length > 4e6) return el("pre", {}, b);
  const n = x.length, m = y.length;
  const t = Array.from({ length: n + 1 }, () => new Int32Array(m + 1));
  for (let i = n - 1; i >= 0; i--) for (let j = m - 1; j >= 0; j--)
    t[i][j] = x[i] === y[j] ? t[i + 1][j + 1] + 1 : Math.max(t[i + 1][j], t[i][j + 1]);
  const out = el("pre", { class: "diff" });
  let i = 0, j = 0;
  while (i < n || j < m) {
    if (i < n && j < m && x[i] === y[j]) { out.append(x[i]); i++; j++; }
    else if (j < m && (i >= n || t[i][j + 1] >= t[i + 1][j])) { out.append(el("ins", {}, y[j])); j++; }
    else { out.append(el("del", {}, x[i])); i++; }
  }
  return out;
}

function kv(obj) {
  const t = el("table", { class: "kv" });
  for (const [k, v] of Object.entries(obj || {})) t.append(el("tr", {}, el("th", {}, k), el("td", {}, typeof v === "string" ? v : JSON.stringify(v, null, 1))));
  return t;
}

function showRecord(it) {
  const r = it.record;
  const v = mine(it);
  const meta = r.meta || {};
  const view = $("view");
  const edit = it.verdicts.filter((x) => x.kind === "edit").pop();
  const text = (name) => {
    const orig = r[name];
    if (edit && edit.edits && edit.edits[name] !== undefined) {
      return field(name, orig || " ", el("div", {}, diff(orig || "", edit.edits[name]), el("p", { class: "hint" }, `edited by ${edit.reviewer}`)));
    }
    if (name === "input" && typeof meta.evidence === "string") return field(name, orig, orig ? withMark(orig, meta.evidence) : null);
    return field(name, orig);
  };
  const head = el("div", { class: "head" },
    el("code", {}, r.id), " ", el("span", { class: "badge st-" + r.status }, r.status),
    v ? el("span", { class: "badge v-" + v.kind, id: "my-verdict" }, `you: ${v.kind}${v.reason ? " (" + v.reason + ")" : ""}`) : el("span", { class: "badge", id: "my-verdict" }, "you: undecided"));
  const others = it.verdicts.filter((x) => x.reviewer !== reviewer()).map((x) => `${x.reviewer}: ${x.kind}${x.reason ? " (" + x.reason + ")" : ""}`);
  const parts = [head, others.length ? el("p", { class: "others" }, "others — " + others.join("; ")) : null,
    text("instruction"), text("input"), text("output")];
  if (r.messages) {
    const conv = el("div", { class: "conv" });
    for (const t of r.messages) conv.append(el("div", { class: "turn " + t.role }, el("b", {}, t.role), el("pre", {}, t.content || ""),
      t.tool_calls ? el("pre", { class: "tool" }, JSON.stringify(t.tool_calls, null, 1)) : null));
    parts.push(field("conversation", "x", conv));
  }
  if (r.chosen && r.rejected) {
    // Blind: the two sides as A and B, in an order fixed by the id, so
    // the pipeline's choice does not lean on the reviewer's.
    const sides = pairSides(r);
    const pref = (it.prefs || []).find((x) => x.reviewer === reviewer());
    const label = (side) => side === "tie" ? "a tie" : (sides[0] === side ? "A" : "B");
    parts.push(el("p", { class: "hint", id: "my-pref" }, pref ? `you prefer ${label(pref.reason)}` : "compare: 1 prefers A, 2 prefers B, t a tie"));
    parts.push(el("div", { class: "pair" }, ...sides.map((f, i) => {
      const x = text(f);
      x.querySelector("h3").textContent = i ? "B" : "A";
      return x;
    })));
  } else if (r.chosen || r.rejected) parts.push(el("div", { class: "pair" }, text("chosen"), text("rejected")));
  state.candPair = null;
  const pairs = r.chosen && r.rejected ? [] : candidatePairs(r);
  if (pairs.length) {
    // Blind as well: two candidates as A and B, the first pair this
    // reviewer has not compared (or, all compared, the last).
    const mine = (it.prefs || []).filter((x) => x.reviewer === reviewer()).map((x) => parsePref(x.reason)).filter(Boolean);
    const done = (p) => mine.find((m) => (m.a === p[0] && m.b === p[1]) || (m.a === p[1] && m.b === p[0]));
    const k = pairs.findIndex((p) => !done(p));
    const pair = blindOrder(r.id, pairs[k < 0 ? pairs.length - 1 : k]);
    const prev = done(pair);
    state.candPair = pair;
    const said = prev ? (prev.tie ? "a tie" : prev.a === pair[0] ? "A" : "B") : "";
    parts.push(el("p", { class: "hint", id: "my-pref" }, `candidates ${Math.min(...pair)} and ${Math.max(...pair)}, pair ${k < 0 ? pairs.length : k + 1} of ${pairs.length}` +
      (k < 0 ? ` (all compared; you prefer ${said})` : "") + ": 1 prefers A, 2 prefers B, t a tie"));
    parts.push(el("div", { class: "pair", id: "cand-pair" }, ...pair.map((c, i) =>
      el("section", { class: "field", "data-candidate": c }, el("h3", {}, i ? "B" : "A"), el("pre", {}, r.candidates[c].text)))));
  }
  if (typeof meta.evidence === "string" && !r.input) parts.push(field("evidence", meta.evidence));
  if (r.reasoning) parts.push(field("reasoning", r.reasoning));
  if (r.scores) parts.push(field("scores", "x", kv(r.scores)));
  if (r.decisions) {
    const t = el("table", { class: "kv" });
    for (const d of r.decisions) t.append(el("tr", { class: d.passed ? "pass" : "fail" }, el("th", {}, d.filter), el("td", {}, d.passed ? "passed" : "failed"), el("td", {}, d.reason || ""), el("td", {}, d.value ? String(d.value) : "")));
    parts.push(field("decisions", "x", t));
  }
  if (r.error) parts.push(field("error", r.error));
  if (r.candidates) {
    const table = kv(Object.fromEntries(r.candidates.map((c, i) => [String(i), c])));
    // While two candidates are compared blind, their scores stay folded:
    // they would tell which one the judge preferred.
    parts.push(field("candidates", "x", pairs.length ? el("details", {}, el("summary", {}, "every candidate with its scores"), table) : table));
  }
  const undone = new Set((it.log || []).filter((x) => x.kind === "undo").map((x) => x.undoes));
  const notes = (it.log || []).filter((x) => x.kind === "comment" && !undone.has(x.id));
  if (notes.length) {
    const ul = el("ul", { class: "comments" });
    for (const c of notes) ul.append(el("li", {}, el("b", {}, c.reviewer), ` (${c.at.slice(0, 16).replace("T", " ")}): `, c.comment));
    parts.push(field("comments", "x", ul));
  }
  const rest = Object.fromEntries(Object.entries(meta).filter(([k]) => k !== "evidence"));
  if (Object.keys(rest).length) parts.push(field("meta (judgments, verifiers)", "x", kv(rest)));
  parts.push(field("provenance", "x", kv(r.provenance)));
  const parents = r.provenance && r.provenance.parent_ids;
  let chain = null;
  if (parents && parents.length) {
    chain = el("ol", { class: "lineage" });
    parts.push(field("lineage (parents, nearest first)", "x", chain));
  }
  view.replaceChildren(...parts.filter(Boolean));
  if (chain) lineage(parents[0], chain, r.id);
}

// lineage lists the record's ancestors (an Evol chain, the input a judge
// saw), following each first parent up to eight generations.
async function lineage(id, list, shownID) {
  for (let depth = 0; id && depth < 8; depth++) {
    let got;
    try { got = await api("/api/record?id=" + encodeURIComponent(id)); } catch (e) { list.append(el("li", {}, `${id}: ${e.message}`)); return; }
    const cur = state.items[state.cur];
    if (!cur || cur.record.id !== shownID) return; // the reviewer moved on
    const p = got.record;
    list.append(el("li", {}, el("code", {}, p.id), ` (${p.stage}, ${p.status}) `, el("pre", {}, p.instruction || p.output || "")));
    id = p.provenance && p.provenance.parent_ids && p.provenance.parent_ids[0];
  }
}

// candidatePairs lists the pairs of a record's candidates to compare: the
// best scored against each other candidate with a text of its own, the
// closest scores first, as those are where a judge is least sure.
function candidatePairs(r) {
  const c = r.candidates || [];
  if (c.length < 2) return [];
  const score = (i) => { const s = c[i].scores || {}; return s.judge ?? s.verifier ?? -Infinity; };
  const order = c.map((_, i) => i).sort((a, b) => score(b) - score(a) || a - b);
  const seen = new Set([c[order[0]].text]), out = [];
  for (const i of order.slice(1)) {
    if (seen.has(c[i].text)) continue;
    seen.add(c[i].text);
    out.push([order[0], i]);
  }
  return out;
}

// parsePref reads a preference between candidates ("2>5", "2=5").
function parsePref(reason) {
  const m = /^(\d+)([>=])(\d+)$/.exec(reason || "");
  return m ? { a: Number(m[1]), b: Number(m[3]), tie: m[2] === "=" } : null;
}

// blindOrder orders two candidates for showing as A and B by a hash of the
// record and the pair, so the judge's ranking does not lean on the reviewer.
function blindOrder(id, pair) {
  let h = 0;
  for (const c of id + ":" + pair.join(",")) h = (h * 31 + c.charCodeAt(0)) >>> 0;
  return h % 2 ? [pair[1], pair[0]] : [pair[0], pair[1]];
}

// pairSides orders a pair's fields for showing as A and B.
function pairSides(r) {
  let h = 0;
  for (const c of r.id) h = (h * 31 + c.charCodeAt(0)) >>> 0;
  return h % 2 ? ["rejected", "chosen"] : ["chosen", "rejected"];
}

async function decide(body) {
  const it = state.items[state.cur];
  if (!it) return;
  body.id = it.record.id;
  try {
    await api("/api/decide", body);
    state.decided.push(state.cur);
    await refresh(state.cur);
    say(`${body.kind} ${it.record.id}`);
    select(body.kind === "comment" ? state.cur : Math.min(state.cur + 1, state.items.length - 1));
  } catch (e) { say(e.message, true); }
}

// refresh reloads item i's verdicts from the server.
async function refresh(i) {
  const it = state.items[i];
  const got = await api("/api/record?id=" + encodeURIComponent(it.record.id));
  it.verdicts = got.verdicts;
  it.prefs = got.prefs;
  it.log = got.log;
  $("list").children[i].replaceWith(listEntry(it, i));
  $("list").children[i].classList.toggle("cur", i === state.cur);
}

async function undo() {
  const i = state.decided.length ? state.decided.pop() : state.cur;
  const it = state.items[i];
  if (!it) return;
  try {
    await api("/api/undo", { id: it.record.id });
    await refresh(i);
    select(i);
    say(`undid on ${it.record.id}`);
  } catch (e) { say(e.message, true); }
}

function askReason() {
  state.mode = "reason";
  const box = $("reasons");
  box.replaceChildren(el("b", {}, "reject because: "));
  state.reasons.forEach((r, i) => {
    const b = el("button", { "data-reason": r }, `${i + 1} ${r}`);
    b.addEventListener("click", () => pickReason(i));
    box.append(b);
  });
  box.hidden = false;
}

function pickReason(i) {
  $("reasons").hidden = true;
  state.mode = "";
  decide({ kind: "reject", reason: state.reasons[i] });
}

function startEdit() {
  const it = state.items[state.cur];
  if (!it) return;
  state.mode = "edit";
  const r = it.record;
  const prev = it.verdicts.filter((x) => x.kind === "edit").pop();
  const form = el("form", { id: "edit-form" }, el("p", { class: "hint" }, "Ctrl+Enter saves, Esc cancels. The original is kept."));
  for (const f of ["instruction", "input", "output", "chosen", "rejected"]) {
    if (!r[f]) continue;
    const ta = el("textarea", { name: f, rows: 6 });
    ta.value = prev && prev.edits && prev.edits[f] !== undefined ? prev.edits[f] : r[f];
    form.append(el("label", {}, f, ta));
  }
  form.append(el("button", { type: "submit" }, "save"));
  form.addEventListener("submit", (e) => { e.preventDefault(); saveEdit(); });
  $("view").replaceChildren(form);
  const first = form.querySelector("textarea");
  if (first) first.focus();
}

function saveEdit() {
  const it = state.items[state.cur];
  const edits = {};
  for (const ta of $("edit-form").querySelectorAll("textarea")) if (ta.value !== it.record[ta.name]) edits[ta.name] = ta.value;
  state.mode = "";
  if (!Object.keys(edits).length) { select(state.cur); say("nothing changed"); return; }
  decide({ kind: "edit", edits });
}

function startComment() {
  if (!state.items[state.cur]) return;
  state.mode = "comment";
  const ta = el("textarea", { id: "comment", rows: 3, placeholder: "comment; Ctrl+Enter saves" });
  $("view").prepend(ta);
  ta.focus();
}

function onKey(e) {
  if (location.hash === "#summary" || location.hash === "#insight") return;
  if (e.key === "Escape") { select(state.cur); return; }
  if (state.mode === "edit") { if (e.key === "Enter" && e.ctrlKey) { e.preventDefault(); saveEdit(); } return; }
  if (state.mode === "comment") {
    if (e.key === "Enter" && e.ctrlKey) { e.preventDefault(); state.mode = ""; decide({ kind: "comment", comment: $("comment").value }); }
    return;
  }
  if (state.mode === "reason") {
    const n = Number(e.key);
    if (n >= 1 && n <= state.reasons.length) pickReason(n - 1);
    return;
  }
  const t = e.target;
  if (t && (t.tagName === "INPUT" || t.tagName === "TEXTAREA" || t.tagName === "SELECT")) return;
  switch (e.key) {
    case "j": select(Math.min(state.cur + 1, state.items.length - 1)); if (state.cur === state.items.length - 1 && state.next) loadPage(false); break;
    case "k": select(Math.max(state.cur - 1, 0)); break;
    case "a": decide({ kind: "accept" }); break;
    case "r": askReason(); break;
    case "e": e.preventDefault(); state.swallow = "e"; startEdit(); break;
    case "c": e.preventDefault(); state.swallow = "c"; startComment(); break;
    case "u": undo(); break;
    case "1": case "2": case "t": {
      const it = state.items[state.cur];
      if (it && state.candPair) {
        const [a, b] = state.candPair;
        decide({ kind: "prefer", reason: e.key === "t" ? `${a}=${b}` : e.key === "1" ? `${a}>${b}` : `${b}>${a}` });
        break;
      }
      if (!it || !it.record.chosen || !it.record.rejected) return;
      const side = e.key === "t" ? "tie" : pairSides(it.record)[Number(e.key) - 1];
      decide({ kind: "prefer", reason: side });
      break;
    }
    default: return;
  }
}

async function loadSummary() {
  try {
    const s = await api("/api/summary?stage=" + encodeURIComponent($("stage").value));
    const p = $("progress");
    p.replaceChildren(el("tr", {}, el("th", {}, "records reviewed"), el("td", {}, String(s.progress.reviewed))),
      el("tr", {}, el("th", {}, "in the sample"), el("td", {}, String(s.progress.sampled))));
    for (const [who, n] of Object.entries(s.progress.by_reviewer)) p.append(el("tr", {}, el("th", {}, who), el("td", {}, String(n))));
    if (s.pairs) p.append(el("tr", {}, el("th", {}, "pairs"), el("td", {}, s.pairs)));
    $("estimates").replaceChildren(...(s.estimate_texts.length ? s.estimate_texts.map((t) => el("li", {}, t)) : [el("li", {}, "No sample drawn yet: draw one below, then review it (tick 'sample only').")]));
    const a = $("agreements");
    a.replaceChildren(el("tr", {}, el("th", {}, "rater"), el("th", {}, "rater"), el("th", {}, "records"), el("th", {}, "agree"), el("th", {}, "kappa")));
    for (const g of s.agreements) a.append(el("tr", {}, el("td", {}, g.A), el("td", {}, g.B), el("td", {}, String(g.N)), el("td", {}, (100 * g.Observed).toFixed(0) + "%"), el("td", {}, g.kappa === null ? "n/a" : g.kappa.toFixed(2))));
  } catch (e) { say(e.message, true); }
}

async function drawSample(e) {
  e.preventDefault();
  const f = e.target.elements;
  try {
    const p = await api("/api/sample", { stage: $("stage").value, kept: Number(f.kept.value), per_reason: Number(f.per_reason.value), seed: Number(f.seed.value) });
    say(`drew ${p.strata.map((s) => s.drawn + " " + s.name).join(", ")}`);
    loadSummary();
  } catch (err) { say(err.message, true); }
}

// svg makes an SVG element; like el(), data only ever becomes text nodes.
function svg(tag, attrs, ...kids) {
  const e = document.createElementNS("http://www.w3.org/2000/svg", tag);
  for (const [k, v] of Object.entries(attrs || {})) e.setAttribute(k, String(v));
  for (const k of kids) e.append(k);
  return e;
}

const fmt = (x) => Number.isInteger(x) ? String(x) : x.toFixed(Math.abs(x) < 1 ? 3 : 2).replace(/\.?0+$/, "");
const clip = (s, n) => s.length > n ? s.slice(0, n - 1) + "…" : s;

// barChart draws one bar per label as inline SVG and puts the same numbers
// in a table below it, for reading exact values and for screen readers.
function barChart(title, head, labels, values, note) {
  const W = 460, H = 170, L = 40, B = 38, T = 8, n = Math.max(labels.length, 1);
  const top = Math.max(1, ...values), bw = (W - L - 4) / n;
  const g = svg("svg", { width: W, height: H, viewBox: `0 0 ${W} ${H}`, role: "img", "aria-label": title });
  g.append(svg("line", { class: "axis", x1: L, y1: H - B, x2: W, y2: H - B }), svg("line", { class: "axis", x1: L, y1: T, x2: L, y2: H - B }),
    svg("text", { x: L - 4, y: T + 8, "text-anchor": "end" }, String(top)), svg("text", { x: L - 4, y: H - B, "text-anchor": "end" }, "0"));
  const every = Math.ceil(n / 10); // at most ten labels under the axis
  labels.forEach((lab, i) => {
    const h = values[i] ? Math.max(1, (H - B - T) * values[i] / top) : 0, x = L + 2 + i * bw;
    g.append(svg("rect", { class: "bar", x: x + 1, y: H - B - h, width: Math.max(bw - 2, 1), height: h }, svg("title", {}, `${lab}: ${values[i]}`)));
    if (i % every === 0) g.append(svg("text", { x: x + bw / 2, y: H - B + 12, "text-anchor": "middle" }, clip(lab, Math.max(4, Math.floor(bw * every / 6)))));
  });
  const t = el("table", {}, el("tr", {}, el("th", {}, head), el("th", {}, "records")));
  labels.forEach((lab, i) => t.append(el("tr", {}, el("td", {}, lab), el("td", {}, String(values[i])))));
  return el("figure", { class: "chart", "data-chart": title }, el("h3", {}, title), note ? el("p", { class: "hint" }, note) : null, g,
    el("details", {}, el("summary", {}, "numbers"), t));
}

function histogram(title, h) {
  const labels = h.bins.map((b) => !h.integers ? `${fmt(b.lo)}–${fmt(b.hi)}` : b.hi - b.lo === 1 ? String(b.lo) : `${b.lo}–${b.hi - 1}`);
  const note = h.n ? `${h.n} records, mean ${fmt(h.mean)}, from ${fmt(h.min)} to ${fmt(h.max)}` : "no values";
  return barChart(title, h.unit, labels, h.bins.map((b) => b.n), note);
}

function counted(title, head, cs) {
  return barChart(title, head, cs.map((c) => c.name), cs.map((c) => c.n), cs.length ? null : "none");
}

// arc is the SVG path of the ring sector from angle a0 to a1 (radians,
// clockwise from twelve o'clock) between radii r0 and r1, centred on c.
function arc(c, r0, r1, a0, a1) {
  // An arc whose ends meet draws nothing: a sector over half the ring is
  // drawn as two halves.
  if (a1 - a0 > Math.PI) return arc(c, r0, r1, a0, (a0 + a1) / 2) + " " + arc(c, r0, r1, (a0 + a1) / 2, a1);
  const p = (r, a) => `${(c + r * Math.sin(a)).toFixed(2)} ${(c - r * Math.cos(a)).toFixed(2)}`;
  return `M ${p(r0, a0)} L ${p(r1, a0)} A ${r1} ${r1} 0 0 1 ${p(r1, a1)} L ${p(r0, a1)} A ${r0} ${r0} 0 0 0 ${p(r0, a0)} Z`;
}

// sunburst draws the Self-Instruct paper's figure: root verbs in the inner
// ring, each verb's most common direct objects in the outer ring beside
// it, every sector as wide as its share of the parsed instructions. The
// rest of a verb's objects (and "no object") is left as a gap.
function sunburst(d) {
  const S = 420, c = S / 2, r0 = 46, r1 = 122, r2 = 200;
  const g = svg("svg", { width: S, height: S, viewBox: `0 0 ${S} ${S}`, role: "img", "aria-label": `instruction verbs (${d.lang})` });
  const total = d.verbs.reduce((n, v) => n + v.n, 0);
  const label = (txt, r, a0, a1, cls) => {
    if (a1 - a0 < 0.09) return; // too thin to write in
    const a = (a0 + a1) / 2, deg = a * 180 / Math.PI - 90, flip = a > Math.PI;
    g.append(svg("text", { class: cls, x: (c + r * Math.sin(a)).toFixed(1), y: (c - r * Math.cos(a)).toFixed(1), "text-anchor": "middle",
      "dominant-baseline": "middle", transform: `rotate(${flip ? deg + 180 : deg} ${(c + r * Math.sin(a)).toFixed(1)} ${(c - r * Math.cos(a)).toFixed(1)})` }, clip(txt, 12)));
  };
  let a = 0;
  d.verbs.forEach((v, i) => {
    const w = 2 * Math.PI * v.n / total, hue = (i * 137) % 360;
    g.append(svg("path", { class: "verb", d: arc(c, r0, r1, a, a + w), fill: `hsl(${hue} 55% 62%)` }, svg("title", {}, `${v.verb}: ${v.n}`)));
    label(v.verb, (r0 + r1) / 2, a, a + w, "verb");
    let b = a;
    for (const o of v.objects) {
      const ow = 2 * Math.PI * o.n / total;
      if (o.name) {
        g.append(svg("path", { class: "object", d: arc(c, r1 + 2, r2, b, b + ow), fill: `hsl(${hue} 55% 80%)` }, svg("title", {}, `${v.verb} ${o.name}: ${o.n}`)));
        label(o.name, (r1 + r2) / 2 + 2, b, b + ow, "object");
      }
      b += ow;
    }
    a += w;
  });
  return g;
}

// diversity is the Self-Instruct chart of one language's root verbs and
// their direct objects, with the numbers as a table.
function diversity(d, skipped) {
  const lang = { en: "English", ja: "Japanese" }[d.lang] || d.lang;
  const f = el("figure", { class: "chart", "data-chart": "instruction verbs " + d.lang }, el("h3", {}, `instruction root verbs and their objects: ${lang}`),
    el("p", { class: "hint" }, `${d.parsed} ${lang} instructions with a root verb (${d.parser}), ${d.no_verb} without; ` +
      `${skipped} in other languages not parsed. Inner ring: the ${d.verbs.length} most common verbs; outer: each verb's most common direct objects.`),
    d.verbs.length ? sunburst(d) : null);
  const t = el("table", { class: "objects", "data-lang": d.lang }, el("tr", {}, el("th", {}, "verb"), el("th", {}, "records"), el("th", {}, "direct objects (records)")));
  for (const v of d.verbs) t.append(el("tr", {}, el("td", {}, v.verb), el("td", {}, String(v.n)), el("td", {}, v.objects.map((o) => `${o.name || "(none)"} ${o.n}`).join(", "))));
  f.append(t);
  return f;
}

// duplicates lists the near-duplicate clusters of the kept records, largest
// first, each member a link that opens the record in the queue.
function duplicates(c) {
  const f = el("figure", { class: "chart", "data-chart": "near-duplicate clusters" }, el("h3", {}, "near-duplicate clusters of kept records"),
    el("p", { class: "hint" }, `${c.duplicated} of ${c.compared} kept records are in ${c.groups} groups whose prompts (instruction and input) ` +
      `are near duplicates: MinHash of word 3-grams, estimated Jaccard ≥ ${c.threshold}, chains joined. The largest ${c.clusters.length}:`));
  if (!c.clusters.length) return f;
  const t = el("table", { class: "clusters" }, el("tr", {}, el("th", {}, "records"), el("th", {}, "first prompt"), el("th", {}, "members (similarity to the first)")));
  for (const cl of c.clusters) {
    const links = el("td", { class: "members" });
    cl.members.forEach((m, i) => {
      if (i) links.append(", ");
      links.append(el("a", { href: "#record=" + encodeURIComponent(m.id) }, m.id), ` ${m.jaccard.toFixed(2)}`);
    });
    if (cl.size > cl.members.length) links.append(`, and ${cl.size - cl.members.length} more`);
    t.append(el("tr", {}, el("td", {}, String(cl.size)), el("td", { class: "prompt" }, clip(cl.prompt, 160)), links));
  }
  f.append(t);
  return f;
}

async function loadInsight() {
  const stage = $("stage").value;
  try {
    const r = await api("/api/insight?stage=" + encodeURIComponent(stage));
    if (stage !== $("stage").value) return; // another stage was picked meanwhile
    $("insight-about").textContent = `Stage ${r.stage}: computed over ${r.sampled} of its ${r.population} records` +
      (r.sampled < r.population ? ` (a reproducible random sample of at most ${r.limit})` : "") +
      ". Lengths are in the length filter's words: whitespace-separated words, Japanese morphemes (kagome), Chinese characters.";
    const d = r.distinct;
    const dt = el("table", {}, el("tr", {}, el("th", {}, "outputs"), el("td", {}, String(d.outputs))),
      el("tr", {}, el("th", {}, "tokens"), el("td", {}, String(d.tokens))),
      el("tr", {}, el("th", {}, "distinct-1"), el("td", {}, d.distinct_1.toFixed(3))),
      el("tr", {}, el("th", {}, "distinct-2"), el("td", {}, d.distinct_2.toFixed(3))));
    $("insight").replaceChildren(
      ...r.lengths.map((h) => histogram(`${h.name} length (words)`, h)),
      ...r.scores.map((h) => histogram(`score: ${h.name}`, h)),
      counted("status", "status", r.status),
      counted("rejected by (first failing filter)", "filter", r.rejections),
      counted("language", "language", r.languages),
      el("figure", { class: "chart", "data-chart": "distinct-n" }, el("h3", {}, "distinct-n of outputs"),
        el("p", { class: "hint" }, "distinct n-grams over all n-grams, outputs tokenized per language"), dt),
      ...r.diversity.map((d) => diversity(d, r.diversity_skipped)),
      duplicates(r.duplicates));
  } catch (e) { say(e.message, true); }
}

start().catch((e) => say(e.message, true));
