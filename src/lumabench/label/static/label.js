// lumabench labelling page: a queue of the annotate stage's items, most doubtful first, decided with
// the keyboard. Every decision is sent to the server, which writes it to the overrides file before
// answering; the page keeps only what it needs to show and to undo (in this tab's session storage).
"use strict";

const FILTERS = ["modality", "label", "verdict", "corpus", "voice", "decision"];
const VERDICT_TEXT = {
  rejected: "rejected by a filter", doubtful: "doubtful", passed: "passed the filters", unchecked: "not checked",
};

const state = {
  items: [],          // summaries in queue order (most doubtful first)
  order: new Map(),   // key -> position in `items`
  decisions: {},      // key -> row of the overrides file
  queue: [],          // keys under the current filters
  current: null,      // key shown
  busy: false,
  token: 0,           // the latest item request (older answers are ignored)
};

const $ = (id) => document.getElementById(id);

function undoStack() {
  try { return JSON.parse(sessionStorage.getItem("lumabench-undo") || "[]"); } catch (e) { return []; }
}
function saveUndo(h) { sessionStorage.setItem("lumabench-undo", JSON.stringify(h.slice(-200))); }

async function api(path, body) {
  const opts = body === undefined ? {} : {
    method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body),
  };
  const resp = await fetch(path, opts);
  const data = await resp.json().catch(() => ({}));
  if (!resp.ok) throw new Error(data.error || `${resp.status} ${resp.statusText}`);
  return data;
}

function status(text, error) {
  const el = $("status");
  el.textContent = text;
  el.className = error ? "error" : "";
}

function filters() {
  const out = {};
  for (const f of FILTERS) out[f] = $(`f-${f}`).value;
  return out;
}

function matches(item, f) {
  if (f.modality && item.modality !== f.modality) return false;
  if (f.label && item.label !== f.label) return false;
  if (f.verdict && item.verdict !== f.verdict) return false;
  if (f.corpus && item.corpus !== f.corpus) return false;
  if (f.voice && item.voice !== f.voice) return false;
  const d = state.decisions[item.key];
  if (f.decision === "undecided" && d) return false;
  if ((f.decision === "accept" || f.decision === "reject") && (!d || d.decision !== f.decision)) return false;
  return true;
}

function rebuildQueue() {
  const f = filters();
  state.queue = state.items.filter((i) => matches(i, f)).map((i) => i.key);
  const hash = new URLSearchParams();
  for (const [k, v] of Object.entries(f)) if (v !== (k === "decision" ? "undecided" : "")) hash.set(k, v);
  if (state.current) hash.set("item", state.current);
  setHash(hash);
}

function setHash(hash) {
  const text = hash.toString();
  window.history.replaceState(null, "", text ? `#${text}` : window.location.pathname);
}

// the first queued item after (step 1) or before (step -1) the current one in queue order
function neighbour(step) {
  if (!state.queue.length) return null;
  if (state.current === null || !state.order.has(state.current)) return state.queue[0];
  const here = state.order.get(state.current);
  if (step > 0) return state.queue.find((k) => state.order.get(k) > here) || null;
  for (let i = state.queue.length - 1; i >= 0; i--) if (state.order.get(state.queue[i]) < here) return state.queue[i];
  return null;
}

function progress() {
  const decided = Object.values(state.decisions);
  const rejected = decided.filter((d) => d.decision === "reject").length;
  const at = state.queue.indexOf(state.current);
  const where = at >= 0 ? `${at + 1} of ${state.queue.length} queued` : `${state.queue.length} queued`;
  $("progress").textContent = `${where} · ${decided.length} decided (${rejected} rejected) of ${state.items.length}`;
}

function show(key) {
  state.current = key;
  rebuildQueue();
  progress();
  if (key === null) {
    $("card").hidden = true;
    $("empty").hidden = false;
    return;
  }
  $("empty").hidden = true;
  const [modality, ...rest] = key.split(":");
  const token = ++state.token;
  const q = new URLSearchParams({ modality, item_id: rest.join(":") });
  api(`/api/item?${q}`).then((item) => { if (token === state.token) render(item); })
    .catch((e) => status(`could not load ${key}: ${e.message}`, true));
}

