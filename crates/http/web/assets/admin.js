// The operator's console: one concert's room (state, census, settings and
// every change to them, each confirmed first), its last hour in charts, the
// invariants, the dead letters and the outbox. docs/API.md and docs/rooms.md
// describe what is read and changed here.

import uPlot from "./vendor/uplot/uPlot.esm.js";
import { formatCount, formatDateTime, formatSpan, formatWon, request, sessionJson } from "./api.js";
import { byId, clearError, clearTransientError, createScope, el, setText, showError } from "./dom.js";

const ADMIN_KEY = "boxoffice.admin";

const ROOM_REFRESH_MS = 2000;
const SAMPLES_REFRESH_MS = 5000;
const SLOW_REFRESH_MS = 10000;
const SAMPLE_MINUTES = 60;
const CHART_HEIGHT = 180;

const CONSOLE_REFUSALS = new Set(["ADMIN_KEY_INVALID", "ADMIN_DISABLED", "ADMIN_ROLE_REQUIRED", "AUTH_INVALID", "AUTH_EXPIRED"]);

// ------------------------------------------------------------ credentials

function credentials() {
  return sessionJson.read(ADMIN_KEY);
}

/** The admin key decides alone when given; else the admin's bearer token. */
function adminHeaders({ key, token } = {}) {
  if (key) return { "X-Admin-Key": key };
  if (token) return { Authorization: `Bearer ${token}` };
  return {};
}

function asAdmin(method, path, body) {
  return request(method, path, { body, headers: adminHeaders(credentials() ?? {}) });
}

/** Shows a failure; a refused key or token closes the console. */
function fail(error) {
  if (CONSOLE_REFUSALS.has(error.code)) closeConsole();
  showError(error);
}

// ---------------------------------------------------------------- sign-in

async function openConsole(event) {
  event.preventDefault();
  clearError();
  const given = {
    key: byId("admin-key-input").value.trim(),
    token: byId("admin-token-input").value.trim(),
  };
  try {
    // The cheapest admin call: it proves the key before it is kept.
    await request("GET", "/api/v1/admin/outbox", { headers: adminHeaders(given) });
  } catch (error) {
    showError(error);
    return;
  }
  sessionJson.write(ADMIN_KEY, given);
  byId("admin-sign-in").reset();
  startConsole();
}

let consoleScope = createScope();
let concertScope = createScope();

function closeConsole() {
  consoleScope.end();
  concertScope.end();
  sessionJson.remove(ADMIN_KEY);
  byId("console-main").hidden = true;
  byId("console-account").hidden = true;
  byId("console-sign-in").hidden = false;
  focusHeading("console-sign-in");
}

/** Moves screen readers and the keyboard to the heading of what was opened. */
function focusHeading(sectionId) {
  const heading = byId(sectionId).querySelector("h1");
  heading.tabIndex = -1;
  heading.focus({ preventScroll: true });
}

async function startConsole() {
  byId("console-sign-in").hidden = true;
  byId("console-main").hidden = false;
  byId("console-account").hidden = false;
  focusHeading("console-main");
  consoleScope = createScope();
  try {
    await loadConcerts();
  } catch (error) {
    fail(error);
    return;
  }
  consoleScope.repeat(SAMPLES_REFRESH_MS, loadOutbox);
  consoleScope.repeat(SLOW_REFRESH_MS, loadInvariants);
  consoleScope.repeat(SLOW_REFRESH_MS, loadDeadLetters);
  watchConcert();
}

// -------------------------------------------------------------- concerts

const concertTitles = new Map();

async function loadConcerts() {
  const concerts = await request("GET", "/api/v1/concerts");
  concertTitles.clear();
  for (const { concertId, title } of concerts) concertTitles.set(concertId, title);
  const select = byId("concert-select");
  const chosen = credentials()?.concertId ?? concerts[0]?.concertId;
  select.replaceChildren(...concerts.map(({ concertId, title }) => el(
    "option",
    { value: concertId, selected: concertId === chosen },
    `${concertId}. ${title}`,
  )));
}

function selectedConcertId() {
  return Number(byId("concert-select").value);
}

function onConcertChosen() {
  sessionJson.write(ADMIN_KEY, { ...credentials(), concertId: selectedConcertId() });
  clearError();
  watchConcert();
}

