// The claim in user_supervisor.hpp's flow (step 1b; the protocol is in api/claim.hpp): which
// install may write to a user resource. A supervisor claims the resource before its first write
// (with the finalizer, in one patch that tests the resourceVersion), and leaves alone what
// another install claimed or what this install released.

#include "actors/supervisor_internal.hpp"

#include <random>
#include <spdlog/spdlog.h>

namespace dbuser::actors::supervision {

namespace {

const std::string& install_id(supervisor* self) {
  return ctx(self).settings.install_id;
}

// The claim patch failed: nothing else is written (no status, no Event: the resource may be
// another install's by now). 422 (a `test` failed: the object changed since it was read, most
// often because another install claimed it first) and 409 are a race: read it again soon. Gone:
// the delete event ends the supervisor.
void claim_failed(supervisor* self, const k8s::error& e) {
  auto& st = self->state;
  if (e.code == k8s::error::kind::not_found) {
    done_running(self);
    return;
  }
  const bool raced = e.code == k8s::error::kind::invalid || e.code == k8s::error::kind::conflict;
  ++st.attempts;
  std::uniform_real_distribution<double> draw(0.0, 1.0);
  auto policy = ctx(self).settings.backoff;
  policy.max = std::min(policy.max, permission_retry_max);
  const auto next = backoff_delay(policy, st.attempts, draw(st.rng));
  spdlog::log(raced ? spdlog::level::debug : spdlog::level::warn,
              "{}: could not claim it for install {} ({}); reading it again in {} ms", st.key,
              install_id(self), e.to_string(), next.count());
  st.settled.reset();
  st.last_result = "retry";
  st.last_error = "claim: " + e.to_string();
  schedule(self, next);
  report(self, "Backoff", next);
  done_running(self);
}

} // namespace

void ensure_claim(supervisor* self, bool with_finalizer, std::function<void()> next) {
  auto& rc = *self->state.rc;
  auto patch = api::claim_patch(rc.object, install_id(self), with_finalizer);
  if (!patch) {
    next();
    return;
  }
  const bool was_ours =
    api::claim_of(rc.meta, install_id(self)).state == api::claim_state::ours;
  ctx(self).kube->patch(
    user_ref(self), k8s::patch_type::json, *patch,
    then<json>(self, [self, was_ours, next = std::move(next)](expected<json, k8s::error> r) {
      if (!r) {
        claim_failed(self, r.error());
        return;
      }
      auto& st = self->state;
      auto& r2 = *st.rc;
      r2.object = std::move(*r);
      r2.meta = api::parse_meta(r2.object);
      if (!was_ours)
        spdlog::info("{}: claimed by this install ({})", st.key, install_id(self));
      st.left_to.clear();
      st.announced = "ours";
      next();
    }));
}

void leave_alone(supervisor* self, const api::claim& claim) {
  auto& st = self->state;
  auto& rc = *st.rc;
  const bool released = claim.state == api::claim_state::released_here;
  const std::string note = (released ? "released:" : "claimed:") + claim.holder;
  if (st.announced != note) {
    if (released)
      spdlog::info("{}: released by this install ({}): left alone (no write of any kind) until "
                   "another install claims it, or its annotation {} is removed",
                   st.key, install_id(self), api::released_by_annotation);
    else
      spdlog::info("{}: claimed by install {}; this install ({}) leaves it alone (no status, "
                   "Event, finalizer or Secret is written)",
                   st.key, claim.holder, install_id(self));
    st.announced = note;
  }
  st.left_to = claim.holder;
  st.attempts = 0;
  st.last_error.clear();
  st.last_result.clear();
  // No timer: a change of the resource (its claim among it) wakes the supervisor, and an
  // unchanged one starts nothing (step 0).
  ++st.epoch;
  st.settled_secret = rc.meta.ns + "/" + rc.spec.secret_name;
  st.settled = state_hash(rc.object, ctx(self).secrets->get(st.settled_secret),
                          rc.refusal_by_policy);
  report(self, released ? "Released" : "ClaimedElsewhere");
  done_running(self);
}

} // namespace dbuser::actors::supervision
