#include "api/rotation.hpp"

#include "api/credentials.hpp"
#include "api/status.hpp"

#include <algorithm>

namespace dbuser::api {

using nlohmann::json;

rotation_state rotation_state_of(const json& secret) {
  rotation_state s;
  if (auto p = secret_value(secret, key_pending_password); p && !p->empty())
    s.pending = p;
  const auto annotations = secret.value("/metadata/annotations"_json_pointer, json::object());
  s.rotated_for = annotations.value(rotated_for_annotation, "");
  s.updated_at = parse_rfc3339(annotations.value(password_updated_annotation, ""));
  s.username = secret_value(secret, key_username).value_or("");
  s.previous = annotations.value(previous_username_annotation, "");
  s.previous_until = annotations.value(previous_valid_until_annotation, "");
  if (s.previous.empty() || s.previous_until.empty())
    s.previous.clear(), s.previous_until.clear();
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

std::array<std::string, 2> login_roles(const std::string& owner) {
  return {owner + "-a", owner + "-b"};
}

std::string rotation_target(const user_spec& spec, const std::string& active) {
  if (spec.strategy == rotation_strategy::in_place)
    return spec.username;
  const auto logins = login_roles(spec.username);
  return active == logins[0] ? logins[1] : logins[0];
}

bool strategy_switch_due(const user_spec& spec, const std::string& active) {
  if (spec.eng != engine::postgres || active.empty())
    return false;
  const bool on_owner = active == spec.username;
  return spec.strategy == rotation_strategy::alternating ? on_owner : !on_owner;
}

bool previous_valid(const std::string& previous, const std::string& until,
                    std::chrono::system_clock::time_point now) {
  if (previous.empty())
    return false;
  auto end = parse_rfc3339(until);
  return end && now < *end;
}

void assign_logins(const user_spec& spec, const std::string& active,
                   const std::vector<std::string>& keep, pg::desired_role& d) {
  auto mode = [&](const std::string& role) {
    if (role == active)
      return pg::login_mode::active;
    if (std::find(keep.begin(), keep.end(), role) != keep.end())
      return pg::login_mode::keep;
    return pg::login_mode::disabled;
  };
  d.login = mode(spec.username);
  d.logins.clear();
  const bool in_place_only = spec.strategy == rotation_strategy::in_place
                             && d.login == pg::login_mode::active
                             && std::all_of(keep.begin(), keep.end(),
                                            [&](const auto& k) { return k == spec.username; });
  if (in_place_only)
    return;
  for (const auto& l : login_roles(spec.username))
    d.logins.push_back(pg::login_role{l, mode(l)});
}

} // namespace dbuser::api
