#include "mysql/executor.hpp"

#include "common/db_link.hpp"
#include "common/text.hpp"

#include "mysql/sql.hpp"

#include <algorithm>
#include <cctype>
#include <mutex>
#include <set>
#include <utility>

#include <mysql.h>
#include <spdlog/spdlog.h>

namespace dbuser::mysql {

namespace {

using row = std::vector<std::optional<std::string>>;

const std::set<std::string>& tls_modes() {
  static const std::set<std::string> modes = {"disable", "preferred", "required", "verify-ca",
                                              "verify-identity"};
  return modes;
}

struct mysql_closer {
  void operator()(MYSQL* m) const { mysql_close(m); }
};
using handle = std::unique_ptr<MYSQL, mysql_closer>;

// The error of the last call on `m`, redacted.
error last_error(MYSQL* m, std::string context, const std::vector<std::string>& secrets) {
  return server_error(mysql_errno(m), mysql_sqlstate(m), mysql_error(m), std::move(context),
                      secrets);
}

void library_init() {
  static std::once_flag once;
  // mysql_init calls it too, but not thread-safely: the first executor does it once.
  std::call_once(once, [] { mysql_library_init(0, nullptr, nullptr); });
}

// The grantee string of information_schema ("'user'@'host'") as a literal. The server builds it
// without escaping: a quote in the user name appears as is, not doubled as in sql::account.
result<std::string> grantee_literal(std::string_view user, std::string_view host) {
  return sql::quote_literal(account_label(user, host));
}

} // namespace

struct executor::impl {
  target t;
  db_link link; // the CA file handed to libmariadb, the admin socket's registration
  handle admin;

  ~impl() { drop_admin(); }

  // Before the socket is closed, its lease goes: the cutter never hits a reused descriptor.
  void drop_admin() {
    link.forget_admin();
    admin.reset();
  }

  std::vector<std::string> secrets(std::vector<std::string> more = {}) const {
    more.push_back(t.admin_password);
    return more;
  }

  // A connected handle, or the error of the attempt.
  result<handle> connect(std::string_view user, std::string_view password,
                         std::string_view database, const std::string& context,
                         const std::vector<std::string>& hidden) const {
    library_init();
    handle m(mysql_init(nullptr));
    if (!m)
      return make_unexpected(make_error(error_kind::internal, "libmariadb could not allocate a "
                                                              "handle", context));
    unsigned connect_timeout = static_cast<unsigned>(t.connect_timeout.count());
    unsigned io_timeout = static_cast<unsigned>(t.read_timeout.count());
    unsigned protocol = MYSQL_PROTOCOL_TCP;
    unsigned no_local_infile = 0;
    mysql_options(m.get(), MYSQL_OPT_CONNECT_TIMEOUT, &connect_timeout);
    mysql_options(m.get(), MYSQL_OPT_READ_TIMEOUT, &io_timeout);
    mysql_options(m.get(), MYSQL_OPT_WRITE_TIMEOUT, &io_timeout);
    mysql_options(m.get(), MYSQL_OPT_PROTOCOL, &protocol);
    mysql_options(m.get(), MYSQL_OPT_LOCAL_INFILE, &no_local_infile);
    mysql_options(m.get(), MYSQL_SET_CHARSET_NAME, "utf8mb4");
    mysql_optionsv(m.get(), MYSQL_OPT_CONNECT_ATTR_ADD, "program_name", "dbuser-operator");
    my_bool off = 0;
    my_bool on = 1;
    if (t.tls_mode == "disable") {
      mysql_options(m.get(), MYSQL_OPT_SSL_ENFORCE, &off);
      mysql_options(m.get(), MYSQL_OPT_SSL_VERIFY_SERVER_CERT, &off);
    } else {
      // Any TLS option makes libmariadb ask for TLS; without ENFORCE it falls back to plaintext
      // when the server does not offer it (preferred).
      const std::string& ca = link.ca_path();
      mysql_ssl_set(m.get(), nullptr, nullptr, ca.empty() ? nullptr : ca.c_str(), nullptr, nullptr);
      mysql_options(m.get(), MYSQL_OPT_SSL_ENFORCE, t.tls_mode == "preferred" ? &off : &on);
      mysql_options(m.get(), MYSQL_OPT_SSL_VERIFY_SERVER_CERT,
                    t.tls_mode == "verify-identity" ? &on : &off);
    }
    const std::string host(t.host);
    const std::string u(user);
    const std::string pw(password);
    const std::string db(database);
    if (mysql_real_connect(m.get(), host.c_str(), u.c_str(), pw.c_str(),
                           db.empty() ? nullptr : db.c_str(), static_cast<unsigned>(t.port),
                           nullptr, 0)
        == nullptr) {
      auto e = last_error(m.get(), context, secrets(hidden));
      if (e.code == 2026)
        e.message = "TLS: " + e.message;
      return make_unexpected(e);
    }
    // libmariadb has no keepalive options: a vanished peer is noticed in ~10 s, not ~15 min.
    set_tcp_liveness(mysql_get_socket(m.get()), 10000);
    if (t.tls_mode != "disable" && t.tls_mode != "preferred" && mysql_get_ssl_cipher(m.get()) == nullptr)
      return make_unexpected(make_error(error_kind::invalid,
                                        "TLS: the connection is not encrypted although tls mode "
                                          + t.tls_mode + " requires it",
                                        context));
    return m;
  }