function render(item) {
  $("card").hidden = false;
  $("class-name").textContent = item.label;
  $("modality").textContent = item.modality;
  const v = $("verdict");
  v.textContent = VERDICT_TEXT[item.verdict] || item.verdict;
  v.className = `badge v-${item.verdict}`;
  $("reason").textContent = item.reason || "";
  const meta = [item.item_id, item.corpus];
  if (item.voice) meta.push(`voice ${item.voice}`);
  if (item.heard) meta.push(`heard “${item.heard}”`);
  if (item.duration_s !== undefined) meta.push(`${item.duration_s.toFixed(2)} s`);
  if (item.align_score !== undefined && item.align_score !== null) meta.push(`alignment ${item.align_score.toFixed(3)}`);
  $("meta").textContent = meta.join(" · ");
  showHuman(item.key, item.decision || state.decisions[item.key]);
  $("note").value = "";
  const media = $("media");
  media.replaceChildren();
  if (item.modality === "image") {
    const img = document.createElement("img");
    img.className = "picture";
    img.alt = `${item.label} image ${item.item_id}`;
    img.src = item.media;
    media.append(img);
  } else if (item.modality === "audio") {
    renderAudio(media, item);
  } else {
    const p = document.createElement("p");
    p.className = "prompt";
    p.textContent = `prompt: ${item.prompt}`;
    const t = document.createElement("p");
    t.className = "text";
    t.id = "text";
    for (const seg of item.segments) {
      if (!seg.label) { t.append(seg.text); continue; }
      const s = document.createElement("span");
      s.className = seg.own ? "own" : "other";
      s.title = seg.own ? "its own class" : `class ${seg.label}`;
      s.textContent = seg.text;
      t.append(s);
    }
    media.append(t, p);
  }
}

function renderAudio(media, item) {
  const audio = document.createElement("audio");
  audio.id = "player";
  audio.controls = true;
  audio.preload = "auto";
  audio.src = item.media;
  const wave = document.createElement("div");
  wave.className = "wave";
  const img = document.createElement("img");
  img.alt = `waveform of ${item.item_id}`;
  img.src = item.waveform;
  const head = document.createElement("div");
  head.className = "playhead";
  wave.append(img, head);
  const move = () => {
    if (audio.duration > 0) head.style.left = `${(100 * audio.currentTime) / audio.duration}%`;
    if (!audio.paused) requestAnimationFrame(move);
  };
  audio.addEventListener("play", move);
  audio.addEventListener("seeked", move);
  audio.addEventListener("ended", move);
  wave.addEventListener("click", (ev) => {
    const box = wave.getBoundingClientRect();
    if (audio.duration > 0) audio.currentTime = (audio.duration * (ev.clientX - box.left)) / box.width;
    audio.play().catch(() => {});
  });
  media.append(audio, wave);
  if ($("autoplay").checked) audio.play().catch(() => {});
}

function showHuman(key, row) {
  const h = $("human");
  if (row) {
    h.textContent = `${row.decision === "accept" ? "accepted" : "rejected"} by ${row.annotator}`;
    h.className = `badge h-${row.decision}`;
    h.title = `${row.decided_at}${row.note ? ` · ${row.note}` : ""}`;
  } else {
    h.textContent = "";
    h.className = "badge";
    h.title = "";
  }
}

function annotator() {
  return $("annotator").value.trim() || "annotator";
}

async function decide(decision) {
  if (state.busy || state.current === null) return;
  state.busy = true;
  const key = state.current;
  const [modality, ...rest] = key.split(":");
  const next = neighbour(1);
  try {
    const res = await api("/api/decide", {
      modality, item_id: rest.join(":"), decision, annotator: annotator(), note: $("note").value,
    });
    state.decisions[key] = res.written;
    const h = undoStack();
    h.push({ key, written: res.written, previous: res.previous });
    saveUndo(h);
    status(`${decision === "accept" ? "accepted" : "rejected"} ${rest.join(":")} (saved)`);
    show(next);
  } catch (e) {
    status(`not saved: ${e.message}`, true);
  } finally {
    state.busy = false;
  }
}

async function undo() {
  if (state.busy) return;
  const h = undoStack();
  const last = h.pop();
  if (!last) { status("nothing to undo"); return; }
  state.busy = true;
  try {
    const res = await api("/api/undo", { written: last.written, previous: last.previous });
    if (res.decision) state.decisions[last.key] = res.decision; else delete state.decisions[last.key];
    saveUndo(h);
    status(`undone: ${last.written.decision} of ${last.written.item_id}`);
    show(last.key);
  } catch (e) {
    saveUndo(h);
    status(`cannot undo: ${e.message}`, true);
  } finally {
    state.busy = false;
  }
}

