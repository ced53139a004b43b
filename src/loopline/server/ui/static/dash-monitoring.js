// /monitoring/{model}: a click on a chart's point opens that point's report (its customdata).
// Runs after /static/monitor.js has drawn the figures (both deferred, this one later).
"use strict";
document.addEventListener("DOMContentLoaded", () => {
  for (const node of document.querySelectorAll(".plot[data-figure]")) {
    if (typeof node.on !== "function") continue;
    node.on("plotly_click", (event) => {
      const url = event.points && event.points.length ? event.points[0].customdata : null;
      if (typeof url === "string" && url.startsWith("/monitor/")) window.location.assign(url);
    });
  }
  document.body.dataset.linked = "1";
});
