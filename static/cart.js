// The cart lives in the browser (localStorage); prices shown come from the catalog the page embeds,
// and the server prices the order again from its own catalog at checkout.
(function () {
  "use strict";
  var KEY = "atelier.cart.v1";
  var MAX_QTY = 10;

  function load() {
    try {
      var lines = JSON.parse(localStorage.getItem(KEY) || "[]");
      return Array.isArray(lines) ? lines.filter(function (l) { return l && typeof l.sku === "string"; }) : [];
    } catch (e) { return []; }
  }
  function save(lines) { localStorage.setItem(KEY, JSON.stringify(lines)); updateCount(lines); }
  function clamp(n) { n = parseInt(n, 10); return isNaN(n) ? 1 : Math.max(1, Math.min(MAX_QTY, n)); }
  function updateCount(lines) {
    var count = (lines || load()).reduce(function (sum, l) { return sum + l.quantity; }, 0);
    document.querySelectorAll("[data-cart-count]").forEach(function (el) { el.textContent = String(count); });
  }
  function add(sku, quantity) {
    var lines = load();
    var line = lines.find(function (l) { return l.sku === sku; });
    if (line) { line.quantity = clamp(line.quantity + quantity); } else { lines.push({ sku: sku, quantity: clamp(quantity) }); }
    save(lines);
    return lines;
  }

  // Product page: add the chosen size.
  var form = document.querySelector("[data-add-to-cart]");
  if (form) {
    form.addEventListener("submit", function (event) {
      event.preventDefault();
      var message = form.querySelector("[data-message]");
      var chosen = form.querySelector("input[name=sku]:checked");
      if (!chosen) { message.textContent = "Choose a size first."; return; }
      var qty = clamp(form.querySelector("input[name=quantity]").value);
      var available = parseInt(chosen.getAttribute("data-available"), 10);
      if (qty > available) { message.textContent = "Only " + available + " left in this size."; return; }
      add(chosen.value, qty);
      message.innerHTML = "";
      message.appendChild(document.createTextNode("Added to your cart. "));
      var link = document.createElement("a");
      link.href = "/cart"; link.textContent = "View cart";
      message.appendChild(link);
    });
  }

  // Cart page: lines, quantities, totals, checkout.
  var cart = document.querySelector("[data-cart]");
  var catalogEl = document.getElementById("cart-catalog");
  if (cart && catalogEl) {
    var catalog = JSON.parse(catalogEl.textContent);
    var fmt = new Intl.NumberFormat(undefined, { style: "currency", currency: catalog.currency.toUpperCase() });
    var money = function (minor) { return fmt.format(minor / 100); };
    var render = function () {
      var lines = load().filter(function (l) { return catalog.items[l.sku]; });
      var body = cart.querySelector("[data-cart-lines]");
      body.innerHTML = "";
      var total = 0;
      lines.forEach(function (line) {
        var item = catalog.items[line.sku];
        total += item.price * line.quantity;
        var row = document.createElement("tr");
        row.innerHTML = "<td></td><td></td><td></td><td></td><td></td>";
        row.cells[0].textContent = item.name;
        row.cells[1].textContent = item.size;
        var qty = document.createElement("input");
        qty.type = "number"; qty.min = "1"; qty.max = String(MAX_QTY); qty.value = String(line.quantity);
        qty.setAttribute("aria-label", "Quantity of " + item.name + " size " + item.size);
        qty.setAttribute("data-qty", line.sku);
        qty.addEventListener("change", function () {
          var all = load();
          all.forEach(function (l) { if (l.sku === line.sku) { l.quantity = clamp(qty.value); } });
          save(all); render();
        });
        row.cells[2].appendChild(qty);
        row.cells[3].textContent = money(item.price * line.quantity);
        var remove = document.createElement("button");
        remove.type = "button"; remove.className = "link-button"; remove.textContent = "Remove";
        remove.setAttribute("aria-label", "Remove " + item.name + " size " + item.size);
        remove.addEventListener("click", function () {
          save(load().filter(function (l) { return l.sku !== line.sku; })); render();
        });
        row.cells[4].appendChild(remove);
        body.appendChild(row);
      });
      cart.querySelector("[data-cart-total]").textContent = money(total);
      cart.querySelector("[data-cart-table]").hidden = lines.length === 0;
      cart.querySelector("[data-checkout]").hidden = lines.length === 0;
      cart.querySelector("[data-cart-empty]").hidden = lines.length !== 0;
      // A piece sold one per customer (a limit): Stripe's page gets the email, and the shop counts by it.
      var limited = limitedNames(lines);
      cart.querySelector("[data-cart-email]").hidden = limited.length === 0;
      cart.querySelector("[data-cart-email-why]").textContent = limited.length ?
        limited.join(", ") + (limited.length === 1 ? " is" : " are") + " sold one per customer: we need your email to check." : "";
      updateCount(lines);
    };
    var limitedNames = function (lines) {
      var names = [];
      lines.forEach(function (l) {
        var item = catalog.items[l.sku];
        if (item && item.limit && names.indexOf(item.name) < 0) { names.push(item.name); }
      });
      return names;
    };
    var button = cart.querySelector("[data-checkout]");
    var message = cart.querySelector("[data-cart-message]");
    var emailInput = cart.querySelector("[data-cart-email-input]");
    button.addEventListener("click", function () {
      var lines = load();
      var needsEmail = limitedNames(lines.filter(function (l) { return catalog.items[l.sku]; })).length > 0;
      var email = emailInput.value.trim();
      if (needsEmail && !/^[^@\s]+@[^@\s]+\.[^@\s]+$/.test(email)) {
        message.textContent = "Enter your email address first: your cart holds a piece sold one per customer.";
        emailInput.focus();
        return;
      }
      button.disabled = true;
      button.textContent = "Opening the payment page…";
      message.textContent = "";
      var key = (self.crypto && crypto.randomUUID) ? crypto.randomUUID() : String(Date.now()) + Math.random();
      fetch("/api/checkout", {
        method: "POST",
        headers: { "Content-Type": "application/json", "Idempotency-Key": key },
        body: JSON.stringify(Object.assign(
          { items: lines.map(function (l) { return { sku: l.sku, quantity: l.quantity }; }) },
          needsEmail || email ? { email: email } : {}))
      }).then(function (response) {
        return response.json().then(function (body) { return { status: response.status, body: body }; });
      }).then(function (answer) {
        if (answer.status === 201 && answer.body.url) { window.location.assign(answer.body.url); return; }
        var text = answer.body.error || "Checkout could not start. Please try again.";
        // The shop or its store cannot take checkouts right now: the reason is for the owner (it is logged).
        if (answer.status === 503) { text = "Checkout is closed for a moment; nothing was charged. Please try again later."; }
        if (answer.status === 409 && answer.body.skus) {
          text = answer.body.skus.map(function (s) {
            var item = catalog.items[s.sku];
            var name = item ? item.name + " (" + item.size + ")" : s.sku;
            return s.available > 0 ? "Only " + s.available + " left of " + name + "." : name + " is sold out.";
          }).join(" ") + " Change your cart and try again.";
        }
        message.textContent = text;
        button.disabled = false; button.textContent = "Check out";
      }).catch(function () {
        message.textContent = "We could not reach the shop. Check your connection and try again.";
        button.disabled = false; button.textContent = "Check out";
      });
    });
    render();
  }

  // Success page: the order is placed, the cart starts empty.
  if (document.querySelector("[data-clear-cart]")) { save([]); }
  updateCount();
})();
