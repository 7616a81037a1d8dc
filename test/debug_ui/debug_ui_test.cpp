// The debug page in a real browser: Debian's Chromium, headless, loads /debug/actors from the
// real operator (it sends a browser's Accept header, so this is the content negotiation too),
// runs the page's script against the live JSON, and the rendered DOM is checked: a Ready
// PostgresUser and a refused one (a role that exists without our marker) with their phases and
// the refusal's reason, the pool, the leader section, the filters; no password anywhere. A
// screenshot is kept as a test artifact (its path is printed).
#include "test/e2e/support/prelude.hpp"

#include <filesystem>
#include <iostream>
#include <regex>

namespace fs = std::filesystem;

namespace {

// Chromium, headless, with a profile of its own (tests may run side by side) and no sandbox
// (root on these machines). The virtual time budget lets the page's fetch and rendering finish
// before the DOM is dumped or the screenshot taken.
exec_result chromium(const std::vector<std::string>& what, const std::string& url) {
  const auto profile = fs::temp_directory_path() / dbuser::test::unique_name("chromium-profile");
  std::vector<std::string> argv{"timeout", "90", DBUSER_CHROMIUM, "--headless", "--no-sandbox",
                                "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run",
                                "--hide-scrollbars", "--user-data-dir=" + profile.string(),
                                "--virtual-time-budget=8000"};
  argv.insert(argv.end(), what.begin(), what.end());
  argv.push_back(url);
  auto r = run(argv);
  std::error_code ec;
  fs::remove_all(profile, ec);
  return r;
}

// The rendered DOM once the page has loaded the JSON at least once.
std::string rendered_dom(const std::string& url) {
  std::string dom;
  wait_until(
    [&] {
      auto r = chromium({"--dump-dom"}, url);
      dom = r.out;
      return r.ok() && dom.find("data-loaded=\"") != std::string::npos;
    },
    seconds(120), seconds(1));
  return dom;
}

// The <tr> of a supervisor (start tag and cells), empty when absent.
std::string row_of(const std::string& dom, const std::string& key) {
  const auto at = dom.find("<tr data-key=\"" + key + "\"");
  if (at == std::string::npos)
    return "";
  return dom.substr(at, dom.find("</tr>", at) - at);
}

std::string attribute(const std::string& tag, const std::string& name) {
  std::smatch m;
  if (std::regex_search(tag, m, std::regex(" " + name + "=\"([^\"]*)\"")))
    return m[1];
  return "";
}

// Text of the tag's cells, markup removed.
std::string text_of(const std::string& html) {
  return std::regex_replace(html, std::regex("<[^>]*>"), " ");
}

} // namespace