/** Starts the refreshes of the chosen concert, ending those of the last one. */
function watchConcert() {
  concertScope.end();
  concertScope = createScope();
  if (!selectedConcertId()) return;
  lastRendered.clear();
  room = null;
  concertScope.repeat(ROOM_REFRESH_MS, loadRoom);
  concertScope.repeat(SAMPLES_REFRESH_MS, loadSamples);
  concertScope.repeat(SLOW_REFRESH_MS, loadAudit);
}

// The tables are rebuilt only when what they show changed, so a refresh
// never takes the keyboard focus away from a button in them.
const lastRendered = new Map();

function changed(name, data) {
  const text = JSON.stringify(data);
  if (lastRendered.get(name) === text) return false;
  lastRendered.set(name, text);
  return true;
}

/** Runs one refresh, showing its failure; a later success clears a passing one. */
async function refresh(load) {
  try {
    await load();
    clearTransientError();
  } catch (error) {
    fail(error);
  }
}

// ------------------------------------------------------------------ room

let room = null;

const roomPath = () => `/api/v1/admin/concerts/${selectedConcertId()}/room`;

function loadRoom() {
  return refresh(async () => {
    const concertId = selectedConcertId();
    const fresh = await asAdmin("GET", roomPath());
    if (concertId !== selectedConcertId()) return;
    const first = room === null;
    room = fresh;
    renderRoom(fresh);
    if (first) fillSettingForms(fresh);
  });
}

function renderRoom(shown) {
  const state = byId("room-state");
  state.dataset.state = shown.effectiveState;
  setText(state, shown.effectiveState);
  setText(byId("room-state-note"), stateNote(shown));
  const { census, flow, settings } = shown;
  setText(byId("census-pre-queued"), formatCount(census.preQueued));
  setText(byId("census-waiting"), formatCount(census.waiting));
  setText(byId("census-active"), formatCount(census.active));
  setText(byId("admitting-up-to"), formatCount(shown.admittingUpTo));
  setText(byId("sellable-seats"), shown.soldOut ? "0 (sold out)" : formatCount(shown.sellableSeats));
  setText(byId("admitted-total"), formatCount(flow.admittedTotal));
  setText(byId("no-show-rate"), `${Math.round(flow.noShowRate * 100)} %`);
  setText(byId("session-secs"), flow.sessionSecs === null ? "not seen yet" : formatSpan(flow.sessionSecs));
  setText(byId("setting-admit-per-minute"), formatCount(settings.admitPerMinute));
  setText(byId("setting-batch"), `${formatCount(settings.admitBatch)}, every ${formatSpan(settings.admitIntervalSecs)}`);
  setText(byId("setting-max-active"), formatCount(settings.maxActive));
  setText(byId("setting-active-ttl"), formatSpan(settings.activeTtlSecs));
  setText(byId("setting-abandon"), formatSpan(settings.abandonAfterSecs));
  setText(byId("sale-opens"), shown.saleOpensAt ? formatDateTime(shown.saleOpensAt) : "by hand");
  setText(byId("sale-closes"), shown.saleClosesAt ? formatDateTime(shown.saleClosesAt) : "not set");
  setText(byId("lottery"), lotteryText(shown));
}

/** Why the state in force differs from the one set, when it does. */
function stateNote({ state, effectiveState, preQueueOpensAt }) {
  if (state === "SCHEDULED" && effectiveState === "SCHEDULED") {
    return preQueueOpensAt ? `Scheduled; the pre-queue opens ${formatDateTime(preQueueOpensAt)}.` : "Scheduled; the pre-queue is open.";
  }
  if (state !== effectiveState) return `Set to ${state}; the sale's times make it ${effectiveState} now.`;
  return "";
}

function lotteryText({ lotteryCommitment, drawnAt }) {
  if (!lotteryCommitment) return "none";
  return drawnAt ? `${lotteryCommitment} (drawn ${formatDateTime(drawnAt)})` : lotteryCommitment;
}

function fillSettingForms({ settings, saleOpensAt }) {
  byId("admit-per-minute").value = String(settings.admitPerMinute);
  byId("max-active").value = String(settings.maxActive);
  byId("opens-at").value = saleOpensAt ? toLocalInputValue(saleOpensAt) : "";
}

/** An instant as a datetime-local input shows it: local, to the minute. */
function toLocalInputValue(instant) {
  const at = new Date(instant);
  const pad = (n) => String(n).padStart(2, "0");
  return `${at.getFullYear()}-${pad(at.getMonth() + 1)}-${pad(at.getDate())}T${pad(at.getHours())}:${pad(at.getMinutes())}`;
}

// ------------------------------------------------------- changing a room

