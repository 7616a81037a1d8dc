// The executor's connection (one at a time, opened on demand, its statements prepared once), its
// creation from a target, ping and the login check. What it reads, applies and drops is in
// executor_observe.cpp, executor_converge.cpp and executor_drop.cpp; libpqxx's exceptions become
// errors in executor_errors.cpp.

#include "pg/executor.hpp"

#include "common/quote.hpp"

#include "pg/executor_impl.hpp"
#include "pg/login.hpp"

#include <chrono>
#include <set>
#include <utility>

#include <pqxx/pqxx>

namespace dbuser::pg {

using detail::from_exception;
using detail::notice_logger;

namespace {

// A value of a libpq keyword/value connection string.
std::string conn_value(std::string_view v) { return quote_escaped(v, '\''); }

const std::set<std::string>& ssl_modes() {
  static const std::set<std::string> modes = {"disable", "allow",     "prefer",
                                              "require", "verify-ca", "verify-full"};
  return modes;
}

} // namespace

executor::impl::~impl() { close(); }

void executor::impl::close() {
  link.forget_admin(); // before its socket is closed: the cutter never hits a reused fd
  current.notices.reset(); // unregistered before its connection goes
  current.conn.reset();
  current_db.clear();
  prepared.clear();
  server_version_num = 0;
}

std::string executor::impl::conninfo(std::string_view user, std::string_view password,
                                     std::string_view db, std::string_view application) const {
  std::string ci = "host=" + conn_value(t.host) + " port=" + std::to_string(t.port)
                   + " user=" + conn_value(user) + " password=" + conn_value(password)
                   + " dbname=" + conn_value(db) + " sslmode=" + conn_value(t.ssl_mode)
                   + " connect_timeout=" + std::to_string(t.connect_timeout.count())
                   + " application_name=" + conn_value(application)
                   + " keepalives=1 keepalives_idle=5 keepalives_interval=2 keepalives_count=3"
                   + " tcp_user_timeout=10000"
                   + " options=" + conn_value("-c statement_timeout="
                                              + std::to_string(t.statement_timeout.count())
                                              + " -c standard_conforming_strings=on");
  if (!link.ca_path().empty())
    ci += " sslrootcert=" + conn_value(link.ca_path());
  return ci;
}

pqxx::connection& executor::impl::conn(const std::string& db) {
  if (current.conn && current.conn->is_open() && (db.empty() || db == current_db))
    return *current.conn;
  close();
  const auto name = db_name(db);
  current.conn =
    std::make_unique<pqxx::connection>(conninfo(t.admin_user, t.admin_password, name));
  current.notices = std::make_unique<notice_logger>(*current.conn, secrets());
  current_db = name;
  link.watch_admin(current.conn->sock());
  return *current.conn;
}

const std::string& executor::impl::statement(const std::string& sql) {
  auto it = prepared.find(sql);
  if (it == prepared.end()) {
    const auto name = "dbuser_" + std::to_string(prepared.size());
    current.conn->prepare(name, sql);
    it = prepared.emplace(sql, name).first;
  }
  return it->second;
}

error executor::impl::fail(const std::exception& ex, std::string context,
                           const std::vector<std::string>& extra) {
  auto e = from_exception(ex, std::move(context), secrets(extra));
  if (e.kind == error_kind::unavailable || dynamic_cast<const pqxx::broken_connection*>(&ex))
    close();
  converged_groups.clear(); // anything may have changed: observe the groups again
  return e;
}

executor::executor(std::unique_ptr<impl> p) : impl_(make_pimpl(std::move(p))) {}

const target& executor::where() const { return impl_->t; }

result<executor> executor::create(target t, std::shared_ptr<socket_cutter> cutter) {
  if (ssl_modes().count(t.ssl_mode) == 0)
    return make_unexpected(make_error(error_kind::invalid, "unknown sslMode \"" + t.ssl_mode
                                                             + "\": use disable, allow, prefer, "
                                                               "require, verify-ca or verify-full"));
  auto link = db_link::make({t.host, t.port, t.admin_user, t.ca_pem, t.ca_file}, "dbuser-pg-ca");
  if (!link)
    return make_unexpected(make_error(link.error().kind, link.error().message));
  auto p = std::make_unique<impl>();
  p->link = std::move(*link);
  p->link.set_cutter(std::move(cutter));
  p->t = std::move(t);
  p->login = std::make_unique<login_client>(login_endpoint{p->t.host, p->t.port, p->t.ssl_mode,
                                                           p->link.ca_path(), p->t.connect_timeout,
                                                           "dbuser-operator-login-check"});
  return executor(std::move(p));
}

void executor::close() { impl_->close(); }

result<void> executor::ping() {
  auto& self = *impl_;
  try {
    pqxx::nontransaction tx(self.conn(""));
    tx.exec("SELECT 1");
    return {};
  } catch (const std::exception& ex) {
    return make_unexpected(self.fail(ex, ping_context(self.t.host, self.t.port)));
  }
}

login_result executor::login_check(std::string_view role, std::string_view password,
                                   std::string_view database, const scram_keys* known) const {
  const auto& self = *impl_;
  login_result r;
  const std::string context = "while logging in as " + std::string(role) + " to database "
                              + std::string(database);
  const auto start = std::chrono::steady_clock::now();
  const auto elapsed_ms = [&start] {
    return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start)
      .count();
  };
  auto native = self.login->check(role, password, database, known, self.link.cutter(),
                                  self.secrets({std::string(password)}));
  if (!native.unsupported) {
    r.latency_ms = elapsed_ms();
    r.ok = native.ok;
    r.server_version = std::move(native.server_version);
    if (native.failure) {
      r.failure = std::move(native.failure);
      r.message = r.failure->message;
    }
    return r;
  }
  try {
    pqxx::connection c(self.conninfo(role, password, database, "dbuser-operator-login-check"));
    auto lease = self.link.watch(c.sock());
    notice_logger notices(c, self.secrets({std::string(password)}));
    pqxx::nontransaction tx(c);
    r.server_version = tx.exec("SELECT current_setting('server_version')")[0][0].as<std::string>();
    r.latency_ms =
      std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
    r.ok = true;
  } catch (const std::exception& ex) {
    r.latency_ms =
      std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
    r.failure = from_exception(ex, context, self.secrets({std::string(password)}));
    r.message = r.failure->message;
  }
  return r;
}

} // namespace dbuser::pg
