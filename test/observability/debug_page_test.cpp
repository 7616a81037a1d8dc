// The debug page as text and as the endpoint serves it: content negotiation on /debug/actors,
// /debug/ui, a self-contained document that inserts data as text only. The page in a real
// browser is test/debug_ui.
#include "actors/debug_page.hpp"
#include "actors/http_endpoint.hpp"
#include "actors/introspection.hpp"
#include "test/observability/http_get.hpp"
#include "test/observability/served_endpoint.hpp"
#include "test/support/wait.hpp"

#include <caf/all.hpp>
#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>
#include <regex>
#include <utility>

using namespace dbuser::actors;
using dbuser::test::http_get;

namespace {

const char* browser_accept =
  "text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,image/webp,*/*;q=0.8";

} // namespace

TEST_CASE("a browser's Accept header gets the page and curl, fetch and JSON clients get JSON") {
  const std::pair<const char*, bool> cases[] = {
    {browser_accept, true},
    {"text/html", true},
    {"TEXT/HTML; charset=utf-8", true},
    {"text/*", true},
    {"", false},
    {"*/*", false},
    {"application/json", false},
    {"application/json, text/html;q=0.5", false},
    {"text/html;q=0", false},
    {"application/json;q=0.5, text/html", true},
  };
  for (const auto& [accept, html] : cases) {
    INFO("Accept: " << accept);
    CHECK(accepts_html(accept) == html);
  }
}

TEST_CASE("the debug page is one document that loads nothing from elsewhere") {
  const auto& html = debug_page_html();
  REQUIRE(html.rfind("<!DOCTYPE html>", 0) == 0);
  REQUIRE(html.find("</html>") != std::string::npos);
  // No external script, stylesheet, image, font or frame; every link is to this origin.
  for (const char* banned : {"<link", "src=", "@import", "url(", "<iframe", "http://", "https://"})
    CHECK(html.find(banned) == std::string::npos);
  const std::regex href(R"re(href="([^"]*)")re");
  for (auto i = std::sregex_iterator(html.begin(), html.end(), href); i != std::sregex_iterator();
       ++i)
    CHECK((*i)[1].str().rfind('/', 0) == 0);
  // Data goes in as text: nothing from /debug/actors can become markup.
  CHECK(html.find("innerHTML") == std::string::npos);
  CHECK(html.find("outerHTML") == std::string::npos);
  CHECK(html.find("insertAdjacentHTML") == std::string::npos);
  CHECK(html.find("document.write") == std::string::npos);
  CHECK(html.find("eval(") == std::string::npos);
  // It shows the pieces of the tree.
  for (const char* part : {"user_manager ", "last error", "next retry", "last success", "f-ns",
                           "f-phase", "f-text", "Leader election", "Database pools", "setInterval"})
    CHECK(html.find(part) != std::string::npos);
  const std::string csp = debug_page_csp();
  CHECK(csp.find("default-src 'none'") != std::string::npos);
  CHECK(csp.find("connect-src 'self'") != std::string::npos);
}

TEST_CASE("/debug/actors answers a browser with the page and anything else with JSON") {
  dbuser::test::served_endpoint served;
  const auto& addr = served.addr;
  const auto& intro = served.intro;

  auto page = http_get(addr, "/debug/actors", {{"Accept", browser_accept}});
  REQUIRE(page.status == 200);
  CHECK(page.headers["content-type"].rfind("text/html", 0) == 0);
  CHECK(page.headers["content-security-policy"] == debug_page_csp());
  CHECK(page.body == debug_page_html());

  auto ui = http_get(addr, "/debug/ui");
  REQUIRE(ui.status == 200);
  CHECK(ui.body == debug_page_html());

  for (const auto& [path, accept] : std::vector<std::pair<std::string, std::string>>{
         {"/debug/actors", ""},
         {"/debug/actors", "*/*"},
         {"/debug/actors", "application/json"},
         {"/debug/actors?format=json", browser_accept}}) {
    INFO(path << " with Accept: " << accept);
    auto r = accept.empty() ? http_get(addr, path) : http_get(addr, path, {{"Accept", accept}});
    REQUIRE(r.status == 200);
    CHECK(r.headers["content-type"].rfind("application/json", 0) == 0);
    auto j = nlohmann::json::parse(r.body, nullptr, false);
    REQUIRE_FALSE(j.is_discarded());
    CHECK(j.contains("supervisors"));
  }
  // One supervisor's JSON (the page links to it) stays JSON for a browser too.
  supervisor_report rep;
  rep.kind = "PostgresUser";
  rep.key = "ns/a";
  rep.phase = "Idle";
  hooks_for(intro).on_supervisor_report(rep);
  REQUIRE(dbuser::test::wait_until([&] {
    return http_get(addr, "/debug/actors/ns/a", {{"Accept", browser_accept}}).status == 200;
  }));
  auto one = http_get(addr, "/debug/actors/ns/a", {{"Accept", browser_accept}});
  CHECK(nlohmann::json::parse(one.body)["phase"] == "Idle");
}
