// The rotation protocol of api/rotation.hpp, as the supervisor runs it: steps 2-4 in
// rotate_if_due(), step 5 (recovery) in resume_rotation().

#include "actors/supervisor_internal.hpp"

#include "pg/password.hpp"

#include <spdlog/spdlog.h>

namespace dbuser::actors::supervision {

namespace {

// Step 3: the pending password becomes the password of the rotation's target role (if the user's
// roles are ours), then it logs in. InPlace, with the owner logging in: ALTER ROLE (a rotate
// job). Otherwise (Alternating, a strategy switch) a converge with the target active and its
// password set, the role rotated away from and the previous credentials kept as they are.
// `next(applied)` runs on success; applied is false when there is no role (yet) to rotate.
void apply_pending(supervisor* self, const std::string& target,
                   std::function<void(bool applied)> next) {
  auto& rc = *self->state.rc;
  msg::db_job job;
  const std::string& active = rc.creds.login(rc.spec);
  if (rc.spec.eng == api::engine::postgres && (target != active || !rc.creds.previous.empty())) {
    job.kind = msg::db_job_kind::converge;
    auto keep = kept_logins(self);
    keep.push_back(active);
    describe_account(rc, job, target, keep);
    job.desired.set_password = true;
    job.force_login_check = true;
  } else {
    job.kind = msg::db_job_kind::rotate;
    describe_account(rc, job);
  }
  job.password = *rc.creds.pending;
  job.login_database = rc.spec.database;
  self->request(rc.pool, caf::infinite, msg::job_atom::value, std::move(job))
    .then(
      [self, next](msg::db_result& r) {
        auto& rc2 = *self->state.rc;
        if (r.claim == msg::role_claim::unmanaged || r.claim == msg::role_claim::other_owner) {
          finish(self, refused(api::reason::role_conflict,
                               "role " + rc2.spec.username
                                 + " is not managed by this PostgresUser; not rotating it"));
          return;
        }
        if (r.failure) {
          auto o = from_db(self, *r.failure);
          o.message = "rotating the password: " + o.message;
          finish(self, o);
          return;
        }
        if (r.login && !r.login->ok) {
          finish(self, retry(api::reason::login_failed,
                             "the rotated password does not log in: " + r.login->message));
          return;
        }
        next(r.claim == msg::role_claim::ours);
      },
      [self](caf::error& err) {
        finish(self, retry(api::reason::database_unreachable,
                           "database pool: " + self->system().render(err)));
      });
}

// Step 4: the pending password (of `target`) becomes the credentials, in one Secret write; the
// role rotated away from, when it changes, is the previous credentials until the overlap ends.
void promote(supervisor* self, const std::string& target, std::function<void()> next) {
  auto& rc = *self->state.rc;
  const std::string from = rc.creds.login(rc.spec);
  std::string kept;
  if (from != target) {
    rc.creds.previous = from;
    rc.creds.previous_until = api::rfc3339(ctx(self).now() + rc.spec.overlap);
    kept = "; " + from + " keeps logging in until " + rc.creds.previous_until;
  }
  rc.creds.username = rc.spec.eng == api::engine::postgres ? target : std::string();
  rc.creds.password = *rc.creds.pending;
  rc.creds.pending.reset();
  rc.creds.rotated_for = rc.meta.annotation(api::rotate_annotation);
  rc.creds.updated_at = now_text(self);
  rc.password_updated_at = rc.creds.updated_at;
  write_secret(self, [self, next, target, kept](bool) {
    auto& r = *self->state.rc;
    const bool alternate = target != r.spec.username;
    r.changes.push_back("rotated the password of role " + target);
    event(self, "Normal", "PasswordRotated",
          "rotated the password of role " + target + "; Secret " + r.spec.secret_name
            + " holds the new one" + (alternate ? " (username " + target + ")" : "") + kept);
    if (ctx(self).on_rotation)
      ctx(self).on_rotation();
    spdlog::info("{}: password rotated (role {})", self->state.key, target);
    next();
  });
}

} // namespace

void resume_rotation(supervisor* self, std::function<void()> next) {
  spdlog::info("{}: finishing an interrupted password rotation", self->state.key);
  auto& rc = *self->state.rc;
  const auto target = api::rotation_target(rc.spec, rc.creds.login(rc.spec));
  apply_pending(self, target, [self, next, target](bool) { promote(self, target, next); });
}

void rotate_if_due(supervisor* self, outcome success_outcome) {
  auto& rc = *self->state.rc;
  auto due = api::rotation_is_due(rc.spec, rc.meta.annotation(api::rotate_annotation),
                                  api::rotation_state{std::nullopt, rc.creds.rotated_for,
                                                      api::parse_rfc3339(rc.creds.updated_at),
                                                      {}, {}, {}},
                                  ctx(self).now());
  const auto& active = rc.creds.login(rc.spec);
  const bool switching = api::strategy_switch_due(rc.spec, active);
  if ((due == api::rotation_due::no && !switching) || rc.new_password) {
    finish(self, std::move(success_outcome));
    return;
  }
  const auto target = api::rotation_target(rc.spec, active);
  // A rotation to another role while the previous credentials still log in would cut their
  // overlap short (there are two login roles): it waits for the end (finish() wakes then).
  if (target != active && !kept_logins(self).empty()) {
    success_outcome.message += "; a password rotation waits until " + rc.creds.previous_until
                               + ", when the overlap of the previous credentials (role "
                               + rc.creds.previous + ") ends";
    finish(self, std::move(success_outcome));
    return;
  }
  // Step 2: record the next password before anything uses it.
  auto next_password = pg::generate_password(rc.policy);
  if (!next_password) {
    finish(self, retry(api::reason::database_error, next_password.error().to_string()));
    return;
  }
  spdlog::info("{}: rotating the password ({})", self->state.key,
               switching ? "strategy changed"
                         : (due == api::rotation_due::requested ? "requested by annotation"
                                                                 : "interval"));
  rc.creds.pending = std::move(*next_password);
  write_secret(self, [self, success_outcome, target](bool) {
    apply_pending(self, target, [self, success_outcome, target](bool) {
      promote(self, target, [self, success_outcome] { finish(self, success_outcome); });
    });
  });
}

} // namespace dbuser::actors::supervision
