// Proving a Secret's credentials from the catalog (executor::catalog_check): what a login check
// proves about the password, without the backend a login starts (≈ 5-8 ms of server CPU with TLS,
// bench/README.md). Only a superuser may read pg_authid; everyone else logs in.

#include "pg/executor_impl.hpp"
#include "pg/scram.hpp"

#include "common/base64.hpp"

#include <openssl/crypto.h>

#include <charconv>

namespace dbuser::pg {

namespace {

// A stored "SCRAM-SHA-256$<iterations>:<salt>$<StoredKey>:<ServerKey>": its count and raw salt.
struct stored_scram {
  int iterations = 0;
  std::string salt;
};

std::optional<stored_scram> parse_stored(std::string_view v) {
  constexpr std::string_view prefix = "SCRAM-SHA-256$";
  if (v.substr(0, prefix.size()) != prefix)
    return std::nullopt;
  v.remove_prefix(prefix.size());
  const auto colon = v.find(':');
  const auto dollar = v.find('$');
  if (colon == std::string_view::npos || dollar == std::string_view::npos || dollar < colon)
    return std::nullopt;
  stored_scram s;
  const auto [end, ec] = std::from_chars(v.data(), v.data() + colon, s.iterations);
  if (ec != std::errc() || end != v.data() + colon || s.iterations < 1)
    return std::nullopt;
  auto salt = base64_decode(v.substr(colon + 1, dollar - colon - 1));
  if (!salt)
    return std::nullopt;
  s.salt = std::move(*salt);
  return s;
}

// A string wiped when it goes: the stored verifier is a secret of the server's (never logged).
struct wiped_string {
  std::string value;
  wiped_string() = default;
  wiped_string(const wiped_string&) = delete;
  wiped_string& operator=(const wiped_string&) = delete;
  ~wiped_string() { OPENSSL_cleanse(value.data(), value.size()); }
};

bool same_secret(const std::string& a, const std::string& b) {
  return a.size() == b.size() && CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0;
}

} // namespace

std::optional<login_result> executor::catalog_check(std::string_view role,
                                                    std::string_view password,
                                                    std::string_view database,
                                                    const scram_keys* known) const {
  auto& self = *impl_;
  const auto start = std::chrono::steady_clock::now();
  const std::string context = "while checking the credentials of " + std::string(role)
                              + " in the catalog";
  login_result r;
  r.catalog = true;
  const auto fail = [&](error_kind kind, std::string message) {
    r.failure = make_error(kind, std::move(message), context);
    r.message = r.failure->message;
  };
  wiped_string stored;
  try {
    pqxx::nontransaction tx(self.conn(""));
    if (self.authid_readable < 0)
      self.authid_readable =
        tx.exec1("SELECT has_table_privilege('pg_catalog.pg_authid', 'SELECT')")[0].as<bool>() ? 1
                                                                                                : 0;
    if (self.authid_readable == 0)
      return std::nullopt;
    static const std::string query =
      "SELECT a.oid IS NOT NULL, a.rolpassword, a.rolcanlogin, "
      "a.rolvaliduntil IS NULL OR a.rolvaliduntil > now(), d.oid IS NOT NULL AND d.datallowconn, "
      "COALESCE(has_database_privilege(a.oid, d.oid, 'CONNECT'), false), "
      "current_setting('server_version') FROM (SELECT 1) one "
      "LEFT JOIN pg_authid a ON a.rolname = $1 LEFT JOIN pg_database d ON d.datname = $2";
    const auto row = self.prepared1(tx, query, std::string(role), std::string(database));
    r.server_version = row[6].as<std::string>();
    r.latency_ms =
      std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
    if (!row[0].as<bool>()) {
      fail(error_kind::auth, "role " + std::string(role) + " does not exist");
      return r;
    }
    if (!row[2].as<bool>()) {
      fail(error_kind::auth, "role " + std::string(role) + " may not log in (NOLOGIN)");
      return r;
    }
    if (!row[3].as<bool>()) {
      fail(error_kind::auth, "the password of role " + std::string(role) + " has expired (VALID UNTIL)");
      return r;
    }
    if (!row[4].as<bool>()) {
      fail(kind_of_sqlstate("3D000"),
           "database " + std::string(database) + " does not exist or does not accept connections");
      return r;
    }
    if (!row[5].as<bool>()) {
      fail(kind_of_sqlstate("42501"), "role " + std::string(role) + " has no CONNECT on database "
                                        + std::string(database));
      return r;
    }
    if (!row[1].is_null())
      stored.value = row[1].as<std::string>();
  } catch (const std::exception& ex) {
    r.latency_ms =
      std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
    r.failure = self.fail(ex, context, {std::string(password)});
    r.message = r.failure->message;
    self.authid_readable = -1; // asked again next time: the admin's rights may have changed
    return r;
  }
  const auto parsed = parse_stored(stored.value);
  if (!parsed) {
    fail(error_kind::auth, "role " + std::string(role) + " has no SCRAM-SHA-256 password");
    return r;
  }
  std::optional<scram_keys> derived;
  const scram_keys* keys = known;
  if (keys == nullptr || keys->salt != parsed->salt || keys->iterations != parsed->iterations) {
    derived = derive_scram_keys(password, parsed->salt, parsed->iterations);
    if (!derived)
      return std::nullopt; // not ASCII: only libpq's SASLprep knows what the server hashed
    keys = &*derived;
  }
  wiped_string expected;
  expected.value = scram_verifier_of(*keys);
  if (!same_secret(expected.value, stored.value)) {
    fail(error_kind::auth, "the password of role " + std::string(role) + " is not the Secret's");
    return r;
  }
  r.ok = true;
  return r;
}

login_result executor::verify_credentials(std::string_view role, std::string_view password,
                                          std::string_view database, const scram_keys* known,
                                          credential_proof proof) const {
  if (proof != credential_proof::login) {
    if (auto r = catalog_check(role, password, database, known))
      return std::move(*r);
    if (proof == credential_proof::catalog) {
      login_result r;
      r.catalog = true;
      r.failure = make_error(error_kind::permission,
                             "--verify-credentials=catalog: the admin may not read pg_authid "
                             "(superusers only) or the password is not ASCII; use auto or login",
                             "while checking the credentials of " + std::string(role));
      r.message = r.failure->message;
      return r;
    }
  }
  return login_check(role, password, database, known);
}

} // namespace dbuser::pg
