// Step 3 of user_supervisor.hpp's flow: deletion. The role dropped per spec.deletionPolicy, the
// Secrets deleted if ours, then the finalizer removed.

#include "actors/supervisor_internal.hpp"
#include "messages/db.hpp"
#include "messages/secrets.hpp"

#include <algorithm>
#include <caf/all.hpp>
#include <spdlog/spdlog.h>

namespace dbuser::actors::supervision {

// --- 3: deletion ----------------------------------------------------------------------------

void remove_finalizer(supervisor* self) {
  auto& rc = *self->state.rc;
  const auto& f = rc.meta.finalizers;
  auto i = std::find(f.begin(), f.end(), api::finalizer);
  if (i == f.end()) {
    done_running(self);
    return;
  }
  const std::string path = "/metadata/finalizers/" + std::to_string(i - f.begin());
  json patch = json::array({{{"op", "test"}, {"path", path}, {"value", api::finalizer}},
                            {{"op", "remove"}, {"path", path}}});
  ctx(self).kube->patch(user_ref(self), k8s::patch_type::json, patch,
                        then<json>(self, [self](expected<json, k8s::error> r) {
                          if (!r && r.error().code != k8s::error::kind::not_found) {
                            finish(self, from_k8s(r.error(), "while removing the finalizer"));
                            return;
                          }
                          spdlog::info("{}: finalized", self->state.key);
                          report(self, "Deleted", milliseconds(0), false, 0, false);
                          done_running(self); // the delete event ends this supervisor
                        }));
}

// Deletes Secrets names[i...] (each only if ours), then removes the finalizer.
void erase_then_finalize(supervisor* self, std::vector<std::string> names, std::size_t i) {
  if (i == names.size()) {
    remove_finalizer(self);
    return;
  }
  const std::string name = names[i];
  erase_secret(self, name, [self, names = std::move(names), i](msg::secret_outcome& o) {
    if (o.status == msg::secret_status::failed) {
      finish(self, o.transient ? retry(api::reason::deleting, o.message)
                               : refused(api::reason::deleting, o.message));
      return;
    }
    erase_then_finalize(self, names, i + 1);
  });
}

// Deletes the Secret of a rename not finished yet, then the current one, then the finalizer.
void delete_secret(supervisor* self) {
  auto& rc = *self->state.rc;
  if (!rc.spec_valid || rc.spec.secret_name.empty()) {
    remove_finalizer(self);
    return;
  }
  std::vector<std::string> names = {rc.spec.secret_name};
  if (!rc.previous_secret.empty())
    names.insert(names.begin(), rc.previous_secret);
  erase_then_finalize(self, std::move(names), 0);
}

void step_delete(supervisor* self) {
  auto& rc = *self->state.rc;
  report(self, "Deleting");
  if (!rc.spec_valid || rc.spec.deletion == api::deletion_policy::retain) {
    delete_secret(self);
    return;
  }
  if (!rc.refusal_by_policy.empty()) {
    // As with a missing admin Secret: the finalizer stays, and the message says how to let go.
    finish(self, refused(api::reason::target_not_allowed,
                         rc.refusal_by_policy + "; the role cannot be dropped without connecting: "
                         "allow the target, or set spec.deletionPolicy: Retain to leave the role"));
    return;
  }
  step_admin(self, [self] {
    with_pool(self, [self] {
      auto& r = *self->state.rc;
      msg::db_job job;
      job.kind = msg::db_job_kind::remove;
      describe_account(r, job);
      // Every role of the user goes, whatever the strategy and the state of a rotation.
      job.desired.logins.clear();
      if (r.spec.eng == api::engine::postgres)
        for (const auto& l : api::login_roles(r.spec.username))
          job.desired.logins.push_back(pg::login_role{l, pg::login_mode::disabled});
      self->request(r.pool, caf::infinite, msg::job_atom::value, std::move(job))
        .then(
          [self](msg::db_result& res) {
            if (res.failure) {
              // Deletion waits on this: the condition says why, and how to let it go.
              auto o = from_db(self, *res.failure);
              if (o.reason != api::reason::insufficient_privilege)
                o.reason = api::reason::deleting;
              o.message = "cannot drop role " + self->state.rc->spec.username + ": " + o.message;
              finish(self, o);
              return;
            }
            auto& r2 = *self->state.rc;
            if (res.claim == msg::role_claim::ours)
              event(self, "Normal", "RoleDropped",
                    res.done.empty() ? "dropped role " + r2.spec.username : summary(res.done));
            else if (res.claim != msg::role_claim::absent)
              event(self, "Warning", api::reason::role_conflict,
                    claim_message(res, r2.spec.username) + "; not dropping it");
            delete_secret(self);
          },
          [self](caf::error& err) {
            finish(self, retry(api::reason::deleting,
                               "database pool: " + self->system().render(err)));
          });
    });
  });
}

} // namespace dbuser::actors::supervision
