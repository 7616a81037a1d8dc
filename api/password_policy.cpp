#include "api/password_policy.hpp"

#include <algorithm>
#include <array>
#include <nlohmann/json.hpp>

namespace dbuser::api {

using json = nlohmann::json;

namespace {

constexpr std::array<const char*, 4> class_names = {"lowercase", "uppercase", "digits",
                                                    "symbols"};

} // namespace

expected<password_policy_spec, std::string> parse_password_policy(const json& policy,
                                                                  const std::string& path) {
  if (!policy.is_object())
    return make_unexpected(path + " must be an object");
  password_policy_spec s;
  auto count = [&](const char* field,
                   std::optional<std::size_t>& out) -> std::optional<std::string> {
    auto i = policy.find(field);
    if (i == policy.end() || i->is_null())
      return std::nullopt;
    if (!i->is_number_integer() || i->get<std::int64_t>() < 0 || i->get<std::int64_t>() > 1000)
      return path + "." + field + " must be an integer between 0 and 1000";
    out = static_cast<std::size_t>(i->get<std::int64_t>());
    return std::nullopt;
  };
  using count_field = std::pair<const char*, std::optional<std::size_t>*>;
  for (auto [field, out] : {count_field{"length", &s.length},
                            {"lowercase", &s.lowercase},
                            {"uppercase", &s.uppercase},
                            {"digits", &s.digits},
                            {"symbols", &s.symbols}})
    if (auto err = count(field, *out))
      return make_unexpected(*err);
  if (auto i = policy.find("classes"); i != policy.end() && !i->is_null()) {
    if (!i->is_array())
      return make_unexpected(path + ".classes must be a list");
    std::vector<std::string> classes;
    for (const auto& c : *i) {
      if (!c.is_string()
          || std::find(class_names.begin(), class_names.end(), c.get<std::string>())
               == class_names.end())
        return make_unexpected(path
                               + ".classes: each entry must be one of lowercase, uppercase, "
                                 "digits, symbols");
      classes.push_back(c.get<std::string>());
    }
    s.classes = std::move(classes);
  }
  if (auto i = policy.find("symbolSet"); i != policy.end() && !i->is_null()) {
    if (!i->is_string())
      return make_unexpected(path + ".symbolSet must be a string");
    s.symbol_set = i->get<std::string>();
  }
  return s;
}

expected<pg::password_policy, std::string> effective_policy(const pg::password_policy& base,
                                                            const password_policy_spec& o,
                                                            const std::string& path) {
  pg::password_policy p = base;
  if (o.length)
    p.length = *o.length;
  std::array<pg::char_class*, 4> classes = {&p.lowercase, &p.uppercase, &p.digits, &p.symbols};
  std::array<const std::optional<std::size_t>*, 4> mins = {&o.lowercase, &o.uppercase,
                                                           &o.digits, &o.symbols};
  for (std::size_t i = 0; i < classes.size(); ++i) {
    if (o.classes)
      classes[i]->used = std::find(o.classes->begin(), o.classes->end(), class_names[i])
                         != o.classes->end();
    if (*mins[i])
      classes[i]->min = **mins[i];
    else if (!classes[i]->used)
      classes[i]->min = 0; // the default's minimum for a class this resource leaves out
  }
  if (o.symbol_set)
    p.symbol_set = *o.symbol_set;
  if (auto why = pg::policy_problem(p))
    return make_unexpected(path + ": " + *why);
  return p;
}

} // namespace dbuser::api
