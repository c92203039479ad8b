// After sign-out, give the applications' front-channel logout pages a moment to load, then return
// to the application that asked (the link stays for browsers without JavaScript).
(function () {
  var link = document.getElementById("return-to-app");
  var frames = document.querySelectorAll("iframe.frontchannel");
  var pending = frames.length;
  var go = function () { window.location.assign(link.href); };
  frames.forEach(function (frame) {
    frame.addEventListener("load", function () { pending -= 1; if (pending === 0) { go(); } });
  });
  window.setTimeout(go, 3000);
})();
