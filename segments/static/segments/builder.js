/* Segment rule builder: edits the rule tree as forms, keeps the JSON field in sync, and
   shows a live count, a sample and the rule in words (the server validates every change). */
(function () {
  "use strict";
  const root = document.getElementById("rule-builder");
  const area = document.querySelector("textarea[name=rule]");
  const metaEl = document.getElementById("segment-rule-meta");
  if (!root || !area || !metaEl) return;
  const meta = JSON.parse(metaEl.textContent);
  const out = document.getElementById("rule-preview");
  const segmentId = root.dataset.segmentId ? Number(root.dataset.segmentId) : null;
  const GROUPS = ["all", "any", "not"];
  const KINDS = ["field", "event", "consent", "source", "channel", "segment"];
  const NO_VALUE = ["is_set", "not_set"];
  const DAY_OPS = ["within_last_days", "more_than_days_ago", "anniversary_within_days"];
  let tree = null;
  let timer = null;

  function el(tag, attrs, children) {
    const node = document.createElement(tag);
    Object.entries(attrs || {}).forEach(([k, v]) => {
      if (k === "on") Object.entries(v).forEach(([ev, fn]) => node.addEventListener(ev, fn));
      else if (k === "text") node.textContent = v;
      else node.setAttribute(k, v);
    });
    (children || []).forEach((c) => node.appendChild(c));
    return node;
  }
  function select(options, value, onChange) {
    const s = el("select", { on: { change: (e) => onChange(e.target.value) } },
      options.map((o) => {
        const [v, label] = Array.isArray(o) ? o : [o, o];
        const opt = el("option", { value: String(v), text: String(label) });
        if (String(v) === String(value)) opt.selected = true;
        return opt;
      }));
    return s;
  }
  function input(value, onChange, cls) {
    return el("input", { type: "text", value: value === undefined ? "" : value, class: cls || "",
      on: { change: (e) => onChange(e.target.value) } });
  }
  function button(label, fn) {
    return el("button", { type: "button", class: "button", text: label,
      on: { click: (e) => { e.preventDefault(); fn(); } } });
  }
  function parseValue(text, numeric) {
    const t = text.trim();
    if (numeric) return t === "" ? t : Number(t);
    try { const v = JSON.parse(t); if (typeof v !== "object") return v; } catch (e) { /* text */ }
    return t;
  }
  function show(value) {
    if (Array.isArray(value)) return value.join(", ");
    return value === undefined ? "" : String(value);
  }
  function newCondition() { return { field: "country", op: "eq", value: "" }; }
  function kindOf(node) { return KINDS.find((k) => k in node) || "field"; }

  function changed() {
    area.value = JSON.stringify(tree, null, 2);
    render();
    clearTimeout(timer);
    timer = setTimeout(preview, 500);
  }

  function fieldRow(node) {
    const row = [];
    const isTrait = node.field.startsWith("traits.");
    const type = isTrait ? "trait" : meta.field_types[node.field];
    const ops = isTrait ? meta.trait_ops : meta.fields[node.field] || [];
    row.push(select([...Object.keys(meta.fields), ["traits.", "custom trait…"]],
      isTrait ? "traits." : node.field, (v) => {
        node.field = v === "traits." ? "traits.key" : v; changed();
      }));
    if (isTrait) row.push(input(node.field.slice(7), (v) => { node.field = "traits." + v; changed(); }));
    row.push(select(ops, node.op, (v) => {
      node.op = v;
      if (NO_VALUE.includes(v)) delete node.value;
      else if (v === "between") node.value = ["", ""];
      else if (v === "in") node.value = [];
      else if (DAY_OPS.includes(v)) node.value = 30;
      else node.value = "";
      changed();
    }));
    const numeric = type === "number" || DAY_OPS.includes(node.op);
    if (node.op === "between") {
      const pair = Array.isArray(node.value) ? node.value : ["", ""];
      row.push(input(show(pair[0]), (v) => { pair[0] = parseValue(v, numeric); node.value = pair; changed(); }));
      row.push(el("span", { text: "and" }));
      row.push(input(show(pair[1]), (v) => { pair[1] = parseValue(v, numeric); node.value = pair; changed(); }));
    } else if (node.op === "in") {
      row.push(input(show(node.value), (v) => {
        node.value = v.split(",").map((x) => parseValue(x, numeric)).filter((x) => x !== ""); changed();
      }));
      row.push(el("span", { text: "(comma-separated)" }));
    } else if (!NO_VALUE.includes(node.op)) {
      row.push(input(show(node.value), (v) => {
        node.value = type === "text" ? v : parseValue(v, numeric); changed();
      }, DAY_OPS.includes(node.op) ? "rb-short" : ""));
      if (DAY_OPS.includes(node.op)) row.push(el("span", { text: "days" }));
    }
    return row;
  }

  function eventRow(node) {
    const spec = node.event;
    const row = [el("span", { text: "performed" }),
      input(spec.name, (v) => { spec.name = v; changed(); })];
    row.push(select([["at_least", "at least"], ["at_most", "at most"], ["not_since_days", "not in the last"]],
      node.op, (v) => {
        node.op = v;
        if (v === "not_since_days") { delete node.count; delete node.within_days; node.days = 30; }
        else { delete node.days; node.count = node.count || 1; }
        changed();
      }));
    if (node.op === "not_since_days") {
      row.push(input(node.days, (v) => { node.days = Number(v); changed(); }, "rb-short"));
      row.push(el("span", { text: "days" }));
    } else {
      row.push(input(node.count, (v) => { node.count = Number(v); changed(); }, "rb-short"));
      row.push(el("span", { text: "times within" }));
      row.push(input(node.within_days === undefined ? "" : node.within_days, (v) => {
        if (v.trim() === "") delete node.within_days; else node.within_days = Number(v);
        changed();
      }, "rb-short"));
      row.push(el("span", { text: "days (empty: ever)" }));
    }
    if ((spec.where || []).length) {
      row.push(el("span", { text: `+ ${spec.where.length} property filter(s), edit in JSON` }));
    }
    return row;
  }

  function conditionView(node, replace, remove) {
    const kind = kindOf(node);
    const row = [select(KINDS, kind, (v) => {
      const fresh = {
        field: newCondition(),
        event: { event: { name: "" }, op: "at_least", count: 1, within_days: 30 },
        consent: { consent: meta.purposes[0] || "" },
        source: { source: meta.sources[0] || "" },
        channel: { channel: meta.channels[0] },
        segment: { segment: meta.segments.length ? meta.segments[0][0] : 0 },
      }[v];
      replace(fresh); changed();
    })];
    if (kind === "field") row.push(...fieldRow(node));
    else if (kind === "event") row.push(...eventRow(node));
    else if (kind === "consent") row.push(el("span", { text: "may be contacted for" }),
      select(meta.purposes, node.consent, (v) => { node.consent = v; changed(); }));
    else if (kind === "source") row.push(select(meta.sources, node.source, (v) => { node.source = v; changed(); }));
    else if (kind === "channel") row.push(select(meta.channels, node.channel, (v) => { node.channel = v; changed(); }));
    else row.push(select(meta.segments.filter((s) => s[0] !== segmentId), node.segment,
      (v) => { node.segment = Number(v); changed(); }));
    if (remove) row.push(button("✕", remove));
    return el("div", { class: "rb-row" }, row);
  }

  function nodeView(node, replace, remove) {
    const kind = GROUPS.find((k) => k in node);
    if (!kind) return conditionView(node, replace, remove);
    const children = kind === "not" ? [node.not] : node[kind];
    const head = el("div", { class: "rb-row" }, [
      select([["all", "All of"], ["any", "Any of"], ["not", "None of"]], kind, (v) => {
        const kids = kind === "not" ? [node.not] : node[kind];
        replace(v === "not" ? { not: kids.length === 1 ? kids[0] : { [kind]: kids } } : { [v]: kids });
        changed();
      }),
      ...(remove ? [button("✕", remove)] : []),
    ]);
    const box = el("div", { class: "rb-group" }, [head]);
    children.forEach((child, i) => {
      box.appendChild(nodeView(child,
        (fresh) => { if (kind === "not") node.not = fresh; else node[kind][i] = fresh; },
        kind === "not" ? null : () => { node[kind].splice(i, 1); changed(); }));
    });
    if (kind !== "not") {
      box.appendChild(el("div", { class: "rb-row" }, [
        button("+ condition", () => { node[kind].push(newCondition()); changed(); }),
        button("+ group", () => { node[kind].push({ any: [newCondition()] }); changed(); }),
      ]));
    }
    return box;
  }

  function render() {
    root.innerHTML = "";
    if (tree === null) {
      root.appendChild(el("p", { text: "The JSON below is not valid: fix it, or " }));
      root.appendChild(button("start a new rule", () => { tree = { all: [newCondition()] }; changed(); }));
      return;
    }
    root.appendChild(nodeView(tree, (fresh) => { tree = fresh; }, null));
  }

  function preview() {
    if (tree === null) return;
    const token = document.querySelector("[name=csrfmiddlewaretoken]");
    fetch(root.dataset.previewUrl, {
      method: "POST",
      credentials: "same-origin",
      headers: { "Content-Type": "application/json", "X-CSRFToken": token ? token.value : "" },
      body: JSON.stringify({ rule: tree, segment_id: segmentId }),
    }).then((r) => r.json()).then((data) => {
      out.innerHTML = "";
      if (data.error) {
        out.appendChild(el("span", { class: "error", text: `${data.error.path}: ${data.error.message}` }));
        return;
      }
      out.appendChild(el("strong", { text: `${data.count.toLocaleString()} people now` }));
      const sample = el("div", {}, [el("span", { text: "Sample: " })]);
      data.sample.forEach((p) => sample.appendChild(el("a", { href: p.url, text: p.name + " " })));
      out.appendChild(sample);
      const words = el("div");
      words.innerHTML = data.words; // built by the server with escaping (format_html)
      out.appendChild(words);
    }).catch(() => { out.textContent = "Preview unavailable."; });
  }

  try { tree = area.value.trim() && area.value.trim() !== "null" ? JSON.parse(area.value) : { all: [newCondition()] }; }
  catch (e) { tree = null; }
  area.addEventListener("change", () => {
    try { tree = JSON.parse(area.value); } catch (e) { tree = null; }
    render(); preview();
  });
  render();
  if (area.value.trim() && area.value.trim() !== "null") preview();
})();
