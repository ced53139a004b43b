// /runs: the Compare button is on while 2 to 10 runs are picked, and says how many are.
"use strict";
document.addEventListener("DOMContentLoaded", () => {
  const form = document.getElementById("compare-form");
  if (!form) return;
  const button = document.getElementById("compare-button");
  const picked = document.getElementById("picked");
  const update = () => {
    const n = form.querySelectorAll('input[name="run"]:checked').length;
    button.disabled = n < 2 || n > 10;
    button.classList.toggle("primary", !button.disabled);
    picked.textContent = n === 0 ? "pick 2 to 10 runs" : `${n} picked` + (n > 10 ? ": 10 at most" : n < 2 ? ": pick one more" : "");
  };
  form.addEventListener("change", update);
  update();
});
