#include "actors/db_pool.hpp"

#include "mysql/password.hpp"
#include "pg/password.hpp"

#include <caf/all.hpp>
#include <deque>
#include <map>
#include <variant>
#include <openssl/evp.h>
#include <spdlog/spdlog.h>

namespace dbuser::msg {

namespace {

std::string digest(const std::string& material) {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  EVP_Digest(material.data(), material.size(), md, &len, EVP_sha256(), nullptr);
  static const char* hex = "0123456789abcdef";
  std::string out;
  for (unsigned i = 0; i < 8 && i < len; ++i) {
    out += hex[md[i] >> 4];
    out += hex[md[i] & 15];
  }
  return out;
}

} // namespace

std::string db_target::key() const {
  // A digest, not the password: pools are keyed by it, and keys may be shown.
  if (engine == db_engine::mysql)
    return label() + "#" + digest(my.admin_password + '\n' + my.tls_mode + '\n' + my.ca_pem + '\n'
                                  + my.ca_file);
  return label() + "#" + digest(pg.admin_password + '\n' + pg.ssl_mode + '\n' + pg.ca_pem + '\n'
                                + pg.ca_file);
}

std::string db_target::label() const {
  if (engine == db_engine::mysql)
    return "mysql://" + my.host + ":" + std::to_string(my.port) + "/" + my.admin_user;
  return "postgresql://" + pg.host + ":" + std::to_string(pg.port) + "/" + pg.admin_user;
}

} // namespace dbuser::msg

