// The waiting line (SPEC section 7): join the chapter's line, then follow the place by polling
// GET /api/queue/<chapter> until it says "admitted" (that answer sets the pass cookie) or "closed".
// No inline script: the page only carries data attributes. The server decides everything.
(function () {
  "use strict";
  var root = document.querySelector("[data-line]");
  if (!root) { return; }
  var chapter = root.getAttribute("data-line");
  var back = root.getAttribute("data-line-back");
  var status = root.querySelector("[data-line-status]");
  var detail = root.querySelector("[data-line-detail]");
  var go = root.querySelector("[data-line-go]");
  var wait = 3000;
  var timer = null;

  function words(answer) {
    if (answer.state === "waiting") {
      var ahead = answer.ahead;
      var people = ahead === 0 ? "nobody" : (ahead === 1 ? "1 person" : ahead + " people");
      var minutes = Math.max(1, Math.ceil((answer.eta_seconds || 0) / 60));
      return "You're in line — " + people + " ahead, about " + minutes + (minutes === 1 ? " minute" : " minutes");
    }
    if (answer.state === "admitted") { return "It's your turn. Taking you to the shop…"; }
    if (answer.state === "closed") { return answer.message || "This drop is over."; }
    return "You are not in line yet.";
  }

  function show(answer) {
    root.setAttribute("data-line-state", answer.state);
    if (answer.position !== null && answer.position !== undefined) {
      root.setAttribute("data-line-position", String(answer.position));
    } else {
      root.removeAttribute("data-line-position");
    }
    status.textContent = words(answer);
    if (answer.state === "admitted") {
      go.hidden = false;
      detail.textContent = "Your turn lasts a few minutes: choose your size and check out.";
      window.setTimeout(function () { window.location.assign(back); }, 1500);
      return false;
    }
    if (answer.state === "closed") { detail.textContent = ""; return false; }
    // Look again when the turn should come (the server's estimate), at least every 10 s, at most every second;
    // before the opening, at the opening (plus up to 2 s at random, so a crowd does not arrive in one instant).
    var opens = Date.parse(answer.opens_at || "");
    var seconds = Math.min(10, Math.max(1, answer.eta_seconds || 0));
    if (!isNaN(opens) && opens > Date.now()) {
      seconds = Math.min(10, Math.max(1, (opens - Date.now()) / 1000 + Math.random() * 2));
    }
    wait = seconds * 1000;
    return true;
  }

  function refused(response) {
    return response.json().then(function (body) {
      root.setAttribute("data-line-state", "refused");
      status.textContent = body.error || "The line could not take you right now; try again in a moment.";
      return response.status === 409 || response.status >= 500;  // not started yet, or a fault: keep trying
    }, function () { return true; });
  }

  function ask(method, url) {
    return fetch(url, { method: method, credentials: "same-origin", headers: { "Accept": "application/json" } })
      .then(function (response) {
        if (response.status === 404) { window.location.assign(back); return false; }  // no line any more
        if (!response.ok) { return refused(response); }
        return response.json().then(function (answer) {
          if (answer.state === "not_in_line") { return "join"; }
          return show(answer);
        });
      }, function () { return true; });
  }

  function next(result) {
    if (result === "join") { timer = window.setTimeout(join, 500); return; }
    if (result) { timer = window.setTimeout(poll, wait); }
  }

  function poll() { ask("GET", "/api/queue/" + encodeURIComponent(chapter)).then(next); }
  function join() { ask("POST", "/api/queue/" + encodeURIComponent(chapter) + "/join").then(next); }

  join();
})();
