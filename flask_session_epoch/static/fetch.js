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
 *
 * Warnings before a server-enforced limit (SESSION_EPOCH_IDLE_TIMEOUT, _ABSOLUTE_TIMEOUT):
 *   <script src="/session_epoch/static/fetch.js" data-warn-before="120"></script>
 * When a check says the session ends within that many seconds, the script dispatches a
 * "session-epoch:expiring" event on document (detail: secondsLeft, limit "idle" or
 * "absolute"). Unless a listener calls preventDefault(), it shows a small banner
 * ("Your session ends in 2 minutes"), with "Stay signed in" before the idle limit, which
 * counts as activity (GET /api/v1/session_epoch/keep_alive). Checks run every
 * data-check-every seconds, or by themselves often enough to warn in time.
 *
 * The banner speaks the page's language: Flask-AppBuilder pages carry its texts, translated
 * on the server, in <script type="application/json" id="session-epoch-texts"> (our
 * navbar_right.html includes templates/session_epoch/_banner_texts.html, which renders it).
 * data-warn-text (with {minutes}), data-minute-text and data-minutes-text (with {n}),
 * data-stay-text and data-dismiss-text replace them; the English below is only for pages
 * that have neither.
 *
 * Checks stop once the page is not signed in: when those texts say so (a login page), and
 * after the first check that answers 401 (the session has ended; the page reloads to the
 * login page, or shows it already).
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
  var warnBefore = script ? Number(script.getAttribute("data-warn-before")) : 0;
  if (warnBefore > 0 && !(every > 0)) {
    every = Math.max(5, Math.min(60, Math.floor(warnBefore / 3)));
  }
  if (every > 0) {
    var checkUrl = script.getAttribute("data-check-url") || "/api/v1/session_epoch/check";
    var keepAliveUrl = script.getAttribute("data-keep-alive-url") || "/api/v1/session_epoch/keep_alive";
    // Read when first needed: a script in <head> runs before the page's body is there.
    var serverTexts;
    var fromServer = function () {
      if (serverTexts === undefined) {
        serverTexts = null;
        var blob = document.getElementById("session-epoch-texts");
        try {
          serverTexts = blob ? JSON.parse(blob.textContent) : null;
        } catch (e) {
          serverTexts = null;
        }
      }
      return serverTexts;
    };
    var text = function (name, attribute, fallback) {
      var given = script.getAttribute(attribute);
      var server = fromServer();
      if (given) {
        return given;
      }
      return server && typeof server[name] === "string" ? server[name] : fallback;
    };
    var banner = null;
    var dismissedFor = null;

    var removeBanner = function () {
      if (banner && banner.parentNode) {
        banner.parentNode.removeChild(banner);
      }
      banner = null;
    };

    var minutesText = function (seconds) {
      var minutes = Math.max(1, Math.round(seconds / 60));
      var form = minutes === 1 ? text("minute", "data-minute-text", "{n} minute")
        : text("minutes", "data-minutes-text", "{n} minutes");
      return form.replace("{n}", String(minutes));
    };

    var showBanner = function (secondsLeft, limit) {
      removeBanner();
      banner = document.createElement("div");
      banner.setAttribute("role", "alert");
      banner.className = "session-epoch-warning";
      banner.style.cssText = "position:fixed;top:0;left:0;right:0;z-index:10000;padding:8px 12px;" +
        "background:#fcf8e3;border-bottom:1px solid #faebcc;color:#8a6d3b;font:14px sans-serif;text-align:center";
      var message = document.createElement("span");
      message.textContent = text("warn", "data-warn-text", "Your session ends in {minutes}.")
        .replace("{minutes}", minutesText(secondsLeft)) + " ";
      banner.appendChild(message);
      if (limit === "idle") {
        var stay = document.createElement("button");
        stay.type = "button";
        stay.textContent = text("stay", "data-stay-text", "Stay signed in");
        stay.addEventListener("click", function () {
          window.fetch(keepAliveUrl, { credentials: "same-origin", cache: "no-store" })
            .then(function (response) { if (response.ok) { removeBanner(); } })
            .catch(function () {});
        });
        banner.appendChild(stay);
      }
      var dismiss = document.createElement("button");
      dismiss.type = "button";
      dismiss.textContent = text("dismiss", "data-dismiss-text", "Dismiss");
      dismiss.style.marginLeft = "8px";
      dismiss.addEventListener("click", function () {
        dismissedFor = limit;
        removeBanner();
      });
      banner.appendChild(dismiss);
      document.body.appendChild(banner);
    };

    var warnIfSoon = function (body) {
      var idle = body && typeof body.idle_seconds_left === "number" ? body.idle_seconds_left : null;
      var absolute = body && typeof body.absolute_seconds_left === "number" ? body.absolute_seconds_left : null;
      var limit = null;
      var left = null;
      if (idle !== null && idle <= warnBefore) {
        limit = "idle";
        left = idle;
      }
      if (absolute !== null && absolute <= warnBefore && (left === null || absolute < left)) {
        limit = "absolute";
        left = absolute;
      }
      if (limit === null) {
        dismissedFor = null;
        removeBanner();
        return;
      }
      var event = new CustomEvent("session-epoch:expiring",
        { cancelable: true, detail: { secondsLeft: left, limit: limit } });
      if (document.dispatchEvent(event) && dismissedFor !== limit) {
        showBanner(left, limit);
      }
    };

    var timer = null;
    var stop = function () {
      if (timer !== null) {
        window.clearInterval(timer);
        timer = null;
      }
      document.removeEventListener("visibilitychange", check);
    };
    var signedOut = function () {
      var server = fromServer();
      return server !== null && server.signed_in === false;
    };
    var check = function () {
      if (signedOut()) {
        stop(); // a login page: there is no session to check
        return;
      }
      if (document.visibilityState === "visible") {
        // Our wrapper reloads the page if the answer is a marked 401.
        window.fetch(checkUrl, { credentials: "same-origin", cache: "no-store" })
          .then(function (response) {
            if (response.status === 401) {
              stop(); // not signed in (any more): asking again cannot change that
              return null;
            }
            return response.ok ? response.json() : null;
          })
          .then(function (body) { if (warnBefore > 0 && body) { warnIfSoon(body); } })
          .catch(function () {});
      }
    };
    var start = function () {
      if (signedOut()) {
        return;
      }
      timer = window.setInterval(check, Math.max(every, 5) * 1000);
      document.addEventListener("visibilitychange", check);
      if (warnBefore > 0) {
        check();
      }
    };
    if (document.readyState === "loading") {
      document.addEventListener("DOMContentLoaded", start);
    } else {
      start();
    }
  }
})();
