// Small progressive enhancements; every page works without this file.
(function () {
  "use strict";

  // Ask before destructive POSTs: <button data-confirm="Delete this?">.
  document.addEventListener("click", function (event) {
    var button = event.target.closest("[data-confirm]");
    if (button && !window.confirm(button.getAttribute("data-confirm"))) {
      event.preventDefault();
    }
  });

  // "Add a line" on formsets: copies the <template> row and bumps the formset's TOTAL_FORMS.
  document.querySelectorAll("[data-formset-add]").forEach(function (button) {
    var prefix = button.getAttribute("data-formset-add");
    var form = button.closest("form");
    var total = form.querySelector("#id_" + prefix + "-TOTAL_FORMS");
    var body = form.querySelector("[data-formset-body]");
    var template = form.querySelector("template[data-formset-template]");
    if (!total || !body || !template) {
      return;
    }
    button.hidden = false;
    button.addEventListener("click", function () {
      var index = parseInt(total.value, 10);
      var html = template.innerHTML.replace(/__prefix__/g, index).replace(/line new\b/g, "line " + (index + 1));
      body.insertAdjacentHTML("beforeend", html);
      total.value = index + 1;
      var first = body.lastElementChild.querySelector("select, input");
      if (first) {
        first.focus();
      }
    });
  });
})();
