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
