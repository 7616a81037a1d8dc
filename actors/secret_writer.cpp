#include "actors/secret_writer.hpp"

#include "actors/continuation.hpp"
#include "api/credentials.hpp"

#include <caf/all.hpp>
#include <deque>
#include <map>

namespace dbuser::actors {

using nlohmann::json;
using msg::secret_outcome;
using msg::secret_status;
using msg::secret_write;

bool patch_changes(const json& object, const json& patch) {
  json merged = object;
  merged.merge_patch(patch);
  return merged != object;
}

namespace {

struct work {
  bool erase = false;
  secret_write w;
  caf::typed_response_promise<secret_outcome> promise;
  int attempts = 0;
};

struct writer_state {
  std::shared_ptr<k8s::client> kube;
  std::map<std::string, std::deque<work>> queues; // "ns/name" → work, front is in flight
  static inline const char* name = "secret_writer";
};

using writer_actor = caf::stateful_actor<writer_state>;

k8s::object_ref ref_of(const secret_write& w) {
  return k8s::object_ref{k8s::resource::secrets(), w.ns, w.name, ""};
}

bool ours(const json& secret, const std::string& uid) {
  for (const auto& r : secret.value("/metadata/ownerReferences"_json_pointer, json::array()))
    if (r.value("uid", "") == uid && r.value("controller", false))
      return true;
  return false;
}

// For a deletion, ours also means labelled as ours: the labels of the desired Secret that are the
// operator's (managed-by, and the owner label) are all there with the same values.
bool labelled_ours(const json& secret, const json& desired) {
  const auto have = secret.value("/metadata/labels"_json_pointer, json::object());
  const auto want = desired.value("/metadata/labels"_json_pointer, json::object());
  for (const auto& [k, v] : want.items())
    if ((k == api::managed_by_label || k.rfind("database.example.com/", 0) == 0)
        && (!have.contains(k) || have[k] != v))
      return false;
  return true;
}

secret_outcome failed(const k8s::error& e, const std::string& while_) {
  secret_outcome o;
  o.status = secret_status::failed;
  o.message = while_ + ": " + e.to_string();
  o.transient = e.retryable();
  return o;
}

void start(writer_actor* self, const std::string& key);

void done(writer_actor* self, const std::string& key, secret_outcome outcome) {
  auto& q = self->state.queues[key];
  q.front().promise.deliver(std::move(outcome));
  q.pop_front();
  if (q.empty())
    self->state.queues.erase(key);
  else
    start(self, key);
}

void on_read(writer_actor* self, const std::string& key, expected<json, k8s::error> got);
k8s::callback<json> after_write(writer_actor* self, const std::string& key, secret_status ok,
                                const char* what);

void start(writer_actor* self, const std::string& key) {
  auto& w = self->state.queues[key].front();
  if (++w.attempts > 6) {
    secret_outcome o;
    o.message = "gave up after repeated write conflicts";
    o.transient = true;
    done(self, key, o);
    return;
  }
  if (w.attempts == 1 && !w.erase && w.w.seen_absent) {
    self->state.kube->create(k8s::resource::secrets(), w.w.ns, w.w.create,
                             after_write(self, key, secret_status::written,
                                         "while creating the Secret"));
    return;
  }
  if (w.attempts == 1 && !w.erase && !w.w.seen_ours_at.empty()) {
    json patch = w.w.patch;
    patch["metadata"]["resourceVersion"] = w.w.seen_ours_at;
    self->state.kube->patch(ref_of(w.w), k8s::patch_type::merge, patch,
                            after_write(self, key, secret_status::written,
                                        "while patching the Secret"));
    return;
  }
  self->state.kube->get(ref_of(w.w), resume_in<json>(caf::actor_cast<caf::actor>(self),
                                                     [self, key](expected<json, k8s::error> r) {
                                                       on_read(self, key, std::move(r));
                                                     }));
}

// After a write: a conflict or AlreadyExists starts over; anything else is the answer.
k8s::callback<json> after_write(writer_actor* self, const std::string& key, secret_status ok,
                                const char* what) {
  return resume_in<json>(caf::actor_cast<caf::actor>(self),
                         [self, key, ok, what](expected<json, k8s::error> r) {
                           if (r) {
                             secret_outcome o;
                             o.status = ok;
                             o.object = std::move(*r);
                             done(self, key, std::move(o));
                           } else if (r.error().code == k8s::error::kind::conflict
                                      || r.error().code == k8s::error::kind::already_exists) {
                             start(self, key);
                           } else if (r.error().code == k8s::error::kind::not_found
                                      && ok == secret_status::deleted) {
                             done(self, key, secret_outcome{secret_status::absent, "", false, {}});
                           } else {
                             done(self, key, failed(r.error(), what));
                           }
                         });
}

void on_read(writer_actor* self, const std::string& key, expected<json, k8s::error> got) {
  auto& w = self->state.queues[key].front();
  auto& kube = *self->state.kube;
  if (!got && got.error().code != k8s::error::kind::not_found) {
    done(self, key, failed(got.error(), "while reading Secret " + key));
    return;
  }
  if (!got) { // absent
    if (w.erase) {
      done(self, key, secret_outcome{secret_status::absent, "", false, {}});
      return;
    }
    kube.create(k8s::resource::secrets(), w.w.ns, w.w.create,
                after_write(self, key, secret_status::written, "while creating the Secret"));
    return;
  }
  const json& current = *got;
  const bool adoptable = !w.erase && api::released_to(current, w.w.owner_key);
  if ((!ours(current, w.w.owner_uid) && !adoptable)
      || (w.erase && !labelled_ours(current, w.w.create))) {
    done(self, key,
         secret_outcome{secret_status::foreign,
                        "Secret " + key + " exists and is not owned by this PostgresUser", false,
                        {}});
    return;
  }
  const std::string rv = current.value("/metadata/resourceVersion"_json_pointer, "");
  const std::string uid = current.value("/metadata/uid"_json_pointer, "");
  if (w.erase) {
    k8s::delete_options opts;
    opts.uid = uid;
    opts.resource_version = rv;
    kube.remove(ref_of(w.w), opts,
                after_write(self, key, secret_status::deleted, "while deleting the Secret"));
    return;
  }
  if (current.value("type", std::string("Opaque"))
      != w.w.create.value("type", std::string("Opaque"))) {
    // The type is immutable: delete this Secret of ours, then start over (absent → create).
    k8s::delete_options opts;
    opts.uid = uid;
    opts.resource_version = rv;
    kube.remove(ref_of(w.w), opts,
                resume_in<json>(caf::actor_cast<caf::actor>(self),
                                [self, key](expected<json, k8s::error> r) {
                                  if (r || r.error().code == k8s::error::kind::not_found
                                      || r.error().code == k8s::error::kind::conflict)
                                    start(self, key);
                                  else
                                    done(self, key, failed(r.error(), "while recreating the "
                                                                      "Secret with a new type"));
                                }));
    return;
  }
  if (!patch_changes(current, w.w.patch)) {
    done(self, key, secret_outcome{secret_status::unchanged, "", false, current});
    return;
  }
  json patch = w.w.patch;
  patch["metadata"]["resourceVersion"] = rv; // optimistic concurrency: Conflict if it moved
  kube.patch(ref_of(w.w), k8s::patch_type::merge, patch,
             after_write(self, key, secret_status::written, "while patching the Secret"));
}

caf::behavior secret_writer(writer_actor* self, std::shared_ptr<k8s::client> kube) {
  self->state.kube = std::move(kube);
  auto enqueue = [self](bool erase, secret_write& w) {
    auto promise = self->make_response_promise<secret_outcome>();
    std::string key = w.ns + "/" + w.name;
    auto& q = self->state.queues[key];
    q.push_back(work{erase, std::move(w), promise, 0});
    if (q.size() == 1)
      start(self, key);
    return promise;
  };
  return {
    [=](msg::write_atom, secret_write& w) { return enqueue(false, w); },
    [=](msg::erase_atom, secret_write& w) { return enqueue(true, w); },
    [](msg::resume_atom, continuation& c) { c.run(); },
  };
}

} // namespace

caf::actor spawn_secret_writer(caf::actor_system& sys, std::shared_ptr<k8s::client> kube) {
  return sys.spawn(secret_writer, std::move(kube));
}

} // namespace dbuser::actors