TEST_CASE("the debug page in Chromium shows a Ready user and a refused one with its reason") {
  e2e_env env;
  auto& op = *env.op;
  const auto db = env.database_name("ui_db");
  const auto good = env.apply_rotating_user("ui-ready", db);
  const auto bad = env.object_name("ui-refused");
  const auto squatter = env.role_name("ui_squatter");
  env.pg.exec("CREATE ROLE " + postgres::ident(squatter) + " LOGIN");
  env.apply(env.user_manifest(bad, squatter, db, bad + "-creds"));
  REQUIRE_READY(env, good, seconds(60));
  REQUIRE_CONDITION(env, bad, seconds(60), "False", "RoleConflict");
  const auto creds = env.secret(good + "-creds");
  REQUIRE(creds);
  const std::string password = creds->at("password");

  const std::string base = "http://" + op.listen_address();
  const std::string good_key = env.ns + "/" + good, bad_key = env.ns + "/" + bad;
  INFO("operator log: " << op.log_path());

  { // both supervisors with their phases, the refusal's reason, the pool and the leader
    const auto dom = rendered_dom(base + "/debug/actors");
    INFO(dom.substr(0, 4000));
    REQUIRE(dom.find("supervision tree") != std::string::npos); // the page, not the JSON
    // It refreshed itself: 8 s of the browser's virtual time hold the first load and at least
    // one more from the 5 s timer.
    CHECK(std::stoi(attribute(dom.substr(dom.find("<body")), "data-loaded")) >= 2);
    const auto ok_row = row_of(dom, good_key), refused_row = row_of(dom, bad_key);
    REQUIRE_FALSE(ok_row.empty());
    REQUIRE_FALSE(refused_row.empty());
    CHECK(attribute(ok_row, "data-phase") == "Idle");
    CHECK(attribute(ok_row, "data-ready") == "true");
    CHECK(attribute(ok_row, "data-kind") == "PostgresUser");
    CHECK_THAT(text_of(ok_row), Catch::Contains("Idle"));
    CHECK(attribute(refused_row, "data-phase") == "Refused");
    CHECK(attribute(refused_row, "data-ready") == "false");
    CHECK_THAT(text_of(refused_row), Catch::Contains("RoleConflict"));
    CHECK_THAT(text_of(refused_row), Catch::Contains(squatter));
    // Each supervisor links to its JSON.
    CHECK_THAT(ok_row, Catch::Contains("href=\"/debug/actors/" + env.ns + "/" + good + "\""));
    // The user manager, the namespace group, the pool of the dev PostgreSQL, the leader section.
    CHECK_THAT(dom, Catch::Contains("user_manager PostgresUser: 2 supervisors, 1 not ready"));
    CHECK_THAT(dom, Catch::Contains("data-ns=\"" + env.ns + "\""));
    CHECK(std::regex_search(
      dom, std::regex("<tr data-target=\"[^\"]*127\\.0\\.0\\.1:" + std::to_string(env.pg.port())
                      + "[^\"]*\" data-state=\"up\"")));
    CHECK_THAT(dom, Catch::Contains("<dd>disabled (this process reconciles)</dd>"));
    CHECK_THAT(dom, Catch::Contains("<th>rotation due</th>"));
    CHECK_THAT(text_of(ok_row), Catch::Contains("in 720 h")); // spec.passwordRotation.interval
    // Never a secret.
    CHECK(dom.find(password) == std::string::npos);
    CHECK(dom.find("SCRAM-SHA-256$") == std::string::npos);
  }

  { // the filters by phase, text and namespace hide the others
    auto refused_only = rendered_dom(base + "/debug/actors#phase=Refused");
    CHECK_FALSE(row_of(refused_only, bad_key).empty());
    CHECK(row_of(refused_only, good_key).empty());
    CHECK_THAT(refused_only, Catch::Contains("1 of 2 supervisors shown"));
    auto by_text = rendered_dom(base + "/debug/ui#text=" + good);
    CHECK_FALSE(row_of(by_text, good_key).empty());
    CHECK(row_of(by_text, bad_key).empty());
    auto other_ns = rendered_dom(base + "/debug/ui#ns=no-such-namespace");
    CHECK(row_of(other_ns, good_key).empty());
    CHECK(row_of(other_ns, bad_key).empty());
    CHECK_THAT(other_ns, Catch::Contains("0 of 2 supervisors shown"));
  }

  { // a screenshot is kept as a test artifact
    const fs::path dir = fs::path(DBUSER_BINARY_DIR) / "test-artifacts";
    fs::create_directories(dir);
    const auto png = dir / "debug-ui.png";
    fs::remove(png);
    auto r = chromium({"--screenshot=" + png.string(), "--window-size=1400,900"},
                      base + "/debug/actors");
    INFO(r.err);
    REQUIRE(r.ok());
    REQUIRE(fs::exists(png));
    CHECK(fs::file_size(png) > 20000); // a rendered page, not a blank one
    std::cout << "debug page screenshot: " << png.string() << std::endl;
  }
  CHECK_NO_SECRETS_IN_LOG(env);
}