namespace dbuser::actors {

using namespace std::chrono;
using msg::db_job;
using msg::db_result;

namespace {

// --- the two engines behind one narrow interface ----------------------------------------------
// The job flows below are written once; each engine says how to observe, claim, plan, set a
// password (from its client-side hash), drop and log in.

template <class Ownership>
msg::role_claim claim_of(Ownership o) {
  switch (o) {
    case Ownership::absent: return msg::role_claim::absent;
    case Ownership::ours: return msg::role_claim::ours;
    case Ownership::unmanaged: return msg::role_claim::unmanaged;
    case Ownership::owned_by_other: return msg::role_claim::other_owner;
  }
  return msg::role_claim::unmanaged;
}

// Whether the server itself reported the error: PostgreSQL gives a SQLSTATE; MySQL's client
// library numbers its own errors 2000-2999 (the server's are below and above).
bool from_server(const pg::error& e) {
  return !e.sqlstate.empty();
}
bool from_server(const mysql::error& e) {
  return e.code != 0 && (e.code < 2000 || e.code >= 3000);
}

// Both engines' errors share one classification (common/db_error_kind.hpp).
template <class Error>
msg::db_error to_db_error(const Error& e) {
  msg::db_error d;
  d.what = e.kind;
  d.message = e.to_string();
  d.transient = e.transient();
  d.from_server = from_server(e);
  return d;
}

template <class Login>
msg::login_check to_login(const Login& l) {
  return msg::login_check{l.ok, l.latency_ms, l.server_version, l.message};
}

template <class Login>
bool auth_failed(const Login& l) {
  return !l.ok && l.failure && l.failure->kind == decltype(l.failure->kind)::auth;
}

struct postgres_engine {
  using executor = pg::executor;
  using desired = pg::desired_role;
  static desired& of(db_job& j) { return j.desired; }
  static std::string name(const desired& d) { return d.name; }
  static auto observe(executor& ex, const desired& d) { return ex.observe(d); }
  static auto ownership(const pg::observed_state& o, const std::string& owner) {
    return pg::ownership_of(o.role, owner);
  }
  static auto password_secret(const std::string& pw, const desired& d) {
    return pg::scram_verifier(pw, d.name);
  }
  static void with_secret(desired& d, std::string secret) { d.verifier = std::move(secret); }
  static auto plan(executor& ex, const desired& d, const pg::observed_state& o) {
    return pg::plan(d, o, ex.where().admin_user);
  }
  static auto set_password(executor& ex, const desired& d, const std::string& secret) {
    return ex.set_password(d.name, secret);
  }
  static auto drop(executor& ex, const desired& d) { return ex.drop_role(d.name); }
  static auto login(executor& ex, const desired& d, const std::string& pw, const std::string& db) {
    return ex.login_check(d.name, pw, db);
  }
  // Membership in a powerful role would hand its power over (SET ROLE): refuse it.
  static std::optional<std::string> refusal(executor& ex, const desired& d, db_result& r) {
    if (d.member_of.empty())
      return std::nullopt;
    auto privileged = ex.privileged_roles(d.member_of);
    if (!privileged) {
      r.failure = to_db_error(privileged.error());
      return std::string();
    }
    if (privileged->empty())
      return std::nullopt;
    return "spec.memberOf: role " + privileged->front()
           + " has SUPERUSER, CREATEROLE, REPLICATION or BYPASSRLS; membership would let this "
             "role take on its power";
  }
};

struct mysql_engine {
  using executor = mysql::executor;
  using desired = mysql::desired_account;
  static desired& of(db_job& j) { return j.account; }
  static std::string name(const desired& d) { return mysql::account_label(d.user, d.host); }
  static auto observe(executor& ex, const desired& d) { return ex.observe(d); }
  static auto ownership(const mysql::observed_state& o, const std::string& owner) {
    return mysql::ownership_of(o.account, owner);
  }
  static auto password_secret(const std::string& pw, const desired&) {
    return mysql::native_password_hash(pw);
  }
  static void with_secret(desired& d, std::string secret) { d.password_hash = std::move(secret); }
  static auto plan(executor&, const desired& d, const mysql::observed_state& o) {
    return mysql::plan(d, o);
  }
  static auto set_password(executor& ex, const desired& d, const std::string& secret) {
    return ex.set_password(d.user, d.host, secret);
  }
  static auto drop(executor& ex, const desired& d) { return ex.drop_user(d.user, d.host, d.owner); }
  static auto login(executor& ex, const desired& d, const std::string& pw, const std::string& db) {
    return ex.login_check(d.user, pw, db);
  }
  static std::optional<std::string> refusal(executor&, const desired&, db_result&) {
    return std::nullopt;
  }
};

// Observes the account and records in `r` who claims it; nullopt when observing failed.
template <class E>
auto observe_claim(typename E::executor& ex, const typename E::desired& d, const db_job& job,
                   db_result& r) -> std::optional<std::decay_t<decltype(*E::observe(ex, d))>> {
  auto observed = E::observe(ex, d);
  if (!observed) {
    r.failure = to_db_error(observed.error());
    return std::nullopt;
  }
  auto own = E::ownership(*observed, job.owner);
  r.claim = claim_of(own.state);
  r.claimed_by = own.owner;
  return std::move(*observed);
}

// Logs in with the job's password; when that fails for authentication and the role is ours, the
// Secret is the source of truth: set the role's password to it and check again.
template <class E>
void check_login(typename E::executor& ex, const typename E::desired& d, const db_job& job,
                 db_result& r) {
  auto login = E::login(ex, d, job.password, job.login_database);
  if (auth_failed(login) && !r.password_set) {
    auto secret = E::password_secret(job.password, d);
    if (!secret) {
      r.failure = to_db_error(secret.error());
      return;
    }
    if (auto set = E::set_password(ex, d, *secret); !set) {
      r.failure = to_db_error(set.error());
      return;
    }
    r.password_set = true;
    r.done.emplace_back("reset the password of " + E::name(d) + " to the Secret's");
    login = E::login(ex, d, job.password, job.login_database);
  }
  r.login = to_login(login);
}

template <class E>
db_result converge(typename E::executor& ex, db_job& job) {
  db_result r;
  auto& d = E::of(job);
  auto observed = observe_claim<E>(ex, d, job, r);
  if (!observed)
    return r;
  if (r.claim == msg::role_claim::unmanaged || r.claim == msg::role_claim::other_owner)
    return r; // refused: nothing changed
  if (auto why = E::refusal(ex, d, r)) {
    if (!r.failure)
      r.refusal = std::move(*why);
    return r;
  }
  auto desired = d;
  if (r.claim == msg::role_claim::absent) {
    auto secret = E::password_secret(job.password, desired);
    if (!secret) {
      r.failure = to_db_error(secret.error());
      return r;
    }
    E::with_secret(desired, std::move(*secret));
    r.created = true;
    r.password_set = true;
  }
  auto actions = E::plan(ex, desired, *observed);
  if (!actions) {
    r.failure = to_db_error(actions.error());
    return r;
  }
  auto done = ex.apply(*actions);
  if (!done) {
    r.failure = to_db_error(done.error());
    return r;
  }
  r.done = std::move(*done);
  if (r.created || !r.done.empty() || job.force_login_check)
    check_login<E>(ex, desired, job, r);
  return r;
}

template <class E>
db_result remove(typename E::executor& ex, db_job& job) {
  db_result r;
  auto& d = E::of(job);
  if (!observe_claim<E>(ex, d, job, r) || r.claim != msg::role_claim::ours)
    return r; // absent: nothing to do; not ours: never drop it
  auto done = E::drop(ex, d);
  if (!done) {
    r.failure = to_db_error(done.error());
    return r;
  }
  r.done = std::move(*done);
  return r;
}

template <class E>
db_result rotate(typename E::executor& ex, db_job& job) {
  db_result r;
  auto& d = E::of(job);
  if (!observe_claim<E>(ex, d, job, r) || r.claim != msg::role_claim::ours)
    return r; // rotation never applies to an account that is not ours
  auto secret = E::password_secret(job.password, d);
  if (!secret) {
    r.failure = to_db_error(secret.error());
    return r;
  }
  if (auto set = E::set_password(ex, d, *secret); !set) {
    r.failure = to_db_error(set.error());
    return r;
  }
  r.password_set = true;
  r.done.emplace_back("rotated the password of " + E::name(d));
  r.login = to_login(E::login(ex, d, job.password, job.login_database));
  return r;
}

template <class E>
db_result run(typename E::executor& ex, db_job& job) {
  switch (job.kind) {
    case msg::db_job_kind::converge: return converge<E>(ex, job);
    case msg::db_job_kind::remove: return remove<E>(ex, job);
    case msg::db_job_kind::rotate: return rotate<E>(ex, job);
  }
  return db_result{};
}

db_result failed(msg::db_error e) {
  db_result r;
  r.failure = std::move(e);
  return r;
}

// --- db_connection --------------------------------------------------------------------------

struct connection_state {
  std::variant<std::monostate, pg::executor, mysql::executor> executor;
  static inline const char* name = "db_connection";
};

caf::behavior db_connection(caf::stateful_actor<connection_state>* self, msg::db_target target) {
  return {
    [=](msg::job_atom, db_job& job) -> db_result {
      auto& ex = self->state.executor;
      if (std::holds_alternative<std::monostate>(ex)) {
        if (target.engine == msg::db_engine::mysql) {
          auto made = mysql::executor::create(target.my);
          if (!made)
            return failed(to_db_error(made.error()));
          ex.emplace<mysql::executor>(std::move(*made));
        } else {
          auto made = pg::executor::create(target.pg);
          if (!made)
            return failed(to_db_error(made.error()));
          ex.emplace<pg::executor>(std::move(*made));
        }
      }
      if (auto* p = std::get_if<pg::executor>(&ex))
        return run<postgres_engine>(*p, job);
      return run<mysql_engine>(std::get<mysql::executor>(ex), job);
    },
  };
}

// --- db_pool ----------------------------------------------------------------------------------

struct pending_job {
  db_job job;
  caf::typed_response_promise<db_result> promise;
};

struct slot {
  caf::actor conn;
  bool busy = false;
  steady_clock::time_point last_used;
};

struct pool_state {
  msg::db_target target;
  pool_options opts;
  pool_stats_sink sink;
  std::vector<slot> slots;
  std::deque<pending_job> queue;
  std::uint64_t restarts = 0;
  std::uint64_t jobs = 0;
  static inline const char* name = "db_pool";
};

using pool_actor = caf::stateful_actor<pool_state>;

void report(pool_actor* self) {
  auto& st = self->state;
  if (!st.sink)
    return;
  pool_stats s;
  s.target = st.target.label();
  s.size = st.slots.size();
  for (auto& sl : st.slots)
    s.busy += sl.busy ? 1 : 0;
  s.waiting = st.queue.size();
  s.restarts = st.restarts;
  s.jobs = st.jobs;
  st.sink(s);
}

slot* find_slot(pool_actor* self, const caf::actor_addr& addr) {
  for (auto& sl : self->state.slots)
    if (sl.conn.address() == addr)
      return &sl;
  return nullptr;
}

void dispatch(pool_actor* self);

void finish(pool_actor* self, const caf::actor& conn) {
  if (auto* sl = find_slot(self, conn.address()); sl != nullptr) {
    sl->busy = false;
    sl->last_used = steady_clock::now();
  }
  ++self->state.jobs;
  dispatch(self);
}

void dispatch(pool_actor* self) {
  auto& st = self->state;
  while (!st.queue.empty()) {
    slot* free = nullptr;
    for (auto& sl : st.slots)
      if (!sl.busy) {
        free = &sl;
        break;
      }
    if (free == nullptr && st.slots.size() < st.opts.size) {
      auto conn = self->spawn<caf::detached + caf::monitored>(db_connection, st.target);
      st.slots.push_back(slot{conn, false, steady_clock::now()});
      free = &st.slots.back();
    }
    if (free == nullptr)
      break;
    free->busy = true;
    auto conn = free->conn;
    auto p = std::move(st.queue.front());
    st.queue.pop_front();
    auto promise = p.promise;
    self->request(conn, st.opts.job_timeout, msg::job_atom::value, std::move(p.job))
      .then(
        [=](db_result& r) mutable {
          promise.deliver(std::move(r));
          finish(self, conn);
        },
        [=](caf::error& err) mutable {
          msg::db_error e;
          e.what = msg::db_error::kind::unavailable;
          e.message = "database connection actor failed: " + self->system().render(err);
          e.transient = true;
          promise.deliver(failed(std::move(e)));
          finish(self, conn);
        });
  }
  report(self);
}

caf::behavior db_pool(pool_actor* self, msg::db_target target, pool_options opts,
                      pool_stats_sink sink) {
  self->state.target = std::move(target);
  self->state.opts = opts;
  self->state.sink = std::move(sink);
  self->set_down_handler([=](caf::down_msg& dm) {
    auto& slots = self->state.slots;
    auto i = std::find_if(slots.begin(), slots.end(),
                          [&](const slot& s) { return s.conn.address() == dm.source; });
    if (i == slots.end())
      return;
    slots.erase(i);
    if (dm.reason && dm.reason != caf::exit_reason::user_shutdown) {
      ++self->state.restarts; // replaced on demand by dispatch()
      spdlog::warn("db pool {}: a connection actor died ({}); replacing it",
                   self->state.target.label(), self->system().render(dm.reason));
    }
    dispatch(self);
  });
  self->set_exit_handler([=](caf::exit_msg& em) {
    // Shutdown: the connection actors go with the pool (they are monitored, not linked).
    for (auto& sl : self->state.slots)
      self->send_exit(sl.conn, em.reason);
    self->quit(em.reason);
  });
  self->delayed_send(self, seconds(10), msg::idle_atom::value);
  return {
    [=](msg::job_atom, db_job& job) -> caf::result<db_result> {
      auto promise = self->make_response_promise<db_result>();
      self->state.queue.push_back(pending_job{std::move(job), promise});
      dispatch(self);
      return promise;
    },
    [=](msg::idle_atom) {
      auto now = steady_clock::now();
      for (auto& sl : self->state.slots)
        if (!sl.busy && now - sl.last_used > self->state.opts.idle_timeout)
          self->send_exit(sl.conn, caf::exit_reason::user_shutdown);
      report(self);
      self->delayed_send(self, seconds(10), msg::idle_atom::value);
    },
  };
}

// --- registry -----------------------------------------------------------------------------------

struct registry_state {
  std::map<std::string, caf::actor> pools;
  static inline const char* name = "db_pools";
};

caf::behavior pool_registry(caf::stateful_actor<registry_state>* self, pool_options opts,
                            pool_stats_sink sink) {
  self->set_exit_handler([=](caf::exit_msg& em) {
    for (auto& [key, pool] : self->state.pools)
      self->send_exit(pool, em.reason);
    self->quit(em.reason);
  });
  self->set_down_handler([=](caf::down_msg& dm) {
    auto& pools = self->state.pools;
    for (auto i = pools.begin(); i != pools.end(); ++i)
      if (i->second.address() == dm.source) {
        pools.erase(i);
        break;
      }
  });
  return {
    [=](msg::pool_atom, const msg::db_target& t) -> caf::actor {
      auto key = t.key();
      auto& pools = self->state.pools;
      auto i = pools.find(key);
      if (i != pools.end())
        return i->second;
      auto pool = self->spawn<caf::monitored>(db_pool, t, opts, sink);
      pools.emplace(key, pool);
      return pool;
    },
  };
}

} // namespace

caf::actor spawn_pool_registry(caf::actor_system& sys, pool_options opts, pool_stats_sink sink) {
  return sys.spawn(pool_registry, opts, std::move(sink));
}

} // namespace dbuser::actors
