#include "test/e2e/support/kube.hpp"

#include <stdexcept>

namespace dbuser::test::e2e {

using nlohmann::json;

kube::kube(std::string kubeconfig) : kubeconfig_(std::move(kubeconfig)) {}

exec_result kube::kubectl(const std::vector<std::string>& args, const std::string& input) const {
  std::vector<std::string> argv{"kubectl", "--request-timeout=30s"};
  argv.insert(argv.end(), args.begin(), args.end());
  return run(argv, input, {{"KUBECONFIG", kubeconfig_}});
}

std::string kube::must(const std::vector<std::string>& args, const std::string& input) const {
  auto r = kubectl(args, input);
  if (!r.ok()) {
    std::string cmd = "kubectl";
    for (const auto& a : args)
      cmd += " " + a;
    throw std::runtime_error(cmd + " failed (" + std::to_string(r.status) + "): " + r.err);
  }
  return r.out;
}

exec_result kube::apply(const json& object, const std::string& ns) const {
  std::vector<std::string> args{"apply", "-f", "-"};
  if (!ns.empty())
    args.insert(args.end(), {"-n", ns});
  return kubectl(args, object.dump());
}

std::optional<json> kube::get(const std::string& kind, const std::string& ns,
                              const std::string& name) const {
  std::vector<std::string> args{"get", kind, name, "-o", "json", "--ignore-not-found"};
  if (!ns.empty())
    args.insert(args.end(), {"-n", ns});
  auto out = must(args);
  if (out.find_first_not_of(" \n\t") == std::string::npos)
    return std::nullopt;
  return json::parse(out);
}

std::vector<json> kube::list(const std::string& kind, const std::string& ns) const {
  auto out = must({"get", kind, "-n", ns, "-o", "json"});
  const json list = json::parse(out);
  std::vector<json> items;
  for (const auto& i : list.value("items", json::array()))
    items.push_back(i);
  return items;
}

void kube::remove(const std::string& kind, const std::string& ns, const std::string& name) const {
  must({"delete", kind, name, "-n", ns, "--ignore-not-found", "--wait=false"});
}

void kube::merge_patch(const std::string& kind, const std::string& ns, const std::string& name,
                       const json& patch) const {
  must({"patch", kind, name, "-n", ns, "--type=merge", "-p", patch.dump()});
}

std::vector<json> kube::events(const std::string& ns, const std::string& name,
                               const std::string& type) const {
  std::string selector = "involvedObject.name=" + name;
  if (!type.empty())
    selector += ",type=" + type;
  auto out = must({"get", "events", "-n", ns, "--field-selector", selector, "-o", "json"});
  const json list = json::parse(out);
  std::vector<json> items;
  for (const auto& i : list.value("items", json::array()))
    items.push_back(i);
  return items;
}

json secret_manifest(const std::string& ns, const std::string& name,
                     const std::map<std::string, std::string>& string_data) {
  return json{{"apiVersion", "v1"},
              {"kind", "Secret"},
              {"metadata", {{"name", name}, {"namespace", ns}}},
              {"type", "Opaque"},
              {"stringData", string_data}};
}

std::string base64_decode(const std::string& in) {
  static const std::string alphabet =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  unsigned buffer = 0;
  int bits = 0;
  for (char c : in) {
    if (c == '=')
      break;
    auto v = alphabet.find(c);
    if (v == std::string::npos)
      continue; // whitespace
    buffer = (buffer << 6) | static_cast<unsigned>(v);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out += static_cast<char>((buffer >> bits) & 0xFF);
    }
  }
  return out;
}

std::map<std::string, std::string> secret_data(const json& secret) {
  std::map<std::string, std::string> data;
  const json encoded = secret.value("data", json::object());
  for (const auto& [k, v] : encoded.items())
    data[k] = base64_decode(v.get<std::string>());
  return data;
}

} // namespace dbuser::test::e2e
