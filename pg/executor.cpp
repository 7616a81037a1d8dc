#include "pg/executor.hpp"

#include "pg/groups.hpp"
#include "pg/login.hpp"
#include "pg/sql.hpp"

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <map>
#include <set>
#include <utility>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <pqxx/pqxx>
#include <spdlog/spdlog.h>

namespace dbuser::pg {

namespace {

// Every write transaction of the operator takes this lock first (advisory, per database, held to
// commit). Concurrent GRANTs to different roles update the same catalog row (the schema's or the
// database's ACL, the admin's default privileges) and PostgreSQL fails the second one with
// "tuple concurrently updated" (XX000) instead of waiting: serialised, none fails. The lock is per
// database; shared-catalog statements (roles, CONNECT on a database) run in whichever database an
// executor is connected to, so two of them may still meet in another database: rare, and XX000 is
// retried (pg/error.cpp). The key is "dbuser-o" in ASCII; other clients never take it.
constexpr const char* serialize_writes = "SELECT pg_advisory_xact_lock(7233473089994108271)";

// A value of a libpq keyword/value connection string.
std::string conn_value(std::string_view v) {
  std::string out = "'";
  for (char c : v) {
    if (c == '\'' || c == '\\')
      out += '\\';
    out += c;
  }
  return out + "'";
}

bool contains(std::string_view text, std::string_view what) {
  return text.find(what) != std::string_view::npos;
}

std::string strip_severity(std::string s) {
  for (const char* prefix : {"ERROR:  ", "FATAL:  "})
    if (s.rfind(prefix, 0) == 0)
      s.erase(0, std::char_traits<char>::length(prefix));
  return s;
}

// A failed connection attempt: libpqxx 6 gives only the text, so classify by what libpq says.
error connection_error(const std::string& what, std::string context,
                       const std::vector<std::string>& secrets) {
  error e;
  e.message = redact(what, secrets);
  e.context = std::move(context);
  if (contains(what, "password authentication failed")) {
    e.kind = error_kind::auth;
    e.sqlstate = "28P01";
  } else if (contains(what, "no pg_hba.conf entry") || contains(what, "not permitted to log in")
             || (contains(what, "role \"") && contains(what, "does not exist"))) {
    e.kind = error_kind::auth;
    e.sqlstate = "28000";
  } else if (contains(what, "database \"") && contains(what, "does not exist")) {
    e.kind = error_kind::invalid;
    e.sqlstate = "3D000";
  } else if (contains(what, "certificate") || contains(what, "SSL") || contains(what, "ssl")) {
    // TLS verification or configuration: retrying will not help until the config changes.
    e.kind = error_kind::invalid;
    e.message = "TLS: " + e.message;
  } else if (contains(what, "too many connections") || contains(what, "remaining connection slots")) {
    e.kind = error_kind::transient;
    e.sqlstate = "53300";
  } else {
    e.kind = error_kind::unavailable;
  }
  return e;
}

// libpqxx 6.4 throws some sql_error subclasses without their SQLSTATE (insufficient_privilege
// comes with an empty sqlstate()): recover it from the class.
std::string sqlstate_of(const pqxx::sql_error& e) {
  if (!e.sqlstate().empty())
    return e.sqlstate();
  if (dynamic_cast<const pqxx::insufficient_privilege*>(&e) != nullptr)
    return "42501";
  if (dynamic_cast<const pqxx::too_many_connections*>(&e) != nullptr)
    return "53300";
  if (dynamic_cast<const pqxx::out_of_memory*>(&e) != nullptr)
    return "53200";
  if (dynamic_cast<const pqxx::disk_full*>(&e) != nullptr)
    return "53100";
  if (dynamic_cast<const pqxx::insufficient_resources*>(&e) != nullptr)
    return "53000";
  if (dynamic_cast<const pqxx::undefined_table*>(&e) != nullptr)
    return "42P01";
  if (dynamic_cast<const pqxx::undefined_column*>(&e) != nullptr)
    return "42703";
  if (dynamic_cast<const pqxx::undefined_function*>(&e) != nullptr)
    return "42883";
  if (dynamic_cast<const pqxx::syntax_error*>(&e) != nullptr)
    return "42601";
  if (dynamic_cast<const pqxx::feature_not_supported*>(&e) != nullptr)
    return "0A000";
  if (dynamic_cast<const pqxx::data_exception*>(&e) != nullptr)
    return "22000";
  if (dynamic_cast<const pqxx::integrity_constraint_violation*>(&e) != nullptr)
    return "23000";
  return "";
}

// The edge of pg/: every libpqxx exception becomes a pg::error.
error from_exception(const std::exception& ex, std::string context,
                     const std::vector<std::string>& secrets) {
  if (const auto* s = dynamic_cast<const pqxx::sql_error*>(&ex))
    return sql_error(sqlstate_of(*s), strip_severity(s->what()), std::move(context), secrets);
  if (const auto* b = dynamic_cast<const pqxx::broken_connection*>(&ex))
    return connection_error(b->what(), std::move(context), secrets);
  if (dynamic_cast<const pqxx::in_doubt_error*>(&ex) != nullptr)
    return make_error(error_kind::unavailable,
                      "connection lost during commit: " + redact(ex.what(), secrets),
                      std::move(context));
  if (dynamic_cast<const pqxx::deadlock_detected*>(&ex) != nullptr)
    return error{error_kind::transient, "40P01", redact(ex.what(), secrets), std::move(context)};
  if (dynamic_cast<const pqxx::serialization_failure*>(&ex) != nullptr)
    return error{error_kind::transient, "40001", redact(ex.what(), secrets), std::move(context)};
  return make_error(error_kind::internal, redact(ex.what(), secrets), std::move(context));
}

const std::set<std::string>& ssl_modes() {
  static const std::set<std::string> modes = {"disable", "allow",     "prefer",
                                              "require", "verify-ca", "verify-full"};
  return modes;
}

// Server notices and warnings ("no privileges could be revoked", ...) go to the debug log,
// redacted, instead of libpqxx's default of stderr.
class notice_logger final : public pqxx::errorhandler {
public:
  notice_logger(pqxx::connection_base& c, std::vector<std::string> secrets)
      : pqxx::errorhandler(c), secrets_(std::move(secrets)) {}
  bool operator()(const char msg[]) noexcept override {
    try {
      spdlog::debug("pg notice: {}", redact(msg, secrets_));
    } catch (...) { // a log failure must not become an error of the statement
    }
    return false;
  }

private:
  std::vector<std::string> secrets_;
};

// A connection and its notice handler (declared after it: unregistered first).
struct session {
  std::unique_ptr<pqxx::connection> conn;
  std::unique_ptr<notice_logger> notices;
};

constexpr const char* role_oid = "(SELECT oid FROM pg_roles WHERE rolname = $1)";

// The entries of an ACL column as rows `a` (grantee, privilege_type, ...) for a FROM list.
// aclexplode() detoasts its argument again for every row it returns: on the ACL of a database or
// schema shared by 10,000 managed roles that is quadratic (7.7 s for one call, measured).
// unnest() detoasts once, and each entry is exploded alone.
std::string explode_acl(const std::string& column) {
  return "unnest(" + column + ") AS acl_entry, aclexplode(ARRAY[acl_entry]) a";
}

} // namespace

struct executor::impl {
  target t;
  std::string ca_path;   // the CA file handed to libpq
  bool ca_owned = false; // written by us from ca_pem: removed on destruction
  // One admin connection at a time, so that a pool of N executors holds N connections: to the
  // database the last statement needed. Statements on shared catalogs (roles, memberships, CONNECT
  // on a database) name no database ("") and run on whichever is open.
  session current;
  std::string current_db;
  std::shared_ptr<socket_cutter> cutter;
  socket_cutter::lease current_lease; // the admin connection's socket, while it is open
  int server_version_num = 0;         // of the open connection's server; 0: not asked yet
  std::unique_ptr<login_client> login; // the login check's client (its TLS context)
  // Privilege groups found converged (their plan empty), by name, with the fingerprint of the
  // catalog rows their observation reads (group_fingerprint_sql) taken before that observation
  // (pg/groups.hpp: "Observing a group once").
  struct converged_group {
    std::string fingerprint;
    std::chrono::steady_clock::time_point at;
  };
  std::map<std::string, converged_group> converged_groups;
  // Statements prepared on the open connection, by text: the catalog queries of every converge
  // are planned once per connection (their planning cost more than running them).
  std::map<std::string, std::string> prepared;

