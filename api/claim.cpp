#include "api/claim.hpp"

#include <algorithm>
#include <cctype>

namespace dbuser::api {

using json = nlohmann::json;

namespace {

// JSON pointer tokens of the two annotations ('/' is written "~1").
const std::string claimed_path = "/metadata/annotations/database.example.com~1claimed-by";
const std::string released_path = "/metadata/annotations/database.example.com~1released-by";

json test_version(const json& object) {
  return {{"op", "test"},
          {"path", "/metadata/resourceVersion"},
          {"value", object.value("/metadata/resourceVersion"_json_pointer, std::string())}};
}

// Sets annotation `key` (at `path`) to `value`, creating the annotations object when missing.
void set_annotation(json& patch, const json& object, const std::string& path, const char* key,
                    const std::string& value) {
  const bool has_annotations = object.contains("/metadata/annotations"_json_pointer)
                               && object.at("/metadata/annotations"_json_pointer).is_object();
  if (has_annotations)
    patch.push_back({{"op", "add"}, {"path", path}, {"value", value}});
  else
    patch.push_back({{"op", "add"}, {"path", "/metadata/annotations"}, {"value", {{key, value}}}});
}

} // namespace

claim claim_of(const object_meta& meta, const std::string& install_id) {
  const auto holder = meta.annotation(claimed_by_annotation);
  if (!holder.empty())
    return {holder == install_id ? claim_state::ours : claim_state::elsewhere, holder};
  const auto released = meta.annotation(released_by_annotation);
  if (!released.empty() && released == install_id)
    return {claim_state::released_here, released};
  return {claim_state::free, released};
}

std::optional<json> claim_patch(const json& object, const std::string& install_id,
                                bool with_finalizer) {
  const auto meta = parse_meta(object);
  const bool claimed = meta.annotation(claimed_by_annotation) == install_id;
  const bool add_finalizer = with_finalizer && !meta.has_finalizer(finalizer);
  const bool released = !meta.annotation(released_by_annotation).empty();
  if (claimed && !add_finalizer && !released)
    return std::nullopt;
  json patch = json::array({test_version(object)});
  if (!claimed)
    set_annotation(patch, object, claimed_path, claimed_by_annotation, install_id);
  if (released)
    patch.push_back({{"op", "remove"}, {"path", released_path}});
  if (add_finalizer) {
    if (object.contains("/metadata/finalizers"_json_pointer)
        && object.at("/metadata/finalizers"_json_pointer).is_array())
      patch.push_back({{"op", "add"}, {"path", "/metadata/finalizers/-"}, {"value", finalizer}});
    else
      patch.push_back({{"op", "add"},
                       {"path", "/metadata/finalizers"},
                       {"value", json::array({finalizer})}});
  }
  return patch;
}

bool releasable(const object_meta& meta, const std::string& install_id) {
  const auto holder = meta.annotation(claimed_by_annotation);
  if (!holder.empty())
    return holder == install_id;
  return meta.has_finalizer(finalizer);
}

std::optional<json> release_patch(const json& object, const std::string& install_id) {
  const auto meta = parse_meta(object);
  if (!releasable(meta, install_id))
    return std::nullopt;
  json patch = json::array({test_version(object)});
  const auto& f = meta.finalizers;
  if (auto i = std::find(f.begin(), f.end(), finalizer); i != f.end()) {
    const std::string at = "/metadata/finalizers/" + std::to_string(i - f.begin());
    patch.push_back({{"op", "test"}, {"path", at}, {"value", finalizer}});
    patch.push_back({{"op", "remove"}, {"path", at}});
  }
  if (!meta.annotation(claimed_by_annotation).empty())
    patch.push_back({{"op", "remove"}, {"path", claimed_path}});
  set_annotation(patch, object, released_path, released_by_annotation, install_id);
  return patch;
}

std::string default_install_id(const std::string& lease_namespace, const std::string& lease_name) {
  return lease_namespace + "/" + lease_name;
}

std::string install_id_error(const std::string& id) {
  if (id.empty() || id.size() > 253)
    return "must be 1 to 253 characters";
  const auto ok = [](unsigned char c) {
    return std::isalnum(c) != 0 || c == '.' || c == '_' || c == '/' || c == '-';
  };
  if (!std::all_of(id.begin(), id.end(), [&](char c) { return ok(static_cast<unsigned char>(c)); }))
    return "may hold only letters, digits and . _ / -";
  if (std::isalnum(static_cast<unsigned char>(id.front())) == 0
      || std::isalnum(static_cast<unsigned char>(id.back())) == 0)
    return "must start and end with a letter or a digit";
  return "";
}

} // namespace dbuser::api
