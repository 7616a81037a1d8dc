// Steps 6-8 of user_supervisor.hpp's flow, the converge: the credentials Secret's password (6),
// the database (7) and the credentials Secret written (8), each section before its caller.

#include "actors/secret_writer.hpp"
#include "actors/supervisor_internal.hpp"
#include "api/postgres_role.hpp"
#include "messages/db.hpp"
#include "messages/secrets.hpp"

#include <caf/all.hpp>
#include <spdlog/spdlog.h>

namespace dbuser::actors::supervision {

// --- 8: the credentials Secret -----------------------------------------------------------

msg::secret_write secret_request(const reconcile_ctx& rc) {
  msg::secret_write w;
  w.ns = rc.meta.ns;
  w.name = rc.spec.secret_name;
  w.owner_uid = rc.meta.uid;
  w.owner_key = rc.meta.key();
  w.create = api::credentials_secret(rc.spec, rc.meta, rc.creds);
  w.patch = api::credentials_patch(rc.spec, rc.meta, rc.creds,
                                   rc.secret_seen ? &*rc.secret_seen : nullptr);
  return w;
}

void write_secret(supervisor* self, std::function<void(bool written)> next) {
  auto& rc = *self->state.rc;
  auto request = secret_request(rc);
  if (rc.secret_seen) {
    // Nothing to change since it was read: no request at all (the common resync case). A new
    // type goes through the writer's read (it recreates the Secret: the type is immutable).
    const bool retype = api::secret_type_differs(*rc.secret_seen, rc.spec);
    if (!retype && !patch_changes(*rc.secret_seen, request.patch)) {
      next(false);
      return;
    }
    if (!retype)
      request.seen_ours_at = rc.secret_seen->value("/metadata/resourceVersion"_json_pointer, "");
  } else if (!rc.secret_exists) {
    request.seen_absent = true;
  }
  self->request(ctx(self).secret_writer, seconds(60), msg::write_atom::value, std::move(request))
    .then(
      [self, next](msg::secret_outcome& o) {
        auto& r = *self->state.rc;
        switch (o.status) {
          case msg::secret_status::written:
          case msg::secret_status::unchanged:
            r.secret_exists = true;
            r.secret_seen = o.object.is_object() ? std::optional<json>(o.object) : std::nullopt;
            next(o.status == msg::secret_status::written);
            return;
          case msg::secret_status::foreign:
            finish(self, refused(api::reason::secret_conflict, o.message));
            return;
          default:
            finish(self, o.transient ? retry(api::reason::kubernetes_error, o.message)
                                     : refused(api::reason::kubernetes_error, o.message));
        }
      },
      [self](caf::error& err) {
        finish(self, retry(api::reason::kubernetes_error,
                           "secret writer: " + self->system().render(err)));
      });
}

// Deletes Secret `name` if (and only if) it is ours, then runs `next` with the outcome.
void erase_secret(supervisor* self, const std::string& name,
                  std::function<void(msg::secret_outcome&)> next) {
  auto request = secret_request(*self->state.rc);
  request.name = name;
  self->request(ctx(self).secret_writer, seconds(60), msg::erase_atom::value, std::move(request))
    .then([next](msg::secret_outcome& o) { next(o); },
          [self, next](caf::error& err) {
            msg::secret_outcome o;
            o.message = "secret writer: " + self->system().render(err);
            o.transient = true;
            next(o);
          });
}

// After a rename, once the new Secret holds the credentials: the old one goes if it is ours.
void remove_previous_secret(supervisor* self, std::function<void()> next) {
  auto& rc = *self->state.rc;
  if (rc.previous_secret.empty()) {
    next();
    return;
  }
  erase_secret(self, rc.previous_secret, [self, next](msg::secret_outcome& o) {
    auto& r = *self->state.rc;
    switch (o.status) {
      case msg::secret_status::deleted:
        r.changes.push_back("deleted Secret " + r.previous_secret + " (renamed to "
                            + r.spec.secret_name + ")");
        break;
      case msg::secret_status::foreign:
        event(self, "Warning", api::reason::secret_conflict,
              "Secret " + r.previous_secret
                + " (the previous spec.secretName) is not owned by this resource; left in place");
        break;
      case msg::secret_status::failed:
        // status.secretName still names it: the next reconcile tries again.
        finish(self, o.transient ? retry(api::reason::kubernetes_error, o.message)
                                 : refused(api::reason::kubernetes_error, o.message));
        return;
      default: break;
    }
    next();
  });
}

void after_secret(supervisor* self) {
  auto& r = *self->state.rc;
  if (r.connection && !r.connection->verified) {
    finish(self, retry(api::reason::login_failed,
                       "the generated credentials do not log in: " + r.connection->message));
    return;
  }
  rotate_if_due(self, success("role " + r.spec.username + " is ready; Secret "
                              + r.spec.secret_name + " holds working credentials"));
}

void step_write_secret(supervisor* self) {
  write_secret(self, [self](bool written) {
    auto& r = *self->state.rc;
    if (written)
      r.changes.push_back("wrote Secret " + r.spec.secret_name);
    r.secret_confirmed = true;
    remove_previous_secret(self, [self] { after_secret(self); });
  });
}

// --- 7: the database ------------------------------------------------------------------------

std::string claim_message(const msg::db_result& r, const std::string& role) {
  if (r.claim == msg::role_claim::unmanaged)
    return "role " + role
           + " already exists and is not managed by dbuser-operator; refusing to adopt it";
  // A PostgresRole's owner key names its kind (api::postgres_role::owner_key); a user's does not.
  const bool by_role = r.claimed_by.rfind(std::string(api::postgres_role::kind) + " ", 0) == 0;
  return "role " + role + " is owned by " + (by_role ? "" : "PostgresUser ") + r.claimed_by;
}

void on_converged(supervisor* self, msg::db_result& r) {
  auto& st = self->state;
  auto& rc = *st.rc;
  if (r.claim == msg::role_claim::unmanaged || r.claim == msg::role_claim::other_owner) {
    finish(self, refused(api::reason::role_conflict, claim_message(r, rc.spec.username)));
    return;
  }
  if (r.refusal) {
    finish(self, refused(api::reason::invalid_spec, *r.refusal));
    return;
  }
  if (r.waiting) {
    finish(self, retry(api::reason::waiting_for_role, *r.waiting));
    return;
  }
  for (auto& d : r.done)
    rc.changes.push_back(std::move(d));
  if (!rc.spec.credentials) { // a PostgresRole: no login, no Secret
    if (r.failure)
      finish(self, from_db(self, *r.failure));
    else
      finish(self, success("role " + rc.spec.username + " and its privileges are as the spec asks"));
    return;
  }
  if (r.password_set || rc.new_password)
    rc.password_updated_at = rc.creds.updated_at;
  if (r.login) {
    st.last_login_check = steady_clock::now();
    api::connection_check c;
    c.verified = r.login->ok;
    c.last_check_time = now_text(self);
    c.latency_ms = static_cast<std::int64_t>(r.login->latency_ms);
    c.server_version = r.login->server_version;
    c.method = r.login->catalog ? "catalog" : "login";
    c.message = !r.login->ok         ? r.login->message
                : r.login->catalog ? "the catalog holds the Secret's password for "
                                       + rc.creds.login(rc.spec) + ", which may log in"
                                   : "logged in as " + rc.creds.login(rc.spec);
    rc.connection = c;
  }
  if (r.failure) {
    finish(self, from_db(self, *r.failure));
    return;
  }
  if (r.password_set && !rc.new_password) // drift repaired: the role had another password
    rc.creds.updated_at = now_text(self), rc.password_updated_at = rc.creds.updated_at;
  // The previous credentials' overlap has ended: the converge disabled their role; the Secret
  // stops naming them.
  if (!rc.creds.previous.empty() && kept_logins(self).empty()) {
    const std::string role = rc.creds.previous;
    rc.creds.previous.clear();
    rc.creds.previous_until.clear();
    rc.changes.push_back("the previous credentials (role " + role + ") expired");
    event(self, "Normal", "PreviousCredentialsExpired",
          "the overlap of the previous credentials ended: role " + role
            + " no longer logs in; Secret " + rc.spec.secret_name + " holds the current ones");
  }
  step_write_secret(self);
}

// A supervisor that has not checked the login yet (the operator just started) takes the check
// its status records, when that check verified the credentials the Secret holds now (the same
// Secret version, role and spec generation; no new password, no rotation in flight): the
// periodic check comes due when it would have anyway, instead of one login per user at once
// after a restart. Anything else leaves the check due now.
void seed_login_check(supervisor* self) {
  auto& st = self->state;
  auto& rc = *st.rc;
  if (rc.new_password || rc.creds.pending || !rc.secret_seen)
    return;
  const auto version = rc.secret_seen->value("/metadata/resourceVersion"_json_pointer, "");
  const auto login = rc.spec.eng == api::engine::postgres ? rc.creds.login(rc.spec) : std::string();
  const auto at = api::verified_check_of(rc.object.value("status", json::object()),
                                         rc.meta.generation, login, version);
  if (!at)
    return;
  const auto age = duration_cast<milliseconds>(ctx(self).now() - *at);
  if (age < milliseconds(0) || age >= ctx(self).settings.login_check_period)
    return;
  st.last_login_check = steady_clock::now() - age;
}

void step_database(supervisor* self) {
  auto& st = self->state;
  auto& rc = *st.rc;
  msg::db_job job;
  job.kind = msg::db_job_kind::converge;
  describe_account(rc, job, {}, kept_logins(self));
  job.password = rc.creds.password;
  job.login_database = rc.spec.database;
  if (st.last_login_check == steady_clock::time_point{})
    seed_login_check(self);
  // The status records a failed check (Ready is False while it does, api::next_status): check
  // again now rather than at the next period.
  job.force_login_check = rc.new_password || st.last_login_check == steady_clock::time_point{}
                          || api::login_check_failed(rc.object.value("status", json::object()),
                                                     std::nullopt)
                          || steady_clock::now() - st.last_login_check
                               > ctx(self).settings.login_check_period;
  if (!rc.spec.credentials) // a PostgresRole never logs in
    job.force_login_check = false;
  self->request(rc.pool, caf::infinite, msg::job_atom::value, std::move(job))
    .then([self](msg::db_result& r) { on_converged(self, r); },
          [self](caf::error& err) {
            finish(self, retry(api::reason::database_unreachable,
                               "database pool: " + self->system().render(err)));
          });
}

// A PostgresRole (steps 5 and 7 only): its pool, then the database; no credentials.
void step_role(supervisor* self) {
  with_pool(self, [self] { step_database(self); });
}

// Resolves the pool for the target, then runs `next`.
void with_pool(supervisor* self, std::function<void()> next) {
  auto& rc = *self->state.rc;
  self->request(ctx(self).pools, seconds(30), msg::pool_atom::value, rc.target)
    .then(
      [self, next](caf::actor& pool) {
        self->state.rc->pool = std::move(pool);
        next();
      },
      [self](caf::error& err) {
        finish(self, retry(api::reason::database_unreachable,
                           "database pools: " + self->system().render(err)));
      });
}

// --- 6: the credentials Secret's password -------------------------------------------------

// A role name the Secret gives (username, previous-username) if it is one of this user's roles;
// "" otherwise (MySQL: always "", the account is spec.username).
std::string login_of(const api::user_spec& spec, const std::string& name) {
  if (spec.eng != api::engine::postgres || name.empty())
    return {};
  if (name == spec.username)
    return name;
  for (const auto& l : api::login_roles(spec.username))
    if (name == l)
      return name;
  return {};
}

// `secret`: the Secret of spec.secretName (null: absent). `carried`: when it is absent, the
// previous Secret of a rename, ours, whose credentials move to the new one.
void use_secret(supervisor* self, const json* secret, const json* carried = nullptr) {
  auto& rc = *self->state.rc;
  if (secret != nullptr && api::owner_of_secret(secret, rc.meta) == api::secret_owner::other) {
    finish(self, refused(api::reason::secret_conflict,
                         "Secret " + rc.spec.secret_name
                           + " exists and is not owned by this PostgresUser; refusing to overwrite it"));
    return;
  }
  rc.secret_exists = secret != nullptr;
  if (secret != nullptr)
    rc.secret_seen = *secret;
  std::optional<std::string> password;
  const json* source = secret != nullptr ? secret : carried;
  if (source != nullptr) {
    password = api::secret_value(*source, api::key_password);
    rc.rotation = api::rotation_state_of(*source);
    rc.creds.rotated_for = rc.rotation.rotated_for;
    rc.creds.pending = rc.rotation.pending;
    rc.creds.username = login_of(rc.spec, rc.rotation.username);
    rc.creds.previous = login_of(rc.spec, rc.rotation.previous);
    rc.creds.previous_until = rc.creds.previous.empty() ? "" : rc.rotation.previous_until;
    // Unknown age (a Secret written before this was recorded): count from now.
    rc.creds.updated_at = rc.rotation.updated_at ? api::rfc3339(*rc.rotation.updated_at)
                                                 : now_text(self);
  }
  if (password && !password->empty()) {
    rc.creds.password = *password;
  } else {
    auto generated = pg::generate_password(rc.policy);
    if (!generated) {
      finish(self, retry(api::reason::database_error, generated.error().to_string()));
      return;
    }
    rc.creds.password = std::move(*generated);
    rc.creds.pending.reset();
    rc.creds.updated_at = now_text(self);
    // A rotate annotation present when the password is first made needs no rotation.
    rc.creds.rotated_for = rc.meta.annotation(api::rotate_annotation);
    rc.creds.username = rc.spec.eng == api::engine::postgres ? api::rotation_target(rc.spec, "")
                                                              : std::string();
    rc.creds.previous.clear();
    rc.creds.previous_until.clear();
    rc.new_password = true;
  }
  with_pool(self, [self] {
    if (self->state.rc->creds.pending)
      resume_rotation(self, [self] { step_database(self); });
    else
      step_database(self);
  });
}

// Reads Secret `name` of the resource's namespace: from the informer's cache of our labelled
// Secrets, else (absent there, or someone else's) from the API server. `found` gets the Secret or
// null when it does not exist.
void get_secret(supervisor* self, const std::string& name,
                std::function<void(const json*)> found) {
  auto& rc = *self->state.rc;
  if (auto cached = ctx(self).secrets->get(rc.meta.ns + "/" + name)) {
    found(&*cached);
    return;
  }
  ctx(self).kube->get(k8s::object_ref{k8s::resource::secrets(), rc.meta.ns, name, ""},
                      then<json>(self, [self, found](expected<json, k8s::error> r) {
                        if (r)
                          found(&*r);
                        else if (r.error().code == k8s::error::kind::not_found)
                          found(nullptr);
                        else
                          finish(self, from_k8s(r.error(), "while reading a credentials Secret"));
                      }));
}

void step_credentials(supervisor* self) {
  auto& rc = *self->state.rc;
  get_secret(self, rc.spec.secret_name, [self](const json* secret) {
    auto& r = *self->state.rc;
    if (secret != nullptr || r.previous_secret.empty()) {
      use_secret(self, secret);
      return;
    }
    // Renamed and not written yet: the credentials move over from the previous Secret, if ours.
    get_secret(self, r.previous_secret, [self](const json* previous) {
      const bool ours = previous != nullptr
                        && api::owner_of_secret(previous, self->state.rc->meta)
                             == api::secret_owner::ours;
      use_secret(self, nullptr, ours ? previous : nullptr);
    });
  });
}

} // namespace dbuser::actors::supervision
