#include "actors/db_pool.hpp"

#include "pg/password.hpp"

#include <caf/all.hpp>
#include <deque>
#include <map>
#include <openssl/evp.h>
#include <spdlog/spdlog.h>

namespace dbuser::msg {

std::string db_target::key() const {
  // A digest, not the password: pools are keyed by it, and keys are shown in logs.
  std::string material = target.admin_password + '\n' + target.ssl_mode + '\n' + target.ca_pem
                         + '\n' + target.ca_file;
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  EVP_Digest(material.data(), material.size(), md, &len, EVP_sha256(), nullptr);
  static const char* hex = "0123456789abcdef";
  std::string digest;
  for (unsigned i = 0; i < 8 && i < len; ++i) {
    digest += hex[md[i] >> 4];
    digest += hex[md[i] & 15];
  }
  return label() + "#" + digest;
}

std::string db_target::label() const {
  return target.host + ":" + std::to_string(target.port) + "/" + target.admin_user;
}

} // namespace dbuser::msg

namespace dbuser::actors {

using namespace std::chrono;
using msg::db_job;
using msg::db_result;

namespace {

msg::role_claim claim_of(pg::ownership o) {
  switch (o) {
    case pg::ownership::absent: return msg::role_claim::absent;
    case pg::ownership::ours: return msg::role_claim::ours;
    case pg::ownership::unmanaged: return msg::role_claim::unmanaged;
    case pg::ownership::owned_by_other: return msg::role_claim::other_owner;
  }
  return msg::role_claim::unmanaged;
}

db_result fail(db_result r, pg::error e) {
  r.failure = std::move(e);
  return r;
}

// Logs in with the job's password; when that fails for authentication and the role is ours, the
// Secret is the source of truth: set the role's password to it and check again.
void check_login(pg::executor& ex, const db_job& job, db_result& r) {
  r.login = ex.login_check(job.desired.name, job.password, job.login_database);
  if (r.login->ok || !r.login->failure || r.login->failure->kind != pg::error_kind::auth
      || r.password_set)
    return;
  auto verifier = pg::scram_verifier(job.password, job.desired.name);
  if (!verifier) {
    r.failure = verifier.error();
    return;
  }
  if (auto set = ex.set_password(job.desired.name, *verifier); !set) {
    r.failure = set.error();
    return;
  }
  r.password_set = true;
  r.done.emplace_back("reset the password of role " + job.desired.name + " to the Secret's");
  r.login = ex.login_check(job.desired.name, job.password, job.login_database);
}

// Observes the role and records in `r` who claims it; nullopt when observing failed (recorded).
std::optional<pg::observed_state> observe_claim(pg::executor& ex, const db_job& job,
                                                db_result& r) {
  auto observed = ex.observe(job.desired);
  if (!observed) {
    r.failure = observed.error();
    return std::nullopt;
  }
  auto own = pg::ownership_of(observed->role, job.owner);
  r.claim = claim_of(own.state);
  r.claimed_by = own.owner;
  return std::move(*observed);
}

db_result converge(pg::executor& ex, const db_job& job) {
  db_result r;
  auto observed = observe_claim(ex, job, r);
  if (!observed)
    return r;
  if (r.claim == msg::role_claim::unmanaged || r.claim == msg::role_claim::other_owner)
    return r; // refused: nothing changed
  if (!job.desired.member_of.empty()) {
    auto privileged = ex.privileged_roles(job.desired.member_of);
    if (!privileged)
      return fail(r, privileged.error());
    if (!privileged->empty()) {
      r.refusal = "spec.memberOf: role " + privileged->front()
                  + " has SUPERUSER, CREATEROLE, REPLICATION or BYPASSRLS; membership would let "
                    "this role take on its power";
      return r;
    }
  }
  pg::desired_role desired = job.desired;
  if (r.claim == msg::role_claim::absent) {
    auto verifier = pg::scram_verifier(job.password, desired.name);
    if (!verifier)
      return fail(r, verifier.error());
    desired.verifier = std::move(*verifier);
    r.created = true;
    r.password_set = true;
  }
  auto actions = pg::plan(desired, *observed, ex.where().admin_user);
  if (!actions)
    return fail(r, actions.error());
  auto done = ex.apply(*actions);
  if (!done)
    return fail(r, done.error());
  r.done = std::move(*done);
  if (r.created || !r.done.empty() || job.force_login_check)
    check_login(ex, job, r);
  return r;
}

db_result remove(pg::executor& ex, const db_job& job) {
  db_result r;
  if (!observe_claim(ex, job, r) || r.claim != msg::role_claim::ours)
    return r; // absent: nothing to do; not ours: never drop it
  auto done = ex.drop_role(job.desired.name);
  if (!done)
    return fail(r, done.error());
  r.done = std::move(*done);
  return r;
}

db_result rotate(pg::executor& ex, const db_job& job) {
  db_result r;
  if (!observe_claim(ex, job, r) || r.claim != msg::role_claim::ours)
    return r; // rotation never applies to a role that is not ours
  auto verifier = pg::scram_verifier(job.password, job.desired.name);
  if (!verifier)
    return fail(r, verifier.error());
  if (auto set = ex.set_password(job.desired.name, *verifier); !set)
    return fail(r, set.error());
  r.password_set = true;
  r.done.emplace_back("rotated the password of role " + job.desired.name);
  r.login = ex.login_check(job.desired.name, job.password, job.login_database);
  return r;
}

// --- db_connection --------------------------------------------------------------------------

struct connection_state {
  std::optional<pg::executor> executor;
  static inline const char* name = "db_connection";
};

caf::behavior db_connection(caf::stateful_actor<connection_state>* self, pg::target target) {
  return {
    [=](msg::job_atom, const db_job& job) -> db_result {
      auto& st = self->state;
      if (!st.executor) {
        auto ex = pg::executor::create(target);
        if (!ex)
          return fail(db_result{}, ex.error());
        st.executor.emplace(std::move(*ex));
      }
      return run_job(*st.executor, job);
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
      auto conn = self->spawn<caf::detached + caf::monitored>(db_connection, st.target.target);
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
          db_result r;
          r.failure = pg::make_error(pg::error_kind::unavailable,
                                     "database connection actor failed: "
                                       + self->system().render(err));
          promise.deliver(std::move(r));
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

db_result run_job(pg::executor& ex, const db_job& job) {
  switch (job.kind) {
    case msg::db_job_kind::converge: return converge(ex, job);
    case msg::db_job_kind::remove: return remove(ex, job);
    case msg::db_job_kind::rotate: return rotate(ex, job);
  }
  return fail(db_result{}, pg::make_error(pg::error_kind::internal, "unknown job kind"));
}

caf::actor spawn_pool_registry(caf::actor_system& sys, pool_options opts, pool_stats_sink sink) {
  return sys.spawn(pool_registry, opts, std::move(sink));
}

} // namespace dbuser::actors
