// VIP CRM: what htmx needs beyond its attributes.
(function () {
  "use strict";
  // htmx 2 does not swap error responses; say what happened instead of doing nothing.
  document.body.addEventListener("htmx:responseError", function (event) {
    var status = event.detail.xhr.status;
    var body = document.body.dataset;
    window.alert(status === 403 ? body.msgForbidden : body.msgError);
  });
  document.body.addEventListener("htmx:sendError", function () {
    window.alert(document.body.dataset.msgError);
  });
})();

// Copy a ready greeting (Today page) into the clipboard, for pasting into WeChat. The text and
// the labels come from the page; navigator.clipboard needs HTTPS or localhost, so an older
// select-and-copy is the fallback on a store's plain-HTTP network.
(function () {
  "use strict";
  function fallbackCopy(text) {
    var area = document.createElement("textarea");
    area.value = text;
    area.setAttribute("readonly", "");
    area.style.position = "fixed";
    area.style.opacity = "0";
    document.body.appendChild(area);
    area.select();
    var ok = false;
    try {
      ok = document.execCommand("copy");
    } catch (e) {
      ok = false;
    }
    document.body.removeChild(area);
    return ok;
  }
  function flash(button, label) {
    if (!button.dataset.label) {
      button.dataset.label = button.textContent;
    }
    button.textContent = label;
    window.setTimeout(function () {
      button.textContent = button.dataset.label;
    }, 2000);
  }
  document.addEventListener("click", function (event) {
    var button = event.target.closest("[data-copy]");
    if (!button) {
      return;
    }
    var text = button.dataset.copy;
    var done = function () { flash(button, button.dataset.copiedLabel); };
    var failed = function () {
      if (fallbackCopy(text)) {
        done();
      } else {
        flash(button, button.dataset.copyFailedLabel);
        var details = button.closest("li") && button.closest("li").querySelector("details.greeting");
        if (details) {
          details.open = true;
        }
      }
    };
    if (navigator.clipboard && window.isSecureContext) {
      navigator.clipboard.writeText(text).then(done, failed);
    } else {
      failed();
    }
  });
  // The printable gift list's button.
  document.addEventListener("click", function (event) {
    if (event.target.closest("[data-print]")) {
      window.print();
    }
  });
})();

// A select marked data-autosubmit submits its form when changed (HQ's store picker). Here rather than
// in an onchange="" attribute: the Content-Security-Policy runs no inline script.
(function () {
  "use strict";
  document.addEventListener("change", function (event) {
    var field = event.target.closest("[data-autosubmit]");
    if (field && field.form) {
      field.form.submit();
    }
  });
})();
