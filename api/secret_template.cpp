#include "api/secret_template.hpp"

#include <algorithm>
#include <array>
#include <cctype>
#include <cstdio>
#include <nlohmann/json.hpp>
#include <utility>

namespace dbuser::api {

using json = nlohmann::json;

namespace {

constexpr std::array<std::pair<const char*, template_field>, 8> fields = {{
  {"username", template_field::username},
  {"password", template_field::password},
  {"host", template_field::host},
  {"port", template_field::port},
  {"database", template_field::database},
  {"sslmode", template_field::sslmode},
  {"uri", template_field::uri},
  {"jdbcUrl", template_field::jdbc_url},
}};

constexpr std::array<std::pair<const char*, template_helper>, 4> helpers = {{
  {"urlencode", template_helper::urlencode},
  {"libpq", template_helper::libpq},
  {"dotnet", template_helper::dotnet},
  {"pgpass", template_helper::pgpass},
}};

template <class Table>
std::string names_of(const Table& table) {
  std::string s;
  for (const auto& [name, value] : table)
    s += (s.empty() ? "" : ", ") + std::string(name);
  return s;
}

template <class Table>
auto lookup(const Table& table, std::string_view name)
  -> std::optional<typename Table::value_type::second_type> {
  for (const auto& [n, value] : table)
    if (name == n)
      return value;
  return std::nullopt;
}

// Walks a template, tracking the line and column of every position.
class parser {
public:
  explicit parser(std::string_view text) : text_(text) {}

  expected<compiled_template, template_error> run() {
    compiled_template out;
    std::string literal;
    while (pos_ < text_.size()) {
      if (text_.compare(pos_, 2, "{{") != 0) {
        literal += text_[pos_++];
        continue;
      }
      if (!literal.empty())
        out.pieces.push_back({std::exchange(literal, {}), std::nullopt, {}});
      auto piece = expression();
      if (!piece)
        return make_unexpected(piece.error());
      out.pieces.push_back(std::move(*piece));
    }
    if (!literal.empty())
      out.pieces.push_back({std::move(literal), std::nullopt, {}});
    return out;
  }

private:
  // At "{{": the expression up to and including "}}".
  expected<template_piece, template_error> expression() {
    const std::size_t open = pos_;
    if (text_.find("}}", open + 2) == std::string_view::npos)
      return fail(open, "unclosed {{ (expected }} to end the expression)");
    pos_ += 2;
    template_piece piece;
    auto name = identifier("a field name");
    if (!name)
      return make_unexpected(name.error());
    piece.field = lookup(fields, name->second);
    if (!piece.field)
      return fail(name->first,
                  "unknown field \"" + std::string(name->second) + "\" (fields: " + names_of(fields)
                    + ")");
    for (;;) {
      skip_space();
      if (text_.compare(pos_, 2, "}}") == 0) {
        pos_ += 2;
        return piece;
      }
      if (text_[pos_] != '|')
        return fail(pos_, "expected | or }}, found " + found());
      ++pos_;
      auto helper = identifier("a helper name after |");
      if (!helper)
        return make_unexpected(helper.error());
      auto h = lookup(helpers, helper->second);
      if (!h)
        return fail(helper->first, "unknown helper \"" + std::string(helper->second)
                                     + "\" (helpers: " + names_of(helpers) + ")");
      piece.helpers.push_back(*h);
    }
  }

  // Skips spaces, then reads [A-Za-z][A-Za-z0-9]*: its position and text.
  expected<std::pair<std::size_t, std::string_view>, template_error>
  identifier(const char* what) {
    skip_space();
    const std::size_t start = pos_;
    while (pos_ < text_.size()
           && (std::isalpha(static_cast<unsigned char>(text_[pos_])) != 0
               || (pos_ > start && std::isdigit(static_cast<unsigned char>(text_[pos_])) != 0)))
      ++pos_;
    if (pos_ == start)
      return fail(start, std::string("expected ") + what + ", found " + found());
    return std::pair<std::size_t, std::string_view>{start, text_.substr(start, pos_ - start)};
  }

  void skip_space() {
    while (pos_ < text_.size() && (text_[pos_] == ' ' || text_[pos_] == '\t'))
      ++pos_;
  }

  // What stands at pos_, for a message ("}}", "'.'", "the end of the line").
  std::string found() const {
    if (text_.compare(pos_, 2, "}}") == 0)
      return "}}";
    const auto c = static_cast<unsigned char>(text_[pos_]);
    if (c == '\n')
      return "the end of the line";
    if (c < 0x20 || c >= 0x7f) {
      char buf[16];
      std::snprintf(buf, sizeof buf, "byte 0x%02X", static_cast<unsigned>(c));
      return buf;
    }
    return std::string("'") + text_[pos_] + "'";
  }

  unexpected<template_error> fail(std::size_t at, std::string message) const {
    template_error e;
    for (std::size_t i = 0; i < at; ++i) {
      if (text_[i] == '\n') {
        ++e.line;
        e.column = 1;
      } else {
        ++e.column;
      }
    }
    e.message = std::move(message);
    return make_unexpected(std::move(e));
  }

  std::string_view text_;
  std::size_t pos_ = 0;
};

bool is_secret_key(const std::string& k) {
  if (k.empty() || k.size() > 253 || k == "." || k == "..")
    return false;
  return std::all_of(k.begin(), k.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) != 0 || c == '-' || c == '.' || c == '_';
  });
}

