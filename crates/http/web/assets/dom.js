// What both pages do with the document: building elements, the one error
// box, moving the keyboard focus, marking a control busy, and a view's
// scope, which ends its timers and retries when the view is left.
// Content goes in as text nodes only, never as HTML, so nothing from the
// API can become markup.

import { describeError, isTransient, retryDelayMs } from "./api.js";

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

// ------------------------------------------------------------------ errors

// The failure #error shows, so that a call which succeeds on a retry
// clears its own failure and never another's.
let shownError = null;

/** Shows an error's plain message in the page's one #error box. */
export function showError(error, context) {
  const box = byId("error");
  // A failure of the service itself is worth reporting: its request id
  // leads the operator to the request's log lines.
  const reference = error.status >= 500 && error.requestId ? ` Reference: ${error.requestId}.` : "";
  box.textContent = describeError(error, context) + reference;
  box.dataset.code = error.code;
  shownError = error;
}

export function clearError() {
  const box = byId("error");
  box.textContent = "";
  delete box.dataset.code;
  shownError = null;
}

/** Clears #error when it still shows `error`, a failure that has since passed. */
export function clearErrorOf(error) {
  if (error && shownError === error) clearError();
}

/**
 * A page's way to show a failure. A refusal of the page's credentials (a
 * code in `credentialRefusals`) first runs `onRefused`, which signs the
 * person out; then the failure is shown in #error.
 */
export function failureHandler(credentialRefusals, onRefused) {
  return (error, context) => {
    if (credentialRefusals.has(error.code)) onRefused(error);
    showError(error, context);
  };
}

// ------------------------------------------------------------------- focus

/**
 * Moves the keyboard (and a screen reader) to `element`, making it
 * focusable from script first when it is not a control.
 */
export function moveFocus(element, { scroll = false } = {}) {
  if (element.tabIndex < 0 && !element.hasAttribute("tabindex")) element.tabIndex = -1;
  element.focus({ preventScroll: !scroll });
}

/** Moves focus to the first heading of what was just shown. */
export function focusHeading(container, options) {
  moveFocus(container.querySelector("h1, h2"), options);
}

/**
 * Disables `control`. When it had the focus, the focus goes to `fallback`
 * rather than falling back to the page's body, where a keyboard user
 * would have to start again from the top.
 */
export function disableKeepingFocus(control, fallback) {
  if (control.disabled) return;
  const hadFocus = document.activeElement === control;
  control.disabled = true;
  if (hadFocus) moveFocus(fallback);
}

/**
 * Runs `task` with `control` marked busy, ignoring further presses until it
 * has finished: a second click never sends the request again. It is marked
 * with aria-disabled rather than disabled so the keyboard focus stays on it.
 * Returns the task's result, or undefined when the control was busy.
 */
export async function whileBusy(control, task) {
  if (control.getAttribute("aria-disabled") === "true") return undefined;
  control.setAttribute("aria-disabled", "true");
  try {
    return await task();
  } finally {
    control.removeAttribute("aria-disabled");
  }
}

// ----------------------------------------------------------------- dialog

/**
 * Asks in the page's #confirm dialog (with #confirm-text, #confirm-yes and
 * #confirm-no) and resolves true only for its Confirm button. The safe
 * answer has the focus, so Enter does not confirm at once; Escape cancels.
 */
export function confirmInDialog(description) {
  const dialog = byId("confirm");
  if (!dialog.dataset.wired) {
    byId("confirm-yes").addEventListener("click", () => dialog.close("confirm"));
    byId("confirm-no").addEventListener("click", () => dialog.close("cancel"));
    dialog.dataset.wired = "true";
  }
  setText(byId("confirm-text"), description);
  dialog.returnValue = "";
  dialog.showModal();
  byId("confirm-no").focus();
  return new Promise((resolve) => {
    dialog.addEventListener("close", () => resolve(dialog.returnValue === "confirm"), { once: true });
  });
}

// ------------------------------------------------------------------ scopes

/**
 * The lifetime of what one view (or one part of it) started: its timers,
 * streams and retries end together when it is left, so nothing keeps
 * running behind another view. `child()` is a scope that ends with this
 * one, or earlier on its own.
 */
export function createScope(parent = null) {
  const controller = new AbortController();
  const { signal } = controller;
  const scope = {
    signal,
    get ended() {
      return signal.aborted;
    },
    /** Runs `cleanup` when the scope ends; returns a function that forgets it. */
    onEnd(cleanup) {
      if (signal.aborted) {
        cleanup();
        return () => {};
      }
      signal.addEventListener("abort", cleanup, { once: true });
      return () => signal.removeEventListener("abort", cleanup);
    },
    /** Runs `task` once after `ms`, unless the scope ends first. Returns a cancel function. */
    after(ms, task) {
      if (signal.aborted) return () => {};
      let forget = () => {};
      const id = setTimeout(() => {
        forget();
        task();
      }, ms);
      forget = scope.onEnd(() => clearTimeout(id));
      return () => {
        clearTimeout(id);
        forget();
      };
    },
    /** Resolves true after `ms`, or false as soon as the scope ends. */
    sleep(ms) {
      return new Promise((resolve) => {
        if (signal.aborted) {
          resolve(false);
          return;
        }
        const forget = scope.onEnd(() => resolve(false));
        scope.after(ms, () => {
          forget();
          resolve(true);
        });
      });
    },
    every(ms, task) {
      const id = setInterval(task, ms);
      scope.onEnd(() => clearInterval(id));
    },
    /**
     * Runs `task` now and again `ms` after each run has finished, so slow
     * answers never pile up; a run that throws is still followed by the
     * next (its error goes on to the console). A task may return a number:
     * how long to wait before the next run instead of `ms`. Returns
     * `{ now }`: run it at once (after the run under way, if any), then
     * count `ms` from there.
     */
    repeat(ms, task) {
      let running = null;
      let queued = null;
      let cancelNext = () => {};
      const run = () => {
        if (signal.aborted) return Promise.resolve();
        if (running) {
          queued ??= running.catch(() => {}).then(() => {
            queued = null;
            return run();
          });
          return queued;
        }
        cancelNext();
        running = (async () => {
          let wait = ms;
          try {
            // The task starts once `running` is set, even one that throws at once.
            await null;
            const asked = await task();
            if (Number.isFinite(asked)) wait = asked;
          } finally {
            running = null;
            if (!queued) cancelNext = scope.after(wait, run);
          }
        })();
        return running;
      };
      run();
      return { now: run };
    },
    child() {
      return createScope(scope);
    },
    end() {
      controller.abort();
    },
  };
  if (parent) scope.onEnd(parent.onEnd(() => scope.end()));
  return scope;
}

/**
 * Calls `call` until it is answered. A transient failure (network, 503,
 * 429) is shown and tried again after its delay for as long as `scope`
 * lasts; the success clears it. Throws a lasting failure, or the last
 * transient one when the scope has ended.
 */
export async function untilAnswered(scope, call) {
  let failure = null;
  for (;;) {
    try {
      const answer = await call();
      clearErrorOf(failure);
      return answer;
    } catch (error) {
      if (!isTransient(error) || scope.ended) throw error;
      showError(error);
      failure = error;
      if (!(await scope.sleep(retryDelayMs(error)))) throw error;
    }
  }
}
