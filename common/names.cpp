#include "common/names.hpp"

#include "common/text.hpp"

namespace dbuser::names {

std::string refused(std::string_view what, std::string_view name, const std::string& why) {
  return std::string(what) + " \"" + printable_prefix(name, 80)
         + (name.size() > 80 ? "...\"" : "\"") + " " + why;
}

std::optional<std::string> shape_problem(std::string_view what, std::string_view name,
                                         const shape& s) {
  if (name.empty())
    return std::string(what) + " is empty";
  if (name.size() > s.max_bytes)
    return refused(what, name,
                   "is " + std::to_string(name.size()) + " bytes long: " + s.too_long);
  bool ok = s.start(name.front());
  for (char c : name.substr(1))
    ok = ok && s.rest(c);
  if (!ok)
    return refused(what, name, std::string("must match ") + s.pattern);
  return std::nullopt;
}

} // namespace dbuser::names
