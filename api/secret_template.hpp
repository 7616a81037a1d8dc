#pragma once

// spec.secretTemplate: extra keys, labels, annotations and the type of the credentials Secret.
// A deliberately tiny template language — fields and encoding helpers, nothing else — so that a
// template can never read another Secret, loop or run code. Pure: no I/O.
//
// Syntax: text is copied as it is; `{{ field }}` inserts a field; `{{ field | helper | ... }}`
// applies helpers left to right. `{{` always opens an expression (there is no way to write a
// literal `{{`); a `}}` outside an expression is plain text. Names are case-sensitive.
//   fields:  username password host port database sslmode uri jdbcUrl
//            (sslmode is the PostgreSQL sslMode or the MySQL tlsMode; uri and jdbcUrl are the
//            Secret's `uri` and `jdbc-url`, already encoded)
//   helpers: urlencode  RFC 3986 percent-encoding of all but A-Z a-z 0-9 - . _ ~
//                       (URI user info, path and query values; JDBC URL parameters)
//            libpq      a libpq key/value value: '...' with \ and ' escaped by a backslash
//            dotnet     a .NET connection string value: "..." with " doubled
//            pgpass     a ~/.pgpass field: \ and : escaped by a backslash
// Example: "host={{ host | libpq }} port={{ port }} password={{ password | libpq }}"

#include "common/expected.hpp"

#include <cstddef>
#include <map>
#include <nlohmann/json_fwd.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace dbuser::api {

enum class template_field { username, password, host, port, database, sslmode, uri, jdbc_url };
enum class template_helper { urlencode, libpq, dotnet, pgpass };

// The values a template's fields take.
struct template_values {
  std::string username, password, host, port, database, sslmode, uri, jdbc_url;
};

// Literal text, or a field with its helpers.
struct template_piece {
  std::string text;
  std::optional<template_field> field;
  std::vector<template_helper> helpers;
};

struct compiled_template {
  std::vector<template_piece> pieces;
};

// Where and why a template does not parse (line and column are 1-based, in bytes).
struct template_error {
  std::size_t line = 1;
  std::size_t column = 1;
  std::string message;
  // "line 1, column 14: unknown field \"pasword\" (fields: ...)"
  [[nodiscard]] std::string to_string() const;
};

[[nodiscard]] expected<compiled_template, template_error> parse_template(std::string_view text);
[[nodiscard]] std::string render(const compiled_template& t, const template_values& v);

// The helpers, for the Secret's default keys too.
[[nodiscard]] std::string percent_encode(std::string_view s);
[[nodiscard]] std::string libpq_quote(std::string_view s);
[[nodiscard]] std::string dotnet_quote(std::string_view s);
[[nodiscard]] std::string pgpass_escape(std::string_view s);

inline constexpr const char* secret_type_opaque = "Opaque";
inline constexpr const char* secret_type_basic_auth = "kubernetes.io/basic-auth";

// spec.secretTemplate, parsed and checked.
struct secret_template {
  std::string type = secret_type_opaque;
  std::map<std::string, std::string> labels;
  std::map<std::string, std::string> annotations;
  std::map<std::string, compiled_template> data;
};

// Reads spec.secretTemplate. Refused: another type; a data key that is not a valid Secret key or
// is one of the operator's own (`reserved_keys`, or under dbuser-operator.); a label the operator
// sets (`reserved_labels`, or under database.example.com/); an annotation under
// database.example.com/; a template that does not parse (the message
// names the key and the line and column).
[[nodiscard]] expected<secret_template, std::string>
parse_secret_template(const nlohmann::json& object, const std::vector<std::string>& reserved_keys,
                      const std::vector<std::string>& reserved_labels);

} // namespace dbuser::api
