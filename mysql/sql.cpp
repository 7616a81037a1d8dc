#include "mysql/sql.hpp"

#include "common/quote.hpp"

#include "mysql/password.hpp"
#include "mysql/validation.hpp"

#include <array>
#include <cstddef>

namespace dbuser::mysql::sql {

namespace {

const std::string owners_table =
  "`" + std::string(bookkeeping_database) + "`.`owners`";

result<std::string> checked_hash(std::string_view hash) {
  if (!is_native_password_hash(hash))
    return make_unexpected(make_error(
      error_kind::invalid, "a password hash must be \"*\" followed by 40 hexadecimal digits"));
  return std::string(hash);
}

bool keyword_shape(const std::string& k) {
  if (k.empty() || k.front() == ' ' || k.back() == ' ')
    return false;
  for (size_t i = 0; i < k.size(); ++i) {
    const char c = k[i];
    if (c == ' ' && k[i - 1] != ' ')
      continue;
    if (c < 'A' || c > 'Z')
      return false;
  }
  return true;
}

} // namespace

std::string quote_ident(std::string_view name) { return quote_doubled(name, '`'); }

result<std::string> quote_literal(std::string_view text) {
  const auto bad = text.find_first_of(std::string_view("\0\\", 2));
  if (bad != std::string_view::npos && text[bad] == '\0')
    return make_unexpected(make_error(error_kind::invalid, "a literal may not contain a NUL byte"));
  if (bad != std::string_view::npos)
    return make_unexpected(make_error(
      error_kind::invalid,
      "a literal may not contain a backslash: its meaning depends on NO_BACKSLASH_ESCAPES"));
  return quote_doubled(text, '\'');
}

result<std::string> account(std::string_view user, std::string_view host) {
  auto u = quote_literal(user);
  if (!u)
    return u;
  auto h = quote_literal(host);
  if (!h)
    return h;
  return *u + "@" + *h;
}

namespace {

// prefix + 'user'@'host' + suffix: the statements about one account.
result<std::string> account_statement(std::string prefix, std::string_view user,
                                      std::string_view host, std::string_view suffix = {}) {
  auto a = account(user, host);
  if (!a)
    return a;
  return std::move(prefix) + *a + std::string(suffix);
}

} // namespace

std::string database_pattern(std::string_view database) {
  std::string out;
  out.reserve(database.size() + 4);
  for (char c : database) {
    if (c == '_' || c == '%' || c == '\\')
      out += '\\';
    out += c;
  }
  return out;
}

result<std::string> create_user(std::string_view user, std::string_view host,
                                std::string_view hash, int max_user_connections) {
  auto h = checked_hash(hash);
  if (!h)
    return h;
  return account_statement("CREATE USER ", user, host,
                           " IDENTIFIED WITH mysql_native_password AS '" + *h
                             + "' WITH MAX_USER_CONNECTIONS "
                             + std::to_string(max_user_connections));
}

result<std::string> alter_user_password(std::string_view user, std::string_view host,
                                        std::string_view hash) {
  auto h = checked_hash(hash);
  if (!h)
    return h;
  return account_statement("ALTER USER ", user, host,
                           " IDENTIFIED WITH mysql_native_password AS '" + *h + "'");
}

result<std::string> alter_user_max_connections(std::string_view user, std::string_view host,
                                               int limit) {
  if (limit < 0)
    return make_unexpected(make_error(error_kind::invalid,
                                      "MAX_USER_CONNECTIONS must be 0 (no limit) or more"));
  return account_statement("ALTER USER ", user, host,
                           " WITH MAX_USER_CONNECTIONS " + std::to_string(limit));
}

result<std::string> drop_user(std::string_view user, std::string_view host) {
  return account_statement("DROP USER IF EXISTS ", user, host);
}

result<std::string> revoke_global_privileges(std::string_view user, std::string_view host) {
  return account_statement("REVOKE ALL PRIVILEGES ON *.* FROM ", user, host);
}

result<std::string> revoke_global_grant_option(std::string_view user, std::string_view host) {
  return account_statement("REVOKE GRANT OPTION ON *.* FROM ", user, host);
}

std::string create_database(std::string_view database) {
  return "CREATE DATABASE IF NOT EXISTS " + quote_ident(database);
}

namespace {

// GRANT … TO / REVOKE … FROM on the databases `pattern` matches; empty for no privileges.
result<std::string> on_database(bool grant, privilege_set privileges, std::string_view pattern,
                                std::string_view user, std::string_view host) {
  if (privileges.empty())
    return std::string();
  return account_statement(std::string(grant ? "GRANT " : "REVOKE ") + privileges.to_string()
                             + " ON " + quote_ident(pattern) + (grant ? ".* TO " : ".* FROM "),
                           user, host);
}

} // namespace

result<std::string> grant_on_database(privilege_set privileges, std::string_view pattern,
                                      std::string_view user, std::string_view host) {
  return on_database(true, privileges, pattern, user, host);
}

result<std::string> revoke_on_database(privilege_set privileges, std::string_view pattern,
                                       std::string_view user, std::string_view host) {
  return on_database(false, privileges, pattern, user, host);
}

result<std::string> revoke_keywords_on_database(const std::vector<std::string>& keywords,
                                                std::string_view pattern, std::string_view user,
                                                std::string_view host) {
  if (keywords.empty())
    return std::string();
  std::string list;
  for (const auto& k : keywords) {
    if (!keyword_shape(k))
      return make_unexpected(make_error(error_kind::invalid,
                                        "the server reported a privilege that is not a keyword"));
    if (!list.empty())
      list += ", ";
    list += k;
  }
  return account_statement("REVOKE " + list + " ON " + quote_ident(pattern) + ".* FROM ", user,
                           host);
}

result<std::string> revoke_grant_option(std::string_view pattern, std::string_view user,
                                        std::string_view host) {
  return account_statement("REVOKE GRANT OPTION ON " + quote_ident(pattern) + ".* FROM ", user,
                           host);
}

std::string create_bookkeeping_database() {
  return "CREATE DATABASE IF NOT EXISTS " + quote_ident(bookkeeping_database);
}

std::string create_owners_table() {
  return "CREATE TABLE IF NOT EXISTS " + owners_table
         + " (`user` VARCHAR(80) NOT NULL, `host` VARCHAR(255) NOT NULL, `owner` VARCHAR(512) "
           "NOT NULL, `claimed_at` TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP, PRIMARY KEY "
           "(`user`, `host`)) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin";
}

namespace {

// Each text through quote_literal, in order: all of them, or the first refusal.
template <std::size_t N>
result<std::array<std::string, N>> quote_literals(const std::string_view (&texts)[N]) {
  std::array<std::string, N> out;
  for (std::size_t i = 0; i < N; ++i) {
    auto q = quote_literal(texts[i]);
    if (!q)
      return make_unexpected(std::move(q.error()));
    out[i] = std::move(*q);
  }
  return out;
}

} // namespace

namespace {

// A statement of the owners table about (user, host, owner): `build` gets the three as literals.
template <class Build>
result<std::string> owner_statement(std::string_view user, std::string_view host,
                                    std::string_view owner, Build build) {
  const auto q = quote_literals({user, host, owner});
  if (!q)
    return make_unexpected(q.error());
  return build((*q)[0], (*q)[1], (*q)[2]);
}

} // namespace

result<std::string> claim_owner(std::string_view user, std::string_view host,
                                std::string_view owner) {
  return owner_statement(user, host, owner, [](const auto& u, const auto& h, const auto& o) {
    return "INSERT INTO " + owners_table + " (`user`, `host`, `owner`) VALUES (" + u + ", " + h
           + ", " + o + ")";
  });
}

result<std::string> release_owner(std::string_view user, std::string_view host,
                                  std::string_view owner) {
  return owner_statement(user, host, owner, [](const auto& u, const auto& h, const auto& o) {
    return "DELETE FROM " + owners_table + " WHERE `user` = " + u + " AND `host` = " + h
           + " AND `owner` = " + o;
  });
}

result<std::string> select_owner(std::string_view user, std::string_view host) {
  const auto q = quote_literals({user, host});
  if (!q)
    return make_unexpected(q.error());
  const auto& [u, h] = *q;
  return "SELECT `owner` FROM " + owners_table + " WHERE `user` = " + u + " AND `host` = " + h;
}

} // namespace dbuser::mysql::sql
