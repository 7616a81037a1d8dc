#include "pg/groups.hpp"

#include "common/text.hpp"

#include <algorithm>

#include <openssl/evp.h>

namespace dbuser::pg {

namespace {

constexpr std::size_t hash_hex = 10;
constexpr std::size_t max_name = 63;

std::string sha256_hex(const std::string& text, std::size_t digits) {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  if (EVP_Digest(text.data(), text.size(), md, &len, EVP_sha256(), nullptr) != 1)
    len = 0; // cannot happen with SHA-256; the name stays deterministic (no hash part)
  static const char* hex = "0123456789abcdef";
  std::string out;
  for (unsigned int i = 0; i < len && out.size() < digits; ++i) {
    out += hex[md[i] >> 4U];
    out += hex[md[i] & 0xFU];
  }
  return out.substr(0, digits);
}

// A short form of a privilege set for the readable part of a name.
std::string letters(privilege_set p) {
  if (p.empty())
    return "none";
  if (p == privilege_set::all())
    return "all";
  std::string out;
  for (auto v : p.to_vector())
    switch (v) {
      case privilege::select: out += 's'; break;
      case privilege::insert: out += 'i'; break;
      case privilege::update: out += 'u'; break;
      case privilege::delete_: out += 'd'; break;
      case privilege::truncate: out += 't'; break;
      case privilege::references: out += 'f'; break;
      case privilege::trigger: out += 'g'; break;
    }
  return out;
}

std::string readable(std::string_view text) {
  std::string out;
  for (char c : text) {
    if (c >= 'A' && c <= 'Z')
      c = static_cast<char>(c - 'A' + 'a');
    out += (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ? c : '_';
  }
  return out;
}

} // namespace

privilege_group group_for(grant_scope scope, std::string_view admin_user) {
  auto creators = scope.default_creators;
  std::sort(creators.begin(), creators.end());
  creators.erase(std::unique(creators.begin(), creators.end()), creators.end());
  if (creators.empty())
    creators.emplace_back(admin_user);
  // The creators are part of the key only when they are not the admin alone: a group's name then
  // stays the same when the admin's name changes (its default privileges follow the new admin).
  const bool admin_only = creators.size() == 1 && creators.front() == admin_user;
  const std::string privileges = scope.privileges.empty() ? "none" : scope.privileges.to_string();
  std::string marker = std::string(group_marker_prefix) + "database=" + scope.database
                       + ";schema=" + scope.schema + ";privileges=" + privileges;
  // Sequence privileges are part of the key only when they are not the ones the table
  // privileges need: groups made before sequences were granted keep their names.
  const auto sequences = scope.sequences();
  if (sequences != sequences_for(scope.privileges))
    marker += ";sequences=" + (sequences.empty() ? std::string("none") : sequences.to_string());
  else
    scope.sequence_privileges.reset();
  // Likewise CREATE on the schema and EXECUTE on routines: in the key when granted.
  if (scope.schema_privileges.contains(schema_privilege::create))
    marker += ";schema-privileges=CREATE";
  if (!scope.function_privileges.empty())
    marker += ";functions=" + scope.function_privileges.to_string();
  if (!admin_only)
    marker += ";creators=" + join(creators, ",");
  const std::string hash = sha256_hex(marker, hash_hex);
  std::string middle = readable(scope.database) + "_" + readable(scope.schema) + "_"
                       + letters(scope.privileges) + (admin_only ? "" : "_c");
  const std::size_t room = max_name - group_name_prefix.size() - 1 - hash.size();
  if (middle.size() > room)
    middle.resize(room);
  privilege_group g;
  g.name = std::string(group_name_prefix) + middle + "-" + hash;
  g.marker = std::move(marker);
  scope.default_creators = std::move(creators);
  g.scope = std::move(scope);
  return g;
}

std::vector<privilege_group> privilege_groups(const desired_role& desired,
                                              std::string_view admin_user) {
  std::vector<grant_scope> merged;
  for (const auto& g : desired.grants) {
    auto s = std::find_if(merged.begin(), merged.end(), [&](const grant_scope& e) {
      return e.database == g.database && e.schema == g.schema;
    });
    auto creators = g.default_creators;
    if (creators.empty())
      creators.emplace_back(admin_user);
    if (s == merged.end()) {
      merged.push_back(g);
      merged.back().default_creators = std::move(creators);
      continue;
    }
    if (s->sequence_privileges || g.sequence_privileges)
      s->sequence_privileges = s->sequences().unite(g.sequences());
    s->privileges = s->privileges.unite(g.privileges);
    s->schema_privileges = s->schema_privileges.unite(g.schema_privileges);
    s->function_privileges = s->function_privileges.unite(g.function_privileges);
    s->create_database = s->create_database || g.create_database;
    s->default_creators.insert(s->default_creators.end(), creators.begin(), creators.end());
  }
  std::vector<privilege_group> out;
  out.reserve(merged.size());
  for (auto& s : merged)
    out.push_back(group_for(std::move(s), admin_user));
  return out;
}

desired_role group_role(const privilege_group& g) {
  desired_role d;
  d.name = g.name;
  d.marker = g.marker;
  d.login = login_mode::disabled;
  d.use_groups = false;
  d.grants.push_back(g.scope);
  return d;
}

bool is_group_name(std::string_view role) {
  return role.substr(0, group_name_prefix.size()) == group_name_prefix;
}

std::optional<std::string> group_database(std::string_view comment) {
  const std::string_view key = "database=";
  if (comment.substr(0, group_marker_prefix.size()) != group_marker_prefix)
    return std::nullopt;
  comment.remove_prefix(group_marker_prefix.size());
  if (comment.substr(0, key.size()) != key)
    return std::nullopt;
  comment.remove_prefix(key.size());
  const auto end = comment.find(';');
  if (end == std::string_view::npos || end == 0)
    return std::nullopt;
  return std::string(comment.substr(0, end));
}

} // namespace dbuser::pg
