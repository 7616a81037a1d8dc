#include "api/rotation.hpp"

#include "api/credentials.hpp"
#include "api/status.hpp"

namespace dbuser::api {

using nlohmann::json;

rotation_state rotation_state_of(const json& secret) {
  rotation_state s;
  if (auto p = secret_value(secret, key_pending_password); p && !p->empty())
    s.pending = p;
  const auto annotations = secret.value("/metadata/annotations"_json_pointer, json::object());
  s.rotated_for = annotations.value(rotated_for_annotation, "");
  s.updated_at = parse_rfc3339(annotations.value(password_updated_annotation, ""));
  return s;
}

rotation_due rotation_is_due(const user_spec& spec, const std::string& annotation,
                             const rotation_state& state,
                             std::chrono::system_clock::time_point now) {
  if (!annotation.empty() && annotation != state.rotated_for)
    return rotation_due::requested;
  auto next = next_rotation(spec, state);
  if (next && now >= *next)
    return rotation_due::interval;
  return rotation_due::no;
}

std::optional<std::chrono::system_clock::time_point> next_rotation(const user_spec& spec,
                                                                   const rotation_state& state) {
  if (!spec.rotation_interval)
    return std::nullopt;
  if (!state.updated_at) // unknown age: rotate now, which records it
    return std::chrono::system_clock::time_point{};
  return *state.updated_at + *spec.rotation_interval;
}

} // namespace dbuser::api