// What each state button does, as the confirmation says it, from the
// state the room is in now.
const STATE_CHANGES = {
  open: (from) => `the room goes from ${from} to OPEN and starts admitting fans from the line.`
    + (from === "SCHEDULED" ? " The pre-queue is drawn into line at once." : ""),
  pause: (from) => `the room goes from ${from} to PAUSED. Nobody is admitted until it is resumed; fans in line keep their places.`,
  resume: (from) => `the room goes from ${from} to OPEN and admits fans from the line again.`,
  "pass-through": (from) => `the room goes from ${from} to PASS_THROUGH. New fans are let in at once while fewer than the cap are ACTIVE.`,
  close: (from) => `the room goes from ${from} to CLOSED. No new fan may join and nobody more is admitted; fans already admitted keep their time.`,
};

function onStateButton(button) {
  if (!room) return;
  const { roomState, verb } = button.dataset;
  changeRoom({ state: roomState }, `${titleOf()}: ${STATE_CHANGES[verb](room.effectiveState)}`);
}

function onSchedule(event) {
  event.preventDefault();
  const opensAt = new Date(byId("opens-at").value);
  const text = `${titleOf()}: the room goes from ${room?.effectiveState ?? "its state"} to SCHEDULED, `
    + `opening ${formatDateTime(opensAt)}. Fans may join a pre-queue shortly before, and are drawn into line at the opening.`;
  changeRoom({ state: "SCHEDULED", saleOpensAt: opensAt.toISOString() }, text);
}

function onApplyRate(event) {
  event.preventDefault();
  const wanted = numberOrDefault(byId("admit-per-minute").value);
  const text = `${titleOf()}: admissions go from ${formatCount(room?.settings.admitPerMinute ?? 0)} a minute `
    + `to ${wanted === null ? "the service's default" : `${formatCount(wanted)} a minute`}.`;
  changeRoom({ admitPerMinute: wanted }, text);
}

function onApplyCap(event) {
  event.preventDefault();
  const wanted = numberOrDefault(byId("max-active").value);
  const text = `${titleOf()}: the most fans ACTIVE at once goes from ${formatCount(room?.settings.maxActive ?? 0)} `
    + `to ${wanted === null ? "the service's default" : formatCount(wanted)}.`;
  changeRoom({ maxActive: wanted }, text);
}

/** A blank setting goes back to the configured default (null in the PATCH). */
function numberOrDefault(text) {
  return text.trim() === "" ? null : Number(text);
}

function titleOf() {
  return concertTitles.get(selectedConcertId()) ?? `Concert ${selectedConcertId()}`;
}

async function changeRoom(patch, description) {
  if (!(await confirmChange(description))) return;
  clearError();
  try {
    fillSettingForms(await asAdmin("PATCH", roomPath(), patch));
  } catch (error) {
    fail(error);
  }
  // Read again whatever the answer: a refusal may mean the room moved on.
  await Promise.all([loadRoom(), loadAudit()]);
}

/** Asks in the dialog; resolves true only for "Confirm". */
function confirmChange(description) {
  const dialog = byId("confirm");
  setText(byId("confirm-text"), description);
  dialog.returnValue = "";
  dialog.showModal();
  return new Promise((resolve) => {
    dialog.addEventListener("close", () => resolve(dialog.returnValue === "confirm"), { once: true });
  });
}

// ---------------------------------------------------------------- charts

// Each chart: its series (colours, and dashes that tell the seat series
// apart without colour), how its values are written, and its columns.
const CHARTS = {
  line: {
    series: [{ label: "In line", stroke: "#3157d5", fill: "rgba(49, 87, 213, 0.12)" }],
    format: formatCount,
    columns: (samples) => [samples.map((s) => s.preQueued + s.waiting)],
  },
  admissions: {
    series: [{ label: "Admitted a minute", stroke: "#0f7b6c", fill: "rgba(15, 123, 108, 0.12)" }],
    format: (value) => formatCount(Math.round(value)),
    columns: (samples) => [admissionsPerMinute(samples)],
  },
  active: {
    series: [{ label: "ACTIVE", stroke: "#8a3ffc", fill: "rgba(138, 63, 252, 0.12)" }],
    format: formatCount,
    columns: (samples) => [samples.map((s) => s.active)],
  },
  seats: {
    series: [
      { label: "Available", stroke: "#1f8a4c" },
      { label: "Held", stroke: "#b26b00", dash: [8, 4] },
      { label: "Sold", stroke: "#3a4150", dash: [2, 3] },
    ],
    format: formatCount,
    columns: (samples) => [
      samples.map((s) => s.seatsAvailable),
      samples.map((s) => s.seatsHeld),
      samples.map((s) => s.seatsSold),
    ],
  },
  revenue: {
    series: [{ label: "Revenue", stroke: "#b0305a", fill: "rgba(176, 48, 90, 0.12)" }],
    format: formatWon,
    columns: (samples) => [samples.map((s) => s.revenue)],
  },
};

