// Step 3 of user_supervisor.hpp's flow: deletion. The role dropped per spec.deletionPolicy, the
// Secrets deleted if ours, then the finalizer removed.

#include "actors/supervisor_internal.hpp"
#include "messages/db.hpp"
#include "messages/secrets.hpp"

#include <algorithm>
#include <functional>
#include <caf/all.hpp>
#include <spdlog/spdlog.h>

namespace dbuser::actors::supervision {

void delete_as_asked(supervisor* self);

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

std::string retain_command(supervisor* self) {
  const auto& m = self->state.rc->meta;
  return "kubectl patch " + ctx(self).resource.plural + " " + m.name + " -n " + m.ns
         + " --type merge -p '{\"spec\":{\"deletionPolicy\":\"Retain\"}}'";
}

// The name of the CRD of the resource this supervisor serves.
std::string crd_name(const operator_context& c) { return c.resource.plural + "." + c.resource.group; }

// An uninstall (the CRD is being deleted, and every resource with it): nothing is dropped. The
// credentials Secret is released rather than deleted: its ownerReference to the resource goes
// (garbage collection would delete it with its owner) and an annotation names the resource, so
// that a reinstalled resource of the same name adopts it (api::released_to) and the applications'
// credentials keep working. Then the finalizer goes.
void release_on_uninstall(supervisor* self) {
  auto& rc = *self->state.rc;
  const std::string role = rc.spec_valid ? rc.spec.username : std::string("(invalid spec)");
  spdlog::warn("{}: the {} CRD is being deleted (an uninstall): letting the resource go without "
               "touching the database; role {} and its grants are kept",
               self->state.key, ctx(self).resource.plural, role);
  event(self, "Warning", api::reason::released_on_uninstall,
        "the CRD " + crd_name(ctx(self)) + " is being deleted: role " + role
          + " is kept with its password and grants, the credentials Secret is kept without its "
            "owner; applying this resource again adopts both");
  const auto secret = rc.spec_valid && !rc.spec.secret_name.empty()
                        ? ctx(self).secrets->get(rc.meta.ns + "/" + rc.spec.secret_name)
                        : std::nullopt;
  const auto patch = secret ? api::release_patch(*secret, rc.meta) : std::nullopt;
  if (!patch) {
    remove_finalizer(self);
    return;
  }
  ctx(self).kube->patch(k8s::object_ref{k8s::resource::secrets(), rc.meta.ns, rc.spec.secret_name,
                                        ""},
                        k8s::patch_type::json, *patch,
                        then<json>(self, [self](expected<json, k8s::error> r) {
                          // Gone, or no longer ours (the test op failed): nothing to release.
                          if (!r && r.error().code != k8s::error::kind::not_found
                              && r.error().code != k8s::error::kind::invalid) {
                            finish(self, from_k8s(r.error(), "while releasing the Secret"));
                            return;
                          }
                          remove_finalizer(self);
                        }));
}

// Deleting is intent only when a person deleted the resource: asks the API server whether the
// CRD itself is being deleted first (one get, by name, after the resource's own deletion was
// seen: a cascade sets the CRD's deletionTimestamp before it deletes any resource).
void check_uninstall(supervisor* self, std::function<void()> intent) {
  ctx(self).kube->get_metadata(
    k8s::object_ref{k8s::resource::custom_resource_definitions(), "", crd_name(ctx(self)), ""},
    then<json>(self, [self, intent = std::move(intent)](expected<json, k8s::error> r) {
      if (!r && r.error().code == k8s::error::kind::not_found) {
        release_on_uninstall(self); // the CRD is gone already: the same cascade
        return;
      }
      if (!r) {
        // Not knowing is never taken for "no uninstall": the role stays until it is known.
        auto o = from_k8s(r.error(), "while reading the CRD " + crd_name(ctx(self))
                                       + " (whether it is being deleted: an uninstall never "
                                         "drops a role)");
        o.reason = api::reason::deleting;
        finish(self, o);
        return;
      }
      if (r->contains("/metadata/deletionTimestamp"_json_pointer))
        release_on_uninstall(self);
      else
        intent();
    }));
}

void step_delete(supervisor* self) {
  report(self, "Deleting");
  check_uninstall(self, [self] { delete_as_asked(self); });
}

void delete_as_asked(supervisor* self) {
  auto& rc = *self->state.rc;
  if (!rc.spec_valid || rc.spec.deletion == api::deletion_policy::retain) {
    delete_secret(self);
    return;
  }
  if (!rc.refusal_by_policy.empty()) {
    // As with a missing admin Secret: the finalizer stays, and the message says how to let go.
    finish(self, refused(api::reason::target_not_allowed,
                         rc.refusal_by_policy + "; the role cannot be dropped without connecting: "
                         "allow the target, or leave the role: " + retain_command(self)));
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
      job.keep_while_members = !r.spec.credentials; // a PostgresRole in use stays
      if (r.spec.eng == api::engine::postgres && r.spec.credentials)
        for (const auto& l : api::login_roles(r.spec.username))
          job.desired.logins.push_back(pg::login_role{l, pg::login_mode::disabled});
      self->request(r.pool, caf::infinite, msg::job_atom::value, std::move(job))
        .then(
          [self](msg::db_result& res) {
            if (res.refusal) { // a PostgresRole that members still use: it waits for them
              auto& r2 = *self->state.rc;
              finish(self, retry(api::reason::role_in_use,
                                 "cannot drop role " + r2.spec.username + ": " + *res.refusal
                                   + "; remove it from their memberOf, or leave the role: "
                                   + retain_command(self)));
              return;
            }
            if (res.failure) {
              // Deletion waits on this: the condition says why, and how to let it go.
              auto o = from_db(self, *res.failure);
              if (o.reason != api::reason::insufficient_privilege)
                o.reason = api::reason::deleting;
              o.message = "cannot drop role " + self->state.rc->spec.username + ": " + o.message
                          + "; to leave the role instead: " + retain_command(self);
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
