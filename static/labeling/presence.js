// Presence on a task: keep its reservation alive while the page is open (a heartbeat well
// inside the lease), and count the time the page is visible and in use, sent as increments
// with each heartbeat (the task's `active_seconds`, Label Studio's `lead_time`).

import { errorOf } from "./api.js";

//: Without a key, click, wheel or pointer move for this long, the person is not working on it.
const IDLE_MS = 60000;
const TICK_MS = 1000;

export class Presence extends EventTarget {
  constructor({ api, url, intervalSeconds }) {
    super();
    this.api = api;
    this.url = url;
    this.intervalMs = Math.max(5, intervalSeconds) * 1000;
    this.activeMs = 0; // counted, not yet sent
    this.lastActivity = Date.now();
    this.lastTick = Date.now();
    this.stopped = false;
    this.inFlight = null;
    const touch = () => (this.lastActivity = Date.now());
    for (const name of ["pointerdown", "pointermove", "keydown", "wheel"]) {
      window.addEventListener(name, touch, { passive: true, capture: true });
    }
    document.addEventListener("visibilitychange", () => {
      this.tick();
      if (document.visibilityState === "visible") touch();
    });
    this.ticker = setInterval(() => this.tick(), TICK_MS);
    this.timer = setInterval(() => this.beat(), this.intervalMs);
  }

  /** Count the time since the last tick when the page was visible and recently used; a long
   *  gap (a sleeping laptop, a throttled tab) counts one tick at most. */
  tick() {
    const now = Date.now();
    const elapsed = Math.min(now - this.lastTick, 2 * TICK_MS);
    this.lastTick = now;
    if (document.visibilityState === "visible" && now - this.lastActivity < IDLE_MS) this.activeMs += elapsed;
  }

  /** Send a heartbeat with the whole seconds counted so far; resolves when it has answered. */
  async beat() {
    if (this.stopped) return;
    if (this.inFlight) return this.inFlight;
    this.tick();
    const seconds = Math.floor(this.activeMs / 1000);
    this.activeMs -= seconds * 1000;
    this.inFlight = (async () => {
      const result = await this.api.post(this.url, { active_seconds: seconds });
      if (result.ok) {
        this.dispatchEvent(new CustomEvent("renewed", { detail: result.data }));
        return;
      }
      if (result.status === 409) {
        // Someone else holds the task now (our reservation ran out while we were away).
        this.stop();
        this.dispatchEvent(new CustomEvent("lost", { detail: errorOf(result) }));
        return;
      }
      this.activeMs += seconds * 1000; // not counted by the server: send it with the next one
    })();
    try {
      await this.inFlight;
    } finally {
      this.inFlight = null;
    }
  }

  /** Send what is counted before leaving the task (complete, skip, next). */
  flush() {
    return this.beat();
  }

  stop() {
    this.stopped = true;
    clearInterval(this.ticker);
    clearInterval(this.timer);
  }
}
