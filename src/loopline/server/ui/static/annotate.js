// The labeling page: lease a task, show it, answer with the mouse or the keys (1-9, Enter, S).
// Spans: select text, 1-9 labels the selection. Boxes: drag on the image, 1-9 labels the box.
// Item content only ever goes into the page through textContent or an <img> src: never as HTML.
"use strict";

(function () {
  const root = document.getElementById("annotate");
  if (!root) return;
  const project = root.dataset.project;
  const multi = root.dataset.taskType === "multilabel";
  const spans = root.dataset.taskType === "spans";
  const boxes = root.dataset.taskType === "boxes";
  const regional = spans || boxes;
  const api = "/api/annotate/" + encodeURIComponent(project);
  const el = (id) => document.getElementById(id);
  const buttons = Array.from(root.querySelectorAll("button.label"));
  const state = {
    task: null, selected: new Set(), busy: false, shownAt: 0, zoom: 1, natural: null,
    regions: [], text: null, draft: null, drag: null,
  };

  function message(text, kind) {
    const m = el("message");
    m.textContent = text || "";
    m.className = "message" + (kind ? " " + kind : "");
  }

  async function call(method, url, body) {
    const init = { method, credentials: "same-origin", headers: { "X-Loopline-UI": "1" } };
    if (body !== undefined) {
      init.headers["Content-Type"] = "application/json";
      init.body = JSON.stringify(body);
    }
    const response = await fetch(url, init);
    if (response.status === 401) { window.location.assign("/signin"); throw new Error("signed out"); }
    let data = null;
    if (response.status !== 204) {
      try { data = await response.json(); } catch (e) { data = null; }
    }
    if (!response.ok) {
      const err = new Error((data && data.message) || ("HTTP " + response.status));
      err.status = response.status;
      throw err;
    }
    return data;
  }

  function renderSelection() {
    for (const b of buttons) b.setAttribute("aria-pressed", state.selected.has(b.dataset.label) ? "true" : "false");
    el("submit").disabled = !state.task || (!regional && state.selected.size === 0);
  }

  // -- spans and boxes ------------------------------------------------------------------------
  // Spans are kept in UTF-16 offsets (the DOM's) and sent in code points (Python's str offsets).
  const points = (text, units) => Array.from(text.slice(0, units)).length;

  function renderText() {
    const p = el("item").querySelector(".text");
    if (!p || state.text === null) return;
    const text = state.text;
    const cuts = new Set([0, text.length]);
    for (const r of state.regions) { cuts.add(r.s16); cuts.add(r.e16); }
    const edges = Array.from(cuts).sort((a, b) => a - b);
    p.replaceChildren();
    for (let i = 0; i + 1 < edges.length; i++) {
      const piece = text.slice(edges[i], edges[i + 1]);
      const covered = state.regions.filter((r) => r.s16 <= edges[i] && edges[i + 1] <= r.e16);
      if (covered.length === 0) { p.append(document.createTextNode(piece)); continue; }
      const mark = document.createElement("mark");
      mark.textContent = piece;
      mark.title = covered.map((r) => r.label).join(", ");
      p.append(mark);
    }
  }

  function selectedSpan() {
    const p = el("item").querySelector(".text");
    const sel = window.getSelection();
    if (!p || state.text === null || !sel || sel.rangeCount === 0 || sel.isCollapsed) return null;
    const range = sel.getRangeAt(0);
    if (!p.contains(range.startContainer) || !p.contains(range.endContainer)) return null;
    const before = document.createRange();
    before.selectNodeContents(p);
    before.setEnd(range.startContainer, range.startOffset);
    const s16 = before.toString().length;
    const e16 = s16 + range.toString().length;
    return s16 < e16 ? { s16, e16 } : null;
  }

  function layer() {
    return el("item").querySelector(".boxes-layer");
  }

  function renderBoxes() {
    const box = layer();
    const img = el("item").querySelector("img");
    if (!box || !img || !state.natural) return;
    const scale = img.width / state.natural.w;
    box.replaceChildren();
    const shapes = state.regions.map((r) => ({ r, cls: "box" }));
    if (state.draft) shapes.push({ r: state.draft, cls: "box draft" });
    for (const { r, cls } of shapes) {
      const d = document.createElement("div");
      d.className = cls;
      d.style.left = r.x * scale + "px";
      d.style.top = r.y * scale + "px";
      d.style.width = r.width * scale + "px";
      d.style.height = r.height * scale + "px";
      if (r.label) {
        const tag = document.createElement("span");
        tag.className = "tag";
        tag.textContent = r.label;
        d.append(tag);
      }
      box.append(d);
    }
  }

  function renderRegions() {
    const list = el("regions");
    if (!list) return;
    list.replaceChildren();
    state.regions.forEach((r, i) => {
      const li = document.createElement("li");
      const what = document.createElement("span");
      if (spans) {
        const snippet = state.text.slice(r.s16, r.e16);
        what.textContent = r.label + ": \u201c" + (snippet.length > 40 ? snippet.slice(0, 40) + "\u2026" : snippet) +
          "\u201d (" + points(state.text, r.s16) + "\u2013" + points(state.text, r.e16) + ")";
      } else {
        what.textContent = r.label + ": " + r.x + ", " + r.y + "  " + r.width + "\u00d7" + r.height;
      }
      const remove = document.createElement("button");
      remove.type = "button";
      remove.className = "remove";
      remove.textContent = "\u00d7";
      remove.title = "Remove";
      remove.setAttribute("aria-label", "Remove " + r.label);
      remove.addEventListener("click", () => { state.regions.splice(i, 1); renderRegions(); });
      li.append(what, remove);
      list.append(li);
    });
    el("region-count").textContent = String(state.regions.length);
    if (spans) renderText(); else renderBoxes();
    renderSelection();
  }

  function addRegion(label) {
    if (!state.task) return;
    if (spans) {
      const span = selectedSpan();
      if (!span) { message("Select some text first, then press a label key.", "error"); return; }
      state.regions.push({ s16: span.s16, e16: span.e16, label });
      window.getSelection().removeAllRanges();
    } else {
      if (!state.draft) { message("Draw a box on the image first, then press a label key.", "error"); return; }
      state.regions.push(Object.assign({}, state.draft, { label }));
      state.draft = null;
    }
    message("", "");
    renderRegions();
  }

  function regionAnswer() {
    if (spans) {
      return state.regions.map((r) => ({ start: points(state.text, r.s16), end: points(state.text, r.e16), label: r.label }));
    }
    return state.regions.map((r) => ({ x: r.x, y: r.y, width: r.width, height: r.height, label: r.label }));
  }

  function imagePoint(event) {
    const img = el("item").querySelector("img");
    const rect = img.getBoundingClientRect();
    const clamp = (v, hi) => Math.min(hi, Math.max(0, v));
    return {
      x: clamp(Math.round(((event.clientX - rect.left) * state.natural.w) / rect.width), state.natural.w),
      y: clamp(Math.round(((event.clientY - rect.top) * state.natural.h) / rect.height), state.natural.h),
    };
  }

  function startDrag(event) {
    if (!boxes || !state.task || !state.natural || event.button !== 0) return;
    event.preventDefault();
    state.drag = imagePoint(event);
    state.draft = null;
  }

  function moveDrag(event) {
    if (!state.drag) return;
    const p = imagePoint(event);
    const a = state.drag;
    state.draft = { x: Math.min(a.x, p.x), y: Math.min(a.y, p.y), width: Math.abs(p.x - a.x), height: Math.abs(p.y - a.y) };
    renderBoxes();
  }

  function endDrag(event) {
    if (!state.drag) return;
    moveDrag(event);
    state.drag = null;
    if (state.draft && (state.draft.width < 1 || state.draft.height < 1)) state.draft = null;
    renderBoxes();
    if (state.draft) message("Press a label key (1\u20139) for the box.", "");
  }

  function choose(label) {
    if (!state.task) return;
    if (regional) { addRegion(label); return; }
    if (multi) {
      if (state.selected.has(label)) state.selected.delete(label); else state.selected.add(label);
    } else {
      state.selected = new Set([label]);
    }
    renderSelection();
  }

  function setZoom(z) {
    const img = el("item").querySelector("img");
    if (!img || !state.natural) return;
    state.zoom = Math.min(64, Math.max(0.05, z));
    img.width = Math.round(state.natural.w * state.zoom);
    img.height = Math.round(state.natural.h * state.zoom);
    el("zoom-level").textContent = Math.round(state.zoom * 100) + "%";
    renderBoxes();
  }

  function fitZoom() {
    const viewport = el("item").querySelector(".viewport");
    if (!viewport || !state.natural) return;
    const fit = Math.min((viewport.clientWidth - 4) / state.natural.w, 420 / state.natural.h);
    setZoom(fit > 0 ? fit : 1);
  }

  function renderFields(fields) {
    const table = el("item-fields");
    const body = table.querySelector("tbody");
    body.replaceChildren();
    const names = Object.keys(fields || {});
    for (const name of names) {
      const row = document.createElement("tr");
      const th = document.createElement("th");
      th.textContent = name;
      const td = document.createElement("td");
      td.textContent = fields[name];
      row.append(th, td);
      body.append(row);
    }
    table.hidden = names.length === 0;
  }

  function renderItem(task) {
    const box = el("item");
    box.replaceChildren();
    el("zoom-controls").hidden = true;
    state.natural = null;
    state.text = null;
    state.regions = [];
    state.draft = null;
    state.drag = null;
    const item = task.item;
    if (item.kind === "text") {
      const p = document.createElement("p");
      p.className = "text";
      p.textContent = item.text === null ? "loading…" : item.text;
      state.text = item.text;
      box.append(p);
      if (item.text === null && item.blob_url) {
        fetch(item.blob_url, { credentials: "same-origin" })
          .then((r) => (r.ok ? r.text() : Promise.reject(new Error("HTTP " + r.status))))
          .then((text) => { p.textContent = text; state.text = text; })
          .catch((err) => { p.textContent = "could not load the text: " + err.message; });
      }
      renderFields(Object.assign(item.path ? { path: item.path } : {}, item.fields));
    } else if (item.kind === "image") {
      const viewport = document.createElement("div");
      viewport.className = "viewport";
      const img = document.createElement("img");
      img.alt = item.path || "item image";
      img.draggable = false;
      img.addEventListener("load", () => {
        state.natural = { w: img.naturalWidth || 1, h: img.naturalHeight || 1 };
        el("zoom-controls").hidden = false;
        fitZoom();
      });
      img.src = item.blob_url;
      if (boxes) {
        const stage = document.createElement("div");
        stage.className = "stage";
        const drawn = document.createElement("div");
        drawn.className = "boxes-layer";
        stage.append(img, drawn);
        stage.addEventListener("mousedown", startDrag);
        viewport.append(stage);
      } else {
        viewport.append(img);
      }
      box.append(viewport);
      renderFields(Object.assign(item.path ? { path: item.path } : {}, item.fields));
    } else if (item.kind === "blob") {
      const a = document.createElement("a");
      a.href = item.blob_url;
      a.textContent = "Download " + (item.path || "the file") + " (" + item.media_type + ")";
      box.append(a);
      renderFields(item.fields);
    } else {
      renderFields(item.fields);
    }
    box.dataset.taskId = String(task.id);
    el("item-id").textContent = task.item_id.slice(0, 12);
    el("item-id").title = task.item_id;
  }

  function renderSuggestion(task) {
    const box = el("suggestion");
    for (const b of buttons) b.classList.remove("suggested");
    if (task.suggestion === null || task.suggestion === undefined) { box.hidden = true; return; }
    const name = (x) => (x !== null && typeof x === "object" ? String(x.label) : String(x));
    const labels = Array.isArray(task.suggestion) ? task.suggestion.map(name) : [name(task.suggestion)];
    el("suggestion-label").textContent = labels.join(", ");
    el("suggestion-source").textContent = task.suggestion_source ? "(" + task.suggestion_source + ")" : "";
    box.hidden = false;
    for (const b of buttons) if (labels.includes(b.dataset.label)) b.classList.add("suggested");
  }

  function renderProgress(progress) {
    if (!progress || progress.total === undefined) return;
    el("progress-text").textContent = progress.done + " of " + progress.total + " done";
    const bar = el("progress-bar");
    bar.max = Math.max(1, progress.total);
    bar.value = progress.done;
  }

  async function load() {
    state.busy = true;
    try {
      const lease = await call("GET", api + "/next");
      state.selected = new Set();
      if (!lease.task) {
        state.task = null;
        el("item").dataset.taskId = "";
        el("done").hidden = false;
        root.querySelectorAll(".item, .panel").forEach((n) => { n.hidden = true; });
        el("progress-text").textContent = "all done";
        root.dataset.state = "done";
        return;
      }
      state.task = lease.task;
      renderItem(lease.task);
      renderSuggestion(lease.task);
      renderProgress(lease.progress);
      if (regional) renderRegions();
      renderSelection();
      state.shownAt = performance.now();
      root.dataset.state = "ready";
    } catch (err) {
      message(err.message, "error");
      root.dataset.state = "error";
    } finally {
      state.busy = false;
    }
  }

  async function submit() {
    if (state.busy || !state.task || (!regional && state.selected.size === 0)) return;
    if (spans && state.text === null) return;
    const label = regional ? regionAnswer() : multi ? Array.from(state.selected) : Array.from(state.selected)[0];
    const seconds = Math.round((performance.now() - state.shownAt) / 100) / 10;
    state.busy = true;
    root.dataset.state = "busy";
    try {
      await call("POST", api + "/tasks/" + state.task.id, { label, seconds });
      const said = regional ? label.length + " " + (spans ? "span" : "box") + (label.length === 1 ? "" : spans ? "s" : "es")
        : multi ? label.join(", ") : label;
      message("Saved: " + said, "ok");
    } catch (err) {
      message(err.message, "error");
      if (err.status !== 409) { state.busy = false; root.dataset.state = "ready"; return; }
    }
    state.busy = false;
    await load();
  }

  async function skip() {
    if (state.busy || !state.task) return;
    state.busy = true;
    root.dataset.state = "busy";
    try {
      await call("POST", api + "/tasks/" + state.task.id + "/skip");
      message("Skipped", "");
    } catch (err) {
      message(err.message, "error");
    }
    state.busy = false;
    await load();
  }

  for (const b of buttons) b.addEventListener("click", () => choose(b.dataset.label));
  el("submit").addEventListener("click", submit);
  el("skip").addEventListener("click", skip);
  el("zoom-in").addEventListener("click", () => setZoom(state.zoom * 1.25));
  el("zoom-out").addEventListener("click", () => setZoom(state.zoom / 1.25));
  el("zoom-fit").addEventListener("click", fitZoom);
  document.addEventListener("mousemove", moveDrag);
  document.addEventListener("mouseup", endDrag);

  document.addEventListener("keydown", (event) => {
    if (event.ctrlKey || event.metaKey || event.altKey) return;
    const target = event.target;
    if (target && (target.tagName === "INPUT" || target.tagName === "TEXTAREA" || target.isContentEditable)) return;
    const key = event.key;
    if (/^[1-9]$/.test(key)) {
      const b = buttons.find((x) => x.dataset.key === key);
      if (b) { choose(b.dataset.label); event.preventDefault(); }
    } else if (key === "Enter") {
      event.preventDefault();
      submit();
    } else if (key === "s" || key === "S") {
      event.preventDefault();
      skip();
    } else if (key === "+" || key === "=") {
      setZoom(state.zoom * 1.25);
    } else if (key === "-") {
      setZoom(state.zoom / 1.25);
    } else if (key === "0") {
      fitZoom();
    }
  });

  load();
})();
