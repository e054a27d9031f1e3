// Step 1, made live: steppers, slots that follow the chosen date, and the price fetched
// from the park's quote API on every change. The page works without it (a GET form).
(function () {
  "use strict";
  var form = document.getElementById("choose");
  var data = document.getElementById("booking-data");
  if (!form || !data || !window.fetch) return;
  document.documentElement.classList.add("js");
  var config = JSON.parse(data.textContent);
  var body = document.getElementById("quote-body");
  var timer = null;
  var pending = null;
  var failed = false;

  function fill(template, values) {
    // The server's %(name)s placeholders; %% is a literal percent sign.
    return template.replace(/%\((\w+)\)s|%%/g, function (whole, name) {
      if (!name) return "%";
      var value = values[name];
      return value === undefined || value === null ? "" : String(value);
    });
  }

  function money(minor) {
    var sign = minor < 0 ? "-" : "";
    var abs = Math.abs(minor);
    var cents = String(abs % 100);
    var prefix = config.currency === "CNY" ? "¥" : config.currency + " ";
    return sign + prefix + Math.floor(abs / 100) + "." + (cents.length < 2 ? "0" + cents : cents);
  }

  function templateKey(code, details) {
    if (code === "bundle_composition" && details.min === details.max) return "bundle_composition_exact";
    if (code === "sold_out" && details.left > 0) return "sold_out_few";
    if (code === "refund_window_closed" && details.hours != null) return "refund_window_closed_hours";
    return code;
  }

  function errorText(code, details, fallback) {
    var template = config.errors[templateKey(code, details || {})];
    if (!template) return fallback || code;
    var values = Object.assign({}, details);
    if (values.unit && config.units[values.unit]) values.unit = config.units[values.unit];
    return fill(template, values);
  }

  function element(tag, className, text) {
    var node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined) node.textContent = text;
    return node;
  }

  function showError(message) {
    failed = true;
    body.textContent = "";
    var p = element("p", "error", message);
    p.id = "quote-error";
    p.tabIndex = -1;
    body.appendChild(p);
  }

  function showQuote(quote) {
    failed = false;
    body.textContent = "";
    var list = element("ul", "lines");
    quote.lines.forEach(function (line) {
      var item = element("li");
      var left = element("span", "", (config.units[line.unit] || line.unit) + " × " + line.quantity + " ");
      left.appendChild(element("span", "muted", fill(config.text.each, { price: money(line.unit_price) })));
      item.appendChild(left);
      item.appendChild(element("span", "", money(line.total)));
      list.appendChild(item);
    });
    quote.adjustments.forEach(function (adjustment) {
      var item = element("li");
      item.appendChild(element("span", "", config.adjustments[adjustment.code] || adjustment.reason));
      item.appendChild(element("span", "", money(adjustment.amount)));
      list.appendChild(item);
    });
    body.appendChild(list);
    // A member's price is shown beside the price without the member discount.
    var member = 0;
    quote.adjustments.forEach(function (adjustment) {
      if (adjustment.code === "member_discount") member += adjustment.amount;
    });
    var total = element("p", member ? "total member" : "total");
    total.appendChild(element("span", "", member ? config.text.memberTotal : config.text.total));
    total.appendChild(document.createTextNode(" "));
    var amount = element("span");
    if (member) {
      amount.appendChild(element("s", "muted", fill(config.text.normal, { price: money(quote.total - member) })));
      amount.appendChild(document.createTextNode(" "));
    }
    amount.appendChild(element("strong", "", money(quote.total)));
    total.appendChild(amount);
    body.appendChild(total);
  }

  function checked(name) {
    var input = form.querySelector("input[name='" + name + "']:checked");
    return input ? input.value : null;
  }

  function shortage(people) {
    var day = config.days[checked("date")];
    if (!day) return null;
    if (day.state === "closed") return errorText("park_closed", {});
    var left = day.left;
    var slot = checked("slot");
    if (slot && day.slots[slot]) left = day.slots[slot][1];
    if (left !== null && left < Math.max(people, 1)) return errorText("sold_out", { left: left });
    return null;
  }

  function basket() {
    var lines = [];
    form.querySelectorAll(".unit").forEach(function (unit) {
      var name = unit.getAttribute("data-unit");
      var quantity = parseInt(form.elements["qty_" + name].value, 10) || 0;
      if (quantity <= 0) return;
      var line = { unit: name, quantity: quantity };
      var ages = Array.prototype.map.call(
        unit.querySelectorAll("input[name='age_" + name + "']"),
        function (input) { return input.value.trim(); }
      );
      if (ages.length && ages.every(function (age) { return /^\d+$/.test(age); })) {
        line.ages = ages.map(function (age) { return parseInt(age, 10); });
      }
      lines.push(line);
    });
    return lines;
  }

  function quote() {
    var day = checked("date");
    if (!day) { showError(errorText("invalid_date", {})); return; }
    var payload = { product: config.product, date: day, channel: "web", lines: basket() };
    var slot = checked("slot");
    if (slot) payload.slot = slot;
    if (config.renewalOf) payload.renewal_of = config.renewalOf;
    if (pending) pending.abort();
    pending = new AbortController();
    body.classList.add("busy");
    fetch(config.quotesUrl, {
      method: "POST",
      headers: { "content-type": "application/json", accept: "application/json" },
      body: JSON.stringify(payload),
      signal: pending.signal,
      credentials: "same-origin",
    })
      .then(function (response) {
        return response.json().then(function (json) { return { ok: response.ok, json: json }; });
      })
      .then(function (answer) {
        body.classList.remove("busy");
        if (!answer.ok) {
          var error = (answer.json && answer.json.error) || {};
          showError(errorText(error.code, error.details, error.message));
          return;
        }
        var short = shortage(answer.json.entitlements.length);
        if (short) showError(short); else showQuote(answer.json);
      })
      .catch(function (error) {
        if (error.name === "AbortError") return;
        body.classList.remove("busy");
        showError(config.text.offline);
      });
  }

  function later() {
    clearTimeout(timer);
    timer = setTimeout(quote, 250);
  }

  function syncAges(unit) {
    var box = unit.querySelector(".ages");
    if (!box) return;
    var name = unit.getAttribute("data-unit");
    var wanted = parseInt(form.elements["qty_" + name].value, 10) || 0;
    var labels = box.querySelectorAll("label.age");
    for (var i = labels.length; i > wanted; i--) box.removeChild(labels[i - 1]);
    for (var n = labels.length + 1; n <= wanted; n++) {
      var label = element("label", "age", fill(config.text.age, { unit: unit.getAttribute("data-label"), number: n }) + " ");
      var input = element("input");
      input.type = "number";
      input.name = "age_" + name;
      input.min = "0";
      input.max = box.getAttribute("data-max-age");
      input.inputMode = "numeric";
      if (box.getAttribute("data-required") === "true") input.required = true;
      label.appendChild(input);
      box.appendChild(label);
    }
  }

  function redrawSlots() {
    var day = config.days[checked("date")];
    var box = document.getElementById("slots");
    if (!box || !day) return;
    var firstOpen = null;
    box.querySelectorAll(".slot").forEach(function (label) {
      var code = label.getAttribute("data-slot");
      var state = (day.slots[code] || ["closed"])[0];
      var input = label.querySelector("input");
      var shut = state === "sold_out" || state === "closed";
      label.className = "slot state-" + state;
      label.querySelector(".state").textContent = config.states[state] || state;
      input.disabled = shut;
      if (shut) input.checked = false;
      if (!shut && !firstOpen) firstOpen = input;
    });
    if (!checked("slot") && firstOpen) firstOpen.checked = true;
  }

  form.addEventListener("click", function (event) {
    var button = event.target.closest("button[name=step]");
    if (!button) return;
    event.preventDefault();
    var parts = button.value.split(":");
    var input = form.elements["qty_" + parts[0]];
    var value = (parseInt(input.value, 10) || 0) + (parts[1] === "+1" ? 1 : -1);
    input.value = String(Math.max(0, Math.min(99, value)));
    syncAges(button.closest(".unit"));
    later();
  });

  form.addEventListener("change", function (event) {
    var target = event.target;
    if (target.name === "date") redrawSlots();
    if (target.name && target.name.indexOf("qty_") === 0) syncAges(target.closest(".unit"));
    later();
  });

  form.addEventListener("input", function (event) {
    if (event.target.name && event.target.name.indexOf("age_") === 0) later();
  });

  form.addEventListener("submit", function (event) {
    // "Continue" with a price that failed: say why here instead of going on.
    var error = document.getElementById("quote-error");
    if ((failed || error) && event.submitter && event.submitter.id === "continue") {
      event.preventDefault();
      if (error) { error.tabIndex = -1; error.focus(); }
    }
  });
})();
