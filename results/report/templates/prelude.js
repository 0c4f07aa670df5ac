// Runs before anything else on the page: counts every error (script errors, failed promises,
// console.error, anything the Content-Security-Policy blocked) so the page can report them in
// #render-status, where a person or a headless browser test reads them.
(function () {
  "use strict";
  var errs = (window.__reportErrors = []);
  function note(msg) { errs.push(String(msg)); }
  window.addEventListener("error", function (e) {
    note(e.message || "failed to load " + ((e.target && (e.target.src || e.target.href)) || "a resource"));
  }, true);
  window.addEventListener("unhandledrejection", function (e) { note("unhandled rejection: " + e.reason); });
  document.addEventListener("securitypolicyviolation", function (e) { note("blocked by CSP: " + e.blockedURI); });
  var orig = console.error;
  console.error = function () {
    note(Array.prototype.join.call(arguments, " "));
    return orig.apply(console, arguments);
  };
})();