const charts = new Map();

function chartFor(name) {
  if (!charts.has(name)) charts.set(name, createChart(byId(`chart-${name}`), CHARTS[name]));
  return charts.get(name);
}

function createChart(container, { series, format }) {
  const show = (_, value) => (value === null || value === undefined ? "–" : format(value));
  const chart = new uPlot({
    width: chartWidth(container),
    height: CHART_HEIGHT,
    scales: { x: { time: true } },
    series: [
      { label: "Time", value: (_, secs) => (secs === null ? "–" : formatDateTime(secs * 1000, { seconds: true })) },
      ...series.map(({ label, stroke, fill, dash }) => ({ label, stroke, fill, dash, width: 2, value: show })),
    ],
    axes: [
      { stroke: "#4b5563", grid: { stroke: "#e5e7eb" } },
      { stroke: "#4b5563", grid: { stroke: "#e5e7eb" }, size: 56, values: (_, ticks) => ticks.map(compactNumber) },
    ],
  }, [[], ...series.map(() => [])], container);
  new ResizeObserver(() => chart.setSize({ width: chartWidth(container), height: CHART_HEIGHT })).observe(container);
  return chart;
}

function chartWidth(container) {
  return Math.max(container.clientWidth, 200);
}

const compact = new Intl.NumberFormat("en", { notation: "compact", maximumFractionDigits: 1 });

/** Axis ticks: 1.2K, 3.4M; the exact numbers are in the legend. */
function compactNumber(value) {
  return compact.format(value);
}

function loadSamples() {
  return refresh(async () => {
    const concertId = selectedConcertId();
    let answer;
    try {
      answer = await asAdmin("GET", `/api/v1/admin/concerts/${concertId}/samples?minutes=${SAMPLE_MINUTES}`);
    } catch (error) {
      // A service older than the samples endpoint answers NOT_FOUND: say
      // so beside the charts instead of flashing an error every refresh.
      if (error.code !== "NOT_FOUND") throw error;
      showSamplesNote("This service keeps no samples yet, so the charts stay empty.");
      return;
    }
    if (concertId !== selectedConcertId()) return;
    showSamplesNote(answer.samples.length ? "" : "No samples yet: the first comes within a sampling interval.");
    renderCharts(answer.samples);
  });
}

function showSamplesNote(text) {
  const note = byId("samples-note");
  note.hidden = text === "";
  setText(note, text);
}

function renderCharts(samples) {
  const times = samples.map((sample) => Date.parse(sample.at) / 1000);
  for (const [name, spec] of Object.entries(CHARTS)) {
    const columns = spec.columns(samples);
    chartFor(name).setData([times, ...columns]);
    renderLatest(name, spec, columns);
  }
}

/** The newest values in words, beside the chart, for those who cannot see it. */
function renderLatest(name, { series, format }, columns) {
  const parts = series.map(({ label }, i) => {
    const value = columns[i].at(-1);
    return `${label} ${value === null || value === undefined ? "–" : format(value)}`;
  });
  setText(byId(`latest-${name}`), columns[0].length ? `Latest: ${parts.join(", ")}` : "");
}

/** Admissions a minute over each gap between samples, from admittedTotal. */
function admissionsPerMinute(samples) {
  return samples.map((sample, i) => {
    if (i === 0) return null;
    const before = samples[i - 1];
    const minutes = (Date.parse(sample.at) - Date.parse(before.at)) / 60000;
    const admitted = sample.admittedTotal - before.admittedTotal;
    // A restart counts admittedTotal from zero again: no rate across it.
    return minutes > 0 && admitted >= 0 ? admitted / minutes : null;
  });
}

// ------------------------------------------------ health and the outbox

function loadInvariants() {
  return refresh(async () => renderInvariants(await asAdmin("GET", "/api/v1/admin/invariants")));
}

