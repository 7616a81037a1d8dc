#pragma once

// The debug page: /debug/actors for a browser (Accept: text/html) and /debug/ui. One
// self-contained HTML document (actors/debug_page.html, compiled in) — inline style and script, no external asset, no third-party
// code — that fetches /debug/actors as JSON and draws the supervision tree from it: the user
// managers (one per kind) with their supervisors grouped by namespace (phase, attempts, last
// error, next retry, last success, rotation due, each linking to /debug/actors/<ns>/<name>),
// the pools per target (size, busy, idle, waiting, restarts, jobs) and the leader election. It
// refreshes itself and filters by namespace, phase and text.
//
// It shows only what /debug/actors serves, which holds no password, verifier or token; every
// value is inserted as text (never as markup), so a resource name or an error message cannot
// inject script.

#include <string>

namespace dbuser::actors {

// The page (static; the same bytes for every request).
[[nodiscard]] const std::string& debug_page_html();

// The Content-Security-Policy served with the page: nothing but this origin's JSON and the
// page's own inline style and script.
[[nodiscard]] const char* debug_page_csp();

// Whether an Accept header prefers HTML to JSON (a browser's navigation does; curl's "*/*", a
// missing header, and clients asking for application/json do not). Pure.
[[nodiscard]] bool accepts_html(const std::string& accept);

} // namespace dbuser::actors