  ~impl() {
    close();
    if (ca_owned)
      ::unlink(ca_path.c_str());
  }

  std::string db_name(const std::string& db) const { return db.empty() ? t.maintenance_db : db; }

  std::vector<std::string> secrets(std::vector<std::string> more = {}) const {
    more.push_back(t.admin_password);
    return more;
  }

  void close() {
    current_lease.release(); // before its socket is closed: the cutter never hits a reused fd
    current.notices.reset(); // unregistered before its connection goes
    current.conn.reset();
    current_db.clear();
    prepared.clear();
    server_version_num = 0;
  }

  std::string conninfo(std::string_view user, std::string_view password, std::string_view db,
                       std::string_view application = "dbuser-operator") const {
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
    if (!ca_path.empty())
      ci += " sslrootcert=" + conn_value(ca_path);
    return ci;
  }

  // The admin connection to `db`; for "" the open one, else the maintenance database. Throws
  // like libpqxx. Switching databases closes the previous connection.
  pqxx::connection& conn(const std::string& db) {
    if (current.conn && current.conn->is_open() && (db.empty() || db == current_db))
      return *current.conn;
    close();
    const auto name = db_name(db);
    current.conn =
      std::make_unique<pqxx::connection>(conninfo(t.admin_user, t.admin_password, name));
    current.notices = std::make_unique<notice_logger>(*current.conn, secrets());
    current_db = name;
    if (cutter)
      current_lease = cutter->watch(current.conn->sock());
    return *current.conn;
  }

  // The one row of `sql` (bind parameters `args`), prepared on first use on the open connection,
  // on which `tx` runs.
  template <class... Args>
  pqxx::row prepared1(pqxx::transaction_base& tx, const std::string& sql, Args&&... args) {
    return tx.exec_prepared1(statement(sql), std::forward<Args>(args)...);
  }

  // All rows of `sql`, likewise.
  template <class... Args>
  pqxx::result prepared_rows(pqxx::transaction_base& tx, const std::string& sql, Args&&... args) {
    return tx.exec_prepared(statement(sql), std::forward<Args>(args)...);
  }

  // The name `sql` is prepared under on the open connection.
  const std::string& statement(const std::string& sql) {
    auto it = prepared.find(sql);
    if (it == prepared.end()) {
      const auto name = "dbuser_" + std::to_string(prepared.size());
      current.conn->prepare(name, sql);
      it = prepared.emplace(sql, name).first;
    }
    return it->second;
  }

  // Turns an exception into an error; a broken connection is forgotten, never silently reused.
  error fail(const std::exception& ex, std::string context,
             const std::vector<std::string>& extra = {}) {
    auto e = from_exception(ex, std::move(context), secrets(extra));
    if (e.kind == error_kind::unavailable || dynamic_cast<const pqxx::broken_connection*>(&ex))
      close();
    converged_groups.clear(); // anything may have changed: observe the groups again
    return e;
  }

