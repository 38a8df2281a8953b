// The launch token never goes in a URL (lti_tool/auth.py, lti_tool/navigation.py).
// 1. The landing after a launch: the short-lived handoff (?lt=) leaves the address bar; a
//    start page rendered in the launch's response takes its own address.
// 2. A page reached without the session cookie carries the token in
//    <meta name="launch-token">: every POST form to the tool gets it as a hidden field, and a
//    same-origin link or GET form becomes a POST navigation (_navigate=get plus the
//    token), which the server answers as the GET it stands for.
(function () {
  "use strict";
  // A start page answering the launch POST: its own address, so a reload is a GET of it
  // (not the launch posted again, which the tool refuses as a replay).
  // Only a path of the tool: "//host/x" is a path to a browser's eye but another origin,
  // which replaceState refuses by throwing (and the rest of this script would not run).
  var address = document.querySelector('meta[name="page-address"]');
  if (address && /^\/(?![\/\\])/.test(address.content)) {
    window.history.replaceState(window.history.state, "", address.content);
  }
  var here = new URL(window.location.href);
  if (here.searchParams.has("lt")) {
    here.searchParams.delete("lt");
    window.history.replaceState(window.history.state, "", here.pathname + here.search + here.hash);
  }
  var meta = document.querySelector('meta[name="launch-token"]');
  if (!meta || !meta.content) { return; }
  var token = meta.content;

  function hidden(form, name, value) {
    var input = document.createElement("input");
    input.type = "hidden";
    input.name = name;
    input.value = value;
    input.setAttribute("data-launch-token", "");
    form.appendChild(input);
  }
  function sameOrigin(url) { return url.origin === window.location.origin; }
  function resolve(address) { return new URL(address || window.location.href, window.location.href); }
  // How and where a form goes: a submit button's formmethod/formaction override the form's.
  function methodOf(form, button) {
    var given = (button && button.getAttribute("formmethod")) || form.getAttribute("method");
    return (given || "get").toLowerCase();
  }
  function actionOf(form, button) {
    return resolve((button && button.getAttribute("formaction")) || form.getAttribute("action"));
  }
  function field(form) { return form.querySelector('input[name="lt"]'); }
  function wanted(form, button) {
    return methodOf(form, button) === "post" && sameOrigin(actionOf(form, button));
  }
  // Only a form posting to the tool carries the token (never the LMS's deep-linking return).
  function carry(form) {
    if (wanted(form) && !field(form) && !form.launchTokenWithheld) { hidden(form, "lt", token); }
  }
  // As submitted: the button may send the form elsewhere or by another method.
  function carryAsSubmitted(form, button) {
    var found = field(form);
    form.launchTokenWithheld = !wanted(form, button);  // also from carryAll meanwhile
    if (!form.launchTokenWithheld) {
      if (!found) { hidden(form, "lt", token); }
    } else if (found && found.hasAttribute("data-launch-token")) {
      form.removeChild(found);
    }
  }
  function navigate(url, target) {
    var form = document.createElement("form");
    form.method = "post";
    form.action = url.href;
    form.hidden = true;
    if (target) { form.target = target; }
    hidden(form, "_navigate", "get");
    hidden(form, "lt", token);
    document.body.appendChild(form);
    form.submit();
    document.body.removeChild(form);
  }

  function carryAll() { Array.prototype.forEach.call(document.forms, carry); }
  carryAll();
  new MutationObserver(carryAll).observe(document.body, {childList: true, subtree: true});

  // A click (Enter on a link too), or the middle button's click (a new tab).
  function follow(event) {
    if (event.defaultPrevented || (event.button !== 0 && event.button !== 1)) { return; }
    var link = event.target.closest ? event.target.closest("a[href]") : null;
    if (!link) { return; }
    var url = new URL(link.href, window.location.href);
    if (!sameOrigin(url)) { return; }
    if (url.hash && url.pathname === window.location.pathname && url.search === window.location.search) {
      return;  // a place on this page (the skip link)
    }
    event.preventDefault();
    var newTab = event.button === 1 || event.ctrlKey || event.metaKey || event.shiftKey;
    navigate(url, newTab ? "_blank" : link.getAttribute("target"));
  }
  document.addEventListener("click", follow);
  document.addEventListener("auxclick", follow);

  document.addEventListener("submit", function (event) {
    var form = event.target, button = event.submitter;
    carryAsSubmitted(form, button);
    if (event.defaultPrevented || methodOf(form, button) !== "get") { return; }
    var url = actionOf(form, button);
    if (!sameOrigin(url)) { return; }
    event.preventDefault();
    var data = new FormData(form);
    if (button && button.name) { data.append(button.name, button.value); }
    url.search = new URLSearchParams(data).toString();
    navigate(url, (button && button.getAttribute("formtarget")) || form.getAttribute("target"));
  });

  var onward = document.getElementById("launch-token-continue");
  if (onward) { onward.submit(); }
})();
