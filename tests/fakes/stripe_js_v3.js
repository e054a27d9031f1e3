// A stand-in for Stripe.js v3 (https://js.stripe.com/v3/), served by tests/fakes/stripe_js.py
// to a browser that resolves js.stripe.com and api.stripe.com to it. It keeps the calls
// the booking page makes (Stripe(), elements({clientSecret}), create("payment").mount(),
// confirmPayment({elements, confirmParams: {return_url}})) and Stripe's behaviour around
// them: confirming POSTs to /v1/payment_intents/<id>/confirm with the publishable key and
// the client secret, a decline resolves with {error}, a success leaves for return_url
// with payment_intent, payment_intent_client_secret and redirect_status.
(function () {
  "use strict";
  window.Stripe = function (publishableKey, options) {
    var account = (options || {}).stripeAccount || "";
    var secret = null;
    var input = null;
    return {
      elements: function (elementOptions) {
        secret = elementOptions.clientSecret;
        return {
          create: function (type) {
            if (type !== "payment") throw new Error("stand-in: only the Payment Element");
            return {
              mount: function (selector) {
                var host = document.querySelector(selector);
                var label = document.createElement("label");
                label.textContent = "Card number";
                input = document.createElement("input");
                input.id = "stand-in-card-number";
                input.setAttribute("inputmode", "numeric");
                label.appendChild(input);
                host.appendChild(label);
              },
            };
          },
        };
      },
      confirmPayment: function (params) {
        var intentId = secret.split("_secret_")[0];
        var body = new URLSearchParams({
          key: publishableKey,
          client_secret: secret,
          "payment_method_data[type]": "card",
          "payment_method_data[card][number]": input.value.replace(/\s+/g, ""),
          return_url: params.confirmParams.return_url,
        });
        var headers = { "Content-Type": "application/x-www-form-urlencoded" };
        if (account) headers["Stripe-Account"] = account;
        return fetch("https://api.stripe.com/v1/payment_intents/" + intentId + "/confirm", {
          method: "POST",
          headers: headers,
          body: body.toString(),
        })
          .then(function (response) { return response.json(); })
          .then(function (answer) {
            if (answer.error) return { error: answer.error };
            var back = new URL(params.confirmParams.return_url);
            back.searchParams.set("payment_intent", answer.id);
            back.searchParams.set("payment_intent_client_secret", secret);
            back.searchParams.set("redirect_status", answer.status);
            window.location.assign(back.toString());
            return new Promise(function () {});
          });
      },
    };
  };
})();
