// Pipeline runs: show a DAG step's panel when its box is focused or clicked; the "Run pipeline"
// button (POST /api/v1/pipeline-runs, then open the run); a running run's page reloads until it ends.
(function () {
  "use strict";

  function show(id, focusPanel) {
    document.querySelectorAll(".step-detail").forEach((panel) => {
      panel.classList.toggle("shown", panel.id === id);
    });
    document.querySelectorAll("svg.dag .node").forEach((node) => {
      node.classList.toggle("selected", node.dataset.step === id);
    });
    const panel = document.getElementById(id);
    if (panel && focusPanel) panel.focus();
  }

  document.querySelectorAll("svg.dag .node").forEach((node) => {
    node.addEventListener("focus", () => show(node.dataset.step, false));
    node.addEventListener("click", (event) => {
      event.preventDefault();
      history.replaceState(null, "", "#" + node.dataset.step);
      show(node.dataset.step, false);
    });
    node.addEventListener("keydown", (event) => {
      if (event.key === "Enter" || event.key === " ") {
        event.preventDefault();
        history.replaceState(null, "", "#" + node.dataset.step);
        show(node.dataset.step, true);
      }
    });
  });
  const first = document.querySelector("svg.dag .node");
  if (location.hash && document.getElementById(location.hash.slice(1))) {
    show(location.hash.slice(1), false);
  } else if (first) {
    show(first.dataset.step, false);
  }

  const button = document.querySelector("[data-run-pipeline]");
  const message = document.querySelector("[data-run-message]");
  const force = document.querySelector("[data-force]");
  if (button) {
    button.addEventListener("click", async () => {
      button.disabled = true;
      message.className = "message";
      message.textContent = "starting…";
      try {
        const response = await fetch("/api/v1/pipeline-runs", {
          method: "POST",
          credentials: "same-origin",
          headers: { "Content-Type": "application/json", "X-Loopline-UI": "1" },
          body: JSON.stringify({ force: Boolean(force && force.checked) }),
        });
        let data = null;
        try { data = await response.json(); } catch (e) { data = null; }
        if (!response.ok) throw new Error((data && data.message) || "HTTP " + response.status);
        message.className = "message ok";
        message.textContent = "started " + data.run_id;
        window.location.assign("/pipelines/" + encodeURIComponent(data.run_id));
      } catch (err) {
        message.className = "message error";
        message.textContent = err.message;
        button.disabled = false;
      }
    });
  }

  const badge = document.querySelector("[data-run-status='running']");
  if (badge) {
    const id = badge.dataset.runId;
    const poll = async () => {
      try {
        const response = await fetch("/api/v1/pipeline-runs/" + encodeURIComponent(id), { credentials: "same-origin" });
        if (response.ok) {
          const data = await response.json();
          if (data.status !== "running") { window.location.reload(); return; }
        }
      } catch (e) { /* the next poll tries again */ }
      window.setTimeout(poll, 1500);
    };
    window.setTimeout(poll, 1000);
  }
})();
