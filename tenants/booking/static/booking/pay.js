// Step 3: the hold's countdown and, where the park has Stripe, its Payment Element.
// Stripe.js (js.stripe.com, the payment provider's own script) is loaded only on this page.
(function () {
  "use strict";
  var hold = document.getElementById("hold");
  if (hold) {
    var deadline = Date.now() + (parseInt(hold.getAttribute("data-seconds"), 10) || 0) * 1000;
    var shown = hold.querySelector(".countdown");
    var tick = function () {
      var left = Math.max(0, Math.round((deadline - Date.now()) / 1000));
      var seconds = String(left % 60);
      shown.textContent = "(" + Math.floor(left / 60) + ":" + (seconds.length < 2 ? "0" + seconds : seconds) + ")";
      if (left > 0) return;
      clearInterval(timer);
      document.getElementById("hold-ended").classList.remove("hidden");
      document.querySelectorAll("#test-pay, #stripe-pay").forEach(function (button) {
        button.disabled = true;
      });
    };
    var timer = setInterval(tick, 1000);
    tick();
  }

  // Back from Stripe, the payment is confirmed by its webhook in a moment: look again
  // (the page sends a paid order on to its tickets).
  if (document.querySelector("[data-refresh]")) {
    setTimeout(function () { window.location.reload(); }, 4000);
  }

  var data = document.getElementById("stripe-data");
  if (!data || !window.Stripe) return;
  var config = JSON.parse(data.textContent);
  var stripe = window.Stripe(config.publishableKey, {
    stripeAccount: config.stripeAccount,
    locale: config.locale,
  });
  var elements = stripe.elements({ clientSecret: config.clientSecret });
  elements.create("payment").mount("#payment-element");
  var form = document.getElementById("stripe-form");
  var button = document.getElementById("stripe-pay");
  var error = document.getElementById("stripe-error");
  form.addEventListener("submit", function (event) {
    event.preventDefault();
    button.disabled = true;
    error.textContent = "";
    stripe
      .confirmPayment({ elements: elements, confirmParams: { return_url: config.returnUrl } })
      .then(function (result) {
        // Only a failure comes back here; success leaves for return_url.
        if (result.error) error.textContent = result.error.message || "";
        button.disabled = false;
      });
  });
})();
