// The Secret template language (api/secret_template.hpp): what it renders, every way a template
// can be refused (with its message and position), and the encoders' round trips.
#include "api/secret_template.hpp"

#include "pg/password.hpp"
#include "test/support/text.hpp"

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>
#include <string_view>

using namespace dbuser::api;
using nlohmann::json;
using dbuser::test::percent_decode;

namespace {

template_values values(const std::string& password) {
  template_values v;
  v.username = "myapp";
  v.password = password;
  v.host = "db.example.com";
  v.port = "5432";
  v.database = "myapp_db";
  v.sslmode = "require";
  v.uri = "postgresql://u:p@h:5432/d";
  v.jdbc_url = "jdbc:postgresql://h:5432/d";
  return v;
}

std::string rendered(const std::string& text, const std::string& password = "pw") {
  auto t = parse_template(text);
  REQUIRE(t);
  return render(*t, values(password));
}

// The message of a template that does not parse ("" when it parses).
std::string error_of(const std::string& text) {
  auto t = parse_template(text);
  return t ? std::string() : t.error().to_string();
}

// Decoders, written here from each format's rules, independent of the encoders.

// Backslash escapes: a backslash takes the next character as it is; `special` may not stand
// unescaped (it would end the value or the field early).
std::string backslash_unescape(std::string_view s, char special) {
  std::string out;
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '\\') {
      ++i;
      REQUIRE(i < s.size()); // a backslash escapes a character
    } else {
      REQUIRE(s[i] != special);
    }
    out += s[i];
  }
  return out;
}

std::string libpq_unquote(const std::string& s) {
  REQUIRE(s.size() >= 2);
  REQUIRE(s.front() == '\'');
  REQUIRE(s.back() == '\'');
  return backslash_unescape(std::string_view(s).substr(1, s.size() - 2), '\'');
}

std::string dotnet_unquote(const std::string& s) {
  REQUIRE(s.size() >= 2);
  REQUIRE(s.front() == '"');
  REQUIRE(s.back() == '"');
  std::string out;
  for (std::size_t i = 1; i + 1 < s.size(); ++i) {
    if (s[i] == '"') {
      REQUIRE(s[i + 1] == '"');
      ++i;
    }
    out += s[i];
  }
  return out;
}

std::string pgpass_unescape(const std::string& s) { return backslash_unescape(s, ':'); }

} // namespace

TEST_CASE("a template renders its fields, helpers applied left to right, and keeps other text") {
  CHECK(rendered("{{username}}") == "myapp");
  CHECK(rendered("host={{ host }} port={{ port }} dbname={{ database }}")
        == "host=db.example.com port=5432 dbname=myapp_db");
  CHECK(rendered("{{ password | urlencode }}", "a b") == "a%20b");
  CHECK(rendered("{{ password | libpq }}", "it's") == "'it\\'s'");
  CHECK(rendered("{{ password|dotnet }}", "say \"hi\"") == "\"say \"\"hi\"\"\"");
  CHECK(rendered("{{ password | pgpass }}", "a:b\\c") == "a\\:b\\\\c");
  CHECK(rendered("{{ password | urlencode | libpq }}", "'") == "'%27'");
  CHECK(rendered("{{ sslmode }} {{ uri }} {{ jdbcUrl }}")
        == "require postgresql://u:p@h:5432/d jdbc:postgresql://h:5432/d");
  CHECK(rendered("no fields } at all }}") == "no fields } at all }}");
  CHECK(rendered("") == "");
  CHECK(rendered("line1\n{{ username }}\n") == "line1\nmyapp\n");
}

TEST_CASE("every way a template is refused says what is wrong and where") {
  CHECK(error_of("postgresql://{{ username") ==
        "line 1, column 14: unclosed {{ (expected }} to end the expression)");
  CHECK(error_of("x{{}}") == "line 1, column 4: expected a field name, found }}");
  CHECK(error_of("{{ .password }}") == "line 1, column 4: expected a field name, found '.'");
  CHECK(error_of("{{ pasword }}")
        == "line 1, column 4: unknown field \"pasword\" (fields: username, password, host, port, "
           "database, sslmode, uri, jdbcUrl)");
  CHECK(error_of("{{ password urlencode }}")
        == "line 1, column 13: expected | or }}, found 'u'");
  CHECK(error_of("{{ password | }}")
        == "line 1, column 15: expected a helper name after |, found }}");
  CHECK(error_of("{{ password | base64 }}")
        == "line 1, column 15: unknown helper \"base64\" (helpers: urlencode, libpq, dotnet, "
           "pgpass)");
  CHECK(error_of("a\nb {{ host\n}}")
        == "line 2, column 10: expected | or }}, found the end of the line");
  CHECK(error_of("{{ host \x01 }}") == "line 1, column 9: expected | or }}, found byte 0x01");
  CHECK(error_of("{{ Password }}").find("unknown field \"Password\"") != std::string::npos);
}