function togglePlay() {
  const audio = $("player");
  if (!audio) return;
  if (audio.paused) audio.play().catch((e) => status(`cannot play: ${e.message}`, true)); else audio.pause();
}

function onKey(ev) {
  const tag = ev.target.tagName;
  if (tag === "INPUT" || tag === "SELECT" || tag === "TEXTAREA") {
    if (ev.key === "Escape") ev.target.blur();
    return;
  }
  if (ev.metaKey || ev.altKey || (ev.ctrlKey && ev.key !== "z")) return;
  const actions = {
    a: () => decide("accept"), r: () => decide("reject"), s: () => show(neighbour(1)),
    ArrowRight: () => show(neighbour(1)), ArrowLeft: () => show(neighbour(-1) || state.current),
    u: undo, z: undo, " ": togglePlay, n: () => $("note").focus(),
  };
  const act = actions[ev.key];
  if (act) {
    ev.preventDefault();
    act();
  }
}

// the queue under new filters, from its first (most doubtful) item
function restart() {
  state.current = null;
  rebuildQueue();
  show(neighbour(1));
}

function fill(select, values) {
  for (const v of [...new Set(values)].filter((x) => x).sort()) {
    const o = document.createElement("option");
    o.value = v;
    o.textContent = v;
    select.append(o);
  }
}

async function showStats() {
  const body = $("stats-body");
  try {
    const s = await api("/api/stats");
    const table = (head, rows) => {
      const t = document.createElement("table");
      const tr = document.createElement("tr");
      for (const h of head) { const th = document.createElement("th"); th.textContent = h; tr.append(th); }
      t.append(tr);
      for (const r of rows) {
        const row = document.createElement("tr");
        r.forEach((cell, i) => {
          const td = document.createElement("td");
          td.textContent = cell;
          if (i > 0) td.className = "n";
          row.append(td);
        });
        t.append(row);
      }
      return t;
    };
    const pct = (r) => `${(100 * r.rate).toFixed(1)}%`;
    body.replaceChildren(
      table(["filter", "rejected", "rate"], s.by_filter.map((r) => [`${r.modality} ${r.filter}`, `${r.rejected}/${r.total}`, pct(r)])),
      table(["voice", "rejected", "rate"], s.by_voice.map((r) => [r.voice, `${r.rejected}/${r.total}`, pct(r)])),
    );
  } catch (e) {
    body.textContent = e.message;
  }
}

async function init() {
  const [config, items, decisions] = await Promise.all([api("/api/config"), api("/api/items"), api("/api/decisions")]);
  state.items = items;
  items.forEach((it, i) => state.order.set(it.key, i));
  state.decisions = decisions;
  fill($("f-label"), items.map((i) => i.label));
  fill($("f-corpus"), items.map((i) => i.corpus));
  fill($("f-voice"), items.map((i) => i.voice));
  $("annotator").value = localStorage.getItem("lumabench-annotator") || config.annotator;
  $("annotator").addEventListener("change", () => localStorage.setItem("lumabench-annotator", $("annotator").value));
  $("autoplay").checked = localStorage.getItem("lumabench-autoplay") !== "off";
  $("autoplay").addEventListener("change", () => localStorage.setItem("lumabench-autoplay", $("autoplay").checked ? "on" : "off"));
  const hash = new URLSearchParams(window.location.hash.slice(1));
  for (const f of FILTERS) if (hash.has(f)) $(`f-${f}`).value = hash.get(f);
  for (const f of FILTERS) {
    $(`f-${f}`).addEventListener("change", (ev) => { ev.target.blur(); restart(); });  // keys work at once
  }
  $("b-accept").addEventListener("click", () => decide("accept"));
  $("b-reject").addEventListener("click", () => decide("reject"));
  $("b-skip").addEventListener("click", () => show(neighbour(1)));
  $("b-undo").addEventListener("click", undo);
  $("stats").addEventListener("toggle", () => { if ($("stats").open) showStats(); });
  document.addEventListener("keydown", onKey);
  const wanted = hash.get("item");
  if (wanted && state.order.has(wanted)) show(wanted); else restart();
  document.body.dataset.ready = "true";
}

init().catch((e) => status(`could not start: ${e.message}`, true));