function renderInvariants(report) {
  const box = byId("invariants");
  box.dataset.ok = String(report.ok);
  setText(box, report.ok
    ? `Every invariant holds: ${plural(report.reservations, "reservation")}; ${formatWon(report.charged)} charged = ${formatWon(report.balances)} in balances + ${formatWon(report.paid)} paid.`
    : `Broken: ${plural(report.violations.length, "invariant")}.`);
  if (changed("violations", report.violations)) {
    byId("violations").replaceChildren(...report.violations.map((violation) => el("li", {}, violation)));
  }
}

function loadOutbox() {
  return refresh(async () => {
    const { unpublished, lagMs } = await asAdmin("GET", "/api/v1/admin/outbox");
    setText(byId("outbox"), unpublished === 0
      ? "Outbox: every event is published."
      : `Outbox: ${plural(unpublished, "event")} waiting to be published, the oldest for ${formatSpan(lagMs / 1000)}.`);
  });
}

function plural(count, noun) {
  return `${formatCount(count)} ${noun}${count === 1 ? "" : "s"}`;
}

// ---------------------------------------------------------- dead letters

function loadDeadLetters() {
  return refresh(async () => renderDeadLetters(await asAdmin("GET", "/api/v1/admin/dead-letters")));
}

function renderDeadLetters(letters) {
  byId("no-dead-letters").hidden = letters.length > 0;
  byId("dead-letters").hidden = letters.length === 0;
  if (changed("dead-letters", letters)) byId("dead-letter-rows").replaceChildren(...letters.map(deadLetterRow));
}

function deadLetterRow(letter) {
  // A replayed letter keeps its button: replaying it again is refused with
  // a message that says so.
  const replay = el("button", { type: "button", class: "button-quiet", onclick: () => replayDeadLetter(letter) }, `Replay ${letter.id}`);
  return el(
    "tr",
    {},
    el("td", { class: "number" }, String(letter.id)),
    el("td", {}, letter.eventType),
    el("td", {}, letter.consumer),
    el("td", { class: "number" }, String(letter.attempts)),
    el("td", { class: "wrap" }, letter.lastError),
    el("td", {}, formatDateTime(letter.failedAt)),
    el("td", {}, letter.replayedAt ? formatDateTime(letter.replayedAt) : "not yet"),
    el("td", {}, replay),
  );
}

async function replayDeadLetter(letter) {
  const text = `Deliver dead letter ${letter.id} (${letter.eventType}, for ${letter.consumer}) again. `
    + "It goes through the consumer's ledger, so it is never delivered twice.";
  if (!(await confirmChange(text))) return;
  clearError();
  try {
    await asAdmin("POST", `/api/v1/admin/dead-letters/${letter.id}/replay`);
  } catch (error) {
    fail(error);
  }
  await loadDeadLetters();
}

// ----------------------------------------------------------------- audit

function loadAudit() {
  return refresh(async () => {
    const concertId = selectedConcertId();
    const changes = await asAdmin("GET", `/api/v1/admin/concerts/${concertId}/room/audit`);
    if (concertId === selectedConcertId()) renderAudit(changes);
  });
}

function renderAudit(changes) {
  byId("no-audit").hidden = changes.length > 0;
  byId("audit").hidden = changes.length === 0;
  if (!changed("audit", changes)) return;
  byId("audit-rows").replaceChildren(...changes.map((change) => el(
    "tr",
    {},
    el("td", {}, formatDateTime(change.changedAt, { seconds: true })),
    el("td", {}, change.field),
    el("td", { class: "wrap" }, auditValue(change.field, change.oldValue)),
    el("td", { class: "wrap" }, auditValue(change.field, change.newValue)),
  )));
}

/** Audit values are text; times among them are epoch milliseconds. */
function auditValue(field, value) {
  if (value === null) return "not set";
  if (field === "saleOpensAt" || field === "saleClosesAt") return formatDateTime(Number(value));
  return value;
}

// ------------------------------------------------------------------ start

byId("admin-sign-in").addEventListener("submit", openConsole);
byId("close-console").addEventListener("click", closeConsole);
byId("concert-select").addEventListener("change", onConcertChosen);
byId("schedule-form").addEventListener("submit", onSchedule);
byId("rate-form").addEventListener("submit", onApplyRate);
byId("cap-form").addEventListener("submit", onApplyCap);
byId("check-invariants").addEventListener("click", loadInvariants);
byId("confirm-yes").addEventListener("click", () => byId("confirm").close("confirm"));
byId("confirm-no").addEventListener("click", () => byId("confirm").close("cancel"));
for (const button of document.querySelectorAll("[data-room-state]")) {
  button.addEventListener("click", () => onStateButton(button));
}

if (credentials()) startConsole();
else closeConsole();
