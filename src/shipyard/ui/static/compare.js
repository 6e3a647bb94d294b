/* The compare page: the "Only differences" switch hides table rows whose values are the same in every run.
   Without this script every row shows (the switch stays hidden). */
(function () {
  "use strict";
  var toggle = document.getElementById("only-differences");
  if (!toggle) return;
  var box = toggle.querySelector("input");
  toggle.hidden = false;
  function apply() { document.body.classList.toggle("only-differences", box.checked); }
  box.addEventListener("change", apply);
  apply();
})();
