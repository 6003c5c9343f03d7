// Drops: write each <time data-local-time> in the shopper's own time zone, run the countdown to a
// chapter's opening, and enable the add-to-cart controls when it ends. No inline script anywhere:
// the pages only carry data attributes. The server still decides by its own clock at checkout.
(function () {
  "use strict";

  function parse(iso) { var t = Date.parse(iso); return isNaN(t) ? null : t; }

  // "Friday 4 December, 18:00" in the shopper's zone and language.
  var fmt = null;
  try {
    fmt = new Intl.DateTimeFormat(undefined, {
      weekday: "long", day: "numeric", month: "long", hour: "2-digit", minute: "2-digit"
    });
  } catch (e) { fmt = null; }
  document.querySelectorAll("time[data-local-time]").forEach(function (el) {
    var t = parse(el.getAttribute("datetime"));
    if (t !== null && fmt) { el.textContent = fmt.format(new Date(t)); el.title = el.getAttribute("datetime"); }
  });

  function two(n) { return (n < 10 ? "0" : "") + n; }
  function left(ms) {
    var s = Math.max(0, Math.ceil(ms / 1000));
    var d = Math.floor(s / 86400), h = Math.floor(s % 86400 / 3600), m = Math.floor(s % 3600 / 60);
    var text = two(h) + ":" + two(m) + ":" + two(s % 60);
    return d > 0 ? d + (d === 1 ? " day " : " days ") + text : text;
  }

  function enable(now) {
    document.querySelectorAll("[data-enable-at]").forEach(function (el) {
      var t = parse(el.getAttribute("data-enable-at"));
      if (t === null || t > now) { return; }
      el.disabled = false;
      el.removeAttribute("data-enable-at");
      if (el.hasAttribute("data-open-label")) { el.textContent = el.getAttribute("data-open-label"); }
    });
  }

  var counters = Array.prototype.slice.call(document.querySelectorAll("[data-countdown]"));
  // The shop's clock when it wrote the page: a device clock that is off does not open a drop early or late.
  var skew = 0;
  counters.forEach(function (el) {
    var server = parseInt(el.getAttribute("data-server-now"), 10);
    if (!isNaN(server)) { skew = server - Date.now(); }
  });
  function tick() {
    var now = Date.now() + skew;
    var running = false;
    counters.forEach(function (el) {
      var until = parse(el.getAttribute("data-until"));
      if (until === null) { return; }
      if (until > now) {
        el.textContent = "in " + left(until - now);
        running = true;
      } else {
        el.textContent = "Open now";
        var drop = el.closest("[data-drop]");
        if (drop) { drop.classList.remove("drop-scheduled"); drop.classList.add("drop-open"); }
      }
    });
    enable(now);
    if (running) { window.setTimeout(tick, 1000 - (now % 1000) + 5); }
  }
  if (counters.length || document.querySelector("[data-enable-at]")) { tick(); }
})();
