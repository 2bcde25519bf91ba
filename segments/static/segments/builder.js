/* Segment rule builder: edits the rule tree as forms, keeps the JSON field in sync, and
   shows a live count, a sample and the rule in words (the server validates every change).
   Typing updates the tree and, after a pause, the preview, without redrawing the form: a
   redraw under the pointer would swallow the click that ends the typing ("+ condition"). */
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
  const DEBOUNCE_MS = 400;
  const L = meta.labels;
  const T = L.texts;
  const code = (pair) => (Array.isArray(pair) ? pair[0] : pair);
  const DAY_OPS = ["within_last_days", "more_than_days_ago", "anniversary_within_days"];
  let tree = null;
  let timer = null;
  let asked = 0; // the latest preview asked for; older answers are dropped

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
  function input(value, onInput, cls, extra) {
    return el("input", Object.assign({ type: "text", value: value === undefined ? "" : value,
      class: cls || "", on: { input: (e) => { onInput(e.target.value); synced(); } } }, extra || {}));
  }
  function button(label, fn, extra) {
    return el("button", Object.assign({ type: "button", class: "button", text: label,
      on: { click: (e) => { e.preventDefault(); fn(); } } }, extra || {}));
  }
  function opLabels(ops) { return ops.map((op) => [op, L.ops[op] || op]); }
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

  // A value typed: the tree and the JSON follow at once, the preview after a pause.
  function synced() {
    area.value = JSON.stringify(tree, null, 2);
    clearTimeout(timer);
    out.dataset.state = "pending";
    timer = setTimeout(preview, DEBOUNCE_MS);
  }
  // A choice that changes the form's shape: redraw it too.
  function changed() {
    render();
    synced();
  }

  function fieldRow(node) {
    const row = [];
    const isTrait = node.field.startsWith("traits.");
    const type = isTrait ? "trait" : meta.field_types[node.field];
    const ops = isTrait ? meta.trait_ops : meta.fields[node.field] || [];
    row.push(select([...Object.keys(meta.fields).map((f) => [f, L.fields[f] || f]), ["traits.", T.custom_trait]],
      isTrait ? "traits." : node.field, (v) => {
        node.field = v === "traits." ? "traits.key" : v; changed();
      }));
    if (isTrait) row.push(input(node.field.slice(7), (v) => { node.field = "traits." + v; }, "",
      { placeholder: T.trait_key, "aria-label": T.trait_key }));
    row.push(select(opLabels(ops), node.op, (v) => {
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
      row.push(input(show(pair[0]), (v) => { pair[0] = parseValue(v, numeric); node.value = pair; }));
      row.push(el("span", { text: T.and }));
      row.push(input(show(pair[1]), (v) => { pair[1] = parseValue(v, numeric); node.value = pair; }));
    } else if (node.op === "in") {
      row.push(input(show(node.value), (v) => {
        node.value = v.split(",").map((x) => parseValue(x, numeric)).filter((x) => x !== "");
      }));
      row.push(el("span", { text: T.comma_separated }));
    } else if (!NO_VALUE.includes(node.op)) {
      row.push(input(show(node.value), (v) => {
        node.value = type === "text" ? v : parseValue(v, numeric);
      }, DAY_OPS.includes(node.op) ? "rb-short" : "", { "aria-label": L.ops[node.op] || node.op }));
      if (DAY_OPS.includes(node.op)) row.push(el("span", { text: T.days }));
    }
    return row;
  }

  function eventRow(node) {
    const spec = node.event;
    const row = [el("span", { text: T.performed }),
      input(spec.name, (v) => { spec.name = v; }, "",
        { list: "rb-event-names", placeholder: T.event_name, "aria-label": T.event_name })];
    row.push(select([["at_least", T.at_least], ["at_most", T.at_most], ["not_since_days", T.not_since_days]],
      node.op, (v) => {
        node.op = v;
        if (v === "not_since_days") { delete node.count; delete node.within_days; node.days = 30; }
        else { delete node.days; node.count = node.count || 1; }
        changed();
      }));
    if (node.op === "not_since_days") {
      row.push(input(node.days, (v) => { node.days = Number(v); }, "rb-short"));
      row.push(el("span", { text: T.days }));
    } else {
      row.push(input(node.count, (v) => { node.count = Number(v); }, "rb-short"));
      row.push(el("span", { text: T.times_within }));
      row.push(input(node.within_days === undefined ? "" : node.within_days, (v) => {
        if (v.trim() === "") delete node.within_days; else node.within_days = Number(v);
      }, "rb-short"));
      row.push(el("span", { text: T.days_or_ever }));
    }
    if ((spec.where || []).length) {
      row.push(el("span", { text: T.property_filters.replace("%(n)s", spec.where.length) }));
    }
    return row;
  }

  function conditionView(node, replace, remove) {
    const kind = kindOf(node);
    const row = [select(KINDS.map((k) => [k, L.kinds[k] || k]), kind, (v) => {
      const fresh = {
        field: newCondition(),
        event: { event: { name: "" }, op: "at_least", count: 1, within_days: 30 },
        consent: { consent: code(meta.purposes[0]) || "" },
        source: { source: code(meta.sources[0]) || "" },
        channel: { channel: code(meta.channels[0]) },
        segment: { segment: meta.segments.length ? meta.segments[0][0] : 0 },
      }[v];
      replace(fresh); changed();
    })];
    if (kind === "field") row.push(...fieldRow(node));
    else if (kind === "event") row.push(...eventRow(node));
    else if (kind === "consent") row.push(el("span", { text: T.may_be_contacted }),
      select(meta.purposes, node.consent, (v) => { node.consent = v; changed(); }));
    else if (kind === "source") row.push(select(meta.sources, node.source, (v) => { node.source = v; changed(); }));
    else if (kind === "channel") row.push(select(meta.channels, node.channel, (v) => { node.channel = v; changed(); }));
    else row.push(select(meta.segments.filter((s) => s[0] !== segmentId), node.segment,
      (v) => { node.segment = Number(v); changed(); }));
    if (remove) row.push(button("✕", remove, { title: T.remove, "aria-label": T.remove }));
    return el("div", { class: "rb-row" }, row);
  }

  function nodeView(node, replace, remove) {
    const kind = GROUPS.find((k) => k in node);
    if (!kind) return conditionView(node, replace, remove);
    const children = kind === "not" ? [node.not] : node[kind];
    const head = el("div", { class: "rb-row" }, [
      select([["all", T.all], ["any", T.any], ["not", T.none]], kind, (v) => {
        const kids = kind === "not" ? [node.not] : node[kind];
        replace(v === "not" ? { not: kids.length === 1 ? kids[0] : { [kind]: kids } } : { [v]: kids });
        changed();
      }),
      ...(remove ? [button("✕", remove, { title: T.remove, "aria-label": T.remove })] : []),
    ]);
    const box = el("div", { class: "rb-group" }, [head]);
    children.forEach((child, i) => {
      box.appendChild(nodeView(child,
        (fresh) => { if (kind === "not") node.not = fresh; else node[kind][i] = fresh; },
        kind === "not" ? null : () => { node[kind].splice(i, 1); changed(); }));
    });
    if (kind !== "not") {
      box.appendChild(el("div", { class: "rb-row" }, [
        button(T.add_condition, () => { node[kind].push(newCondition()); changed(); },
          { class: "button rb-add-condition" }),
        button(T.add_group, () => { node[kind].push({ any: [newCondition()] }); changed(); }),
      ]));
    }
    return box;
  }

  function render() {
    root.innerHTML = "";
    if (tree === null) {
      root.appendChild(el("p", { text: T.invalid_json }));
      root.appendChild(button(T.start_new, () => { tree = { all: [newCondition()] }; changed(); }));
      return;
    }
    root.appendChild(nodeView(tree, (fresh) => { tree = fresh; }, null));
  }

  function preview() {
    if (tree === null) return;
    const mine = ++asked;
    const token = document.querySelector("[name=csrfmiddlewaretoken]");
    fetch(root.dataset.previewUrl, {
      method: "POST",
      credentials: "same-origin",
      headers: { "Content-Type": "application/json", "X-CSRFToken": token ? token.value : "" },
      body: JSON.stringify({ rule: tree, segment_id: segmentId }),
    }).then((r) => r.json()).then((data) => {
      if (mine !== asked) return; // a newer preview is on its way
      out.dataset.state = "done";
      out.innerHTML = "";
      if (data.error) {
        out.appendChild(el("span", { class: "error", text: `${data.error.path}: ${data.error.message}` }));
        return;
      }
      out.appendChild(el("strong", { class: "rb-count",
        text: T.people_now.replace("%(n)s", data.count.toLocaleString(document.documentElement.lang || undefined)) }));
      const sample = el("div", {}, [el("span", { text: T.sample + " " })]);
      data.sample.forEach((p) => sample.appendChild(el("a", { href: p.url, text: p.name + " " })));
      out.appendChild(sample);
      const words = el("div");
      words.innerHTML = data.words; // built by the server with escaping (format_html)
      out.appendChild(words);
    }).catch(() => { if (mine === asked) { out.dataset.state = "done"; out.textContent = T.unavailable; } });
  }

  try { tree = area.value.trim() && area.value.trim() !== "null" ? JSON.parse(area.value) : { all: [newCondition()] }; }
  catch (e) { tree = null; }
  area.addEventListener("change", () => {
    try { tree = JSON.parse(area.value); } catch (e) { tree = null; }
    render(); preview();
  });
  const names = el("datalist", { id: "rb-event-names" },
    (meta.event_names || []).map((name) => el("option", { value: name })));
  root.parentNode.appendChild(names);
  render();
  if (area.value.trim() && area.value.trim() !== "null") preview();
})();
