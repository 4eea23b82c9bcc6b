/**
 * One polling loop for a JSON endpoint of the server, shared by the live counts (`/health`) and
 * the actor inspector (`/api/actors`).
 *
 * Fetch with a timeout, again every `intervalMs` while `active()` (connected, tab visible) and
 * `wanted()` (someone can see the result); never two requests at once; `stop()` aborts the one in
 * flight. `onResponse(response, isCurrent)` reads the answer (`isCurrent()` turns false once
 * stopped); an error it throws goes to `onError`, and may carry `retryMs` to slow the next
 * attempt down (e.g. 404 from a server without that endpoint).
 *
 * `fetch` and the timers are the platform's; nothing here touches the DOM.
 */

export function makePoller({ url, timeoutMs, intervalMs, active, wanted = () => true, onResponse, onError }) {
  let timer = 0;
  let controller = null;

  function soon(delay) {
    clearTimeout(timer);
    timer = 0;
    if (active()) timer = setTimeout(run, delay);
  }

  function stop() {
    clearTimeout(timer);
    timer = 0;
    if (controller) controller.abort();
    controller = null;
  }

  async function run() {
    timer = 0;
    if (!active() || controller) return;
    if (!wanted()) {
      soon(intervalMs);
      return;
    }
    const abort = new AbortController();
    controller = abort;
    const isCurrent = () => controller === abort;
    const abortTimer = setTimeout(() => abort.abort(), timeoutMs);
    let next = intervalMs;
    try {
      const response = await fetch(url(), { cache: "no-store", signal: abort.signal });
      await onResponse(response, isCurrent);
    } catch (error) {
      if (error && error.retryMs) next = error.retryMs;
      if (isCurrent()) onError(error);
    } finally {
      clearTimeout(abortTimer);
      if (isCurrent()) {
        controller = null;
        soon(next);
      }
    }
  }

  return { soon, stop };
}
