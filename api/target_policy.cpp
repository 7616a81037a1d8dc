#include "api/target_policy.hpp"

#include "common/text.hpp"

#include <algorithm>
#include <arpa/inet.h>
#include <cctype>
#include <cstring>
#include <functional>
#include <netinet/in.h>
#include <nlohmann/json.hpp>

namespace dbuser::api::target_policy {

using nlohmann::json;

// --- label selectors -----------------------------------------------------------------------

namespace {

bool holds(const label_requirement& r, const labels& l) {
  auto i = l.find(r.key);
  const bool present = i != l.end();
  const auto listed = [&] {
    return present && std::find(r.values.begin(), r.values.end(), i->second) != r.values.end();
  };
  switch (r.operation) {
    case label_requirement::op::in:
      return listed();
    case label_requirement::op::not_in:
      return !listed();
    case label_requirement::op::exists:
      return present;
    case label_requirement::op::does_not_exist:
      return !present;
  }
  return false;
}

} // namespace

bool matches(const label_selector& s, const labels& l) {
  for (const auto& [k, v] : s.match_labels) {
    auto i = l.find(k);
    if (i == l.end() || i->second != v)
      return false;
  }
  return std::all_of(s.match_expressions.begin(), s.match_expressions.end(),
                     [&](const label_requirement& r) { return holds(r, l); });
}

std::string describe(const label_selector& s) {
  std::vector<std::string> parts;
  for (const auto& [k, v] : s.match_labels)
    parts.push_back(k + "=" + v);
  for (const auto& r : s.match_expressions) {
    switch (r.operation) {
      case label_requirement::op::in:
        parts.push_back(r.key + " in (" + join(r.values, ",") + ")");
        break;
      case label_requirement::op::not_in:
        parts.push_back(r.key + " notin (" + join(r.values, ",") + ")");
        break;
      case label_requirement::op::exists:
        parts.push_back(r.key);
        break;
      case label_requirement::op::does_not_exist:
        parts.push_back("!" + r.key);
        break;
    }
  }
  return parts.empty() ? "every namespace" : join(parts, ", ");
}

// --- IP addresses ----------------------------------------------------------------------------

std::optional<ip_address> parse_ip(const std::string& text) {
  std::string t = text;
  const bool bracketed = t.size() >= 2 && t.front() == '[' && t.back() == ']';
  if (bracketed)
    t = t.substr(1, t.size() - 2);
  ip_address a;
  in_addr v4{};
  if (!bracketed && inet_pton(AF_INET, t.c_str(), &v4) == 1) {
    a.bytes[10] = a.bytes[11] = 0xff;
    std::memcpy(&a.bytes[12], &v4, 4);
    a.v4 = true;
    return a;
  }
  in6_addr v6{};
  if (inet_pton(AF_INET6, t.c_str(), &v6) != 1)
    return std::nullopt;
  std::memcpy(a.bytes.data(), &v6, 16);
  static constexpr std::array<std::uint8_t, 12> mapped{0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
  a.v4 = std::equal(mapped.begin(), mapped.end(), a.bytes.begin());
  return a;
}

std::string to_string(const ip_address& a) {
  char buf[INET6_ADDRSTRLEN] = {};
  if (a.v4)
    inet_ntop(AF_INET, &a.bytes[12], buf, sizeof buf);
  else
    inet_ntop(AF_INET6, a.bytes.data(), buf, sizeof buf);
  return buf;
}

namespace {

bool same_prefix(const ip_address& a, const ip_address& b, int bits) {
  for (std::size_t i = 0; i < 16 && bits > 0; ++i, bits -= 8) {
    const auto mask = static_cast<std::uint8_t>(bits >= 8 ? 0xff : 0xff << (8 - bits));
    if ((a.bytes[i] & mask) != (b.bytes[i] & mask))
      return false;
  }
  return true;
}

// Lowercased, without one trailing dot.
std::string normal_name(const std::string& host) {
  auto n = ascii_lower(host);
  if (!n.empty() && n.back() == '.')
    n.pop_back();
  return n;
}

// A DNS name: labels of letters, digits and dashes, not starting or ending with a dash; the last
// label not all digits (RFC 3696: "300.0.0.1" is a mistyped address, not a name).
bool is_name(const std::string& n) {
  if (n.empty() || n.size() > 253)
    return false;
  const auto last = n.substr(n.rfind('.') == std::string::npos ? 0 : n.rfind('.') + 1);
  if (std::all_of(last.begin(), last.end(), [](unsigned char c) { return std::isdigit(c); }))
    return false;
  std::size_t start = 0;
  while (true) {
    auto dot = n.find('.', start);
    const auto label = n.substr(start, dot == std::string::npos ? std::string::npos : dot - start);
    if (label.empty() || label.size() > 63 || label.front() == '-' || label.back() == '-')
      return false;
    if (!std::all_of(label.begin(), label.end(), [](unsigned char c) {
          return std::isalnum(c) != 0 || c == '-';
        }))
      return false;
    if (dot == std::string::npos)
      return true;
    start = dot + 1;
  }
}

// Numbers that resolvers take for an IPv4 address although they are no dotted quad.
bool numeric_ipv4_form(const std::string& host) {
  in_addr a{};
  return !parse_ip(host) && inet_aton(host.c_str(), &a) != 0;
}

} // namespace

expected<host_pattern, std::string> parse_host_pattern(const std::string& text) {
  host_pattern p;
  p.text = text;
  if (text == "*") {
    p.what = host_pattern::form::wildcard;
    return p;
  }
  if (auto slash = text.find('/'); slash != std::string::npos) {
    auto addr = parse_ip(text.substr(0, slash));
    const auto bits = text.substr(slash + 1);
    if (!addr || bits.empty() || bits.size() > 3
        || !std::all_of(bits.begin(), bits.end(), [](unsigned char c) { return std::isdigit(c); }))
      return make_unexpected("\"" + text + "\" is not a CIDR (address/prefix length)");
    const int n = std::stoi(bits);
    if (n > (addr->v4 ? 32 : 128))
      return make_unexpected("\"" + text + "\": prefix length over " + (addr->v4 ? "32" : "128"));
    p.what = host_pattern::form::cidr;
    p.network = *addr;
    p.prefix = addr->v4 ? 96 + n : n;
    return p;
  }
  if (auto addr = parse_ip(text)) {
    p.what = host_pattern::form::cidr;
    p.network = *addr;
    p.prefix = 128;
    return p;
  }
  if (text.rfind("*.", 0) == 0) {
    const auto suffix = normal_name(text.substr(2));
    if (!is_name(suffix))
      return make_unexpected("\"" + text + "\": the part after \"*.\" is not a host name");
    p.what = host_pattern::form::wildcard;
    p.name = "." + suffix;
    return p;
  }
  const auto name = normal_name(text);
  if (!is_name(name) || numeric_ipv4_form(name))
    return make_unexpected("\"" + text
                           + "\" is not a host name, *.suffix, IP address or CIDR");
  p.name = name;
  return p;
}

bool matches(const host_pattern& p, const std::string& host) {
  if (p.what == host_pattern::form::wildcard && p.name.empty())
    return !numeric_ipv4_form(host); // "*": every host written plainly
  if (auto addr = parse_ip(host))
    return p.what == host_pattern::form::cidr && same_prefix(p.network, *addr, p.prefix);
  if (p.what == host_pattern::form::cidr || numeric_ipv4_form(host))
    return false;
  const auto n = normal_name(host);
  if (p.what == host_pattern::form::name)
    return n == p.name;
  return n.size() > p.name.size()
         && n.compare(n.size() - p.name.size(), p.name.size(), p.name) == 0;
}

// --- ports -----------------------------------------------------------------------------------

expected<port_range, std::string> parse_port_range(const std::string& text) {
  const auto number = [](const std::string& s) -> std::optional<int> {
    if (s.empty() || s.size() > 5
        || !std::all_of(s.begin(), s.end(), [](unsigned char c) { return std::isdigit(c); }))
      return std::nullopt;
    const int v = std::stoi(s);
    if (v < 1 || v > 65535)
      return std::nullopt;
    return v;
  };
  const auto dash = text.find('-');
  auto first = number(text.substr(0, dash));
  auto last = dash == std::string::npos ? first : number(text.substr(dash + 1));
  if (!first || !last || *first > *last)
    return make_unexpected("\"" + text + "\" is not a port (1-65535) or a range first-last");
  return port_range{*first, *last};
}

// --- parsing a policy ------------------------------------------------------------------------

namespace {

void parse_selector(const json& s, rule& r) {
  if (!s.is_object()) {
    r.problems.push_back("namespaceSelector is required ({} selects every namespace)");
    return;
  }
  if (auto ml = s.find("matchLabels"); ml != s.end() && !ml->is_null()) {
    if (!ml->is_object()) {
      r.problems.push_back("namespaceSelector.matchLabels is not a map");
    } else {
      for (auto i = ml->begin(); i != ml->end(); ++i) {
        if (i.value().is_string())
          r.namespaces.match_labels[i.key()] = i.value().get<std::string>();
        else
          r.problems.push_back("namespaceSelector.matchLabels." + i.key() + " is not a string");
      }
    }
  }
  auto me = s.find("matchExpressions");
  if (me == s.end() || me->is_null())
    return;
  if (!me->is_array()) {
    r.problems.push_back("namespaceSelector.matchExpressions is not a list");
    return;
  }
  for (const auto& e : *me) {
    label_requirement req;
    req.key = e.is_object() ? e.value("key", "") : "";
    const std::string op = e.is_object() ? e.value("operator", "") : "";
    if (e.is_object() && e.contains("values") && e["values"].is_array())
      for (const auto& v : e["values"])
        if (v.is_string())
          req.values.push_back(v.get<std::string>());
    if (op == "In")
      req.operation = label_requirement::op::in;
    else if (op == "NotIn")
      req.operation = label_requirement::op::not_in;
    else if (op == "Exists")
      req.operation = label_requirement::op::exists;
    else if (op == "DoesNotExist")
      req.operation = label_requirement::op::does_not_exist;
    else {
      r.problems.push_back("namespaceSelector: unknown operator \"" + op + "\"");
      continue;
    }
    const bool set_op = op == "In" || op == "NotIn";
    if (req.key.empty() || set_op == req.values.empty()) {
      r.problems.push_back("namespaceSelector: expression on \"" + req.key
                           + "\" needs a key, and values exactly for In and NotIn");
      continue;
    }
    r.namespaces.match_expressions.push_back(std::move(req));
  }
}

json field(const json& obj, const char* name) {
  auto i = obj.find(name);
  return i == obj.end() ? json() : *i;
}

// Reads the list `name` of a rule item by item: `item` returns why an item is refused, or "".
// Absent is fine unless `required`; what is refused becomes a problem of the rule.
void parse_list(const json& list, const char* name, bool required, rule& r,
                const std::function<std::string(const json&)>& item) {
  if (list.is_null() && !required)
    return;
  if (!list.is_array() || (required && list.empty())) {
    r.problems.push_back(std::string(name) + (required ? " is required" : " is not a list"));
    return;
  }
  for (const auto& i : list)
    if (auto why = item(i); !why.empty())
      r.problems.push_back(std::string(name) + ": " + why);
}

void parse_items(const json& in, rule& r) {
  parse_list(field(in, "hosts"), "hosts", true, r, [&r](const json& h) {
    if (!h.is_string())
      return std::string("a host is not a string");
    auto p = parse_host_pattern(h.get<std::string>());
    if (!p)
      return p.error();
    r.hosts.push_back(std::move(*p));
    return std::string();
  });
  parse_list(field(in, "ports"), "ports", false, r, [&r](const json& p) {
    auto range = parse_port_range(p.is_number_integer() ? std::to_string(p.get<std::int64_t>())
                                  : p.is_string()       ? p.get<std::string>()
                                                        : std::string("?"));
    if (!range)
      return range.error();
    r.ports.push_back(*range);
    return std::string();
  });
  parse_list(field(in, "engines"), "engines", false, r, [&r](const json& e) {
    const std::string name = e.is_string() ? e.get<std::string>() : "";
    if (name == engine_name(engine::postgres))
      r.engines.push_back(engine::postgres);
    else if (name == engine_name(engine::mysql))
      r.engines.push_back(engine::mysql);
    else
      return "\"" + name + "\" is not postgresql or mysql";
    return std::string();
  });
}


} // namespace

policy parse(const json& object) {
  policy p;
  p.name = object.value("/metadata/name"_json_pointer, "");
  const auto rules = object.value("/spec/rules"_json_pointer, json::array());
  if (!rules.is_array())
    return p;
  for (std::size_t i = 0; i < rules.size(); ++i) {
    const auto& in = rules[i];
    rule r;
    r.name = in.is_object() && in.value("name", "") != "" ? in.value("name", "")
                                                         : "#" + std::to_string(i + 1);
    if (!in.is_object()) {
      r.problems.push_back("a rule is not an object");
    } else {
      parse_selector(field(in, "namespaceSelector"), r);
      parse_items(in, r);
    }
    p.rules.push_back(std::move(r));
  }
  return p;
}

// --- the decision ----------------------------------------------------------------------------

const char* engine_name(engine e) {
  return e == engine::mysql ? "mysql" : "postgresql";
}

std::string describe(const target& t) {
  const bool v6 = t.host.find(':') != std::string::npos && t.host.front() != '[';
  return std::string(engine_name(t.eng)) + "://" + (v6 ? "[" + t.host + "]" : t.host) + ":"
         + std::to_string(t.port);
}

namespace {

// The rule allows the target itself (host, port, engine), whatever the namespace.
bool covers(const rule& r, const target& t) {
  if (!r.problems.empty())
    return false;
  if (!r.engines.empty() && std::find(r.engines.begin(), r.engines.end(), t.eng) == r.engines.end())
    return false;
  if (!r.ports.empty() && std::none_of(r.ports.begin(), r.ports.end(), [&](const port_range& p) {
        return t.port >= p.first && t.port <= p.last;
      }))
    return false;
  return std::any_of(r.hosts.begin(), r.hosts.end(),
                     [&](const host_pattern& h) { return matches(h, t.host); });
}

} // namespace

decision evaluate(const std::vector<policy>& policies, const target& t, const labels& ns_labels) {
  decision d;
  if (policies.empty())
    return d;
  d.enforced = true;
  const rule* other_namespaces = nullptr;
  const policy* other_policy = nullptr;
  for (const auto& p : policies)
    for (const auto& r : p.rules) {
      if (!covers(r, t))
        continue;
      if (matches(r.namespaces, ns_labels)) {
        d.policy = p.name;
        d.rule = r.name;
        return d;
      }
      if (!other_namespaces)
        other_namespaces = &r, other_policy = &p;
    }
  d.allowed = false;
  d.message = describe(t) + " is not allowed for namespace " + t.ns + ": ";
  if (numeric_ipv4_form(t.host))
    d.message += "\"" + t.host + "\" is a numeric form of an IPv4 address that policies never "
                 "allow; write the address as a.b.c.d";
  else if (other_namespaces)
    d.message += "rule \"" + other_namespaces->name + "\" of " + kind + " \"" + other_policy->name
                 + "\" allows it only for namespaces matching "
                 + describe(other_namespaces->namespaces);
  else
    d.message += std::string("no ") + kind + " has a rule that allows it";
  return d;
}

} // namespace dbuser::api::target_policy
