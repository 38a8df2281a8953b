// The launch token never goes in a URL (lti_tool/auth.py, lti_tool/navigation.py).
// 1. The landing after a launch: the short-lived handoff (?lt=) leaves the address bar.
// 2. A page reached without the session cookie carries the token in
//    <meta name="launch-token">: every POST form gets it as a hidden field, and a
//    same-origin link or GET form becomes a POST navigation (_navigate=get plus the
//    token), which the server answers as the GET it stands for.
(function () {
  "use strict";
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
    form.appendChild(input);
  }
  function isPost(form) { return (form.getAttribute("method") || "get").toLowerCase() === "post"; }
  function carry(form) {
    if (isPost(form) && !form.querySelector('input[name="lt"]')) { hidden(form, "lt", token); }
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

  Array.prototype.forEach.call(document.forms, carry);
  new MutationObserver(function () { Array.prototype.forEach.call(document.forms, carry); })
    .observe(document.body, {childList: true, subtree: true});

  document.addEventListener("click", function (event) {
    if (event.defaultPrevented || event.button !== 0) { return; }
    var link = event.target.closest ? event.target.closest("a[href]") : null;
    if (!link) { return; }
    var url = new URL(link.href, window.location.href);
    if (url.origin !== window.location.origin) { return; }
    if (url.hash && url.pathname === window.location.pathname && url.search === window.location.search) {
      return;  // a place on this page (the skip link)
    }
    event.preventDefault();
    var newTab = event.ctrlKey || event.metaKey || event.shiftKey;
    navigate(url, newTab ? "_blank" : link.getAttribute("target"));
  });

  document.addEventListener("submit", function (event) {
    var form = event.target;
    if (isPost(form)) { carry(form); return; }
    var url = new URL(form.getAttribute("action") || window.location.href, window.location.href);
    if (url.origin !== window.location.origin) { return; }
    event.preventDefault();
    var data = new FormData(form);
    if (event.submitter && event.submitter.name) { data.append(event.submitter.name, event.submitter.value); }
    url.search = new URLSearchParams(data).toString();
    navigate(url, form.getAttribute("target"));
  });

  var onward = document.getElementById("launch-token-continue");
  if (onward) { onward.submit(); }
})();
