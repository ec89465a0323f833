// Building elements, showing errors and running timers for the pages.
// Content goes in as text nodes only, never as HTML, so nothing from the
// API can become markup.

import { describeError, isTransient } from "./api.js";

/** The element with this id; a missing one is a bug in the page. */
export function byId(id) {
  const element = document.getElementById(id);
  if (!element) throw new Error(`the page has no #${id}`);
  return element;
}

/**
 * A new element. `attributes` are set as attributes, except `on*`
 * functions, which become listeners; `false`, null and undefined are left
 * out. Children are elements or text.
 */
export function el(tag, attributes = {}, ...children) {
  const element = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) {
    if (typeof value === "function" && name.startsWith("on")) {
      element.addEventListener(name.slice(2), value);
    } else if (value === true) {
      element.setAttribute(name, "");
    } else if (value !== false && value !== null && value !== undefined) {
      element.setAttribute(name, String(value));
    }
  }
  element.append(...children.flat().filter((child) => child !== null && child !== undefined));
  return element;
}

/** Sets an element's text, leaving it alone when it already says that. */
export function setText(element, text) {
  if (element.textContent !== text) element.textContent = text;
}

/** Shows an error's plain message in the page's one #error box. */
export function showError(error, context) {
  const box = byId("error");
  box.textContent = describeError(error, context);
  box.dataset.code = error.code;
}

export function clearError() {
  const box = byId("error");
  box.textContent = "";
  delete box.dataset.code;
}

/** Clears the error box only when it shows a failure that has since passed. */
export function clearTransientError() {
  if (isTransient({ code: byId("error").dataset.code })) clearError();
}

/**
 * The lifetime of what one view started: its timers and streams end
 * together when the view is left, so nothing keeps running behind another.
 */
export function createScope() {
  const controller = new AbortController();
  const { signal } = controller;
  return {
    get ended() {
      return signal.aborted;
    },
    onEnd(cleanup) {
      signal.addEventListener("abort", cleanup, { once: true });
    },
    after(ms, task) {
      const id = setTimeout(task, ms);
      this.onEnd(() => clearTimeout(id));
    },
    every(ms, task) {
      const id = setInterval(task, ms);
      this.onEnd(() => clearInterval(id));
    },
    /**
     * Runs `task` now and again `ms` after each run has finished, so slow
     * answers never pile up. `task` handles its own failures.
     */
    repeat(ms, task) {
      const run = async () => {
        if (signal.aborted) return;
        await task();
        this.after(ms, run);
      };
      run();
    },
    end() {
      controller.abort();
    },
  };
}
