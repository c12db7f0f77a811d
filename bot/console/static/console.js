"use strict";
// hrbot sandbox console: chat with the bot through the Feishu emulator; cards are drawn from their JSON 2.0.

const $ = (selector) => document.querySelector(selector);

const state = {
  bot: { open_id: "", name: "hrbot" },
  personas: [],
  chats: [],
  commands: [],
  timezone: undefined,
  messages: new Map(), // message_id → message, as the emulator stores it
  unread: {}, // chat_id → count of messages that arrived while another chat was open
  persona: localStorage.getItem("hrbot.console.persona") || "",
  chatKey: localStorage.getItem("hrbot.console.chat") || "p2p", // "p2p" = the current persona's chat with the bot
};

// HTTP -------------------------------------------------------------------------------------------------------------
async function api(path, body) {
  const init = body === undefined ? {} : {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify(body),
  };
  const response = await fetch(`/console/api/${path}`, init);
  const data = await response.json().catch(() => ({}));
  if (!response.ok) throw new Error(data.error || `HTTP ${response.status}`);
  return data;
}

// Small DOM helpers ------------------------------------------------------------------------------------------------
function el(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined) node.textContent = text;
  return node;
}

function escapeHtml(text) {
  return String(text ?? "").replace(/[&<>"']/g, (c) => (
    { "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" }[c]
  ));
}

const textOf = (t) => (t && typeof t === "object" ? String(t.content ?? "") : String(t ?? ""));

function nameOf(openId) {
  if (openId === state.bot.open_id) return state.bot.name;
  if (openId === "all") return "所有人";
  return state.personas.find((p) => p.open_id === openId)?.name || openId;
}

// Markdown: escape first, then a small safe subset (bold, strike, code, links, lists, headings, @, font colour).
const SAFE_URL = /^(https?:|mailto:|lark:)/i;
const QUOTE = "(?:&quot;|&#39;)?";
const AT = new RegExp(`&lt;at (?:id|open_id|user_id)=${QUOTE}([\\w-]+)${QUOTE}&gt;&lt;/at&gt;`, "g");
const FONT = new RegExp(`&lt;font color=${QUOTE}([a-z-]+)${QUOTE}&gt;(.*?)&lt;/font&gt;`, "g");

