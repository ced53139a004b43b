// /audit: the chain's verify status, asked of the API after the page loaded (walking a long chain
// takes seconds; the log itself is paged and shows at once).
"use strict";
document.addEventListener("DOMContentLoaded", async () => {
  const status = document.getElementById("chain");
  if (!status) return;
  const say = (text, kind) => {
    status.textContent = text;
    status.className = kind;
    document.body.dataset.verified = kind;
  };
  try {
    const response = await fetch(status.dataset.verify, {
      credentials: "same-origin",
      headers: { Accept: "application/json" },
    });
    const found = await response.json();
    if (!response.ok) {
      say(`Cannot verify the chain: ${found.message || response.status}`, "warn");
    } else if (found.ok) {
      const head = found.head ? `, head ${found.head.seq}:${found.head.hash}` : "";
      say(`chain verified: ${found.events} events${head}`, "good");
    } else {
      say(`chain BROKEN at event ${found.broken.seq}: ${found.broken.problem}`, "bad");
      const row = document.querySelector(`#events tr[data-seq="${Number(found.broken.seq)}"]`);
      if (row) row.classList.add("bad");
    }
  } catch (error) {
    say(`Cannot verify the chain: ${error}`, "warn");
  }
});
