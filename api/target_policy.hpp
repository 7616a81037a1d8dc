#pragma once

// Which namespaces may point the operator at which database targets: the cluster-scoped
// DatabaseTargetPolicy (database.example.com/v1alpha1) as C++ values, and the pure decision.
// No I/O, no DNS: host names are compared as text, IP literals against CIDRs.
//
//   apiVersion: database.example.com/v1alpha1
//   kind: DatabaseTargetPolicy
//   metadata: {name: team-a}
//   spec:
//     rules:
//     - name: team-a-postgres
//       namespaceSelector: {matchLabels: {team: a}}   # {} selects every namespace
//       hosts: [db-a.internal, "*.team-a.svc", 10.0.0.0/8, "fd00::/8"]
//       ports: [5432, "6000-6010"]                      # absent: any port
//       engines: [postgresql]                           # absent: both
//
// Rules:
//   - No policy at all: every target is allowed (enforced = false), as before policies existed.
//   - One policy or more: a target is allowed when at least one rule of one policy matches the
//     user's namespace (its labels), host, port and engine; policies add up. A policy without
//     rules allows nothing and so turns enforcement on (deny by default).
//   - Hosts: an exact name (case-insensitive, a trailing dot ignored), `*.suffix` (any name
//     ending in `.suffix`, at any depth; not `suffix` itself), an IP address or a CIDR. An IP
//     literal in the spec matches only addresses and CIDRs (IPv6 in any textual form, with or
//     without brackets; an IPv4-mapped IPv6 address counts as its IPv4 address); a name matches
//     only names and wildcards. Names are trusted to resolve where the cluster's DNS says.
//   - Numeric host forms that resolvers read as IPv4 but are not dotted quads ("127.1",
//     "2130706433", "0x7f.1") are never allowed while policies exist: write the address.
//   - An entry or rule that cannot be read allows nothing (it never widens a policy).

#include "api/postgres_user.hpp"

#include <array>
#include <cstdint>
#include <map>
#include <nlohmann/json_fwd.hpp>
#include <optional>
#include <string>
#include <vector>

namespace dbuser::api::target_policy {

inline constexpr const char* kind = "DatabaseTargetPolicy";
inline constexpr const char* plural = "databasetargetpolicies";

// --- namespace label selectors (metav1.LabelSelector) -------------------------------------

using labels = std::map<std::string, std::string>;

struct label_requirement {
  enum class op { in, not_in, exists, does_not_exist };
  std::string key;
  op operation = op::exists;
  std::vector<std::string> values;
};

struct label_selector {
  labels match_labels;
  std::vector<label_requirement> match_expressions;
};

// Kubernetes' semantics: every matchLabels pair and every expression must hold; the empty
// selector matches every namespace. NotIn and DoesNotExist hold when the key is absent.
[[nodiscard]] bool matches(const label_selector& s, const labels& l);
// "team=a, env in (prod,staging)"; "every namespace" for the empty selector.
[[nodiscard]] std::string describe(const label_selector& s);

// --- hosts -----------------------------------------------------------------------------------

// A parsed IP address: 16 bytes, IPv4 as its IPv4-mapped IPv6 form.
struct ip_address {
  std::array<std::uint8_t, 16> bytes{};
  bool v4 = false;
  bool operator==(const ip_address& o) const { return bytes == o.bytes; }
};

// An IP literal, brackets allowed around IPv6 ("[::1]"); nullopt for anything else (names,
// "127.1", zone ids).
[[nodiscard]] std::optional<ip_address> parse_ip(const std::string& text);
// The canonical text: dotted quad for IPv4 (and IPv4-mapped IPv6), RFC 5952 for IPv6.
[[nodiscard]] std::string to_string(const ip_address& a);

// One entry of a rule's hosts.
struct host_pattern {
  enum class form { name, wildcard, cidr } what = form::name;
  std::string name;     // lowercased, no trailing dot; for a wildcard, the suffix with its dot
  ip_address network;   // cidr (an address is a /32 or /128)
  int prefix = 0;       // bits, counted over the 128-bit form
  std::string text;     // as written, for messages
};

// Parses "db.internal", "*.team-a.svc", "10.0.0.0/8", "10.1.2.3", "fd00::/8", "[::1]"; an error
// message when it is none of them.
[[nodiscard]] expected<host_pattern, std::string> parse_host_pattern(const std::string& text);
[[nodiscard]] bool matches(const host_pattern& p, const std::string& host);

// --- ports -----------------------------------------------------------------------------------

struct port_range {
  int first = 0, last = 0;
};
// "5432", "6000-6010" (or a JSON number); 1..65535, first <= last.
[[nodiscard]] expected<port_range, std::string> parse_port_range(const std::string& text);

// --- policies --------------------------------------------------------------------------------

struct rule {
  std::string name;               // spec.rules[i].name, else "#<i+1>"
  label_selector namespaces;
  std::vector<host_pattern> hosts;
  std::vector<port_range> ports;  // empty: any port
  std::vector<engine> engines;    // empty: both
  std::vector<std::string> problems; // non-empty: the rule allows nothing
};

struct policy {
  std::string name;
  std::vector<rule> rules;
};

// Reads a DatabaseTargetPolicy object. Never fails: what cannot be read is recorded in the
// rule's problems (and the rule allows nothing).
[[nodiscard]] policy parse(const nlohmann::json& object);

// What a user resource asks for.
struct target {
  std::string ns;
  engine eng = engine::postgres;
  std::string host;
  int port = 0;
};

struct decision {
  bool allowed = true;
  bool enforced = false; // some policy exists
  std::string policy, rule; // the rule that allows it (when enforced and allowed)
  // Why not (when refused): names the rule that would allow the target for other namespaces,
  // or says that no policy has one. Says nothing about the network.
  std::string message;
};

// The decision for `t` whose namespace carries `ns_labels`, under every policy there is.
[[nodiscard]] decision evaluate(const std::vector<policy>& policies, const target& t,
                                const labels& ns_labels);

// "postgresql://db.internal:5432" (IPv6 in brackets).
[[nodiscard]] std::string describe(const target& t);
// "postgresql" or "mysql": the names the policy's engines field uses.
[[nodiscard]] const char* engine_name(engine e);

} // namespace dbuser::api::target_policy
