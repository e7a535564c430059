// Keyboard shortcuts on the answer view: j / k move between citations, a accepts the focused
// one, r opens its reject form (pick a reason, Enter submits), v jumps to the verdict.
(function () {
  "use strict";
  const citations = Array.from(document.querySelectorAll(".citation"));
  if (!citations.length) { return; }
  let focused = Math.max(0, citations.findIndex((c) => "#" + c.id === location.hash));
  function focus(index) {
    citations.forEach((c) => c.classList.remove("focused"));
    focused = Math.min(Math.max(index, 0), citations.length - 1);
    citations[focused].classList.add("focused");
    citations[focused].scrollIntoView({ block: "nearest" });
  }
  focus(focused);
  document.addEventListener("keydown", function (event) {
    const tag = (event.target.tagName || "").toLowerCase();
    if (tag === "input" || tag === "select" || tag === "textarea") { return; }
    if (event.ctrlKey || event.metaKey || event.altKey) { return; }
    const current = citations[focused];
    if (event.key === "j") { focus(focused + 1); }
    else if (event.key === "k") { focus(focused - 1); }
    else if (event.key === "a") { current.querySelector("form.accept-form").submit(); }
    else if (event.key === "r") { current.querySelector("select[name=reason]").focus(); event.preventDefault(); }
    else if (event.key === "v") { document.getElementById("verdict").scrollIntoView(); document.querySelector("#verdict select").focus(); event.preventDefault(); }
  });
})();
