// Passkeys (WebAuthn) for the hosted pages, with no dependencies.
//
// A passkey form is an ordinary POST form carrying a hidden "credential" field:
//   <form data-passkey="create|get" data-options-url="..." hidden> ... </form>
// Pressing its button asks the server for the ceremony's options (a POST with the form's
// CSRF token; the server binds the challenge to this browser's login flow or session),
// runs navigator.credentials.create() or .get(), puts the answer in "credential" as JSON
// and sends the form. The forms are `hidden` in the page and shown here, so a browser
// without WebAuthn (or without JavaScript) never sees a button that cannot work; so are
// elements marked data-passkey-only (words about passkeys around such a form).
//
// Autofill ("conditional UI"): on a page with <input autocomplete="... webauthn"> and a
// form with data-passkey-autofill, the browser offers the site's passkeys in that field's
// suggestions; picking one sends that form. Pressing a passkey button first cancels it.
//
// What goes wrong is said in the form's [data-passkey-status] element (role="alert"),
// in the words the page put in data-error-* attributes (translated with the page).
(function () {
  "use strict";
  if (!window.PublicKeyCredential || !navigator.credentials || !window.fetch) {
    return;
  }

  function toBytes(text) {
    var base64 = text.replace(/-/g, "+").replace(/_/g, "/");
    while (base64.length % 4) { base64 += "="; }
    var binary = atob(base64);
    var bytes = new Uint8Array(binary.length);
    for (var i = 0; i < binary.length; i++) { bytes[i] = binary.charCodeAt(i); }
    return bytes.buffer;
  }

  function toText(buffer) {
    var bytes = new Uint8Array(buffer);
    var binary = "";
    for (var i = 0; i < bytes.length; i++) { binary += String.fromCharCode(bytes[i]); }
    return btoa(binary).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
  }

  function withIds(list) {
    return (list || []).map(function (item) {
      return Object.assign({}, item, {id: toBytes(item.id)});
    });
  }

  // The server's JSON options (base64url strings) as the browser API wants them (bytes).
  function creationOptions(json) {
    return Object.assign({}, json, {
      challenge: toBytes(json.challenge),
      user: Object.assign({}, json.user, {id: toBytes(json.user.id)}),
      excludeCredentials: withIds(json.excludeCredentials)
    });
  }

  function requestOptions(json) {
    return Object.assign({}, json, {
      challenge: toBytes(json.challenge),
      allowCredentials: withIds(json.allowCredentials)
    });
  }

  // The browser's answer as the JSON the server reads (WebAuthn's toJSON() shape).
  function answerJson(credential) {
    var response = credential.response;
    var out = {
      id: credential.id,
      rawId: toText(credential.rawId),
      type: credential.type,
      authenticatorAttachment: credential.authenticatorAttachment || null,
      clientExtensionResults: credential.getClientExtensionResults(),
      response: {clientDataJSON: toText(response.clientDataJSON)}
    };
    if (response.attestationObject) {
      out.response.attestationObject = toText(response.attestationObject);
      out.response.transports = response.getTransports ? response.getTransports() : [];
    } else {
      out.response.authenticatorData = toText(response.authenticatorData);
      out.response.signature = toText(response.signature);
      out.response.userHandle = response.userHandle ? toText(response.userHandle) : null;
    }
    return JSON.stringify(out);
  }

  function say(form, key) {
    var status = form.querySelector("[data-passkey-status]");
    if (status) { status.textContent = form.dataset[key] || form.dataset.errorFailed || ""; }
  }

  function fetchOptions(form) {
    var token = form.querySelector("input[name=csrf_token]");
    return fetch(form.dataset.optionsUrl, {
      method: "POST",
      credentials: "same-origin",
      headers: {"X-CSRFToken": token ? token.value : "", "Accept": "application/json"}
    }).then(function (answer) {
      if (!answer.ok) {
        return answer.json().catch(function () { return {}; }).then(function (body) {
          throw {serverMessage: body.error || ""};
        });
      }
      return answer.json();
    });
  }

  var autofill = null;  // the AbortController of a pending autofill request

  function run(form, mediation) {
    var create = form.dataset.passkey === "create";
    var field = form.querySelector("input[name=credential]");
    return fetchOptions(form).then(function (json) {
      if (create) {
        return navigator.credentials.create({publicKey: creationOptions(json)});
      }
      var request = {publicKey: requestOptions(json)};
      if (mediation) {
        autofill = new AbortController();
        request.mediation = mediation;
        request.signal = autofill.signal;
      }
      return navigator.credentials.get(request);
    }).then(function (credential) {
      if (!credential) { return; }
      field.value = answerJson(credential);
      form.submit();
    });
  }

  function explain(form, error) {
    if (error && error.serverMessage) {
      var status = form.querySelector("[data-passkey-status]");
      if (status) { status.textContent = error.serverMessage; }
    } else if (error && error.name === "InvalidStateError") {
      say(form, "errorDuplicate");  // create(): excludeCredentials matched this device
    } else if (error && (error.name === "NotAllowedError" || error.name === "AbortError")) {
      say(form, "errorCancelled");
    } else {
      say(form, "errorFailed");
    }
  }

  // Words about passkeys that make sense only where they can be used.
  document.querySelectorAll("[data-passkey-only]").forEach(function (element) {
    element.hidden = false;
  });

  document.querySelectorAll("form[data-passkey]").forEach(function (form) {
    form.hidden = false;
    form.addEventListener("submit", function (event) {
      var field = form.querySelector("input[name=credential]");
      if (field.value) { return; }  // the answer is in: send it
      event.preventDefault();
      say(form, "working");
      if (autofill) { autofill.abort(); autofill = null; }
      run(form, null).catch(function (error) { explain(form, error); });
    });
  });

  var autofillForm = document.querySelector("form[data-passkey-autofill]");
  if (autofillForm && PublicKeyCredential.isConditionalMediationAvailable &&
      document.querySelector("input[autocomplete$=webauthn]")) {
    PublicKeyCredential.isConditionalMediationAvailable().then(function (available) {
      if (available) {
        // Silent when it fails: autofill is an offer the customer never asked for, and
        // the button and the password form are still there.
        run(autofillForm, "conditional").catch(function () {});
      }
    });
  }
})();
