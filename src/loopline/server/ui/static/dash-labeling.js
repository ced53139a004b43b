// The "New labeling project" form of /labeling: POST /api/v1/labeling with the sign-in cookie,
// then open the new project's page; a refusal shows the server's message (and hint) by the button.
(function () {
  "use strict";
  const form = document.getElementById("labeling-create");
  if (!form) return;
  const message = document.getElementById("labeling-create-message");

  function say(text, kind) {
    message.textContent = text;
    message.className = "form-message " + kind;
  }

  function body() {
    const data = new FormData(form);
    const text = (name) => String(data.get(name) || "").trim();
    const out = {
      name: text("name"),
      dataset: text("dataset"),
      labels: text("labels").split(",").map((x) => x.trim()).filter((x) => x),
      task_type: text("task_type") || "classification",
      overlap: Number(text("overlap") || "1"),
      gold_share: Number(text("gold_share") || "0"),
      lease_seconds: Number(text("lease_seconds") || "600"),
      instructions: text("instructions"),
    };
    if (text("text_field")) out.text_field = text("text_field");
    return out;
  }

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const button = form.querySelector("button[type=submit]");
    button.disabled = true;
    say("Creating…", "muted");
    try {
      const response = await fetch("/api/v1/labeling", {
        method: "POST",
        credentials: "same-origin",
        headers: { "X-Loopline-UI": "1", "Content-Type": "application/json" },
        body: JSON.stringify(body()),
      });
      let data = null;
      try { data = await response.json(); } catch (e) { data = null; }
      if (response.status === 401) { window.location.assign("/signin"); return; }
      if (!response.ok) {
        const text = (data && data.message) || ("HTTP " + response.status);
        say(text + (data && data.hint ? " (" + data.hint + ")" : ""), "bad");
        return;
      }
      say("Created " + data.name + " with " + data.tasks + " tasks.", "good");
      window.location.assign("/labeling/" + encodeURIComponent(data.name));
    } catch (err) {
      say("Could not reach the server: " + err.message, "bad");
    } finally {
      button.disabled = false;
    }
  });
})();