function inline(text) {
  const codes = [];
  let s = text.replace(/`([^`]+)`/g, (_, code) => `\u0000${codes.push(code) - 1}\u0000`);
  s = s.replace(/\[([^\]]+)\]\(([^)\s]+)\)/g, (_, label, url) => (SAFE_URL.test(url)
    ? `<a href="${url}" target="_blank" rel="noopener noreferrer">${label}</a>` : label));
  // Masked ids and names (110****1234, 张*) must stay literal: bold needs non-space, non-* ends.
  s = s.replace(/\*\*([^*\s](?:[^*]*?[^*\s])?)\*\*/g, "<strong>$1</strong>");
  s = s.replace(/~~([^~]+)~~/g, "<del>$1</del>");
  s = s.replace(AT, (_, id) => `<span class="mention">@${escapeHtml(nameOf(id))}</span>`);
  s = s.replace(FONT, (_, colour, body) => `<span class="fc fc-${colour}">${body}</span>`);
  return s.replace(/\u0000(\d+)\u0000/g, (_, i) => `<code>${codes[Number(i)]}</code>`);
}

function markdown(source) {
  let html = "";
  let list = "";
  const close = () => { if (list) html += `</${list}>`; list = ""; };
  for (const line of escapeHtml(source).split("\n")) {
    const bullet = /^\s*[-*+]\s+(.*)$/.exec(line);
    const numbered = /^\s*\d+[.)]\s+(.*)$/.exec(line);
    const heading = /^#{1,6}\s+(.*)$/.exec(line);
    const item = bullet || numbered;
    if (item) {
      const kind = bullet ? "ul" : "ol";
      if (list !== kind) { close(); html += `<${kind}>`; list = kind; }
      html += `<li>${inline(item[1])}</li>`;
    } else if (heading) {
      close();
      html += `<div class="md-h">${inline(heading[1])}</div>`;
    } else {
      close();
      html += `${inline(line)}<br>`;
    }
  }
  close();
  // Numeric character references (how the bot escapes untrusted text, as Feishu documents) show as the character.
  html = html.replace(/&amp;#(\d{1,7});/g, "&#$1;");
  return html.replace(/<br>(<[uo]l>|<div)/g, "$1").replace(/<br>$/, "");
}

// Card rendering ---------------------------------------------------------------------------------------------------
function callbackValue(element) {
  const behaviors = element.behaviors || [];
  const callback = behaviors.find((b) => b.type === "callback") || behaviors[0];
  return callback?.value ?? element.value ?? null;
}

function renderCard(card, messageId) {
  const root = el("div", "card");
  const header = card.header;
  if (header && (textOf(header.title) || textOf(header.subtitle))) {
    const head = el("div", `card-header tpl-${header.template || "default"}`);
    head.append(el("div", "card-title", textOf(header.title)));
    if (header.subtitle) head.append(el("div", "card-subtitle", textOf(header.subtitle)));
    root.append(head);
  }
  const body = el("div", "card-body");
  renderElements(card.body?.elements ?? card.elements ?? [], body, { messageId });
  root.append(body);
  return root;
}

function renderElements(elements, parent, ctx) {
  for (const element of elements || []) parent.append(renderElement(element || {}, ctx));
}

const RENDERERS = {
  markdown(e) {
    const node = el("div", `md${e.text_size === "notation" ? " notation" : ""}`);
    if (e.text_align) node.style.textAlign = e.text_align;
    node.innerHTML = markdown(e.content);
    return node;
  },
  div(e) {
    const node = el("div", "div-text");
    if (e.text) node.append(richText(e.text, e.text.text_size === "notation" ? "notation" : ""));
    if (Array.isArray(e.fields)) {
      const grid = el("div", "fields");
      for (const field of e.fields) grid.append(richText(field.text, field.is_short ? "field short" : "field"));
      node.append(grid);
    }
    return node;
  },
  hr: () => el("hr"),
  column_set(e, ctx) {
    const row = el("div", "column-set");
    if (e.horizontal_spacing) row.style.gap = e.horizontal_spacing;
    for (const column of e.columns || []) row.append(RENDERERS.column(column, ctx));
    return row;
  },
  column(e, ctx) {
    const column = el("div", "column");
    if (e.width === "weighted") column.style.flex = `${e.weight || 1} 1 0`;
    else if (/^\d+px$/.test(e.width || "")) column.style.flex = `0 0 ${e.width}`;
    else column.style.flex = "0 1 auto";
    if (e.vertical_align) column.style.alignSelf = { top: "flex-start", center: "center", bottom: "flex-end" }[e.vertical_align] || "";
    renderElements(e.elements, column, ctx);
    return column;
  },
  table: renderTable,
  collapsible_panel(e, ctx) {
    const panel = el("details", "panel");
    panel.open = Boolean(e.expanded);
    const summary = el("summary");
    summary.append(richText(e.header?.title, "panel-title"));
    panel.append(summary);
    const body = el("div", "panel-body");
    renderElements(e.elements, body, ctx);
    panel.append(body);
    return panel;
  },
  img(e) {
    const image = el("img", "card-img");
    image.alt = textOf(e.alt);
    image.src = `/console/api/images/${encodeURIComponent(e.img_key || "")}`;
    image.addEventListener("error", () => image.replaceWith(placeholder(`图片 ${e.img_key || ""} 不可用`)));
    return image;
  },
  chart: renderChart,
  button: renderButton,
  select_static: renderSelect,
  input: renderInput,
  form(e, ctx) {
    const form = el("div", "card-form");
    form.dataset.form = e.name || "";
    renderElements(e.elements, form, { ...ctx, form });
    return form;
  },
};

// A line or bar chart from chart_spec's data.values (xField, yField, seriesField), drawn as SVG: enough to read
// the card in the sandbox; Feishu draws the full VChart spec. Other chart types show as a placeholder.
const SERIES_COLOURS = ["#3370ff", "#ff8800", "#34c724", "#f54a45", "#7f3bf5", "#14c0ff"];

function svg(tag, attributes, text) {
  const node = document.createElementNS("http://www.w3.org/2000/svg", tag);
  for (const [name, value] of Object.entries(attributes)) node.setAttribute(name, String(value));
  if (text !== undefined) node.textContent = text;
  return node;
}

function renderChart(e) {
  const spec = e.chart_spec || {};
  const values = Array.isArray(spec.data?.values) ? spec.data.values : Array.isArray(spec.data) ? spec.data[0]?.values || [] : [];
  if (!["line", "bar"].includes(spec.type) || !spec.xField || !spec.yField || !values.length) {
    return placeholder(`图表（${spec.type || "未知类型"}）：控制台只画折线图和柱状图`);
  }
  const xs = [...new Set(values.map((v) => String(v[spec.xField])))];
  const seriesNames = [...new Set(values.map((v) => String(spec.seriesField ? v[spec.seriesField] : "")))];
  const top = Math.max(...values.map((v) => Number(v[spec.yField]) || 0), 0) || 1;
  const [width, height, left, bottom, pad] = [520, 240, 44, 28, 10];
  const plotW = width - left - pad;
  const plotH = height - bottom - pad;
  const x = (i) => left + (xs.length === 1 ? plotW / 2 : (i * plotW) / (xs.length - 1));
  const y = (value) => pad + plotH - (value / top) * plotH;
  const figure = el("figure", "card-chart");
  const title = textOf(spec.title?.text ?? spec.title);
  if (title) figure.append(el("figcaption", "chart-title", title));
  const drawing = svg("svg", { viewBox: `0 0 ${width} ${height}`, role: "img" });
  drawing.append(svg("line", { x1: left, y1: pad + plotH, x2: width - pad, y2: pad + plotH, class: "chart-axis" }));
  drawing.append(svg("text", { x: left - 6, y: pad + 4, "text-anchor": "end", class: "chart-label" }, top.toFixed(2)));
  drawing.append(svg("text", { x: left - 6, y: pad + plotH, "text-anchor": "end", class: "chart-label" }, "0"));
  for (const [i, label] of xs.entries()) {
    if (i === 0 || i === xs.length - 1 || i % Math.ceil(xs.length / 6) === 0) {
      const anchor = i === 0 ? "start" : i === xs.length - 1 ? "end" : "middle";
      drawing.append(svg("text", { x: x(i), y: height - 8, "text-anchor": anchor, class: "chart-label" }, label));
    }
  }
  seriesNames.forEach((name, s) => {
    const colour = SERIES_COLOURS[s % SERIES_COLOURS.length];
    const points = values
      .filter((v) => String(spec.seriesField ? v[spec.seriesField] : "") === name)
      .map((v) => [xs.indexOf(String(v[spec.xField])), Number(v[spec.yField]) || 0]);
    if (spec.type === "line") {
      const path = points.map(([i, v]) => `${x(i)},${y(v)}`).join(" ");
      drawing.append(svg("polyline", { points: path, fill: "none", stroke: colour, "stroke-width": 2, class: "chart-series" }));
    } else {
      const slot = plotW / Math.max(xs.length, 1) / seriesNames.length;
      for (const [i, v] of points) {
        const barX = left + (i * plotW) / Math.max(xs.length, 1) + s * slot;
        drawing.append(svg("rect", { x: barX, y: y(v), width: Math.max(slot - 1, 1), height: pad + plotH - y(v), fill: colour, class: "chart-series" }));
      }
    }
  });
  figure.append(drawing);
  if (spec.seriesField) {
    const legend = el("div", "chart-legend");
    seriesNames.forEach((name, s) => {
      const item = el("span", "chart-legend-item", name);
      item.style.setProperty("--swatch", SERIES_COLOURS[s % SERIES_COLOURS.length]);
      legend.append(item);
    });
    figure.append(legend);
  }
  return figure;
}

function renderElement(element, ctx) {
  const render = Object.hasOwn(RENDERERS, element.tag) ? RENDERERS[element.tag] : null;
  return render ? render(element, ctx) : placeholder(`不支持的元素：${element.tag || "(无 tag)"}`);
}

function placeholder(text) {
  return el("div", "unsupported", text);
}

function richText(text, className) {
  const node = el("div", className);
  if (text?.tag === "lark_md" || text?.tag === "markdown") node.innerHTML = markdown(textOf(text));
  else node.textContent = textOf(text);
  return node;
}

// As Feishu's clients draw a table: columns keep their width (at least 80 px, `width` when given), a cell too narrow
// for its text ends in "…" (the full text on hover), and the table scrolls sideways inside the card, with a shadow
// on the side where more columns are; `freeze_first_column` keeps the first column in place.
const MIN_COLUMN_PX = 80;

function columnWidth(column) {
  const width = String(column.width || "auto");
  if (/^\d+px$/.test(width)) return `${Math.min(600, Math.max(MIN_COLUMN_PX, parseInt(width, 10)))}px`;
  if (/^\d+%$/.test(width)) return width;
  return "";
}

function renderTable(e) {
  const columns = e.columns || [];
  const rows = e.rows || [];
  const pageSize = Math.max(1, e.page_size || 10);
  const wrap = el("div", "table-wrap");
  const scroller = el("div", "table-scroll");
  const table = el("table");
  if (e.freeze_first_column) table.classList.add("frozen");
  const colgroup = el("colgroup");
  for (const column of columns) {
    const col = el("col");
    const width = columnWidth(column);
    if (width) col.style.width = width;
    colgroup.append(col);
  }
  const headRow = el("tr");
  for (const column of columns) {
    const th = el("th", "", column.display_name ?? column.name);
    th.title = th.textContent;
    headRow.append(th);
  }
  const thead = el("thead");
  const tbody = el("tbody");
  thead.append(headRow);
  table.append(colgroup, thead, tbody);
  scroller.append(table);
  wrap.append(scroller);
  const shade = () => {
    const more = scroller.scrollWidth - scroller.clientWidth;
    wrap.classList.toggle("more-right", more > 1 && scroller.scrollLeft < more - 1);
    wrap.classList.toggle("more-left", scroller.scrollLeft > 1);
  };
  scroller.addEventListener("scroll", shade, { passive: true });
  new ResizeObserver(shade).observe(scroller);
  const pages = Math.ceil(rows.length / pageSize);
  let page = 0;
  const pager = el("div", "pager");
  const draw = () => {
    tbody.replaceChildren(...rows.slice(page * pageSize, (page + 1) * pageSize).map((row) => {
      const tr = el("tr");
      for (const column of columns) tr.append(tableCell(column, row[column.name]));
      return tr;
    }));
    requestAnimationFrame(shade);
    pager.replaceChildren();
    if (pages < 2) return;
    const prev = el("button", "link", "上一页");
    const next = el("button", "link", "下一页");
    prev.type = next.type = "button";
    prev.disabled = page === 0;
    next.disabled = page === pages - 1;
    prev.onclick = () => { page -= 1; draw(); };
    next.onclick = () => { page += 1; draw(); };
    pager.append(prev, el("span", "", `${page + 1} / ${pages}`), next);
  };
  draw();
  wrap.append(pager);
  return wrap;
}

function tableCell(column, value) {
  const td = el("td");
  if (column.data_type === "lark_md" || column.data_type === "markdown") {
    td.innerHTML = markdown(value);
  } else if (column.data_type === "number" && typeof value === "number") {
    // As Feishu formats a number column: fixed decimals, thousands separator when asked.
    const format = column.format || {};
    const digits = format.precision ?? 0;
    td.className = "num";
    td.textContent = (format.symbol || "") + value.toLocaleString("en-US", {
      minimumFractionDigits: digits, maximumFractionDigits: digits, useGrouping: Boolean(format.separator),
    });
  } else if (Array.isArray(value)) {
    td.textContent = value.map((v) => (typeof v === "object" ? v.text ?? v.name ?? v.id ?? "" : v)).join("、");
  } else {
    td.textContent = value ?? "";
  }
  td.title = td.textContent;
  return td;
}

const BUTTON_KINDS = { primary: "primary", primary_filled: "primary", laser: "primary", danger: "danger",
  danger_filled: "danger", text: "text", primary_text: "text", danger_text: "text" };

function renderButton(e, ctx) {
  const button = el("button", `card-btn ${BUTTON_KINDS[e.type] || "default"}`, textOf(e.text));
  button.type = "button";
  button.disabled = Boolean(e.disabled);
  const url = (e.behaviors || []).find((b) => b.type === "open_url");
  button.addEventListener("click", () => {
    if (ctx.form && e.form_action_type === "reset") return resetForm(ctx.form);
    if (ctx.form && e.form_action_type === "submit") return submitForm(ctx, callbackValue(e) || {}, button);
    if (url && !callbackValue(e)) return window.open(url.default_url || url.url, "_blank", "noopener");
    return sendAction(ctx.messageId, { value: callbackValue(e) || {}, tag: "button" }, button);
  });
  return button;
}

function labelled(e, control) {
  const wrap = el("label", "field-wrap");
  const label = textOf(e.label);
  if (label) wrap.append(el("span", "field-label", label));
  wrap.append(control);
  return wrap;
}

function renderSelect(e, ctx) {
  const select = el("select", "card-select");
  const prompt = el("option", "", textOf(e.placeholder) || "请选择");
  prompt.value = "";
  prompt.disabled = true;
  select.append(prompt);
  for (const option of e.options || []) {
    const node = el("option", "", textOf(option.text));
    node.value = option.value ?? "";
    select.append(node);
  }
  select.value = e.initial_option ?? "";
  if (ctx.form) {
    Object.assign(select.dataset, { name: e.name || "", required: e.required ? "1" : "", label: textOf(e.placeholder) });
  } else {
    select.addEventListener("change", () => sendAction(ctx.messageId, {
      value: callbackValue(e) || {}, option: select.value, tag: "select_static",
    }, select));
  }
  return labelled(e, select);
}

function renderInput(e, ctx) {
  const multiline = e.input_type === "multiline_text";
  const input = el(multiline ? "textarea" : "input", "card-input");
  if (!multiline) input.type = e.input_type === "password" ? "password" : "text";
  input.placeholder = textOf(e.placeholder);
  input.value = e.default_value ?? "";
  if (e.max_length) input.maxLength = e.max_length;
  if (ctx.form) {
    Object.assign(input.dataset, { name: e.name || "", required: e.required ? "1" : "", label: textOf(e.label) });
  }
  return labelled(e, input);
}

function formControls(form) {
  return [...form.querySelectorAll("[data-name]")];
}

function resetForm(form) {
  for (const control of formControls(form)) control.value = "";
}

function submitForm(ctx, value, button) {
  const missing = [];
  const formValue = {};
  for (const control of formControls(ctx.form)) {
    const empty = control.value.trim() === "";
    control.classList.toggle("invalid", empty && control.dataset.required === "1");
    if (empty && control.dataset.required === "1") missing.push(control.dataset.label.replace(/\s*\*$/, ""));
    // Feishu sends every named input; a select nobody chose is left out.
    if (control.tagName !== "SELECT" || !empty) formValue[control.dataset.name] = control.value;
  }
  if (missing.length) return toast({ type: "warning", content: `请填写：${missing.join("、")}` });
  return sendAction(ctx.messageId, { value, form_value: formValue, tag: "button" }, button);
}

// The answer's card also reaches the page as an "update" event, in order with later patches: only the toast is used here.
async function sendAction(messageId, action, control) {
  control.disabled = true;
  control.classList.add("busy");
  try {
    const answer = await api("click", { user: state.persona, message_id: messageId, ...action });
    if (answer.toast) toast(answer.toast);
    else if (answer.status !== 200) toast({ type: "error", content: `回调失败（HTTP ${answer.status}）` });
  } catch (error) {
    toast({ type: "error", content: `回调失败：${error.message}` });
  } finally {
    control.disabled = false;
    control.classList.remove("busy");
  }
}

// Messages ---------------------------------------------------------------------------------------------------------
function chatId() {
  if (state.chatKey !== "p2p") return state.chatKey;
  return state.chats.find((c) => c.chat_type === "p2p" && c.members.includes(state.persona))?.chat_id || "";
}

function currentChat() {
  return state.chats.find((c) => c.chat_id === chatId());
}

function renderMessage(message) {
  const fromBot = message.sender === state.bot.open_id;
  const mine = message.sender === state.persona;
  const row = el("div", `msg ${fromBot ? "from-bot" : mine ? "mine" : "other"}`);
  row.dataset.id = message.message_id;
  row.append(el("div", "avatar", nameOf(message.sender).slice(0, 1)));
  const body = el("div", "msg-body");
  const time = new Date(message.created_at * 1000).toLocaleTimeString("zh-CN", { hour12: false, timeZone: state.timezone });
  let meta = `${nameOf(message.sender)} · ${time}`;
  const parent = message.reply_to && state.messages.get(message.reply_to);
  if (parent) meta += ` · 回复 ${nameOf(parent.sender)}：${preview(parent)}`;
  body.append(el("div", "meta", meta));
  if (message.msg_type === "interactive" && message.content && typeof message.content === "object") {
    body.append(renderCard(message.content, message.message_id));
  } else if (message.msg_type === "file" && message.content?.file_key) {
    const bubble = el("div", "bubble");
    const link = el("a", "file", `📎 ${message.content.file_name || "文件"}`);
    link.title = "下载文件";
    link.href = `/console/api/files/${encodeURIComponent(message.content.file_key)}`;
    bubble.append(link);
    body.append(bubble);
  } else {
    body.append(el("div", "bubble", String(message.content?.text ?? JSON.stringify(message.content))));
  }
  row.append(body);
  return row;
}

function preview(message) {
  const text = message.content?.text ?? textOf(message.content?.header?.title);
  return text.length > 24 ? `${text.slice(0, 24)}…` : text;
}

function remember(message) {
  const known = state.messages.get(message.message_id);
  if (known && known.version > message.version) return false;
  state.messages.set(message.message_id, message);
  return true;
}

function showIncoming(kind, message) {
  if (!remember(message)) return;
  if (message.chat_id !== chatId()) {
    if (kind === "new") state.unread[message.chat_id] = (state.unread[message.chat_id] || 0) + 1;
    renderChats();
    return;
  }
  const list = $("#messages");
  const existing = list.querySelector(`[data-id="${CSS.escape(message.message_id)}"]`);
  const node = renderMessage(message);
  if (existing) {
    existing.replaceWith(node);
    node.classList.add("updated");
    // An update to a card scrolled out of sight (a slow job finishing) is brought back, title first.
    const box = node.getBoundingClientRect();
    const view = list.getBoundingClientRect();
    if (box.top < view.top || box.top > view.bottom - 40) node.scrollIntoView({ block: "start", behavior: "smooth" });
  } else {
    list.querySelector(".empty")?.remove();
    list.append(node);
    node.scrollIntoView({ block: "end" });
  }
}

function renderMessages() {
  const list = $("#messages");
  const id = chatId();
  const messages = [...state.messages.values()].filter((m) => m.chat_id === id)
    .sort((a, b) => a.created_at - b.created_at);
  list.replaceChildren(...messages.map(renderMessage));
  if (!messages.length) list.append(el("div", "empty", "还没有消息。发送「帮助」看看 hrbot 能做什么。"));
  list.scrollTop = list.scrollHeight;
}

// Sidebar ----------------------------------------------------------------------------------------------------------
function renderPersonas() {
  const box = $("#personas");
  box.replaceChildren(...state.personas.map((persona) => {
    const button = el("button", "persona", `${persona.role_label} · ${persona.name}`);
    button.type = "button";
    button.setAttribute("role", "radio");
    button.setAttribute("aria-checked", String(persona.open_id === state.persona));
    button.onclick = () => {
      state.persona = persona.open_id;
      localStorage.setItem("hrbot.console.persona", persona.open_id);
      renderAll();
    };
    return button;
  }));
}

function renderChats() {
  const entries = [{ key: "p2p", label: "与 hrbot 私聊", chat: state.chats.find((c) => c.chat_type === "p2p" && c.members.includes(state.persona)) }]
    .concat(state.chats.filter((c) => c.chat_type === "group").map((c) => ({ key: c.chat_id, label: c.name, chat: c })));
  $("#chats").replaceChildren(...entries.map(({ key, label, chat }) => {
    const button = el("button", `chat${key === state.chatKey ? " active" : ""}`, label);
    button.type = "button";
    const unread = chat ? state.unread[chat.chat_id] : 0;
    if (unread) button.append(el("span", "badge", String(unread)));
    button.onclick = () => openChat(key);
    return button;
  }));
}

function openChat(key) {
  state.chatKey = key;
  localStorage.setItem("hrbot.console.chat", key);
  renderAll();
}

function renderHeader() {
  const chat = currentChat();
  const group = chat?.chat_type === "group";
  $("#chat-title").textContent = group ? chat.name : `与 hrbot 私聊 · ${nameOf(state.persona)}`;
  const members = chat ? chat.members.map(nameOf).join("、") : "";
  const outsider = group && !chat.members.includes(state.persona) ? `（${nameOf(state.persona)} 不在群里，仅供演示）` : "";
  $("#chat-sub").textContent = members ? `成员：${members}${outsider}` : "";
  $("#text").placeholder = group ? "输入消息，发送时自动 @hrbot（例：帮助）" : "输入消息（例：帮助），回车发送";
}

function renderChips() {
  $("#chips").replaceChildren(...state.commands.map((command) => {
    const chip = el("button", "chip", command.example);
    chip.type = "button";
    chip.title = command.summary;
    chip.onclick = () => { $("#text").value = command.example; $("#text").focus(); };
    return chip;
  }));
}

function renderClock(offsetMinutes) {
  const sign = offsetMinutes >= 0 ? "+" : "−";
  $("#clock").textContent = offsetMinutes ? `沙箱时钟：比现在 ${sign}${Math.abs(offsetMinutes)} 分钟` : "沙箱时钟：与现在一致";
}

function renderAll() {
  const id = chatId();
  if (id) delete state.unread[id];
  renderPersonas();
  renderChats();
  renderHeader();
  renderMessages();
}

// Toasts -----------------------------------------------------------------------------------------------------------
function toast({ type = "info", content = "" }) {
  const node = el("div", `toast ${type}`, content);
  node.setAttribute("role", "status");
  $("#toasts").append(node);
  setTimeout(() => node.remove(), 4000);
}

// Controls ---------------------------------------------------------------------------------------------------------
async function say(event) {
  event.preventDefault();
  const input = $("#text");
  let text = input.value.trim();
  if (!text) return;
  // In groups the bot only answers when mentioned, as in Feishu.
  if (currentChat()?.chat_type === "group" && !/@(hrbot|bot)\b/.test(text)) text = `@hrbot ${text}`;
  const button = $("#say button");
  button.disabled = true;
  try {
    await api("say", { user: state.persona, chat_id: chatId(), text });
    input.value = "";
  } catch (error) {
    toast({ type: "error", content: `发送失败：${error.message}` });
  } finally {
    button.disabled = false;
    input.focus();
  }
}

async function busy(button, label, work) {
  const original = button.textContent;
  button.disabled = true;
  button.textContent = label;
  try {
    await work();
  } catch (error) {
    toast({ type: "error", content: error.message });
  } finally {
    button.disabled = false;
    button.textContent = original;
  }
}

// Each feature's console buttons (e.g. run the digest now), as the server lists them.
function renderTasks(tasks) {
  const box = $("#tasks");
  box.replaceChildren();
  for (const task of tasks) {
    const button = document.createElement("button");
    button.type = "button";
    button.textContent = task.label;
    button.addEventListener("click", () => runTask(button, task));
    box.append(button);
  }
}

function runTask(button, task) {
  return busy(button, "运行中…", async () => {
    const answer = await api("task", { id: task.id });
    toast({ type: answer.kind, content: answer.message });
    if (answer.open_chat && answer.open_chat !== chatId() && state.chats.some((c) => c.chat_id === answer.open_chat)) {
      openChat(answer.open_chat);
    }
  });
}

// Long enough for any provider job's poll backoff (10× a 60 s first interval), well inside a dialog's 30 minutes.
const FAST_FORWARD_MINUTES = 10;

function advance() {
  return busy($("#advance"), "快进中…", async () => {
    const answer = await api("advance", { minutes: FAST_FORWARD_MINUTES });
    renderClock(answer.clock_offset_minutes);
    toast({ type: "success", content: `已快进 ${FAST_FORWARD_MINUTES} 分钟，待处理任务已完成（运行了 ${answer.jobs} 个轮询任务）` });
  });
}

// Ingress: which way events reach the bot -------------------------------------------------------------------------
const LONGCONN_STATUS = { connecting: "连接中", connected: "已连接", reconnecting: "重连中", stopped: "已停止" };

async function renderIngress() {
  const info = await api("ingress");
  const box = $("#ingress");
  if (info.mode !== "ws") {
    box.textContent = "事件通道：Webhook（HTTP 回调）";
  } else {
    const conn = info.longconn || {};
    const status = LONGCONN_STATUS[conn.status] || conn.status;
    box.textContent = `事件通道：长连接 · ${status} · 重连 ${conn.reconnects || 0} 次 · 服务端连接数 ${info.sandbox.connections}`;
  }
  box.dataset.mode = info.mode;
  $("#faults").hidden = info.mode !== "ws";
}

function fault(button) {
  const label = button.textContent;
  return busy(button, "…", async () => {
    await api("longconn/fault", { fault: button.dataset.fault, seconds: 10 });
    toast({ type: "info", content: `已触发：${label}` });
    await renderIngress();
  });
}

// A half-configured Feishu tenant (bot/sandbox/tenant.py): one switch per fault, for `hrbot doctor` to find ----------
const TENANT_ON = {
  missing_scopes: () => {
    const scope = prompt("未开通的权限（scope，多个用逗号分隔）", "corehr:compensation.insurance:read");
    return scope ? scope.split(",").map((s) => s.trim()).filter(Boolean) : null;
  },
  bot_capability_off: () => true,
  version_unpublished: () => true,
  outside_contacts: () => state.personas.filter((p) => p.role === "hr").map((p) => p.open_id),
  bot_not_in: () => state.chats.filter((c) => c.chat_type === "group").slice(0, 1).map((c) => c.chat_id),
  events_by_request_url: () => true,
};

const TENANT_OFF = { missing_scopes: [], bot_capability_off: false, version_unpublished: false, outside_contacts: [],
  bot_not_in: [], events_by_request_url: false };

function renderTenant(switches) {
  for (const button of document.querySelectorAll("#tenant button[data-tenant]")) {
    const value = switches[button.dataset.tenant];
    if (value !== undefined) button.setAttribute("aria-pressed", String(Array.isArray(value) ? value.length > 0 : value));
  }
}

function tenantSwitch(button) {
  const name = button.dataset.tenant;
  return busy(button, "…", async () => {
    let change;
    if (name === "clear") {
      change = TENANT_OFF;
    } else {
      const on = button.getAttribute("aria-pressed") !== "true";
      const value = on ? TENANT_ON[name]() : TENANT_OFF[name];
      if (value === null) return;
      change = { [name]: value };
    }
    renderTenant(await api("tenant", change));
    toast({ type: "info", content: "已切换：运行 hrbot doctor 查看它如何报告" });
  });
}

// Start ------------------------------------------------------------------------------------------------------------
async function load() {
  const data = await api("state");
  Object.assign(state, { bot: data.bot, personas: data.personas, chats: data.chats, commands: data.commands,
    timezone: data.timezone });
  if (!state.personas.some((p) => p.open_id === state.persona)) state.persona = state.personas[0]?.open_id || "";
  if (state.chatKey !== "p2p" && !state.chats.some((c) => c.chat_id === state.chatKey)) state.chatKey = "p2p";
  for (const messages of Object.values(data.messages)) messages.forEach(remember);
  renderClock(data.clock_offset_minutes);
  renderTasks(data.tasks);
  renderChips();
  renderAll();
  await renderIngress();
  renderTenant(await api("tenant"));
}

function connect() {
  const events = new EventSource("/console/api/events");
  const conn = $("#conn");
  // (Re)load the state once the stream is open, so nothing sent in between is missed.
  events.onopen = () => load().then(() => {
    conn.textContent = "● 已连接";
    conn.classList.add("ok");
    document.body.dataset.ready = "1";
  }).catch((error) => toast({ type: "error", content: `加载失败：${error.message}` }));
  events.onmessage = (event) => {
    const { kind, message } = JSON.parse(event.data);
    showIncoming(kind, message);
  };
  events.onerror = () => {
    conn.textContent = "○ 连接中断，正在重连…";
    conn.classList.remove("ok");
  };
}

$("#say").addEventListener("submit", say);
$("#advance").addEventListener("click", advance);
document.querySelectorAll("#faults button").forEach((b) => b.addEventListener("click", () => fault(b)));
document.querySelectorAll("#tenant button").forEach((b) => b.addEventListener("click", () => tenantSwitch(b)));
setInterval(() => renderIngress().catch(() => {}), 2000);
connect();
