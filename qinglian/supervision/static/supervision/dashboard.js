// The supervision dashboard's charts: Apache ECharts over the figures the server aggregated
// (json_script "supervision-charts"). Clicking a bar, a slice or a point opens the list behind
// it. No inline script: the content-security policy forbids it.
(function () {
  "use strict";
  const source = document.getElementById("supervision-charts");
  if (!source || typeof window.echarts === "undefined") {
    return;
  }
  const charts = JSON.parse(source.textContent);
  const palette = ["#b3261e", "#e8a33d", "#5470c6", "#91cc75", "#73c0de", "#9a60b4", "#ea7ccc", "#3ba272"];
  const severityColours = { high: "#b3261e", medium: "#e8a33d", low: "#5470c6" };
  const narrow = () => window.matchMedia("(max-width: 576px)").matches;

  function seriesColour(series, index) {
    return severityColours[series.key] || palette[index % palette.length];
  }

  function barOption(chart) {
    const horizontal = Boolean(chart.horizontal);
    const category = {
      type: "category",
      data: chart.categories,
      axisLabel: { interval: 0, width: narrow() ? 90 : 160, overflow: "truncate", rotate: !horizontal && chart.categories.length > 4 ? 30 : 0 },
      inverse: horizontal,
    };
    const value = { type: "value", minInterval: 1, max: chart.percent ? 100 : null };
    return {
      color: chart.series.map(seriesColour),
      tooltip: { trigger: "axis", axisPointer: { type: "shadow" }, confine: true, renderMode: "richText" },
      legend: chart.series.length > 1 ? { type: "scroll", top: 0 } : undefined,
      grid: { left: 8, right: 16, top: chart.series.length > 1 ? 32 : 12, bottom: 8, containLabel: true },
      xAxis: horizontal ? value : category,
      yAxis: horizontal ? category : value,
      series: chart.series.map((series) => ({
        name: series.name,
        type: "bar",
        stack: series.stack,
        emphasis: { focus: "series" },
        data: series.data,
        label: chart.percent ? { show: true, position: horizontal ? "right" : "top", formatter: "{c}%" } : undefined,
      })),
    };
  }

  function pieOption(chart) {
    const colours = chart.data.map((item, index) => severityColours[item.key] || palette[index % palette.length]);
    return {
      color: colours,
      tooltip: { trigger: "item", confine: true, renderMode: "richText", formatter: "{b}: {c} ({d}%)" },
      legend: { type: "scroll", bottom: 0 },
      series: [{ type: "pie", radius: ["35%", "65%"], center: ["50%", "45%"], data: chart.data, label: { formatter: "{b}\n{c}" } }],
    };
  }

  function lineOption(chart) {
    return {
      color: palette,
      tooltip: { trigger: "axis", confine: true, renderMode: "richText" },
      legend: { type: "scroll", top: 0 },
      grid: { left: 8, right: 16, top: 32, bottom: 8, containLabel: true },
      xAxis: { type: "category", data: chart.categories, axisLabel: { rotate: narrow() ? 45 : 0 } },
      yAxis: { type: "value", minInterval: 1 },
      series: chart.series.map((series) => ({ name: series.name, type: "line", symbolSize: 8, data: series.data })),
    };
  }

  const built = [];
  for (const chart of charts) {
    const element = document.querySelector(`[data-chart-id="${chart.id}"]`);
    if (!element) {
      continue;
    }
    const empty = chart.type === "pie" ? chart.data.length === 0 : chart.categories.length === 0;
    if (empty) {
      element.classList.add("supervision-chart-empty");
      element.textContent = element.getAttribute("data-empty") || "—";
      continue;
    }
    const instance = window.echarts.init(element, null, { renderer: "canvas" });
    const option = chart.type === "pie" ? pieOption(chart) : chart.type === "line" ? lineOption(chart) : barOption(chart);
    instance.setOption(option);
    instance.on("click", (params) => {
      const url = params.data && params.data.url;
      if (url) {
        window.location.assign(url);
      }
    });
    element.setAttribute("data-rendered", "true");
    built.push(instance);
  }
  window.addEventListener("resize", () => built.forEach((instance) => instance.resize()));
})();
