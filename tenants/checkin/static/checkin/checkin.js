// The check-in page's camera and instant answers. Without this script the page's
// forms still work; with it, scans go through the check-in API without a reload.
// QR codes are read by the browser's BarcodeDetector where it has one, else a
// camera frame is sent to the server (POST .../checkin/frames) about twice a second.
(function () {
  "use strict";
  var root = document.getElementById("checkin");
  if (!root) return;
  var api = root.getAttribute("data-api");
  var texts = JSON.parse(document.getElementById("checkin-texts").textContent);
  var direction = root.getAttribute("data-direction") || "entry";
  var query = "";
  var busy = false;
  var lastCode = "";
  var lastAt = 0;
  var SAME_CODE_MS = 3000; // a ticket held in front of the camera is decided once
  var FRAME_MS = 500;
  var FRAME_WIDTH = 960;

  function t(text) { return texts[text] || text; }

  function el(tag, attrs, children) {
    var node = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (key) { node.setAttribute(key, attrs[key]); });
    (children || []).forEach(function (child) {
      node.appendChild(typeof child === "string" ? document.createTextNode(child) : child);
    });
    return node;
  }

  function randomId() {
    if (window.crypto && crypto.randomUUID) return crypto.randomUUID();
    var bytes = new Uint8Array(16);
    crypto.getRandomValues(bytes);
    return Array.prototype.map.call(bytes, function (b) { return (b + 256).toString(16).slice(1); }).join("");
  }

  function device() {
    var key = "vistapass-checkin-device";
    try {
      var id = localStorage.getItem(key);
      if (!id) { id = "web-" + randomId().slice(0, 8); localStorage.setItem(key, id); }
      return id;
    } catch (e) { return "web"; }
  }

  function csrf() {
    var match = document.cookie.match(/(?:^|;\s*)csrftoken=([^;]+)/);
    return match ? decodeURIComponent(match[1]) : "";
  }

  function request(method, url, body, type) {
    var headers = { "accept": "application/json", "x-csrftoken": csrf() };
    if (type) headers["content-type"] = type;
    return fetch(url, { method: method, headers: headers, body: body, credentials: "same-origin" })
      .then(function (response) {
        return response.json().then(function (data) {
          if (!response.ok) {
            var error = new Error((data.error && data.error.message) || response.statusText);
            error.answer = data;
            throw error;
          }
          return data;
        });
      });
  }

  // --- the answer -------------------------------------------------------------
  var result = document.getElementById("result");

  function facts(ticket) {
    var entries = ticket.entries_used + " / " + (ticket.entries_total === null ? t("unlimited") : ticket.entries_total);
    var rows = [
      [t("Order"), ticket.order + " · " + t("Ticket") + " " + ticket.number],
      [t("Valid"), ticket.valid_from === ticket.valid_to ? ticket.valid_from : ticket.valid_from + " – " + ticket.valid_to],
      [t("Entries used"), entries]
    ];
    if (ticket.slot) rows.splice(2, 0, [t("Slot"), ticket.slot_start && ticket.slot_end ? ticket.slot_start + "–" + ticket.slot_end : ticket.slot]);
    var list = el("dl", { "class": "facts" }, [el("dt", {}, [t("Product")]), el("dd", {}, [ticket.product_name + " · " + ticket.unit_label])]);
    rows.forEach(function (row) { list.appendChild(el("dt", {}, [row[0]])); list.appendChild(el("dd", {}, [row[1]])); });
    return list;
  }

  function show(ok, reason, ticket, code) {
    result.hidden = false;
    result.className = "result " + (ok === null ? "" : ok ? "ok" : "refused");
    result.textContent = "";
    if (ok !== null) result.appendChild(el("p", { "class": "verdict" }, [ok ? t("Admit") : t("Refuse")]));
    result.appendChild(el("p", { "class": "reason", "data-code": code || "" }, [reason]));
    if (ticket) {
      result.appendChild(facts(ticket));
      if (ticket.named) result.appendChild(el("p", { "class": "named" }, [t("Named ticket: check the ID document.")]));
    }
  }

  function remember(decision) {
    var list = document.getElementById("recent");
    var empty = list.querySelector(".empty");
    if (empty) empty.remove();
    var when = new Date(decision.at);
    var item = el("li", { "class": decision.ok ? "ok" : "refused" }, [
      el("time", { datetime: decision.at }, [when.toLocaleTimeString([], { hour12: false })]),
      el("span", { "class": "dir" }, [decision.direction === "entry" ? t("Entry") : t("Exit")]),
      el("span", {}, [decision.message])
    ]);
    if (decision.ticket) {
      item.appendChild(el("span", { "class": "muted" }, [decision.ticket.product_name + " · " + decision.ticket.unit_label + " · " + decision.ticket.order]));
    }
    list.insertBefore(item, list.firstChild);
    while (list.children.length > 10) list.removeChild(list.lastChild);
  }

  // `reveal`: scroll the answer into view (not for the camera, which stays in sight).
  function scan(code, reveal) {
    if (busy) return Promise.resolve();
    busy = true;
    show(null, t("Checking…"));
    if (reveal) result.scrollIntoView({ block: "start" });
    var body = JSON.stringify({ code: code, direction: direction, device: device(), nonce: randomId() });
    var send = function () { return request("POST", api + "/scans", body, "application/json"); };
    // A lost answer is retried once with the same nonce: the server decides it only once.
    return send().catch(function (error) { if (error.answer) throw error; return send(); })
      .then(function (decision) {
        show(decision.ok, decision.message, decision.ticket, decision.code);
        remember(decision);
        if (query) search(query);
      })
      .catch(function (error) { show(false, error.answer ? error.message : t("The server could not be reached. Try again.")); })
      .then(function () { busy = false; });
  }

  // A code still in view is not decided again: it must leave the camera for a while first.
  function handle(code) {
    var now = Date.now();
    var seen = code === lastCode && now - lastAt < SAME_CODE_MS;
    if (busy) return; // seen again on a later frame, once this answer is in
    lastAt = now;
    if (seen) return;
    lastCode = code;
    scan(code);
  }

  // --- direction ----------------------------------------------------------------
  function setDirection(value) {
    direction = value;
    root.setAttribute("data-direction", value);
    document.querySelectorAll(".direction a").forEach(function (link) {
      if (link.getAttribute("data-direction") === value) link.setAttribute("aria-current", "true");
      else link.removeAttribute("aria-current");
    });
    document.querySelectorAll("[data-direction-field]").forEach(function (field) { field.value = value; });
    document.querySelectorAll("[data-label-entry]").forEach(function (button) {
      button.textContent = button.getAttribute(value === "entry" ? "data-label-entry" : "data-label-exit");
    });
    lastCode = "";
    var url = new URL(window.location.href);
    url.searchParams.set("direction", value);
    history.replaceState(null, "", url.toString());
  }

  document.querySelectorAll(".direction a").forEach(function (link) {
    link.addEventListener("click", function (event) {
      event.preventDefault();
      setDirection(link.getAttribute("data-direction"));
    });
  });

  // --- search -------------------------------------------------------------------
  var results = document.getElementById("search-results");

  function ticketRow(ticket) {
    var label = t("Ticket") + " " + ticket.number + " · " + ticket.unit_label + " · ";
    var info = el("span", {}, [label, el("strong", { "data-state": ticket.state }, [ticket.state_label || ticket.state]),
      " · " + t("Entries used") + " " + ticket.entries_used + " / " + (ticket.entries_total === null ? t("unlimited") : ticket.entries_total) +
      (ticket.inside ? " · " + t("Inside now") : "")]);
    var row = el("li", {}, [info]);
    if (ticket.qr) {
      var button = el("button", { type: "button", "data-label-entry": t("Check in"), "data-label-exit": t("Check out") },
        [direction === "entry" ? t("Check in") : t("Check out")]);
      button.addEventListener("click", function () { scan(ticket.qr, true); });
      row.appendChild(button);
      row.appendChild(cardForm(ticket));
    }
    return row;
  }

  // A card or wristband for gates that read cards: bound through the API, no reload.
  function cardForm(ticket) {
    var id = "card-" + ticket.id;
    var field = el("input", { id: id, name: "card", inputmode: "numeric", autocomplete: "off", maxlength: "20" });
    field.value = ticket.card || "";
    var status = el("span", { "class": "card-notice", role: "status" });
    var form = el("form", { "class": "card-form" }, [
      el("label", { "for": id }, [t("Card or wristband")]), field,
      el("button", { type: "submit", "class": "secondary" }, [t("Bind card")]), status
    ]);
    form.addEventListener("submit", function (event) {
      event.preventDefault();
      var card = (field.value || "").trim();
      var url = api + "/tickets/" + ticket.id + "/card";
      var sent = card ? request("PUT", url, JSON.stringify({ card: card }), "application/json") : request("DELETE", url);
      sent.then(function (answer) {
        status.setAttribute("data-ok", "true");
        status.textContent = answer.card ? t("Card {card} is bound to ticket {number}.").replace("{card}", answer.card).replace("{number}", ticket.number)
          : t("Ticket {number} has no card now.").replace("{number}", ticket.number);
      }).catch(function (error) {
        status.setAttribute("data-ok", "false");
        status.textContent = error.message;
      });
    });
    return form;
  }

  function search(q, reveal) {
    query = q;
    return request("GET", api + "/search?q=" + encodeURIComponent(q)).then(function (answer) {
      results.hidden = false;
      results.textContent = "";
      results.appendChild(el("h2", {}, [results.getAttribute("data-heading") || ""]));
      if (!answer.orders.length) results.appendChild(el("p", { "class": "muted" }, [t("No orders found.")]));
      if (reveal) results.scrollIntoView({ block: "start" });
      answer.orders.forEach(function (order) {
        var list = el("ul", { "class": "tickets" }, order.tickets.map(ticketRow));
        results.appendChild(el("article", { "class": "card order" }, [
          el("h3", {}, [order.code + " · " + order.product_name]),
          el("p", { "class": "muted" }, [(order.contact_name ? order.contact_name + " · " : "") + order.date + (order.slot ? " " + order.slot : "") + " · " + order.status_label]),
          list
        ]));
      });
    }).catch(function () { show(false, t("The server could not be reached. Try again.")); });
  }

  results.setAttribute("data-heading", (results.querySelector("h2") || { textContent: "" }).textContent);
  var initial = new URL(window.location.href).searchParams.get("q");
  if (initial) query = initial;

  document.querySelectorAll("form[data-scan-form]").forEach(function (form) {
    form.addEventListener("submit", function (event) {
      event.preventDefault();
      var field = form.querySelector("[name=code]");
      var value = (field.value || "").trim();
      if (!value) return;
      if (value.toUpperCase().indexOf("VP1:") === 0) {
        scan(value, true).then(function () { if (form.id === "manual-form") { field.value = ""; field.focus(); } });
      } else {
        search(value, true);
      }
    });
  });

  // --- pictures: a photo, or camera frames -------------------------------------
  function readCodes(blob) {
    return request("POST", api + "/frames", blob, blob.type || "image/jpeg").then(function (answer) { return answer.codes; });
  }

  var photoForm = document.getElementById("photo-form");
  var photo = document.getElementById("photo");
  function checkPhoto(event) {
    if (event) event.preventDefault();
    var file = photo.files && photo.files[0];
    if (!file) return;
    show(null, t("Checking…"));
    readCodes(file).then(function (codes) {
      if (codes.length) { lastCode = ""; handle(codes[0]); } else show(false, t("No QR code found in the picture."));
    }).catch(function (error) { show(false, error.answer ? error.message : t("The server could not be reached. Try again.")); });
  }
  photoForm.addEventListener("submit", checkPhoto);
  photo.addEventListener("change", checkPhoto);

  var card = document.getElementById("camera-card");
  var video = document.getElementById("camera");
  var canvas = document.getElementById("frame");
  var start = document.getElementById("camera-start");
  var stop = document.getElementById("camera-stop");
  var status = document.getElementById("camera-status");
  var stream = null;
  var timer = null;
  var inFlight = false;
  var detector = null;

  if (!(navigator.mediaDevices && navigator.mediaDevices.getUserMedia)) return; // no camera here: forms only
  card.hidden = false;

  function frameToServer() {
    if (inFlight || busy || !video.videoWidth) return;
    var scale = Math.min(1, FRAME_WIDTH / video.videoWidth);
    canvas.width = Math.round(video.videoWidth * scale);
    canvas.height = Math.round(video.videoHeight * scale);
    canvas.getContext("2d").drawImage(video, 0, 0, canvas.width, canvas.height);
    inFlight = true;
    canvas.toBlob(function (blob) {
      if (!blob) { inFlight = false; return; }
      readCodes(blob).then(function (codes) { if (codes.length) handle(codes[0]); })
        .catch(function () { /* the next frame tries again */ })
        .then(function () { inFlight = false; });
    }, "image/jpeg", 0.85);
  }

  function frameInBrowser() {
    if (inFlight || busy) return;
    inFlight = true;
    detector.detect(video).then(function (found) { if (found.length) handle(found[0].rawValue); })
      .catch(function () { /* a frame the detector could not read */ })
      .then(function () { inFlight = false; });
  }

  function chooseDetector() {
    if (!("BarcodeDetector" in window)) return Promise.resolve(null);
    return window.BarcodeDetector.getSupportedFormats().then(function (formats) {
      return formats.indexOf("qr_code") >= 0 ? new window.BarcodeDetector({ formats: ["qr_code"] }) : null;
    }).catch(function () { return null; });
  }

  function stopCamera(message) {
    if (timer) clearInterval(timer);
    timer = null;
    if (stream) stream.getTracks().forEach(function (track) { track.stop(); });
    stream = null;
    video.removeAttribute("data-live");
    start.hidden = false;
    stop.hidden = true;
    status.textContent = message || "";
  }

  start.addEventListener("click", function () {
    navigator.mediaDevices.getUserMedia({ video: { facingMode: { ideal: "environment" }, width: { ideal: 1280 } }, audio: false })
      .then(function (media) {
        stream = media;
        video.srcObject = media;
        return video.play();
      })
      .then(chooseDetector)
      .then(function (found) {
        detector = found;
        video.setAttribute("data-live", "");
        start.hidden = true;
        stop.hidden = false;
        status.textContent = t("Point the camera at the ticket's QR code.");
        timer = setInterval(detector ? frameInBrowser : frameToServer, detector ? 250 : FRAME_MS);
      })
      .catch(function () { stopCamera(t("The camera could not be started. Use a photo or type the code.")); });
  });
  stop.addEventListener("click", function () { stopCamera(t("Camera stopped.")); });
})();
