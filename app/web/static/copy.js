// Copy to clipboard for <button data-copy="ID">: copies the element ID's list items, one a
// line (or its text), and says so in the element named by data-copy-status. The buttons
// are `hidden` in the page and shown here, so without JavaScript (or without a clipboard)
// nobody sees a button that does nothing: the text stays selectable as it is.
(function () {
  "use strict";
  if (!navigator.clipboard) {
    return;
  }
  document.querySelectorAll("button[data-copy]").forEach(function (button) {
    var source = document.getElementById(button.dataset.copy);
    var status = document.getElementById(button.dataset.copyStatus || "");
    if (!source) {
      return;
    }
    button.hidden = false;
    button.addEventListener("click", function () {
      var items = Array.prototype.map.call(source.querySelectorAll("li"), function (item) {
        return item.textContent.trim();
      });
      var text = items.length ? items.join("\n") : source.textContent.trim();
      navigator.clipboard.writeText(text + "\n").then(function () {
        if (status) { status.textContent = button.dataset.copied || ""; }
      }, function () {
        if (status) { status.textContent = button.dataset.copyFailed || ""; }
      });
    });
  });
})();
