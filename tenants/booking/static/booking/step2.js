// Step 2: ID documents checked as they are typed, with the rules of
// tenants/visitors/documents.py (GB 11643 check digit and birth date for mainland ID
// cards). The server checks again on submit; this only saves the visitor a round trip.
(function () {
  "use strict";
  var form = document.getElementById("who");
  var data = document.getElementById("who-data");
  if (!form || !data) return;
  var messages = JSON.parse(data.textContent);
  var PATTERNS = {
    cn_id: /^[0-9]{17}[0-9X]$/,
    passport: /^[A-Z0-9]{5,20}$/,
    hk_mo_permit: /^[HM][0-9]{8}(?:[0-9]{2})?$/,
    tw_permit: /^(?:[0-9]{8}|[A-Z0-9]{10})$/,
    foreign_permanent: /^(?:[A-Z0-9]{15}|[A-Z0-9]{18})$/,
  };
  var WEIGHTS = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2];
  var CHECK = "10X98765432";

  function canonical(number) {
    // Full-width digits and letters (Chinese input methods) fold to ASCII, as on the server.
    var folded = number.normalize ? number.normalize("NFKC") : number;
    return folded.replace(/\s+/g, "").toUpperCase();
  }

  function birthOk(digits) {
    var year = +digits.slice(0, 4), month = +digits.slice(4, 6), day = +digits.slice(6, 8);
    var born = new Date(Date.UTC(year, month - 1, day));
    if (born.getUTCFullYear() !== year || born.getUTCMonth() !== month - 1 || born.getUTCDate() !== day) {
      return false;
    }
    return year >= 1900 && born.getTime() <= Date.now();
  }

  function problem(type, raw) {
    var number = canonical(raw);
    var pattern = PATTERNS[type];
    if (!pattern || !pattern.test(number)) return "invalid_id_number";
    if (type === "cn_id") {
      var total = 0;
      for (var i = 0; i < 17; i++) total += (+number[i]) * WEIGHTS[i];
      if (CHECK[total % 11] !== number[17]) return "invalid_check_digit";
      if (!birthOk(number.slice(6, 14))) return "invalid_birth_date";
    }
    return null;
  }

  function show(input, code) {
    var error = document.getElementById(input.id + "-error");
    var message = code ? messages[code] : "";
    if (error) error.textContent = message;
    input.setAttribute("aria-invalid", code ? "true" : "false");
    input.closest(".field").classList.toggle("invalid", !!code);
    return !code;
  }

  function holders() {
    return Array.prototype.slice.call(form.querySelectorAll(".holder"));
  }

  function check(fieldset, final) {
    var index = fieldset.getAttribute("data-index");
    var number = document.getElementById("holder_number_" + index);
    var type = document.getElementById("holder_type_" + index);
    if (!number || !type) return true;
    if (!number.value.trim()) return final ? show(number, "invalid_id_number") : show(number, null);
    var code = problem(type.value, number.value);
    // While typing an ID card number, wait until all 18 characters are there.
    if (!final && code === "invalid_id_number" && canonical(number.value).length < 18) code = null;
    if (!code) {
      var mine = type.value + ":" + canonical(number.value);
      holders().forEach(function (other) {
        if (other === fieldset || code) return;
        var i = other.getAttribute("data-index");
        var theirs = document.getElementById("holder_type_" + i).value + ":" +
          canonical(document.getElementById("holder_number_" + i).value);
        if (theirs === mine && +i < +index) code = "duplicate_document";
      });
    }
    return show(number, code);
  }

  form.addEventListener("input", function (event) {
    var fieldset = event.target.closest(".holder");
    if (fieldset && event.target.classList.contains("document-number")) check(fieldset, false);
  });
  // A face photo over the server's size cap is refused here, before minutes of
  // uploading on a phone's connection; the server checks the face itself.
  form.addEventListener("change", function (event) {
    var input = event.target;
    var box = input.type === "file" ? input.closest(".photo") : null;
    if (!box || !input.files || !input.files[0]) return;
    var tooBig = input.files[0].size > +box.getAttribute("data-max-bytes");
    var error = box.querySelector(".field-error");
    if (error) error.textContent = tooBig ? box.getAttribute("data-too-large") : "";
    box.classList.toggle("invalid", tooBig);
    input.setAttribute("aria-invalid", tooBig ? "true" : "false");
    if (tooBig) input.value = "";
  });
  form.addEventListener("change", function (event) {
    var fieldset = event.target.closest(".holder");
    // A photo chosen before the number is typed is no reason to flag the number.
    if (fieldset && event.target.type !== "file") check(fieldset, true);
  });
  form.addEventListener("submit", function (event) {
    var first = null;
    holders().forEach(function (fieldset) {
      if (!check(fieldset, true) && !first) {
        first = document.getElementById("holder_number_" + fieldset.getAttribute("data-index"));
      }
    });
    if (first) {
      event.preventDefault();
      first.focus();
      return;
    }
    // One tap is enough: a second one would only resend the same order.
    var button = document.getElementById("place");
    if (button) setTimeout(function () { button.disabled = true; }, 0);
  });

  // Back from the payment page, the browser may show this page as it was left.
  window.addEventListener("pageshow", function () {
    var button = document.getElementById("place");
    if (button) button.disabled = false;
  });

  var alert = document.getElementById("form-alert");
  var invalid = form.querySelector("[aria-invalid=true]");
  if (invalid) invalid.focus(); else if (alert) { alert.tabIndex = -1; alert.focus(); }
})();