  void observe_database(pqxx::connection& c, const std::string& db, const desired_role& d,
                        std::vector<observed_schema>& out) {
    pqxx::nontransaction tx(c); // catalog reads: see observe()
    std::map<std::string, observed_schema> schemas;
    auto at = [&](const std::string& schema) -> observed_schema& {
      auto& s = schemas[schema];
      s.database = db;
      s.schema = schema;
      return s;
    };
    for (const auto& g : d.grants)
      if (g.database == db)
        at(g.schema);
    // USAGE held by the role itself, and by PUBLIC (grantee 0), in one pass over the schema
    // ACLs (a NULL ACL is the owner's default, which gives PUBLIC nothing on a schema).
    std::set<std::string> public_usage;
    for (const auto& row :
         tx.exec_params("SELECT DISTINCT n.nspname, a.grantee = 0 FROM pg_namespace n, "
                          + explode_acl("n.nspacl") + " WHERE a.grantee IN (0, " + role_oid
                          + ") AND a.privilege_type = 'USAGE'",
                        d.name)) {
      if (row[1].as<bool>())
        public_usage.insert(row[0].as<std::string>());
      else
        at(row[0].as<std::string>()).usage = true;
    }
    const std::string relkinds = "c.relkind IN ('r', 'p', 'v', 'm', 'f')";
    // Tables the role owns are its own; tables whose owner's privileges the admin lacks are out
    // of its reach (a GRANT on them only warns): neither is counted.
    const std::string not_owned = std::string("c.relowner <> ") + role_oid
                                  + " AND pg_has_role(c.relowner, 'USAGE')";
    std::map<std::string, std::map<std::string, int>> held; // schema → privilege → tables
    for (const auto& row : tx.exec_params(
           "SELECT n.nspname, a.privilege_type, count(DISTINCT c.oid)::int FROM pg_class c "
           "JOIN pg_namespace n ON n.oid = c.relnamespace, "
             + explode_acl("c.relacl") + " WHERE a.grantee = "
             + std::string(role_oid) + " AND " + relkinds + " AND " + not_owned
             + " GROUP BY 1, 2",
           d.name)) {
      held[row[0].as<std::string>()][row[1].as<std::string>()] = row[2].as<int>();
      at(row[0].as<std::string>());
    }
    for (const auto& row : tx.exec_params(
           "SELECT n.nspname, pg_get_userbyid(da.defaclrole), a.privilege_type FROM pg_default_acl "
           "da JOIN pg_namespace n ON n.oid = da.defaclnamespace, " + explode_acl("da.defaclacl")
             + " WHERE da.defaclobjtype = 'r' AND a.grantee = " + std::string(role_oid),
           d.name)) {
      privilege p{};
      if (privilege_from_keyword(row[2].as<std::string>(), p))
        at(row[0].as<std::string>()).defaults[row[1].as<std::string>()].insert(p);
    }
    std::map<std::string, int> tables;
    for (const auto& row : tx.exec_params(
           "SELECT n.nspname, count(*)::int FROM pg_class c JOIN pg_namespace n ON n.oid = "
           "c.relnamespace WHERE "
             + relkinds + " AND " + not_owned + " GROUP BY 1",
           d.name))
      tables[row[0].as<std::string>()] = row[1].as<int>();
    for (auto& [name, s] : schemas) {
      s.usage_via_public = public_usage.count(name) != 0;
      s.tables = tables.count(name) != 0 ? tables[name] : 0;
      s.on_every_table = s.tables == 0 ? privilege_set::all() : privilege_set{};
      for (const auto& [keyword, count] : held[name]) {
        privilege p{};
        if (!privilege_from_keyword(keyword, p))
          continue;
        s.on_some_table.insert(p);
        if (count >= s.tables)
          s.on_every_table.insert(p);
      }
      out.push_back(s);
    }
  }
};

executor::executor(std::unique_ptr<impl> p) : impl_(std::move(p)) {}
executor::executor(executor&&) noexcept = default;
executor& executor::operator=(executor&&) noexcept = default;
executor::~executor() = default;

const target& executor::where() const { return impl_->t; }

result<executor> executor::create(target t) {
  if (ssl_modes().count(t.ssl_mode) == 0)
    return make_unexpected(make_error(error_kind::invalid, "unknown sslMode \"" + t.ssl_mode
                                                             + "\": use disable, allow, prefer, "
                                                               "require, verify-ca or verify-full"));
  if (t.port <= 0 || t.port > 65535)
    return make_unexpected(
      make_error(error_kind::invalid, "port " + std::to_string(t.port) + " is out of range"));
  if (t.host.empty() || t.admin_user.empty())
    return make_unexpected(make_error(error_kind::invalid, "host and admin user are required"));
  auto p = std::make_unique<impl>();
  if (!t.ca_pem.empty()) {
    std::error_code ec;
    auto dir = std::filesystem::temp_directory_path(ec);
    std::string path = (ec ? std::string("/tmp") : dir.string()) + "/dbuser-pg-ca-XXXXXX";
    int fd = ::mkstemp(path.data()); // created 0600
    if (fd < 0)
      return make_unexpected(
        make_error(error_kind::internal, "cannot create a temporary file for the CA certificate"));
    ::fchmod(fd, S_IRUSR | S_IWUSR);
    const auto& pem = t.ca_pem;
    size_t written = 0;
    while (written < pem.size()) {
      auto n = ::write(fd, pem.data() + written, pem.size() - written);
      if (n <= 0)
        break;
      written += static_cast<size_t>(n);
    }
    ::close(fd);
    if (written != pem.size()) {
      ::unlink(path.c_str());
      return make_unexpected(
        make_error(error_kind::internal, "cannot write the CA certificate to a temporary file"));
    }
    p->ca_path = path;
    p->ca_owned = true;
  } else if (!t.ca_file.empty()) {
    p->ca_path = t.ca_file;
  }
  p->t = std::move(t);
  p->login = std::make_unique<login_client>(login_endpoint{p->t.host, p->t.port, p->t.ssl_mode,
                                                           p->ca_path, p->t.connect_timeout,
                                                           "dbuser-operator-login-check"});
  return executor(std::move(p));
}

void executor::close() { impl_->close(); }

void executor::set_socket_cutter(std::shared_ptr<socket_cutter> cutter) {
  impl_->cutter = std::move(cutter);
}

result<void> executor::ping() {
  auto& self = *impl_;
  try {
    pqxx::nontransaction tx(self.conn(""));
    tx.exec("SELECT 1");
    return {};
  } catch (const std::exception& ex) {
    return make_unexpected(self.fail(ex, "while checking that " + self.t.host + ":"
                                           + std::to_string(self.t.port) + " answers"));
  }
}

namespace {

// The elements of a one-dimensional text array field (NULL elements skipped).
std::vector<std::string> text_array(const pqxx::field& f) {
  std::vector<std::string> out;
  if (f.is_null())
    return out;
  auto parser = f.as_array();
  for (auto next = parser.get_next(); next.first != pqxx::array_parser::juncture::done;
       next = parser.get_next())
    if (next.first == pqxx::array_parser::juncture::string_value)
      out.push_back(std::move(next.second));
  return out;
}

// A role's columns for parse_role, from pg_roles `r` (all NULL when there is no such role): its
// memberships come in the same statement.
constexpr const char* role_columns =
  "r.oid IS NOT NULL, r.rolcanlogin, r.rolsuper, r.rolcreaterole, r.rolcreatedb, "
  "r.rolreplication, r.rolbypassrls, r.rolconnlimit, shobj_description(r.oid, 'pg_authid'), "
  "array_to_string(r.rolconfig, chr(10)), ARRAY(SELECT g.rolname FROM pg_auth_members m JOIN "
  "pg_roles g ON g.oid = m.roleid WHERE m.member = r.oid ORDER BY 1)";

observed_role parse_role(const pqxx::row& row, int at) {
  observed_role o;
  if (!row[at].as<bool>())
    return o;
  o.exists = true;
  o.login = row[at + 1].as<bool>();
  o.superuser = row[at + 2].as<bool>();
  o.createrole = row[at + 3].as<bool>();
  o.createdb = row[at + 4].as<bool>();
  o.replication = row[at + 5].as<bool>();
  o.bypassrls = row[at + 6].as<bool>();
  o.connection_limit = row[at + 7].as<int>();
  if (!row[at + 8].is_null())
    o.comment = row[at + 8].as<std::string>();
  if (!row[at + 9].is_null()) {
    const auto config = row[at + 9].as<std::string>();
    std::size_t from = 0;
    while (from < config.size()) {
      auto end = config.find('\n', from);
      if (end == std::string::npos)
        end = config.size();
      o.config.push_back(config.substr(from, end - from));
      from = end + 1;
    }
  }
  for (auto& group : text_array(row[at + 10]))
    (is_group_name(group) ? o.groups : o.member_of).push_back(std::move(group));
  return o;
}

// A role's attributes, comment, settings and memberships (exists = false when there is none), in
// one statement.
// (`Self` is executor::impl, private to executor: named by the caller.)
template <class Self>
observed_role read_role(Self& self, pqxx::transaction_base& tx, const std::string& name) {
  static const std::string query = std::string("SELECT ") + role_columns
                                   + " FROM (SELECT 1) one LEFT JOIN pg_roles r ON r.rolname = $1";
  return parse_role(self.prepared1(tx, query, name), 0);
}

// The databases (accepting connections) where `role` owns objects or holds privileges.
template <class Self>
std::vector<std::string> databases_of_role(Self& self, pqxx::transaction_base& tx,
                                           const std::string& role) {
  static const std::string query =
    std::string("SELECT DISTINCT d.datname FROM pg_shdepend s JOIN pg_database d ON "
                "d.oid = s.dbid WHERE s.refclassid = 'pg_authid'::regclass AND "
                "s.refobjid = ")
    + role_oid + " AND d.datallowconn ORDER BY 1";
  std::vector<std::string> out;
  const pqxx::result rows = self.prepared_rows(tx, query, role);
  for (const auto& row : rows)
    out.push_back(row[0].as<std::string>());
  return out;
}

// Gives the shared-catalog statements (no database, in a transaction) from `from` on the database
// of the nearest statement before them, or else after them, that names one, so that they share
// its transaction (apply() groups consecutive statements of one database). Their order is kept.
void share_transactions(std::vector<action>& actions, size_t from) {
  std::string last;
  for (size_t k = 0; k < actions.size(); ++k) {
    auto& a = actions[k];
    if (a.outside_transaction) {
      last.clear();
      continue;
    }
    if (k >= from && a.database.empty()) {
      if (last.empty())
        for (size_t n = k + 1; n < actions.size() && !actions[n].outside_transaction; ++n)
          if (!actions[n].database.empty()) {
            last = actions[n].database;
            break;
          }
      a.database = last;
    }
    if (!a.database.empty())
      last = a.database;
  }
}

// How long a group found converged is trusted while its fingerprint stays the same: drift the
// fingerprint does not see (pg/groups.hpp) is repaired within this time.
constexpr std::chrono::seconds group_trust{60};

// A fingerprint of every catalog row the observation and plan of a privilege group depend on,
// read in its database in one statement: the group's attributes, comment, settings and
// memberships; the objects it owns or holds privileges on in any database (pg_shdepend, without
// its members); the databases' rows (existence, CONNECT); its schema's row (USAGE), the
// tables of its schema (their ACLs, owners, whether the admin has their owner's privileges) and
// the default privileges of its database; the server version. A catalog row changed by any
// statement gets a new xmin (VACUUM's in-place updates touch no ACL, owner or name), so any
// GRANT, REVOKE, ALTER, CREATE or DROP that could change the plan changes the fingerprint.
// Bind parameters: $1 the group, $2 its schema.
std::string group_fingerprint_sql() {
  const std::string rows_hash = "count(*) || ':' || coalesce(sum(hashtext(";
  const std::string relkinds = "c.relkind IN ('r', 'p', 'v', 'm', 'f')";
  return "SELECT concat_ws('/', current_setting('server_version_num'), "
         "coalesce((SELECT concat_ws(',', r.oid, r.rolcanlogin, r.rolsuper, r.rolinherit, "
         "r.rolcreaterole, r.rolcreatedb, r.rolreplication, r.rolbypassrls, r.rolconnlimit, "
         "r.rolconfig::text, md5(shobj_description(r.oid, 'pg_authid')), (SELECT "
         + rows_hash
         + "m.roleid::text || ':' || m.xmin::text)::bigint), 0) FROM pg_auth_members m "
           "WHERE m.member = r.oid)) FROM pg_roles r WHERE r.rolname = $1), 'absent'), (SELECT "
         + rows_hash
         + "s.dbid::text || ':' || s.classid::text || ':' || s.objid::text || ':' || "
           "s.deptype::text || ':' || s.xmin::text)::bigint), 0) FROM pg_shdepend s WHERE "
           "s.refclassid = 'pg_authid'::regclass AND s.refobjid = "
         + role_oid + " AND s.classid <> 'pg_auth_members'::regclass), (SELECT " + rows_hash
         + "d.oid::text || ':' || d.xmin::text)::bigint), 0) FROM pg_database d), "
           "coalesce((SELECT n.oid::text || ':' || n.xmin::text FROM pg_namespace n WHERE "
           "n.nspname = $2), 'absent'), (SELECT "
         + rows_hash
         + "c.oid::text || ':' || c.xmin::text || ':' || pg_has_role(c.relowner, "
           "'USAGE')::text)::bigint), 0) FROM pg_class c JOIN pg_namespace n ON n.oid = "
           "c.relnamespace WHERE n.nspname = $2 AND "
         + relkinds + "), (SELECT " + rows_hash
         + "da.oid::text || ':' || da.xmin::text)::bigint), 0) FROM pg_default_acl da))";
}

} // namespace

result<observed_role> executor::observe_role(const std::string& role) {
  auto& self = *impl_;
  try {
    pqxx::nontransaction tx(self.conn("")); // one statement: no transaction needed
    return read_role(self, tx, role);
  } catch (const std::exception& ex) {
    return make_unexpected(self.fail(ex, "while observing role " + role));
  }
}

result<observed_state> executor::observe(const desired_role& desired) {
  auto& self = *impl_;
  observed_state o;
  std::string context = "while observing role " + desired.name;
  try {
    std::set<std::string> inspect;
    {
      // Catalog reads in autocommit: under READ COMMITTED every statement of a transaction takes
      // its own snapshot anyway, so BEGIN and ROLLBACK would only add two round trips.
      pqxx::nontransaction tx(self.conn(""));
      // The role with its memberships, the server version and which of the desired databases
      // exist, in one statement.
      std::vector<std::string> wanted;
      for (const auto& g : desired.grants)
        if (std::find(wanted.begin(), wanted.end(), g.database) == wanted.end())
          wanted.push_back(g.database);
      std::string in;
      for (size_t k = 0; k < wanted.size(); ++k)
        in += (k == 0 ? "$" : ", $") + std::to_string(k + 2);
      const auto first = self.prepared1(
        tx,
        "SELECT current_setting('server_version_num')::int, "
          + (wanted.empty() ? std::string("ARRAY[]::text[]")
                            : "ARRAY(SELECT datname::text FROM pg_database WHERE datname IN (" + in
                                + "))")
          + ", " + role_columns + " FROM (SELECT 1) one LEFT JOIN pg_roles r ON r.rolname = $1",
        desired.name, pqxx::prepare::make_dynamic_params(wanted));
      self.server_version_num = first[0].as<int>();
      o.server_version_num = self.server_version_num;
      const auto existing = text_array(first[1]);
      o.role = parse_role(first, 2);
      for (const auto& l : desired.logins)
        o.logins.push_back(observed_login{l.name, read_role(self, tx, l.name)});
      // A new role holds nothing: skip the ACL scans (each reads every database's ACL, which
      // grows with every role granted CONNECT — thousands of entries on a shared database).
      std::set<std::string> with_connect;
      if (o.role.exists)
        for (const auto& row : tx.exec_params(
               "SELECT d.datname FROM pg_database d, " + explode_acl("d.datacl")
                 + " WHERE a.grantee = "
                 + role_oid + " AND a.privilege_type = 'CONNECT'",
               desired.name))
          with_connect.insert(row[0].as<std::string>());
      std::set<std::string> seen;
      for (const auto& g : desired.grants) {
        if (!seen.insert(g.database).second)
          continue;
        observed_database od;
        od.name = g.database;
        od.exists = std::find(existing.begin(), existing.end(), g.database) != existing.end();
        od.connect = with_connect.count(g.database) != 0;
        if (od.exists && o.role.exists)
          inspect.insert(g.database);
        o.databases.push_back(od);
      }
      for (const auto& name : with_connect) {
        inspect.insert(name);
        if (seen.count(name) == 0)
          o.databases.push_back(observed_database{name, true, true});
      }
      if (o.role.exists)
        for (auto& db : databases_of_role(self, tx, desired.name))
          inspect.insert(std::move(db));
    }
    for (const auto& name : inspect) {
      context = "while observing the privileges of role " + desired.name + " in database " + name;
      self.observe_database(self.conn(name), name, desired, o.schemas);
    }
  } catch (const std::exception& ex) {
    return make_unexpected(self.fail(ex, context));
  }
  return o;
}

result<std::vector<std::string>> executor::apply(const std::vector<action>& actions) {
  auto& self = *impl_;
  std::vector<std::string> done;
  size_t i = 0;
  while (i < actions.size()) {
    const auto& first = actions[i];
    size_t end = i + 1;
    if (!first.outside_transaction)
      while (end < actions.size() && !actions[end].outside_transaction
             && actions[end].database == first.database)
        ++end;
    size_t current = i;
    try {
      auto& c = self.conn(first.database);
      if (first.outside_transaction) {
        pqxx::nontransaction tx(c);
        try {
          tx.exec(first.sql);
        } catch (const pqxx::sql_error& e) {
          if (e.sqlstate() != "42P04") // created concurrently: fine
            throw;
        }
      } else {
        try {
          // One round trip: the statements of a simple query message run as one implicit
          // transaction (committed after the last, rolled back on the first error), the write
          // lock first. Never logged: a statement may hold a verifier.
          std::string batch = serialize_writes;
          for (size_t k = i; k < end; ++k)
            batch.append("; ").append(actions[k].sql);
          pqxx::nontransaction tx(c);
          tx.exec(batch);
        } catch (const pqxx::sql_error& e) {
          // The server does not say which statement of a batch failed, and the batch was rolled
          // back as a whole: run it again one statement at a time to name the failing one (a
          // conflict that has gone meanwhile then simply succeeds). A timeout is not worth
          // waiting for twice.
          if (end - i == 1 || sqlstate_of(e).rfind("57", 0) == 0)
            throw;
          pqxx::work tx(c);
          tx.exec(serialize_writes);
          for (; current < end; ++current)
            tx.exec(actions[current].sql);
          current = end - 1;
          tx.commit();
        }
      }
    } catch (const std::exception& ex) {
      auto e = self.fail(ex, actions[current].context);
      if (e.sqlstate == "42501" && !actions[current].if_denied.empty())
        e.message = actions[current].if_denied + " (the server said: " + e.message + ")";
      return make_unexpected(std::move(e));
    }
    for (size_t k = i; k < end; ++k) {
      spdlog::debug("pg: {}", actions[k].description);
      done.push_back(actions[k].description);
    }
    i = end;
  }
  return done;
}

result<std::vector<std::string>> executor::converge(const desired_role& desired) {
  auto observed = observe(desired);
  if (!observed)
    return make_unexpected(observed.error());
  return converge_observed(desired, std::move(*observed));
}

result<std::vector<std::string>> executor::converge_observed(const desired_role& desired,
                                                             observed_state observed) {
  auto& self = *impl_;
  const auto& admin = self.t.admin_user;
  const auto groups =
    desired.use_groups ? privilege_groups(desired, admin) : std::vector<privilege_group>{};
  for (int attempt = 1;; ++attempt) {
    // 1. The groups, each planned like a role with direct grants, its statements in its database;
    //    a group found converged before whose fingerprint is unchanged is not observed again.
    std::vector<action> actions;
    std::map<std::string, std::string> now_converged; // group → fingerprint, when its plan is empty
    for (const auto& g : groups) {
      std::optional<std::string> fingerprint;
      try {
        pqxx::nontransaction tx(self.conn(g.scope.database));
        fingerprint = self.prepared1(tx, group_fingerprint_sql(), g.name, g.scope.schema)[0]
                        .as<std::string>();
      } catch (const std::exception& ex) { // its database missing, say: observed below
        spdlog::debug("pg: no fingerprint of privilege group {}: {}", g.name,
                      self.fail(ex, "while reading the fingerprint of privilege group " + g.name)
                        .to_string());
      }
      const auto known = self.converged_groups.find(g.name);
      if (fingerprint && known != self.converged_groups.end()
          && known->second.fingerprint == *fingerprint
          && std::chrono::steady_clock::now() - known->second.at < group_trust)
        continue;
      const auto as_role = group_role(g);
      auto o = observe(as_role);
      if (!o)
        return make_unexpected(o.error());
      if (o->role.exists && o->role.comment != g.marker)
        return make_unexpected(make_error(
          error_kind::conflict,
          "role " + g.name + " exists but is not the operator's privilege group for "
            + g.scope.privileges.to_string() + " on " + g.scope.database + "." + g.scope.schema
            + " (its comment is not " + g.marker + "): it is never used or adopted; drop or "
            + "rename it",
          "while converging privilege group " + g.name + " for " + desired.name));
      auto planned = plan(as_role, *o, admin);
      if (!planned)
        return make_unexpected(planned.error());
      if (planned->empty() && fingerprint)
        now_converged[g.name] = *fingerprint;
      for (auto& a : *planned) {
        if (!a.outside_transaction && a.database.empty())
          a.database = g.scope.database;
        a.description += " (privilege group " + g.name + ")";
        actions.push_back(std::move(a));
      }
    }
    // 2. The role: groups joined, then what it left and held directly revoked. Its statements on
    //    shared catalogs (no database) join the transaction of a neighbouring group statement:
    //    a new role is created, marked and joined in one transaction, one round trip.
    auto own = plan(desired, observed, admin);
    if (!own)
      return make_unexpected(own.error());
    const size_t first_own = actions.size();
    actions.insert(actions.end(), own->begin(), own->end());
    if (!groups.empty())
      share_transactions(actions, first_own);
    auto done = apply(actions);
    if (!done) {
      const auto& state = done.error().sqlstate;
      if (groups.empty() || attempt == 3 || (state != "42704" && state != "42710"))
        return done;
      auto again = observe(desired); // a group dropped or created under us: start over
      if (!again)
        return make_unexpected(again.error());
      observed = std::move(*again);
      continue;
    }
    for (auto& [name, fingerprint] : now_converged)
      self.converged_groups[name] = {std::move(fingerprint), std::chrono::steady_clock::now()};
    // 3. Groups left: dropped when no one else is in them. The role is converged already; a
    //    failure here is logged, and the group is left for a later leave or deletion.
    std::vector<std::string> left;
    for (const auto& g : observed.role.groups)
      if (std::none_of(groups.begin(), groups.end(), [&](auto& w) { return w.name == g; }))
        left.push_back(g);
    if (!left.empty()) {
      auto dropped = drop_unused_groups(left);
      done->insert(done->end(), dropped.begin(), dropped.end());
    }
    return done;
  }
}

result<bool> executor::database_exists(std::string_view database) {
  auto& self = *impl_;
  const std::string name(database);
  try {
    pqxx::read_transaction tx(self.conn(""));
    return tx.exec_params1("SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)", name)[0]
      .as<bool>();
  } catch (const std::exception& ex) {
    return make_unexpected(self.fail(ex, "while checking whether database " + name + " exists"));
  }
}

result<std::vector<std::string>> executor::privileged_roles(const std::vector<std::string>& roles) {
  auto& self = *impl_;
  std::vector<std::string> out;
  try {
    pqxx::read_transaction tx(self.conn(""));
    for (const auto& r : roles) {
      auto row = tx.exec_params("SELECT 1 FROM pg_roles WHERE rolname = $1 AND (rolsuper OR "
                                "rolcreaterole OR rolreplication OR rolbypassrls)",
                                r);
      if (!row.empty())
        out.push_back(r);
    }
  } catch (const std::exception& ex) {
    return make_unexpected(self.fail(ex, "while checking the roles of memberOf"));
  }
  return out;
}

result<bool> executor::ensure_database(std::string_view database) {
  auto exists = database_exists(database);
  if (!exists)
    return make_unexpected(exists.error());
  if (*exists)
    return false;
  const std::string name(database);
  auto done = apply({action{"", sql::create_database(name), "created database " + name,
                            "while creating database " + name, true, false}});
  if (!done)
    return make_unexpected(done.error());
  return true;
}

result<void> executor::set_password(std::string_view role, std::string_view verifier) {
  const std::string name(role);
  auto stmt = sql::alter_role_password(role, verifier);
  if (!stmt)
    return make_unexpected(stmt.error());
  auto done = apply({action{"", *stmt, "set the password of role " + name,
                            "while setting the password of role " + name, false, true}});
  if (!done)
    return make_unexpected(done.error());
  return {};
}

result<std::vector<std::string>> executor::drop_role(std::string_view role) {
  auto& self = *impl_;
  const std::string name(role);
  // Where the role owns objects or holds privileges; REASSIGN/DROP OWNED act on the current
  // database's objects, and on shared objects (databases, their CONNECT) from any of them.
  std::vector<std::string> databases;
  std::vector<std::string> groups;
  bool has_its_privileges = true;
  int version = 0;
  try {
    pqxx::read_transaction tx(self.conn(""));
    auto found = tx.exec_params("SELECT pg_has_role(oid, 'USAGE'), "
                                "current_setting('server_version_num')::int FROM pg_roles "
                                "WHERE rolname = $1",
                                name);
    if (found.empty())
      return std::vector<std::string>{};
    has_its_privileges = found[0][0].as<bool>();
    version = found[0][1].as<int>();
    databases = databases_of_role(self, tx, name);
    groups = read_role(self, tx, name).groups; // dropped after the role when unused
  } catch (const std::exception& ex) {
    return make_unexpected(self.fail(ex, "while finding the databases of role " + name));
  }
  // The open connection's database first (no reconnect); it alone when there is none.
  std::stable_partition(databases.begin(), databases.end(),
                        [&](const std::string& db) { return db == self.current_db; });
  if (databases.empty() || databases.front() != self.current_db)
    databases.insert(databases.begin(), self.current_db);
  const auto& admin = self.t.admin_user;
  const std::string way_out = " (or set spec.deletionPolicy: Retain to leave the role)";
  const std::string needs_privileges =
    "the admin " + admin + " needs the privileges of role " + name
    + " to reassign its objects: GRANT " + sql::quote_ident(name) + " TO " + sql::quote_ident(admin)
    + (version >= 160000 ? " WITH INHERIT TRUE" : "") + ", by a role with ADMIN OPTION on it"
    + way_out;
  std::vector<action> actions;
  // A non-superuser admin (managed PostgreSQL) takes the role's privileges explicitly, in a
  // transaction of its own (its own database "" is not `where` below); DROP ROLE ends it.
  if (!has_its_privileges)
    actions.push_back(action{"", sql::grant_role_privileges_to(name, admin, version),
                             "granted role " + name + " to the admin " + admin
                               + (version >= 160000 ? " WITH INHERIT TRUE, SET FALSE" : "")
                               + " (REASSIGN OWNED needs its privileges)",
                             "while granting role " + name + " to the admin " + admin, false,
                             false, needs_privileges});
  for (const auto& db : databases) {
    const std::string& where = db;
    actions.push_back(action{where, sql::reassign_owned(name, admin),
                             "reassigned the objects of role " + name + " in database " + db
                               + " to " + admin,
                             "while reassigning the objects of role " + name + " in database "
                               + db + " to " + admin,
                             false, false, needs_privileges});
    actions.push_back(action{where, sql::drop_owned(name),
                             "dropped the privileges of role " + name + " in database " + db,
                             "while dropping the privileges of role " + name + " in database "
                               + db,
                             false, false, needs_privileges});
  }
  actions.push_back(action{"", sql::drop_role(name), "dropped role " + name,
                           "while dropping role " + name, false, false,
                           "the admin " + admin + " cannot drop role " + name
                             + ": it needs ADMIN OPTION on it (PostgreSQL 16+) or CREATEROLE"
                             + way_out});
  auto done = apply(actions);
  if (!done)
    return done;
  auto dropped = drop_unused_groups(groups);
  done->insert(done->end(), dropped.begin(), dropped.end());
  return done;
}

std::vector<std::string> executor::drop_unused_groups(const std::vector<std::string>& left) {
  auto& self = *impl_;
  std::vector<std::string> candidates = left;
  // Other unused groups of ours in the databases of those left (bounded: never a scan of every
  // database's groups at every deletion).
  try {
    pqxx::read_transaction tx(self.conn(""));
    std::set<std::string> homes;
    for (const auto& g : left)
      for (const auto& row : tx.exec_params("SELECT shobj_description(oid, 'pg_authid') FROM "
                                            "pg_roles WHERE rolname = $1",
                                            g))
        if (!row[0].is_null())
          if (auto db = group_database(row[0].as<std::string>()))
            homes.insert(*db);
    for (const auto& db : homes)
      for (const auto& row : tx.exec_params(
             "SELECT r.rolname FROM pg_roles r WHERE starts_with(r.rolname, $1) AND NOT "
             "r.rolcanlogin AND starts_with(shobj_description(r.oid, 'pg_authid'), $2) AND NOT "
             "EXISTS (SELECT 1 FROM pg_auth_members m WHERE m.roleid = r.oid AND m.member <> "
             "(SELECT oid FROM pg_roles WHERE rolname = current_user)) ORDER BY 1",
             std::string(group_name_prefix),
             std::string(group_marker_prefix) + "database=" + db + ";"))
        if (std::find(candidates.begin(), candidates.end(), row[0].as<std::string>())
            == candidates.end())
          candidates.push_back(row[0].as<std::string>());
  } catch (const std::exception& ex) {
    spdlog::warn("pg: cannot look for unused privilege groups: {}",
                 self.fail(ex, "while looking for unused privilege groups").to_string());
  }
  std::vector<std::string> done;
  for (const auto& g : candidates) {
    auto dropped = drop_group_if_unused(g);
    if (!dropped)
      spdlog::warn("pg: privilege group {} is unused and was not dropped: {}", g,
                   dropped.error().to_string());
    else
      done.insert(done.end(), dropped->begin(), dropped->end());
  }
  return done;
}

result<std::vector<std::string>> executor::drop_group_if_unused(std::string_view group) {
  auto& self = *impl_;
  const std::string name(group);
  const auto& admin = self.t.admin_user;
  // Members other than the admin (on 16+ the role that created a group is a member of it with
  // ADMIN OPTION; the admin takes the group's privileges below).
  const std::string members = std::string("SELECT count(*) FROM pg_auth_members m WHERE m.roleid = ")
                              + role_oid + " AND m.member <> (SELECT oid FROM pg_roles WHERE "
                                           "rolname = current_user)";
  const std::string context = "while dropping the unused privilege group " + name;
  std::string home;
  std::vector<std::string> elsewhere;
  bool has_its_privileges = true;
  try {
    pqxx::read_transaction tx(self.conn(""));
    auto found = tx.exec_params("SELECT shobj_description(oid, 'pg_authid'), pg_has_role(oid, "
                                "'USAGE'), current_setting('server_version_num')::int FROM "
                                "pg_roles WHERE rolname = $1",
                                name);
    if (found.empty() || found[0][0].is_null())
      return std::vector<std::string>{};
    auto db = group_database(found[0][0].as<std::string>());
    if (!db || tx.exec_params1(members, name)[0].as<int>() != 0)
      return std::vector<std::string>{}; // not ours, or in use
    // Its database dropped meanwhile: nobody can join it there; the last step runs here.
    home = tx.exec_params1("SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1 AND "
                           "datallowconn)",
                           *db)[0]
               .as<bool>()
             ? *db
             : std::string();
    has_its_privileges = found[0][1].as<bool>();
    if (self.server_version_num == 0)
      self.server_version_num = found[0][2].as<int>();
    for (auto& other : databases_of_role(self, tx, name))
      if (other != home)
        elsewhere.push_back(std::move(other));
  } catch (const std::exception& ex) {
    return make_unexpected(self.fail(ex, context));
  }
  const int version = self.server_version_num;
  std::vector<std::string> done;
  // DROP OWNED needs the group's privileges: a non-superuser admin takes them (not its identity).
  if (!has_its_privileges) {
    auto granted = apply({action{home, sql::grant_role_privileges_to(name, admin, version),
                                 "granted privilege group " + name + " to the admin " + admin,
                                 context, false, false}});
    if (!granted)
      return granted;
  }
  // What it holds in other databases (granted there by hand): not ours to keep.
  for (const auto& db : elsewhere) {
    auto dropped = apply({action{db, sql::drop_owned(name),
                                 "dropped the privileges of privilege group " + name
                                   + " in database " + db,
                                 context, false, false}});
    if (!dropped)
      return dropped;
    done.insert(done.end(), dropped->begin(), dropped->end());
  }
  // Its own database, under the write lock that joining takes too: checked again, then dropped.
  try {
    pqxx::work tx(self.conn(home));
    tx.exec(serialize_writes);
    if (tx.exec_params1(members, name)[0].as<int>() != 0)
      return done; // somebody joined meanwhile: it stays (the admin's membership does no harm)
    tx.exec(sql::drop_owned(name));
    tx.exec(sql::drop_role(name));
    tx.commit();
  } catch (const std::exception& ex) {
    return make_unexpected(self.fail(ex, context));
  }
  done.push_back("dropped the unused privilege group " + name);
  spdlog::debug("pg: dropped the unused privilege group {}", name);
  return done;
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
  auto native = self.login->check(role, password, database, known, self.cutter.get(),
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
    auto lease = self.cutter ? self.cutter->watch(c.sock()) : socket_cutter::lease();
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
