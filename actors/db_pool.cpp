#include "actors/db_pool.hpp"

#include "common/socket_cutter.hpp"
#include "messages/reconcile.hpp"
#include "mysql/password.hpp"
#include "pg/password.hpp"
#include "pg/scram.hpp"

#include <caf/all.hpp>
#include <cmath>
#include <ctime>
#include <deque>
#include <map>
#include <random>
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
  // The verifier with the keys it was made from: the login check after it derives nothing.
  static auto password_secret(const std::string& pw, const desired& d) {
    return pg::make_scram_secret(pw, d.active_name(), d.scram_iterations);
  }
  // The plan needs the password's verifier: the role that logs in with it is to be created, or
  // its password set (a rotation to a login role, a strategy switch).
  static bool needs_secret(const desired& d, const pg::observed_state& o, msg::role_claim) {
    if (d.set_password)
      return true;
    if (d.login == pg::login_mode::active)
      return !o.role.exists;
    for (const auto& l : o.logins)
      if (l.name == d.active_name())
        return !l.role.exists;
    return false;
  }
  static void with_secret(desired& d, const pg::scram_secret& s) { d.verifier = s.verifier; }
  // Plan and apply, with the role's privilege groups (pg/groups.hpp).
  static auto converge(executor& ex, const desired& d, pg::observed_state o) {
    return ex.converge_observed(d, std::move(o));
  }
  static auto set_password(executor& ex, const desired& d, const pg::scram_secret& s) {
    return ex.set_password(d.active_name(), s.verifier);
  }
  // Every role of the user: its login roles (those that are ours), then the owner.
  static pg::result<std::vector<std::string>> drop(executor& ex, const desired& d) {
    std::vector<std::string> done;
    for (const auto& l : d.logins) {
      auto observed = ex.observe_role(l.name);
      if (!observed)
        return make_unexpected(observed.error());
      if (!observed->exists || observed->comment != d.marker)
        continue;
      auto dropped = ex.drop_role(l.name);
      if (!dropped)
        return dropped;
      done.insert(done.end(), dropped->begin(), dropped->end());
    }
    auto dropped = ex.drop_role(d.name);
    if (!dropped)
      return dropped;
    done.insert(done.end(), dropped->begin(), dropped->end());
    return done;
  }
  static auto login(executor& ex, const desired& d, const std::string& pw, const std::string& db,
                    const pg::scram_secret* set) {
    return ex.login_check(d.active_name(), pw, db, set != nullptr && set->keys ? &*set->keys : nullptr);
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
  static bool needs_secret(const desired&, const mysql::observed_state&, msg::role_claim c) {
    return c == msg::role_claim::absent;
  }
  static void with_secret(desired& d, const std::string& secret) { d.password_hash = secret; }
  static auto converge(executor& ex, const desired& d, const mysql::observed_state& o)
    -> decltype(ex.apply(*mysql::plan(d, o))) {
    auto actions = mysql::plan(d, o);
    if (!actions)
      return make_unexpected(actions.error());
    return ex.apply(*actions);
  }
  static auto set_password(executor& ex, const desired& d, const std::string& secret) {
    return ex.set_password(d.user, d.host, secret);
  }
  static auto drop(executor& ex, const desired& d) { return ex.drop_user(d.user, d.host, d.owner); }
  static auto login(executor& ex, const desired& d, const std::string& pw, const std::string& db,
                    const std::string* /*set*/) {
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

// The secret an engine derives from a password (PostgreSQL: verifier and keys; MariaDB: hash).
template <class E>
using secret_of = std::decay_t<decltype(*E::password_secret(std::string(),
                                                             std::declval<typename E::desired>()))>;

// Logs in with the job's password; when that fails for authentication and the role is ours, the
// Secret is the source of truth: set the role's password to it and check again. `set`: the
// secret this job just set, if any.
template <class E>
void check_login(typename E::executor& ex, const typename E::desired& d, const db_job& job,
                 db_result& r, const secret_of<E>* set) {
  auto login = E::login(ex, d, job.password, job.login_database, set);
  if (auth_failed(login) && !r.password_set) {
    auto secret = E::password_secret(job.password, d);
    if (!secret) {
      r.failure = to_db_error(secret.error());
      return;
    }
    if (auto done = E::set_password(ex, d, *secret); !done) {
      r.failure = to_db_error(done.error());
      return;
    }
    r.password_set = true;
    r.done.emplace_back("reset the password of " + E::name(d) + " to the Secret's");
    login = E::login(ex, d, job.password, job.login_database, &*secret);
  }
  r.login = to_login(login);
  spdlog::debug("{}: login check as {}: {}", job.owner, E::name(d),
                r.login->ok ? "logged in" : "failed");
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
  r.created = r.claim == msg::role_claim::absent;
  std::optional<secret_of<E>> secret;
  if (E::needs_secret(desired, *observed, r.claim)) {
    auto made = E::password_secret(job.password, desired);
    if (!made) {
      r.failure = to_db_error(made.error());
      return r;
    }
    E::with_secret(desired, *made);
    secret = std::move(*made);
    r.password_set = true;
  }
  auto done = E::converge(ex, desired, std::move(*observed));
  if (!done) {
    r.failure = to_db_error(done.error());
    return r;
  }
  r.done = std::move(*done);
  if (r.created || r.password_set || !r.done.empty() || job.force_login_check)
    check_login<E>(ex, desired, job, r, secret ? &*secret : nullptr);
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
  r.login = to_login(E::login(ex, d, job.password, job.login_database, &*secret));
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

using any_executor = std::variant<std::monostate, pg::executor, mysql::executor>;

// The engine's executor for `target`, made on first use and wired to `cutter`: nullopt when it
// exists, else the error of making it.
std::optional<msg::db_error> ensure_executor(any_executor& ex, const msg::db_target& target,
                                             const std::shared_ptr<socket_cutter>& cutter) {
  if (!std::holds_alternative<std::monostate>(ex))
    return std::nullopt;
  if (target.engine == msg::db_engine::mysql) {
    auto made = mysql::executor::create(target.my);
    if (!made)
      return to_db_error(made.error());
    made->set_socket_cutter(cutter);
    ex.emplace<mysql::executor>(std::move(*made));
  } else {
    auto made = pg::executor::create(target.pg);
    if (!made)
      return to_db_error(made.error());
    made->set_socket_cutter(cutter);
    ex.emplace<pg::executor>(std::move(*made));
  }
  return std::nullopt;
}

struct connection_state {
  any_executor executor;
  static inline const char* name = "db_connection";
};

caf::behavior db_connection(caf::stateful_actor<connection_state>* self, msg::db_target target,
                            std::shared_ptr<socket_cutter> cutter) {
  return {
    [=](msg::job_atom, db_job& job) -> db_result {
      auto& ex = self->state.executor;
      if (auto e = ensure_executor(ex, target, cutter))
        return failed(std::move(*e));
      if (auto* p = std::get_if<pg::executor>(&ex))
        return run<postgres_engine>(*p, job);
      return run<mysql_engine>(std::get<mysql::executor>(ex), job);
    },
  };
}

// One question on a fresh connection (the pool gives it a short connect timeout): does the
// target answer? A one-shot actor: the pool stops it after the answer.
caf::behavior db_probe(caf::stateful_actor<connection_state>* self, msg::db_target target,
                       std::shared_ptr<socket_cutter> cutter) {
  return {
    [=](msg::probe_atom) -> msg::db_probe_result {
      msg::db_probe_result r;
      auto& ex = self->state.executor;
      if (auto e = ensure_executor(ex, target, cutter)) {
        r.failure = std::move(*e);
      } else if (auto* p = std::get_if<pg::executor>(&ex)) {
        if (auto ok = p->ping(); !ok)
          r.failure = to_db_error(ok.error());
      } else if (auto ok = std::get<mysql::executor>(ex).ping(); !ok) {
        r.failure = to_db_error(ok.error());
      }
      return r;
    },
  };
}

// --- db_pool ----------------------------------------------------------------------------------
//
// Health of the target (the circuit breaker). Expected flow:
//   1. Up: jobs are queued and run on at most `size` connections.
//   2. A job fails in a way that says the target, not the request, is the problem (cannot
//      connect, connection broken, the admin's authentication or TLS refused: kinds unavailable
//      and auth), or a liveness probe gets no answer: the target is down. One log line. Every
//      queued job fails at once with that error (target_down), so is every new one, and their
//      senders are remembered; idle connections are closed (they may be dead), busy ones are
//      retired when their job ends.
//   3. While down, one probe at a time (a fresh connection with `probe_timeout`, SELECT 1), with
//      exponential backoff and jitter from `probe_backoff_min` to `probe_backoff_max`; paused when
//      no job has come for `probe_idle_limit`, resumed by the next one.
//   4. A probe answers (or any job succeeds): up again. One log line. The remembered senders
//      (user supervisors) are woken, spread `wake_spread` apart (at most 20 s in all), and
//      reconcile as usual.
// Liveness: a job still running after `stall_after` makes the pool probe the target (again every
// `stall_after` while it runs). No answer within `probe_timeout`: the target is down and the
// sockets of every busy connection are cut (socket_cutter), so their jobs fail at once and the
// server rolls their transactions back. A job that overruns `job_timeout` (a target that answers
// probes but not this job) is cut and failed; its connection actor is replaced.
// Guarantees: a job never waits longer than about stall_after + probe_timeout for a dead target
// and never longer than job_timeout in all; while the target is down no connection is attempted
// except the probe's; waiting for this target holds nothing that another target's pool needs.

struct pending_job {
  db_job job;
  caf::actor requester;
  caf::typed_response_promise<db_result> promise;
};

struct slot {
  caf::actor conn;
  std::shared_ptr<socket_cutter> cutter;
  bool busy = false;
  bool retire = false; // the target went down while it ran: close it when its job ends
  std::uint64_t job = 0;
  steady_clock::time_point last_used;
};

struct target_health {
  bool up = true;
  system_clock::time_point down_since{};
  std::string down_message; // what a job failed fast is told: stable for the whole outage
  msg::db_error last_error;
  int probe_attempts = 0;
  bool probing = false;
  system_clock::time_point next_probe{};
  std::map<caf::actor_addr, caf::actor> parked; // senders of jobs failed fast: woken when back
  std::map<std::string, std::uint64_t> failures; // by kind, for /metrics
  steady_clock::time_point last_asked{};         // the last job sent to this pool
  bool probes_paused = false;                    // down, and nobody asked for probe_idle_limit
};

struct pool_state {
  msg::db_target target;
  pool_options opts;
  pool_stats_sink sink;
  std::vector<slot> slots;
  std::deque<pending_job> queue;
  target_health health;
  std::uint64_t restarts = 0;
  std::uint64_t jobs = 0;
  std::uint64_t job_numbers = 0;
  std::minstd_rand rng{std::random_device{}()};
  static inline const char* name = "db_pool";
};

using pool_actor = caf::stateful_actor<pool_state>;

std::int64_t unix_seconds(system_clock::time_point t) {
  return t == system_clock::time_point{} ? 0 : duration_cast<seconds>(t.time_since_epoch()).count();
}

std::string utc_text(system_clock::time_point t) {
  const std::time_t tt = system_clock::to_time_t(t);
  std::tm tm{};
  ::gmtime_r(&tt, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

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
  const auto& h = st.health;
  s.up = h.up;
  s.down_since_unix = h.up ? 0 : unix_seconds(h.down_since);
  s.next_probe_unix = h.up ? 0 : unix_seconds(h.next_probe);
  s.last_error = h.up ? "" : h.last_error.message;
  s.parked = h.parked.size();
  s.failures = h.failures;
  st.sink(s);
}

// The target, not the request, failed: it cannot be reached, or will not let the admin in.
bool is_target_failure(const msg::db_error& e) {
  return !e.target_down
         && (e.what == msg::db_error::kind::unavailable || e.what == msg::db_error::kind::auth);
}

msg::db_error down_error(const pool_state& st) {
  msg::db_error e = st.health.last_error;
  e.message = st.health.down_message;
  e.target_down = true;
  e.down_since = utc_text(st.health.down_since);
  return e;
}

void fail_fast(pool_actor* self, pending_job& p) {
  auto& h = self->state.health;
  if (p.requester)
    h.parked.emplace(p.requester.address(), p.requester);
  p.promise.deliver(failed(down_error(self->state)));
}

std::vector<slot>::iterator close_slot(pool_actor* self, std::vector<slot>::iterator i) {
  self->send_exit(i->conn, caf::exit_reason::user_shutdown);
  return self->state.slots.erase(i);
}

void schedule_probe(pool_actor* self) {
  auto& st = self->state;
  auto& h = st.health;
  std::uniform_real_distribution<double> jitter(0.8, 1.2);
  const double base = static_cast<double>(st.opts.probe_backoff_min.count())
                      * std::pow(2.0, std::min(h.probe_attempts, 16));
  const auto delay = milliseconds(static_cast<std::int64_t>(
    std::min(base, static_cast<double>(st.opts.probe_backoff_max.count())) * jitter(st.rng)));
  h.next_probe = system_clock::now() + delay;
  self->delayed_send(self, delay, msg::probe_atom::value);
}

// Step 2 of the flow.
void target_failed(pool_actor* self, const msg::db_error& e, const std::string& kind) {
  auto& st = self->state;
  auto& h = st.health;
  ++h.failures[kind];
  if (!h.up)
    return;
  h.up = false;
  h.down_since = system_clock::now();
  h.last_error = e;
  h.down_message = "database target " + st.target.label() + " is unreachable since "
                   + utc_text(h.down_since) + ": " + e.message;
  h.probe_attempts = 0;
  spdlog::warn("database target {} is down ({}): {}; its jobs fail fast until a probe gets an "
               "answer", st.target.label(), kind, e.message);
  while (!st.queue.empty()) {
    auto p = std::move(st.queue.front());
    st.queue.pop_front();
    fail_fast(self, p);
  }
  for (auto i = st.slots.begin(); i != st.slots.end();) {
    if (i->busy) {
      i->retire = true;
      ++i;
    } else {
      i = close_slot(self, i);
    }
  }
  if (!h.probing)
    schedule_probe(self);
  report(self);
}

void dispatch(pool_actor* self);

// Step 4 of the flow.
void target_back(pool_actor* self) {
  auto& st = self->state;
  auto& h = st.health;
  if (h.up)
    return;
  h.up = true;
  h.probe_attempts = 0;
  const auto down_for = duration_cast<seconds>(system_clock::now() - h.down_since).count();
  spdlog::info("database target {} answers again after {} s; reconciling the {} users that "
               "waited for it", st.target.label(), down_for, h.parked.size());
  const auto n = static_cast<std::int64_t>(std::max<std::size_t>(1, h.parked.size()));
  const milliseconds step = std::min(st.opts.wake_spread, milliseconds(20000) / n);
  std::size_t i = 0;
  for (auto& [addr, who] : h.parked)
    self->delayed_send(who, step * static_cast<int>(i++), msg::reconcile_atom::value);
  h.parked.clear();
  dispatch(self);
}

void probe_failed(pool_actor* self, const msg::db_error& e) {
  auto& st = self->state;
  ++st.health.probe_attempts;
  if (st.health.up) {
    // A liveness probe while a job seemed stuck: the target does not answer. Its busy
    // connections wait on a dead peer: cut them.
    target_failed(self, e, "unresponsive");
    for (auto& sl : st.slots)
      if (sl.busy)
        sl.cutter->cut();
    return;
  }
  ++st.health.failures[std::string(to_string(e.what))];
  schedule_probe(self);
  report(self);
}

void start_probe(pool_actor* self) {
  auto& st = self->state;
  if (st.health.probing)
    return;
  st.health.probing = true;
  auto target = st.target;
  target.pg.connect_timeout = st.opts.probe_timeout;
  target.my.connect_timeout = st.opts.probe_timeout;
  auto cutter = std::make_shared<socket_cutter>();
  auto probe = self->spawn<caf::detached>(db_probe, std::move(target), cutter);
  self->request(probe, st.opts.probe_timeout + seconds(2), msg::probe_atom::value)
    .then(
      [=](msg::db_probe_result& r) {
        self->send_exit(probe, caf::exit_reason::user_shutdown);
        self->state.health.probing = false;
        if (r.failure)
          probe_failed(self, *r.failure);
        else
          target_back(self);
      },
      [=](caf::error&) {
        cutter->cut(); // it may still wait on the target: let it go
        self->send_exit(probe, caf::exit_reason::user_shutdown);
        self->state.health.probing = false;
        msg::db_error e;
        e.what = msg::db_error::kind::unavailable;
        e.transient = true;
        e.message = "no answer within " + std::to_string(self->state.opts.probe_timeout.count())
                    + " s";
        probe_failed(self, e);
      });
}

std::vector<slot>::iterator find_slot(pool_actor* self, const caf::actor_addr& addr) {
  auto& slots = self->state.slots;
  return std::find_if(slots.begin(), slots.end(),
                      [&](const slot& s) { return s.conn.address() == addr; });
}

void finish(pool_actor* self, const caf::actor& conn) {
  if (auto i = find_slot(self, conn.address()); i != self->state.slots.end()) {
    if (i->retire) {
      close_slot(self, i);
    } else {
      i->busy = false;
      i->last_used = steady_clock::now();
    }
  }
  ++self->state.jobs;
  dispatch(self);
}

// The outcome of a job says something about the target, too. A job that found the target down
// parks its sender like a job failed fast: it is woken when the target is back.
void judge(pool_actor* self, const db_result& r, const caf::actor& requester) {
  if (r.failure && is_target_failure(*r.failure)) {
    target_failed(self, *r.failure, std::string(to_string(r.failure->what)));
    if (requester && !self->state.health.up)
      self->state.health.parked.emplace(requester.address(), requester);
  } else if (!self->state.health.up) {
    target_back(self); // it answered this job
  }
}

void dispatch(pool_actor* self) {
  auto& st = self->state;
  while (!st.queue.empty() && st.health.up) {
    auto free = std::find_if(st.slots.begin(), st.slots.end(),
                             [](const slot& s) { return !s.busy; });
    if (free == st.slots.end() && st.slots.size() < st.opts.size) {
      auto cutter = std::make_shared<socket_cutter>();
      auto conn = self->spawn<caf::detached + caf::monitored>(db_connection, st.target, cutter);
      st.slots.push_back(slot{conn, cutter, false, false, 0, steady_clock::now()});
      free = st.slots.end() - 1;
    }
    if (free == st.slots.end())
      break;
    free->busy = true;
    free->job = ++st.job_numbers;
    free->cutter->arm();
    auto conn = free->conn;
    auto number = free->job;
    auto p = std::move(st.queue.front());
    st.queue.pop_front();
    auto promise = p.promise;
    auto requester = p.requester;
    self->delayed_send(self, st.opts.stall_after, msg::stall_atom::value, number);
    self->request(conn, st.opts.job_timeout, msg::job_atom::value, std::move(p.job))
      .then(
        [=](db_result& r) mutable {
          judge(self, r, requester);
          promise.deliver(std::move(r));
          finish(self, conn);
        },
        [=](caf::error& err) mutable {
          msg::db_error e;
          e.what = msg::db_error::kind::unavailable;
          e.transient = true;
          if (err == caf::sec::request_timeout) {
            // Answers probes but not this job: cut it; its actor is replaced.
            e.message = "the job did not finish within "
                        + std::to_string(self->state.opts.job_timeout.count())
                        + " s and was cut short";
            if (auto i = find_slot(self, conn.address()); i != self->state.slots.end()) {
              i->cutter->cut();
              close_slot(self, i);
              ++self->state.restarts;
            }
          } else {
            e.message = "database connection actor failed: " + self->system().render(err);
          }
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
    auto i = find_slot(self, dm.source);
    if (i == self->state.slots.end())
      return;
    self->state.slots.erase(i);
    if (dm.reason && dm.reason != caf::exit_reason::user_shutdown) {
      ++self->state.restarts; // replaced on demand by dispatch()
      spdlog::warn("db pool {}: a connection actor died ({}); replacing it",
                   self->state.target.label(), self->system().render(dm.reason));
    }
    dispatch(self);
  });
  self->set_exit_handler([=](caf::exit_msg& em) {
    // Shutdown: the connection actors go with the pool (they are monitored, not linked).
    for (auto& sl : self->state.slots) {
      sl.cutter->cut(); // a job blocked on a dead target must not hold the process
      self->send_exit(sl.conn, em.reason);
    }
    self->quit(em.reason);
  });
  self->delayed_send(self, seconds(10), msg::idle_atom::value);
  return {
    [=](msg::job_atom, db_job& job) -> caf::result<db_result> {
      // Before make_response_promise(): it moves the sender out of the current message.
      auto requester = caf::actor_cast<caf::actor>(self->current_sender());
      auto promise = self->make_response_promise<db_result>();
      job.desired.scram_iterations = self->state.opts.scram_iterations;
      pending_job p{std::move(job), std::move(requester), promise};
      auto& h = self->state.health;
      h.last_asked = steady_clock::now();
      if (!h.up) {
        if (h.probes_paused) {
          h.probes_paused = false;
          start_probe(self);
        }
        fail_fast(self, p);
        report(self);
        return promise;
      }
      self->state.queue.push_back(std::move(p));
      dispatch(self);
      return promise;
    },
    [=](msg::stall_atom, std::uint64_t number) {
      auto& st = self->state;
      auto i = std::find_if(st.slots.begin(), st.slots.end(),
                            [&](const slot& s) { return s.busy && s.job == number; });
      if (i == st.slots.end())
        return; // it ended
      if (!st.health.up)
        i->cutter->cut(); // known dead: do not wait for it
      else
        start_probe(self);
      self->delayed_send(self, st.opts.stall_after, msg::stall_atom::value, number);
    },
    [=](msg::probe_atom) {
      auto& h = self->state.health;
      if (h.up)
        return;
      if (steady_clock::now() - h.last_asked > self->state.opts.probe_idle_limit) {
        h.probes_paused = true; // the next job resumes them
        h.next_probe = {};
        report(self);
        return;
      }
      start_probe(self);
    },
    [=](msg::idle_atom) {
      auto now = steady_clock::now();
      auto& slots = self->state.slots;
      for (auto i = slots.begin(); i != slots.end();)
        i = !i->busy && now - i->last_used > self->state.opts.idle_timeout ? close_slot(self, i)
                                                                           : i + 1;
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
