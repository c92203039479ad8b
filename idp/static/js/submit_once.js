// A form is sent once, or again only after a while. A second click (a double click, or a click again
// while a slow answer is on its way, as on a deadline day) would send the form twice: the server would
// check the password twice, and the browser would show the answer to the second post, which finds the
// sign-in, the code or the consent already used. After AGAIN_AFTER_MS the form may be sent again (the
// person may have stopped the page). Buttons are not disabled: the consent form's carry its decision.
(function () {
  var AGAIN_AFTER_MS = 10000;
  document.addEventListener("submit", function (event) {
    var form = event.target;
    var sent = Number(form.getAttribute("data-sent"));
    if (sent && Date.now() - sent < AGAIN_AFTER_MS) {
      event.preventDefault();
      return;
    }
    form.setAttribute("data-sent", String(Date.now()));
  });
  // Back on the page from the browser's history cache: its forms may be sent again.
  window.addEventListener("pageshow", function (event) {
    if (event.persisted) {
      document.querySelectorAll("form[data-sent]").forEach(function (form) { form.removeAttribute("data-sent"); });
    }
  });
})();
