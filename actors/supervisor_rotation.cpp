// The rotation protocol of api/rotation.hpp, as the supervisor runs it: steps 2-4 in
// rotate_if_due(), step 5 (recovery) in resume_rotation().

#include "actors/supervisor_internal.hpp"

#include "pg/password.hpp"

#include <spdlog/spdlog.h>

namespace dbuser::actors::supervision {

namespace {

// Step 3: ALTER ROLE to the pending password (if the role is ours), then log in with it.
// `next(applied)` runs on success; applied is false when there is no role (yet) to rotate.
void apply_pending(supervisor* self, std::function<void(bool applied)> next) {
  auto& rc = *self->state.rc;
  msg::db_job job;
  job.kind = msg::db_job_kind::rotate;
  describe_account(rc, job);
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

// Step 4: the pending password becomes the password.
void promote(supervisor* self, std::function<void()> next) {
  auto& rc = *self->state.rc;
  rc.creds.password = *rc.creds.pending;
  rc.creds.pending.reset();
  rc.creds.rotated_for = rc.meta.annotation(api::rotate_annotation);
  rc.creds.updated_at = now_text(self);
  rc.password_updated_at = rc.creds.updated_at;
  write_secret(self, [self, next](bool) {
    auto& r = *self->state.rc;
    r.changes.push_back("rotated the password of role " + r.spec.username);
    event(self, "Normal", "PasswordRotated",
          "rotated the password of role " + r.spec.username + "; Secret " + r.spec.secret_name
            + " holds the new one");
    if (ctx(self).on_rotation)
      ctx(self).on_rotation();
    spdlog::info("{}: password rotated", self->state.key);
    next();
  });
}

} // namespace

void resume_rotation(supervisor* self, std::function<void()> next) {
  spdlog::info("{}: finishing an interrupted password rotation", self->state.key);
  apply_pending(self, [self, next](bool) { promote(self, next); });
}

void rotate_if_due(supervisor* self, outcome success_outcome) {
  auto& rc = *self->state.rc;
  auto due = api::rotation_is_due(rc.spec, rc.meta.annotation(api::rotate_annotation),
                                  api::rotation_state{std::nullopt, rc.creds.rotated_for,
                                                      api::parse_rfc3339(rc.creds.updated_at)},
                                  ctx(self).now());
  if (due == api::rotation_due::no || rc.new_password) {
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
               due == api::rotation_due::requested ? "requested by annotation" : "interval");
  rc.creds.pending = std::move(*next_password);
  write_secret(self, [self, success_outcome](bool) {
    apply_pending(self, [self, success_outcome](bool) {
      promote(self, [self, success_outcome] { finish(self, success_outcome); });
    });
  });
}

} // namespace dbuser::actors::supervision
