// The connection actors (db_pool.hpp): the job flows, written once over two engine traits, and
// the detached actors that own one executor.

#include "actors/db_pool_state.hpp"

#include "mysql/password.hpp"
#include "pg/password.hpp"
#include "pg/scram.hpp"

#include <caf/all.hpp>
#include <optional>
#include <variant>
#include <spdlog/spdlog.h>

namespace dbuser::actors::pooling {

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
  msg::login_check c;
  c.ok = l.ok;
  if constexpr (std::is_same_v<Login, pg::login_result>)
    c.catalog = l.catalog;
  c.latency_ms = l.latency_ms;
  c.server_version = l.server_version;
  c.message = l.message;
  return c;
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
  // Who claims the role needs the role alone: one statement, not the privileges in every database.
  static auto observe_account(executor& ex, const desired& d) { return ex.observe_role(d.name); }
  static auto ownership(const pg::observed_role& o, const std::string& owner) {
    return pg::ownership_of(o, owner);
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
                    const pg::scram_secret* set, pg::credential_proof proof) {
    return ex.verify_credentials(d.active_name(), pw, db,
                                 set != nullptr && set->keys ? &*set->keys : nullptr, proof);
  }
  // Why the role may not be dropped yet: roles other than the admin are its members.
  static std::optional<std::string> in_use(executor& ex, const desired& d, db_result& r) {
    auto members = ex.members_of(d.name);
    if (!members) {
      r.failure = to_db_error(members.error());
      return std::nullopt;
    }
    if (members->empty())
      return std::nullopt;
    std::string list;
    for (size_t i = 0; i < members->size() && i < 10; ++i)
      list += (i == 0 ? "" : ", ") + (*members)[i];
    if (members->size() > 10)
      list += " and " + std::to_string(members->size() - 10) + " more";
    return std::to_string(members->size()) + " role" + (members->size() == 1 ? " is" : "s are")
           + " still members of it: " + list;
  }
  // Membership in a powerful role would hand its power over (SET ROLE): refuse it. A role that
  // does not exist yet (a PostgresRole not Ready yet) is waited for.
  static std::optional<std::string> refusal(executor& ex, const desired& d, db_result& r) {
    if (d.member_of.empty())
      return std::nullopt;
    auto checked = ex.check_member_of(d.member_of);
    if (!checked) {
      r.failure = to_db_error(checked.error());
      return std::string();
    }
    if (!checked->missing.empty()) {
      r.waiting = "spec.memberOf: role " + checked->missing.front()
                  + " does not exist yet (a PostgresRole of that name may not be Ready yet); "
                    "waiting for it";
      return std::string();
    }
    if (checked->privileged.empty())
      return std::nullopt;
    return "spec.memberOf: role " + checked->privileged.front()
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
  static auto observe_account(executor& ex, const desired& d) { return ex.observe(d); }
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
  // MariaDB: always a login (its catalog proof is not built).
  static auto login(executor& ex, const desired& d, const std::string& pw, const std::string& db,
                    const std::string* /*set*/, pg::credential_proof /*proof*/) {
    return ex.login_check(d.user, pw, db);
  }
  static std::optional<std::string> refusal(executor&, const desired&, db_result&) {
    return std::nullopt;
  }
  static std::optional<std::string> in_use(executor&, const desired&, db_result&) {
    return std::nullopt;
  }
};

// Records in `r` who claims the account `observed` (what E::observe or E::observe_account
// read); nullopt when reading failed.
template <class E, class Observed>
auto record_claim(Observed observed, const db_job& job, db_result& r)
  -> std::optional<std::decay_t<decltype(*observed)>> {
  if (!observed) {
    r.failure = to_db_error(observed.error());
    return std::nullopt;
  }
  auto own = E::ownership(*observed, job.owner);
  r.claim = claim_of(own.state);
  r.claimed_by = own.owner;
  return std::move(*observed);
}

// Observes the account with everything converging it needs, and records who claims it.
template <class E>
auto observe_claim(typename E::executor& ex, const typename E::desired& d, const db_job& job,
                   db_result& r) {
  return record_claim<E>(E::observe(ex, d), job, r);
}

// Only who claims the account: what dropping it or setting its password checks first.
template <class E>
bool read_claim(typename E::executor& ex, const typename E::desired& d, const db_job& job,
                db_result& r) {
  return record_claim<E>(E::observe_account(ex, d), job, r).has_value();
}

// The secret an engine derives from a password (PostgreSQL: verifier and keys; MariaDB: hash).
template <class E>
using secret_of = std::decay_t<decltype(*E::password_secret(std::string(),
                                                             std::declval<typename E::desired>()))>;

// Sets the role's password to the job's (the secret derived from it): the secret when it was set,
// else nothing, and the failure in `r`.
template <class E>
std::optional<secret_of<E>> set_job_password(typename E::executor& ex,
                                             const typename E::desired& d, const db_job& job,
                                             db_result& r) {
  auto secret = E::password_secret(job.password, d);
  if (!secret) {
    r.failure = to_db_error(secret.error());
    return std::nullopt;
  }
  if (auto set = E::set_password(ex, d, *secret); !set) {
    r.failure = to_db_error(set.error());
    return std::nullopt;
  }
  r.password_set = true;
  return std::move(*secret);
}

// Logs in with the job's password; when that fails for authentication and the role is ours, the
// Secret is the source of truth: set the role's password to it and check again. `set`: the
// secret this job just set, if any.
template <class E>
void check_login(typename E::executor& ex, const typename E::desired& d, const db_job& job,
                 db_result& r, const secret_of<E>* set) {
  auto login = E::login(ex, d, job.password, job.login_database, set, job.verify);
  if (auth_failed(login) && !r.password_set) {
    auto secret = set_job_password<E>(ex, d, job, r);
    if (!secret)
      return;
    r.done.emplace_back("reset the password of " + E::name(d) + " to the Secret's");
    login = E::login(ex, d, job.password, job.login_database, &*secret, job.verify);
  }
  r.login = to_login(login);
  spdlog::debug("{}: login check as {} ({}): {}", job.owner, E::name(d),
                r.login->catalog ? "from the catalog" : "logged in",
                r.login->ok ? "verified" : "failed");
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
    if (!r.failure && !r.waiting)
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
  // A PostgresRole has no password: it never logs in.
  if (!job.password.empty()
      && (r.created || r.password_set || !r.done.empty() || job.force_login_check))
    check_login<E>(ex, desired, job, r, secret ? &*secret : nullptr);
  return r;
}

// What remove and rotate share: they act only on a role or account that exists and is ours
// (absent: nothing to do; not ours: never drop it nor touch its password). `step(d, r)` does the
// rest and fills the result.
template <class E, class Step>
db_result on_ours(typename E::executor& ex, db_job& job, Step step) {
  db_result r;
  auto& d = E::of(job);
  if (read_claim<E>(ex, d, job, r) && r.claim == msg::role_claim::ours)
    step(d, r);
  return r;
}

template <class E>
db_result remove(typename E::executor& ex, db_job& job) {
  return on_ours<E>(ex, job, [&](auto& d, db_result& r) {
    if (job.keep_while_members) {
      if (auto why = E::in_use(ex, d, r); why || r.failure) {
        if (!r.failure)
          r.refusal = std::move(*why);
        return;
      }
    }
    auto done = E::drop(ex, d);
    if (!done) {
      r.failure = to_db_error(done.error());
      return;
    }
    r.done = std::move(*done);
  });
}

template <class E>
db_result rotate(typename E::executor& ex, db_job& job) {
  return on_ours<E>(ex, job, [&](auto& d, db_result& r) {
    auto secret = set_job_password<E>(ex, d, job, r);
    if (!secret)
      return;
    r.done.emplace_back("rotated the password of " + E::name(d));
    r.login = to_login(E::login(ex, d, job.password, job.login_database, &*secret, job.verify));
  });
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

} // namespace

db_result failed(msg::db_error e) {
  db_result r;
  r.failure = std::move(e);
  return r;
}

// --- db_connection --------------------------------------------------------------------------

namespace {

// The engine's executor for `target`, made on first use and wired to `cutter`: nullopt when it
// exists, else the error of making it.
std::optional<msg::db_error> ensure_executor(any_executor& ex, const msg::db_target& target,
                                             const std::shared_ptr<socket_cutter>& cutter) {
  if (!std::holds_alternative<std::monostate>(ex))
    return std::nullopt;
  auto make = [&](auto made) -> std::optional<msg::db_error> {
    if (!made)
      return to_db_error(made.error());
    ex = std::move(*made);
    return std::nullopt;
  };
  if (target.engine == msg::db_engine::mysql)
    return make(mysql::executor::create(target.my, cutter));
  return make(pg::executor::create(target.pg, cutter));
}

} // namespace

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

} // namespace dbuser::actors::pooling