  // The admin connection; reopened when it was dropped.
  result<MYSQL*> conn(const std::string& context) {
    if (admin)
      return admin.get();
    auto h = connect(t.admin_user, t.admin_password, "", context, {});
    if (!h)
      return make_unexpected(h.error());
    admin = std::move(*h);
    link.watch_admin(mysql_get_socket(admin.get()));
    return admin.get();
  }

  // Forgets a connection that can no longer be trusted.
  error fail(MYSQL* m, const std::string& context, const std::vector<std::string>& hidden = {}) {
    auto e = last_error(m, context, secrets(hidden));
    if (e.kind == error_kind::unavailable || e.code == 0)
      drop_admin();
    return e;
  }

  // Runs one statement on the admin connection; returns the rows of its result (if any).
  result<std::vector<row>> run(const std::string& statement, const std::string& context) {
    auto c = conn(context);
    if (!c)
      return make_unexpected(c.error());
    MYSQL* m = *c;
    if (mysql_real_query(m, statement.data(), statement.size()) != 0)
      return make_unexpected(fail(m, context));
    std::vector<row> rows;
    MYSQL_RES* res = mysql_store_result(m);
    if (res == nullptr) {
      if (mysql_field_count(m) != 0)
        return make_unexpected(fail(m, context));
      return rows;
    }
    const unsigned fields = mysql_num_fields(res);
    while (MYSQL_ROW r = mysql_fetch_row(res)) {
      const unsigned long* lengths = mysql_fetch_lengths(res);
      row out(fields);
      for (unsigned i = 0; i < fields; ++i)
        if (r[i] != nullptr)
          out[i] = std::string(r[i], lengths[i]);
      rows.push_back(std::move(out));
    }
    mysql_free_result(res);
    return rows;
  }
};

executor::executor(std::unique_ptr<impl> p) : impl_(make_pimpl(std::move(p))) {}

result<executor> executor::create(target t, std::shared_ptr<socket_cutter> cutter) {
  if (tls_modes().count(t.tls_mode) == 0)
    return make_unexpected(make_error(error_kind::invalid,
                                      "unknown tls mode \"" + t.tls_mode
                                        + "\": use disable, preferred, required, verify-ca or "
                                          "verify-identity"));
  auto link = db_link::make({t.host, t.port, t.admin_user, t.ca_pem, t.ca_file}, "dbuser-mysql-ca");
  if (!link)
    return make_unexpected(make_error(link.error().kind, link.error().message));
  if ((t.tls_mode == "verify-ca" || t.tls_mode == "verify-identity") && link->ca_path().empty())
    return make_unexpected(make_error(error_kind::invalid,
                                      "tls mode " + t.tls_mode + " needs a CA certificate"));
  auto p = std::make_unique<impl>();
  p->link = std::move(*link);
  p->link.set_cutter(std::move(cutter));
  p->t = std::move(t);
  return executor(std::move(p));
}

result<void> executor::ping() {
  auto rows = impl_->run("SELECT 1", ping_context(impl_->t.host, impl_->t.port));
  if (!rows)
    return make_unexpected(rows.error());
  return {};
}

result<observed_account> executor::observe_account(std::string_view user, std::string_view host) {
  auto& self = *impl_;
  const std::string h = ascii_lower(host);
  const std::string context = "while observing account " + account_label(user, h);
  observed_account o;
  auto u = sql::quote_literal(user);
  auto hl = sql::quote_literal(h);
  auto grantee = grantee_literal(user, h);
  auto owner_q = sql::select_owner(user, h);
  for (const auto* r : {&u, &hl, &grantee, &owner_q})
    if (!*r)
      return make_unexpected(make_error(r->error().kind, r->error().message, context));

  auto account = self.run("SELECT max_user_connections FROM mysql.user WHERE User = " + *u
                            + " AND Host = " + *hl,
                          context);
  if (!account)
    return make_unexpected(account.error());
  if (!account->empty()) {
    o.exists = true;
    const auto& v = account->front()[0];
    o.max_user_connections = v ? std::stoi(*v) : 0;
  }
  auto owner = self.run(*owner_q, context);
  if (!owner && owner.error().code != 1146 && owner.error().code != 1049)
    return make_unexpected(owner.error()); // a missing table or schema: no claim at all
  if (owner && !owner->empty() && owner->front()[0])
    o.owner = *owner->front()[0];
  if (o.exists) {
    auto global = self.run(
      "SELECT PRIVILEGE_TYPE, IS_GRANTABLE FROM information_schema.USER_PRIVILEGES WHERE "
      "GRANTEE = "
        + *grantee + " ORDER BY PRIVILEGE_TYPE",
      context);
    if (!global)
      return make_unexpected(global.error());
    for (const auto& r : *global) {
      if (r[1] && *r[1] == "YES")
        o.global_grant_option = true;
      if (r[0] && *r[0] != "USAGE")
        o.global_privileges.push_back(*r[0]);
    }
  }
  return o;
}

result<observed_state> executor::observe(const desired_account& desired) {
  auto& self = *impl_;
  const std::string host = ascii_lower(desired.host);
  const std::string context = "while observing account " + account_label(desired.user, host);
  observed_state o;
  auto account = observe_account(desired.user, host);
  if (!account)
    return make_unexpected(account.error());
  o.account = std::move(*account);
  std::set<std::string> seen;
  for (const auto& g : desired.grants) {
    if (!seen.insert(g.database).second)
      continue;
    auto lit = sql::quote_literal(g.database);
    if (!lit)
      return make_unexpected(make_error(lit.error().kind, lit.error().message, context));
    auto r = self.run("SELECT 1 FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = " + *lit,
                      context);
    if (!r)
      return make_unexpected(r.error());
    o.databases.push_back(observed_database{g.database, !r->empty()});
  }
  if (!o.account.exists)
    return o;
  auto grantee = grantee_literal(desired.user, host);
  if (!grantee)
    return make_unexpected(make_error(grantee.error().kind, grantee.error().message, context));
  auto rows = self.run("SELECT TABLE_SCHEMA, PRIVILEGE_TYPE, IS_GRANTABLE FROM "
                       "information_schema.SCHEMA_PRIVILEGES WHERE GRANTEE = "
                         + *grantee + " ORDER BY TABLE_SCHEMA, PRIVILEGE_TYPE",
                       context);
  if (!rows)
    return make_unexpected(rows.error());
  for (const auto& r : *rows) {
    if (!r[0] || !r[1])
      continue;
    auto g = std::find_if(o.grants.begin(), o.grants.end(),
                          [&](const observed_grant& e) { return e.pattern == *r[0]; });
    if (g == o.grants.end()) {
      o.grants.push_back(observed_grant{*r[0], {}, {}, false});
      g = std::prev(o.grants.end());
    }
    privilege p{};
    if (from_keyword(*r[1], p))
      g->privileges.insert(p);
    else
      g->other.push_back(*r[1]);
    if (r[2] && *r[2] == "YES")
      g->grant_option = true;
  }
  return o;
}

result<std::vector<std::string>> executor::apply(const std::vector<action>& actions) {
  auto& self = *impl_;
  std::vector<std::string> done;
  for (const auto& a : actions) {
    auto r = self.run(a.sql, a.context);
    if (!r) {
      if (!a.undo.empty()) {
        auto undone = self.run(a.undo, a.context);
        if (!undone)
          spdlog::debug("mysql: undo failed {}", undone.error().to_string());
      }
      return make_unexpected(r.error());
    }
    spdlog::debug("mysql: {}", a.description);
    done.push_back(a.description);
  }
  return done;
}

result<std::vector<std::string>> executor::converge(const desired_account& desired) {
  auto observed = observe(desired);
  if (!observed)
    return make_unexpected(observed.error());
  auto actions = plan(desired, *observed);
  if (!actions)
    return make_unexpected(actions.error());
  return apply(*actions);
}

result<bool> executor::database_exists(std::string_view database) {
  const std::string name(database);
  const std::string context = "while checking whether database " + name + " exists";
  auto lit = sql::quote_literal(name);
  if (!lit)
    return make_unexpected(make_error(lit.error().kind, lit.error().message, context));
  auto r = impl_->run("SELECT 1 FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = " + *lit,
                      context);
  if (!r)
    return make_unexpected(r.error());
  return !r->empty();
}

result<bool> executor::ensure_database(std::string_view database) {
  auto exists = database_exists(database);
  if (!exists)
    return make_unexpected(exists.error());
  if (*exists)
    return false;
  const std::string name(database);
  auto done = apply({action{sql::create_database(name), "created database " + name,
                            "while creating database " + name, false, {}}});
  if (!done)
    return make_unexpected(done.error());
  return true;
}

result<void> executor::set_password(std::string_view user, std::string_view host,
                                    std::string_view hash) {
  const std::string h = ascii_lower(host);
  const std::string who = account_label(user, h);
  auto stmt = sql::alter_user_password(user, h, hash);
  if (!stmt)
    return make_unexpected(
      make_error(stmt.error().kind, stmt.error().message, "while setting the password of " + who));
  auto done = apply({action{*stmt, "set the password of " + who,
                            "while setting the password of " + who, true, {}}});
  if (!done)
    return make_unexpected(done.error());
  return {};
}

result<std::vector<std::string>> executor::drop_user(std::string_view user, std::string_view host,
                                                     std::string_view owner) {
  const std::string h = ascii_lower(host);
  const std::string who = account_label(user, h);
  const std::string context = "while dropping account " + who;
  auto o = observe_account(user, h);
  if (!o)
    return make_unexpected(o.error());
  const auto own = ownership_of(*o, owner);
  if (own.state == ownership::unmanaged)
    return make_unexpected(make_error(
      error_kind::conflict, "account " + who + " is not managed by the operator", context));
  if (own.state == ownership::owned_by_other)
    return make_unexpected(
      make_error(error_kind::conflict, "account " + who + " belongs to " + own.owner, context));
  std::vector<action> actions;
  if (o->exists) {
    auto drop = sql::drop_user(user, h);
    if (!drop)
      return make_unexpected(make_error(drop.error().kind, drop.error().message, context));
    actions.push_back(action{*drop, "dropped account " + who, context, false, {}});
  }
  if (o->owner) {
    auto release = sql::release_owner(user, h, owner);
    if (!release)
      return make_unexpected(make_error(release.error().kind, release.error().message, context));
    actions.push_back(action{*release, "released the claim on " + who,
                             "while releasing the claim on " + who, false, {}});
  }
  return apply(actions);
}

login_result executor::login_check(std::string_view user, std::string_view password,
                                   std::string_view database) const {
  const auto& self = *impl_;
  login_result r;
  const std::string context =
    "while logging in as " + std::string(user) + " to database " + std::string(database);
  const std::vector<std::string> hidden{std::string(password)};
  const auto start = std::chrono::steady_clock::now();
  auto elapsed = [&] {
    return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start)
      .count();
  };
  auto c = self.connect(user, password, database, context, hidden);
  if (!c) {
    r.latency_ms = elapsed();
    r.failure = c.error();
    r.message = c.error().message;
    return r;
  }
  MYSQL* m = c->get();
  auto lease = self.link.watch(mysql_get_socket(m));
  const std::string q = "SELECT VERSION()";
  MYSQL_RES* res = nullptr;
  if (mysql_real_query(m, q.data(), q.size()) != 0
      || (res = mysql_store_result(m)) == nullptr) {
    r.latency_ms = elapsed();
    r.failure = last_error(m, context, self.secrets(hidden));
    r.message = r.failure->message;
    return r;
  }
  if (MYSQL_ROW row = mysql_fetch_row(res); row != nullptr && row[0] != nullptr)
    r.server_version = row[0];
  mysql_free_result(res);
  r.latency_ms = elapsed();
  r.ok = true;
  return r;
}

} // namespace dbuser::mysql
