/* Runs table: count the runs ticked for comparison and keep "Compare selected" disabled until two are.
   Without this script the button still works (the compare page says when too few runs are given). */
(function () {
  "use strict";
  var form = document.getElementById("compare-form");
  if (!form) return;
  var button = document.getElementById("compare-button");
  var counter = document.getElementById("selected-count");
  function ticked() { return document.querySelectorAll('input[name="run"][form="compare-form"]:checked').length; }
  function update() {
    var n = ticked();
    button.disabled = n < 2;
    counter.textContent = n ? n + " selected" : "select 2 or more runs to compare";
  }
  document.addEventListener("change", function (event) {
    if (event.target.getAttribute && event.target.getAttribute("form") === "compare-form") update();
  });
  update();
})();
