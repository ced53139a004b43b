// Draws each report figure from its data-figure attribute (no inline script: the CSP forbids it).
"use strict";
document.addEventListener("DOMContentLoaded", () => {
  const plots = document.querySelectorAll(".plot[data-figure]");
  for (const node of plots) {
    const figure = JSON.parse(node.dataset.figure);
    window.Plotly.newPlot(node, figure.data, figure.layout, { displayModeBar: false, responsive: true });
  }
  document.body.dataset.plotted = String(plots.length);
});
