"""Content-Security-Policy violations seen by a Chromium driver, for any browser test.

Call ``csp_watch(driver)`` before ``driver.get``: every page the driver then opens records its
``securitypolicyviolation`` events. ``csp_violations(driver)`` returns those of the current page
plus the console's CSP messages since the last read, one line each; [] means none.
"""

from __future__ import annotations

#: Runs before any script of each new document (DevTools-injected, so no CSP applies to it).
_RECORD = """
window.__cspViolations = [];
document.addEventListener("securitypolicyviolation", (e) => {
  window.__cspViolations.push(
    `${e.effectiveDirective} blocked ${e.blockedURI || "inline"} (${e.sourceFile}:${e.lineNumber})`
  );
});
"""


def csp_watch(driver) -> None:
    """Make every document ``driver`` opens from now on record its CSP violations."""
    driver.execute_cdp_cmd("Page.addScriptToEvaluateOnNewDocument", {"source": _RECORD})


def csp_violations(driver) -> list[str]:
    """The current page's recorded violations and the console's CSP messages since last read."""
    recorded = driver.execute_script("return window.__cspViolations || [];")
    console = [
        entry["message"]
        for entry in driver.get_log("browser")
        if "Content Security Policy" in entry["message"]
    ]
    return [*recorded, *console]