TEST_CASE("a password holding every default symbol round-trips through each encoder") {
  // Every symbol of the default set, plus the characters the default avoids and the encoders
  // must still handle (a symbolSet may allow them).
  const std::string password = "Ab1" + std::string(dbuser::pg::default_symbols)
                               + "@:/?#%'\"\\;= {}";
  CHECK(percent_decode(percent_encode(password)) == password);
  CHECK(libpq_unquote(libpq_quote(password)) == password);
  CHECK(dotnet_unquote(dotnet_quote(password)) == password);
  CHECK(pgpass_unescape(pgpass_escape(password)) == password);
  // The default symbols need no encoding in a URI.
  CHECK(percent_encode(dbuser::pg::default_symbols) == std::string(dbuser::pg::default_symbols));
}

TEST_CASE("spec.secretTemplate is read and its refusals name the field") {
  const std::vector<std::string> keys = {"username", "password", "uri"};
  const std::vector<std::string> labels = {"app.kubernetes.io/managed-by"};
  auto parse = [&](const json& j) { return parse_secret_template(j, keys, labels); };
  auto error = [&](const json& j) {
    auto t = parse(j);
    return t ? std::string() : t.error();
  };

  auto t = parse(json{{"type", "kubernetes.io/basic-auth"},
                      {"labels", {{"team", "a"}}},
                      {"annotations", {{"note", "x"}}},
                      {"data", {{"DATABASE_URL", "{{ uri }}"}}}});
  REQUIRE(t);
  CHECK(t->type == "kubernetes.io/basic-auth");
  CHECK(t->labels.at("team") == "a");
  CHECK(t->annotations.at("note") == "x");
  CHECK(t->data.count("DATABASE_URL") == 1);
  CHECK(parse(json())->type == "Opaque");

  CHECK(error({{"type", "kubernetes.io/tls"}})
        == "spec.secretTemplate.type must be Opaque or kubernetes.io/basic-auth");
  CHECK(error(json::array()) == "spec.secretTemplate must be an object");
  CHECK(error({{"labels", {{"app.kubernetes.io/managed-by", "me"}}}})
        == "spec.secretTemplate.labels.app.kubernetes.io/managed-by: the operator sets this "
           "label itself");
  CHECK(error({{"labels", {{"database.example.com/postgresuser", "other"}}}})
        == "spec.secretTemplate.labels.database.example.com/postgresuser: the operator sets this "
           "label itself");
  CHECK(error({{"labels", {{"n", 1}}}}) == "spec.secretTemplate.labels.n must be a string");
  CHECK(error({{"annotations", {{"database.example.com/rotated-for", "x"}}}})
        == "spec.secretTemplate.annotations.database.example.com/rotated-for: annotations under "
           "database.example.com/ are the operator's own");
  CHECK(error({{"data", "x"}}) == "spec.secretTemplate.data must be a map of strings");
  CHECK(error({{"data", {{"bad key", "x"}}}})
        == "spec.secretTemplate.data.bad key: not a valid Secret key (letters, digits, -, . and _ "
           "only)");
  CHECK(error({{"data", {{"password", "x"}}}})
        == "spec.secretTemplate.data.password: the operator writes this key itself");
  CHECK(error({{"data", {{"dbuser-operator.x", "x"}}}})
        == "spec.secretTemplate.data.dbuser-operator.x: the operator writes this key itself");
  CHECK(error({{"data", {{"DSN", "{{ nope }}"}}}})
        == "spec.secretTemplate.data.DSN: line 1, column 4: unknown field \"nope\" (fields: "
           "username, password, host, port, database, sslmode, uri, jdbcUrl)");
}
