/*
 * flask-session-epoch: make a single-page app notice that its session was ended.
 *
 * Include it before your app's scripts:
 *   <script src="/session_epoch/static/fetch.js"></script>
 *
 * It wraps window.fetch. The first response that is a 401 marked "X-Session-Ended: 1"
 * reloads the page once (the server then shows the login page); that call and every
 * other call made meanwhile are held, so no "request failed" error flashes up while the
 * page goes away. A second marked 401 within 10 seconds of such a reload is passed on
 * unchanged, so a misconfigured page can never reload in a loop.
 *
 * A tab that sends no requests of its own can ask the server now and then, and each time
 * it is shown again:
 *   <script src="/session_epoch/static/fetch.js" data-check-every="60"></script>
 * (seconds; each check is one GET /api/v1/session_epoch/check, skipped while hidden).
 */
(function () {
  "use strict";
  var HEADER = "X-Session-Ended";
  var GUARD = "sessionEpochReloadedAt";
  var original = window.fetch;
  if (typeof original !== "function" || original.sessionEpochWrapped) {
    return;
  }
  var held = null;

  function recentlyReloaded() {
    try {
      var at = Number(window.sessionStorage.getItem(GUARD));
      return at > 0 && Date.now() - at < 10000;
    } catch (e) {
      return false;
    }
  }

  function reloadOnce() {
    if (held) {
      return held;
    }
    held = new Promise(function () {}); // never settles: the page is going away
    try {
      window.sessionStorage.setItem(GUARD, String(Date.now()));
    } catch (e) {
      /* storage disabled: reload anyway */
    }
    window.location.reload();
    return held;
  }

  function sessionEpochFetch() {
    if (held) {
      return held;
    }
    return original.apply(this, arguments).then(function (response) {
      if (held) {
        return held; // sent before the first marked 401 came back: hold it too
      }
      if (response.status === 401 && response.headers.get(HEADER) === "1" && !recentlyReloaded()) {
        return reloadOnce();
      }
      return response;
    });
  }

  sessionEpochFetch.sessionEpochWrapped = true;
  window.fetch = sessionEpochFetch;

  var script = document.currentScript;
  var every = script ? Number(script.getAttribute("data-check-every")) : 0;
  if (every > 0) {
    var checkUrl = script.getAttribute("data-check-url") || "/api/v1/session_epoch/check";
    var check = function () {
      if (document.visibilityState === "visible") {
        // Our wrapper reloads the page if the answer is a marked 401.
        window.fetch(checkUrl, { credentials: "same-origin", cache: "no-store" }).catch(function () {});
      }
    };
    window.setInterval(check, Math.max(every, 5) * 1000);
    document.addEventListener("visibilitychange", check);
  }
})();
