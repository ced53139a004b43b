// The labeling page: lease a task, show it, answer with the mouse or the keys (1-9, Enter, S).
// Item content only ever goes into the page through textContent or an <img> src: never as HTML.
"use strict";

(function () {
  const root = document.getElementById("annotate");
  if (!root) return;
  const project = root.dataset.project;
  const multi = root.dataset.taskType === "multilabel";
  const api = "/api/annotate/" + encodeURIComponent(project);
  const el = (id) => document.getElementById(id);
  const buttons = Array.from(root.querySelectorAll("button.label"));
  const state = { task: null, selected: new Set(), busy: false, shownAt: 0, zoom: 1, natural: null };

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
    el("submit").disabled = !state.task || state.selected.size === 0;
  }

  function choose(label) {
    if (!state.task) return;
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
    const item = task.item;
    if (item.kind === "text") {
      const p = document.createElement("p");
      p.className = "text";
      p.textContent = item.text === null ? "loading…" : item.text;
      box.append(p);
      if (item.text === null && item.blob_url) {
        fetch(item.blob_url, { credentials: "same-origin" })
          .then((r) => (r.ok ? r.text() : Promise.reject(new Error("HTTP " + r.status))))
          .then((text) => { p.textContent = text; })
          .catch((err) => { p.textContent = "could not load the text: " + err.message; });
      }
      renderFields(Object.assign(item.path ? { path: item.path } : {}, item.fields));
    } else if (item.kind === "image") {
      const viewport = document.createElement("div");
      viewport.className = "viewport";
      const img = document.createElement("img");
      img.alt = item.path || "item image";
      img.addEventListener("load", () => {
        state.natural = { w: img.naturalWidth || 1, h: img.naturalHeight || 1 };
        el("zoom-controls").hidden = false;
        fitZoom();
      });
      img.src = item.blob_url;
      viewport.append(img);
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
    const labels = Array.isArray(task.suggestion) ? task.suggestion.map(String) : [String(task.suggestion)];
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
    if (state.busy || !state.task || state.selected.size === 0) return;
    const label = multi ? Array.from(state.selected) : Array.from(state.selected)[0];
    const seconds = Math.round((performance.now() - state.shownAt) / 100) / 10;
    state.busy = true;
    root.dataset.state = "busy";
    try {
      await call("POST", api + "/tasks/" + state.task.id, { label, seconds });
      message("Saved: " + (multi ? label.join(", ") : label), "ok");
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
