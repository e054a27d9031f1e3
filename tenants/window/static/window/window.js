// The window sale page: steppers, keyboard keys, the live total from the quote API,
// change due, one holder row per person for real-name products, slot availability
// for the chosen date. Without it the form still sells (and "Price" shows the total).
(function () {
  "use strict";
  document.querySelectorAll("[data-print]").forEach(function (button) {
    button.addEventListener("click", function () { window.print(); });
  });

  var form = document.getElementById("sale-form");
  if (!form) return;
  var api = form.getAttribute("data-api");
  var currency = form.getAttribute("data-currency");
  var product = form.getAttribute("data-product");
  var texts = JSON.parse(document.getElementById("window-texts").textContent);
  var quantities = Array.prototype.slice.call(form.querySelectorAll("[data-quantity]"));
  var totalOut = document.getElementById("total");
  var changeOut = document.getElementById("change");
  var quoteError = document.getElementById("quote-error");
  var tendered = document.getElementById("tendered");
  var dateField = document.getElementById("date");
  var active = quantities[0] || null;
  var total = null;
  var timer = null;
  var asked = 0;

  function money(minor) {
    var sign = minor < 0 ? "-" : "";
    var whole = Math.floor(Math.abs(minor) / 100);
    var cents = ("0" + (Math.abs(minor) % 100)).slice(-2);
    return sign + (currency === "CNY" ? "¥" : currency + " ") + whole + "." + cents;
  }

  function parseMoney(text) {
    var match = /^\s*[¥￥]?\s*(\d{1,9})(?:[.,](\d{1,2}))?\s*$/.exec(text || "");
    if (!match) return null;
    return parseInt(match[1], 10) * 100 + parseInt(((match[2] || "0") + "0").slice(0, 2), 10);
  }

  function count(input) {
    var value = parseInt(input.value, 10);
    return isNaN(value) || value < 0 ? 0 : Math.min(value, 99);
  }

  function setActive(input) {
    active = input;
    quantities.forEach(function (q) { q.closest(".unit").classList.toggle("active", q === input); });
  }

  function step(input, delta) {
    input.value = Math.max(0, Math.min(99, count(input) + delta));
    setActive(input);
    changed();
  }

  form.querySelectorAll("[data-step]").forEach(function (button) {
    button.addEventListener("click", function () {
      step(document.getElementById(button.getAttribute("data-for")), parseInt(button.getAttribute("data-step"), 10));
    });
  });
  quantities.forEach(function (input) {
    input.addEventListener("focus", function () { setActive(input); });
    input.addEventListener("input", changed);
  });
  if (active) setActive(active);

  // Digits, + and − work on the selected row whenever the cursor is not in a text field.
  document.addEventListener("keydown", function (event) {
    var target = event.target;
    var typing = target && (target.tagName === "TEXTAREA" || target.tagName === "SELECT" ||
      (target.tagName === "INPUT" && ["radio", "checkbox", "button", "submit"].indexOf(target.type) < 0));
    if (typing || event.ctrlKey || event.metaKey || event.altKey || !active) return;
    if (/^[0-9]$/.test(event.key)) { active.value = event.key; setActive(active); changed(); event.preventDefault(); }
    else if (event.key === "+" || event.key === "=") { step(active, 1); event.preventDefault(); }
    else if (event.key === "-") { step(active, -1); event.preventDefault(); }
  });

  // --- one holder row per person (real-name products) ----------------------------
  var holderRows = document.getElementById("holder-rows");
  var holderTemplate = document.getElementById("holder-template");
  function syncHolders() {
    if (!holderRows || !holderTemplate) return;
    var people = quantities.reduce(function (sum, q) { return sum + count(q); }, 0);
    var wanted = Math.max(1, people);
    var rows = holderRows.querySelectorAll("[data-holder]");
    for (var i = rows.length; i < wanted; i++) {
      var html = holderTemplate.innerHTML.replace(/999/g, String(i));
      var wrapper = document.createElement("div");
      wrapper.innerHTML = html;
      var row = wrapper.firstElementChild;
      row.querySelector("[data-holder-number]").textContent = String(i + 1);
      holderRows.appendChild(row);
    }
    for (var j = rows.length - 1; j >= wanted; j--) rows[j].remove();
  }

  // --- the live total and change ---------------------------------------------------
  function showChange() {
    if (!changeOut) return;
    var cash = parseMoney(tendered.value);
    changeOut.textContent = cash !== null && total !== null && cash >= total ? money(cash - total) : "—";
  }

  function slot() {
    var chosen = form.querySelector("input[name=slot]:checked");
    return chosen ? chosen.value : null;
  }

  function askQuote() {
    var lines = quantities.filter(function (q) { return count(q) > 0; }).map(function (q) {
      return { unit: q.id.replace(/^qty_/, ""), quantity: count(q) };
    });
    var ticket = ++asked;
    if (!lines.length) { total = null; totalOut.textContent = "—"; quoteError.textContent = ""; showChange(); return; }
    var body = { product: product, date: dateField.value, channel: "window", lines: lines };
    if (slot()) body.slot = slot();
    fetch(api + "/quotes", {
      method: "POST", credentials: "same-origin",
      headers: { "content-type": "application/json", "accept": "application/json" },
      body: JSON.stringify(body)
    }).then(function (response) {
      return response.json().then(function (data) { return { ok: response.ok, data: data }; });
    }).then(function (answer) {
      if (ticket !== asked) return; // a newer basket was priced meanwhile
      if (answer.ok) {
        total = answer.data.total;
        totalOut.textContent = money(total);
        quoteError.textContent = "";
      } else {
        total = null;
        totalOut.textContent = "—";
        quoteError.textContent = (answer.data.error && answer.data.error.message) || "";
      }
      showChange();
    }).catch(function () { /* offline for a moment: the sale itself will price it */ });
  }

  function changed() {
    syncHolders();
    clearTimeout(timer);
    timer = setTimeout(askQuote, 200);
  }

  // --- slots for the chosen date ---------------------------------------------------
  var dayState = document.getElementById("day-state");
  function loadDay() {
    var url = api + "/availability?product=" + encodeURIComponent(product) + "&from=" + encodeURIComponent(dateField.value) + "&days=1";
    fetch(url, { credentials: "same-origin", headers: { "accept": "application/json" } })
      .then(function (response) { return response.ok ? response.json() : null; })
      .then(function (answer) {
        if (!answer || !answer.days.length) return;
        var day = answer.days[0];
        dayState.textContent = day.state === "closed" ? texts.closed_day : day.state === "sold_out" ? texts.sold_out_day : "";
        day.slots.forEach(function (s) {
          var input = form.querySelector("input[name=slot][value='" + s.code + "']");
          var note = form.querySelector("[data-slot-left='" + s.code + "']");
          if (!input || !note) return;
          var open = s.state !== "sold_out" && s.state !== "closed";
          input.disabled = !open;
          if (!open && input.checked) input.checked = false;
          note.textContent = s.state === "sold_out" ? texts["Sold out"] : s.state === "closed" ? texts.Closed :
            s.left === null ? "" : texts.left.replace("{count}", s.left);
        });
        changed();
      }).catch(function () { /* keep what is shown */ });
  }

  dateField.addEventListener("change", loadDay);
  form.querySelectorAll("input[name=slot]").forEach(function (input) { input.addEventListener("change", changed); });
  if (tendered) tendered.addEventListener("input", showChange);

  var cashFields = document.getElementById("cash-fields");
  function showPayment() {
    var chosen = form.querySelector("input[name=payment]:checked");
    cashFields.hidden = !!chosen && chosen.value !== "cash";
  }
  form.querySelectorAll("input[name=payment]").forEach(function (input) { input.addEventListener("change", showPayment); });
  showPayment();

  // One sale per form: the server's idempotency key makes a double click harmless,
  // and this keeps the cashier from waiting on a second answer.
  var sending = false;
  form.addEventListener("submit", function (event) {
    if (sending) { event.preventDefault(); return; }
    var submitter = event.submitter;
    if (!submitter || submitter.value === "sell") sending = true;
  });
  window.addEventListener("pageshow", function () { sending = false; }); // back from the tickets

  syncHolders();
  askQuote();
})();
