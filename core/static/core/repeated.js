// "Add another" under repeated inputs: copies the last row, emptied (its names unchanged,
// or renumbered where a row's inputs carry their index: name="x-3-label").
(function () {
  "use strict";
  document.addEventListener("click", function (event) {
    var button = event.target.closest(".repeated-add");
    if (!button) { return; }
    event.preventDefault();
    var box = button.closest(".repeated-inputs");
    var rows = box.querySelectorAll(".repeated-row");
    var last = rows[rows.length - 1];
    var copy = last.cloneNode(true);
    var index = rows.length;
    copy.querySelectorAll("input, select, textarea").forEach(function (input) {
      input.name = input.name.replace(/-\d+-/, "-" + index + "-");
      if (input.id) { input.id = input.id.replace(/-\d+-/, "-" + index + "-"); }
      if (input.type === "checkbox") { input.checked = false; }
      else if (input.tagName === "SELECT") {
        // A new row's choice: the one the template names blank, else the first.
        input.value = input.dataset.blank !== undefined ? input.dataset.blank : input.options[0].value;
      }
      else { input.value = ""; }
    });
    last.parentNode.insertBefore(copy, last.nextSibling);
    var count = box.querySelector("input.repeated-count");
    if (count) { count.value = String(index + 1); }
    var first = copy.querySelector("input, select");
    if (first) { first.focus(); }
  });
})();