expected<std::map<std::string, std::string>, std::string> string_map(const json& obj,
                                                                     const std::string& path) {
  std::map<std::string, std::string> out;
  if (obj.is_null())
    return out;
  if (!obj.is_object())
    return make_unexpected(path + " must be a map of strings");
  for (const auto& [k, v] : obj.items()) {
    if (!v.is_string())
      return make_unexpected(path + "." + k + " must be a string");
    out[k] = v.get<std::string>();
  }
  return out;
}

} // namespace

std::string template_error::to_string() const {
  return "line " + std::to_string(line) + ", column " + std::to_string(column) + ": " + message;
}

expected<compiled_template, template_error> parse_template(std::string_view text) {
  return parser(text).run();
}

std::string percent_encode(std::string_view s) {
  std::string out;
  for (unsigned char c : s) {
    if (std::isalnum(c) != 0 || c == '-' || c == '.' || c == '_' || c == '~') {
      out += static_cast<char>(c);
    } else {
      char buf[8];
      std::snprintf(buf, sizeof buf, "%%%02X", static_cast<unsigned>(c));
      out += buf;
    }
  }
  return out;
}

namespace {

// `s` with every character of `special` preceded by a backslash.
std::string backslash_escape(std::string_view s, std::string_view special) {
  std::string out;
  for (char c : s) {
    if (special.find(c) != std::string_view::npos)
      out += '\\';
    out += c;
  }
  return out;
}

} // namespace

std::string libpq_quote(std::string_view s) {
  return "'" + backslash_escape(s, "\\'") + "'";
}

std::string dotnet_quote(std::string_view s) {
  std::string out = "\"";
  for (char c : s)
    out += c == '"' ? std::string("\"\"") : std::string(1, c);
  return out + "\"";
}

std::string pgpass_escape(std::string_view s) {
  return backslash_escape(s, "\\:");
}

std::string render(const compiled_template& t, const template_values& v) {
  std::string out;
  for (const auto& p : t.pieces) {
    if (!p.field) {
      out += p.text;
      continue;
    }
    std::string value;
    switch (*p.field) {
      case template_field::username: value = v.username; break;
      case template_field::password: value = v.password; break;
      case template_field::host: value = v.host; break;
      case template_field::port: value = v.port; break;
      case template_field::database: value = v.database; break;
      case template_field::sslmode: value = v.sslmode; break;
      case template_field::uri: value = v.uri; break;
      case template_field::jdbc_url: value = v.jdbc_url; break;
    }
    for (auto h : p.helpers) {
      switch (h) {
        case template_helper::urlencode: value = percent_encode(value); break;
        case template_helper::libpq: value = libpq_quote(value); break;
        case template_helper::dotnet: value = dotnet_quote(value); break;
        case template_helper::pgpass: value = pgpass_escape(value); break;
      }
    }
    out += value;
  }
  return out;
}

expected<secret_template, std::string>
parse_secret_template(const json& object, const std::vector<std::string>& reserved_keys,
                      const std::vector<std::string>& reserved_labels) {
  const std::string path = "spec.secretTemplate";
  secret_template t;
  if (object.is_null())
    return t;
  if (!object.is_object())
    return make_unexpected(path + " must be an object");
  if (auto i = object.find("type"); i != object.end() && !i->is_null()) {
    if (!i->is_string()
        || (*i != secret_type_opaque && *i != secret_type_basic_auth))
      return make_unexpected(path + ".type must be " + secret_type_opaque + " or "
                             + secret_type_basic_auth);
    t.type = i->get<std::string>();
  }
  const json none;
  auto labels = string_map(object.value("labels", none), path + ".labels");
  if (!labels)
    return make_unexpected(labels.error());
  for (const auto& [k, v] : *labels)
    if (std::find(reserved_labels.begin(), reserved_labels.end(), k) != reserved_labels.end()
        || k.rfind("database.example.com/", 0) == 0)
      return make_unexpected(path + ".labels." + k + ": the operator sets this label itself");
  t.labels = std::move(*labels);
  auto annotations = string_map(object.value("annotations", none), path + ".annotations");
  if (!annotations)
    return make_unexpected(annotations.error());
  for (const auto& [k, v] : *annotations)
    if (k.rfind("database.example.com/", 0) == 0)
      return make_unexpected(path + ".annotations." + k
                             + ": annotations under database.example.com/ are the operator's own");
  t.annotations = std::move(*annotations);
  auto data = string_map(object.value("data", none), path + ".data");
  if (!data)
    return make_unexpected(data.error());
  for (const auto& [k, v] : *data) {
    const std::string key_path = path + ".data." + k;
    if (!is_secret_key(k))
      return make_unexpected(key_path
                             + ": not a valid Secret key (letters, digits, -, . and _ only)");
    if (std::find(reserved_keys.begin(), reserved_keys.end(), k) != reserved_keys.end()
        || k.rfind("dbuser-operator.", 0) == 0)
      return make_unexpected(key_path + ": the operator writes this key itself");
    auto compiled = parse_template(v);
    if (!compiled)
      return make_unexpected(key_path + ": " + compiled.error().to_string());
    t.data[k] = std::move(*compiled);
  }
  return t;
}

} // namespace dbuser::api
