// Draws the dashboard's charts from the JSON the page carries (no inline script).
document.addEventListener("DOMContentLoaded", () => {
  if (typeof Chart === "undefined") return;
  for (const canvas of document.querySelectorAll("canvas[data-chart]")) {
    const source = document.getElementById(canvas.dataset.chart);
    if (!source) continue;
    const data = JSON.parse(source.textContent);
    const stacked = canvas.dataset.kind === "bar";
    new Chart(canvas, {
      type: canvas.dataset.kind,
      data,
      options: {
        animation: false,
        maintainAspectRatio: false,
        scales: { x: { stacked }, y: { stacked, beginAtZero: true } },
        plugins: { legend: { position: "bottom" } },
      },
    });
  }
});
