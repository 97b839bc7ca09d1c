// The Today page's greetings: picking a template puts its text (filled in for the member) in the
// box, where it can be changed before copying. The copy buttons copy what is in the box: app.js
// does the copying from `data-copy`, which is set here first (capture phase), and htmx records
// the channel.
(function () {
  "use strict";
  document.addEventListener("change", function (event) {
    var select = event.target.closest("[data-message-select]");
    if (!select || !select.selectedOptions) {
      return;
    }
    var box = select.closest("[data-message]").querySelector("[data-message-text]");
    box.value = select.selectedOptions[0].dataset.text;
  });
  document.addEventListener("click", function (event) {
    var button = event.target.closest("[data-copy-message]");
    if (!button) {
      return;
    }
    var box = button.closest("[data-message]").querySelector("[data-message-text]");
    button.dataset.copy = box.value;
  }, true);
})();
