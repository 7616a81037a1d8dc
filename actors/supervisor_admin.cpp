// Step 5 of user_supervisor.hpp's flow, for the converge and the deletion alike: the admin and CA
// Secrets, read into the database target.

#include "actors/supervisor_internal.hpp"
#include "messages/db.hpp"
#include "mysql/validation.hpp"
#include "pg/validation.hpp"

#include <caf/all.hpp>

namespace dbuser::actors::supervision {

// --- 5: admin and CA Secrets ----------------------------------------------------------------

// Reads the admin or CA Secret: from the short-lived read cache, else from the API server.
void read_secret(supervisor* self, const std::string& name,
                 std::function<void(const json&)> found, const char* missing_reason) {
  auto& rc = *self->state.rc;
  const auto& cache = ctx(self).admin_secrets;
  const std::string key = rc.meta.ns + "/" + name;
  if (cache)
    if (auto hit = cache->get(key)) {
      found(*hit);
      return;
    }
  auto handler =
    then<json>(self, [self, name, found, missing_reason](expected<json, k8s::error> r) {
      if (r) {
        found(*r);
      } else if (r.error().code == k8s::error::kind::not_found) {
        const auto& rc2 = *self->state.rc;
        const auto& cache2 = ctx(self).admin_secrets;
        // A deletion whose Secret went first (a namespace being deleted takes its Secrets with
        // it): the credentials this operator read last, said in an Event.
        if (rc2.meta.deleting && cache2)
          if (auto last = cache2->last_known(rc2.meta.ns + "/" + name)) {
            event(self, "Warning", missing_reason,
                  "Secret " + rc2.meta.ns + "/" + name + " is gone; the role is dropped with what "
                    + "it held when this operator last read it (" + api::rfc3339(last->at) + ")");
            found(last->object);
            return;
          }
        // A deletion waits for it too: say how to let the resource go without it.
        finish(self, retry(missing_reason,
                           "Secret " + rc2.meta.ns + "/" + name + " not found"
                             + (rc2.meta.deleting
                                  ? "; the role cannot be dropped without it: restore it, or "
                                    "leave the role: " + retain_command(self)
                                  : std::string())));
      } else {
        finish(self, from_k8s(r.error(), "while reading Secret " + name));
      }
    });
  const k8s::object_ref ref{k8s::resource::secrets(), rc.meta.ns, name, ""};
  if (!cache) {
    ctx(self).kube->get(ref, std::move(handler));
    return;
  }
  // One GET for every reconcile that misses this Secret at the same time.
  if (cache->begin_read(key, std::move(handler)))
    ctx(self).kube->get(ref, [cache, key](expected<json, k8s::error> r) { cache->end_read(key, r); });
}

// The spec names the admin itself (as the user or a membership): refused.
std::optional<std::string> admin_conflict(const api::user_spec& spec, const std::string& admin) {
  if (spec.eng == api::engine::mysql) {
    if (auto v = mysql::validate_user_name(spec.username, admin); !v)
      return "spec.username: " + v.error().message;
    return std::nullopt;
  }
  if (auto v = pg::validate_role_name(spec.username, admin); !v)
    return "spec.username: " + v.error().message;
  for (const auto& m : spec.member_of)
    if (auto v = pg::validate_role_name(m, admin); !v)
      return "spec.memberOf: " + v.error().message;
  return std::nullopt;
}

msg::db_target target_of(const api::user_spec& spec, const std::string& user,
                         const std::string& password, seconds connect_timeout) {
  msg::db_target t;
  // What both engines' targets hold; each names its TLS mode its own way.
  auto endpoint = [&](auto& engine_target) {
    engine_target.host = spec.host;
    engine_target.port = spec.port;
    engine_target.admin_user = user;
    engine_target.admin_password = password;
    engine_target.connect_timeout = connect_timeout;
  };
  if (spec.eng == api::engine::mysql) {
    t.engine = msg::db_engine::mysql;
    endpoint(t.my);
    t.my.tls_mode = spec.ssl_mode;
  } else {
    endpoint(t.pg);
    t.pg.ssl_mode = spec.ssl_mode;
  }
  return t;
}

void step_admin(supervisor* self, std::function<void()> next) {
  auto& rc = *self->state.rc;
  read_secret(
    self, rc.spec.admin.name,
    [self, next](const json& secret) {
      auto& r = *self->state.rc;
      auto user = api::secret_value(secret, r.spec.admin.username_key);
      auto password = api::secret_value(secret, r.spec.admin.password_key);
      if (!user || user->empty() || !password || password->empty()) {
        finish(self, retry(api::reason::admin_secret_invalid,
                           "Secret " + r.spec.admin.name + " lacks the keys "
                             + r.spec.admin.username_key + " and " + r.spec.admin.password_key));
        return;
      }
      if (auto why = admin_conflict(r.spec, *user)) {
        finish(self, refused(api::reason::invalid_spec, *why));
        return;
      }
      r.target = target_of(r.spec, *user, *password, ctx(self).settings.connect_timeout);
      if (!r.spec.ca_secret_ref) {
        next();
        return;
      }
      read_secret(
        self, r.spec.ca_secret_ref->name,
        [self, next](const json& ca) {
          auto& r2 = *self->state.rc;
          auto pem = api::secret_value(ca, r2.spec.ca_secret_ref->key);
          if (!pem || pem->empty()) {
            finish(self, retry(api::reason::ca_secret_not_found,
                               "Secret " + r2.spec.ca_secret_ref->name + " has no key "
                                 + r2.spec.ca_secret_ref->key));
            return;
          }
          r2.target.pg.ca_pem = *pem;
          r2.target.my.ca_pem = *pem;
          next();
        },
        api::reason::ca_secret_not_found);
    },
    api::reason::admin_secret_not_found);
}

} // namespace dbuser::actors::supervision
