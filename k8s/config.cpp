#include "k8s/config.hpp"

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <sys/stat.h>

#include <openssl/x509.h>
#include <spdlog/spdlog.h>
#include <yaml-cpp/yaml.h>

namespace dbuser::k8s {

namespace {

std::shared_ptr<spdlog::logger> logger() {
  auto l = spdlog::get("k8s");
  return l ? l : spdlog::default_logger();
}

bool read_file(const std::string& path, std::string& out) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return false;
  std::ostringstream ss;
  ss << in.rdbuf();
  out = ss.str();
  return true;
}

std::string trim(std::string s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == '\r' || s.back() == ' ' || s.back() == '\t')) s.pop_back();
  size_t i = 0;
  while (i < s.size() && (s[i] == ' ' || s[i] == '\t' || s[i] == '\n')) ++i;
  return s.substr(i);
}

std::string resolve(const std::string& base_dir, const std::string& p) {
  if (p.empty() || p.front() == '/' || base_dir.empty()) return p;
  return base_dir + "/" + p;
}

std::string dir_of(const std::string& path) {
  auto slash = path.rfind('/');
  return slash == std::string::npos ? "." : path.substr(0, slash);
}

bool exists(const std::string& path) {
  struct stat st {};
  return ::stat(path.c_str(), &st) == 0;
}

YAML::Node find_named(const YAML::Node& list, const std::string& name) {
  if (!list || !list.IsSequence()) return YAML::Node();
  for (const auto& item : list)
    if (item["name"] && item["name"].as<std::string>() == name) return item;
  return YAML::Node();
}

std::string str(const YAML::Node& n, const char* key) {
  const auto v = n[key];
  return v && v.IsScalar() ? v.as<std::string>() : std::string();
}

} // namespace

std::string base64_decode(const std::string& in) {
  auto val = [](char c) -> int {
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= 'a' && c <= 'z') return c - 'a' + 26;
    if (c >= '0' && c <= '9') return c - '0' + 52;
    if (c == '+' || c == '-') return 62;
    if (c == '/' || c == '_') return 63;
    return -1;
  };
  std::string out;
  int bits = 0;
  unsigned buf = 0;
  for (char c : in) {
    int v = val(c);
    if (v < 0) continue; // padding, whitespace
    buf = (buf << 6) | static_cast<unsigned>(v);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out += static_cast<char>((buf >> bits) & 0xFF);
    }
  }
  return out;
}

expected<config, error> parse_kubeconfig(const std::string& yaml_text, const std::string& base_dir,
                                         const std::string& context) {
  try {
    YAML::Node root = YAML::Load(yaml_text);
    if (!root || !root.IsMap()) return make_unexpected(make_error(error::kind::config, "kubeconfig is not a map"));
    std::string ctx_name = context.empty() ? str(root, "current-context") : context;
    if (ctx_name.empty()) return make_unexpected(make_error(error::kind::config, "kubeconfig has no current-context"));
    YAML::Node ctx = find_named(root["contexts"], ctx_name);
    if (!ctx) return make_unexpected(make_error(error::kind::config, "kubeconfig has no context " + ctx_name));
    YAML::Node c = ctx["context"];
    YAML::Node cluster = find_named(root["clusters"], str(c, "cluster"));
    if (!cluster || !cluster["cluster"])
      return make_unexpected(make_error(error::kind::config, "kubeconfig has no cluster " + str(c, "cluster")));
    YAML::Node cl = cluster["cluster"];
    config cfg;
    cfg.server = str(cl, "server");
    if (cfg.server.empty()) return make_unexpected(make_error(error::kind::config, "kubeconfig cluster has no server"));
    cfg.ca_file = resolve(base_dir, str(cl, "certificate-authority"));
    cfg.ca_data = base64_decode(str(cl, "certificate-authority-data"));
    cfg.insecure_skip_tls_verify = cl["insecure-skip-tls-verify"] && cl["insecure-skip-tls-verify"].as<bool>();
    if (auto ns = str(c, "namespace"); !ns.empty()) cfg.namespace_ = ns;
    const std::string user_name = str(c, "user");
    if (!user_name.empty()) {
      YAML::Node user = find_named(root["users"], user_name);
      if (!user) return make_unexpected(make_error(error::kind::config, "kubeconfig has no user " + user_name));
      YAML::Node u = user["user"];
      if (u) {
        cfg.client_cert_file = resolve(base_dir, str(u, "client-certificate"));
        cfg.client_cert_data = base64_decode(str(u, "client-certificate-data"));
        cfg.client_key_file = resolve(base_dir, str(u, "client-key"));
        cfg.client_key_data = base64_decode(str(u, "client-key-data"));
        cfg.token = str(u, "token");
        cfg.token_file = resolve(base_dir, str(u, "tokenFile"));
        if (u["exec"] || u["auth-provider"])
          return make_unexpected(make_error(error::kind::config, "kubeconfig exec/auth-provider plugins are not supported"));
      }
    }
    if (cfg.insecure_skip_tls_verify)
      logger()->warn("kubeconfig context {} sets insecure-skip-tls-verify: the server certificate is NOT verified",
                     ctx_name);
    return cfg;
  } catch (const std::exception& e) {
    return make_unexpected(make_error(error::kind::config, std::string("kubeconfig: ") + e.what()));
  }
}

expected<config, error> load_kubeconfig(const std::string& path, const std::string& context) {
  std::string file = path;
  if (file.empty()) {
    if (const char* env = std::getenv("KUBECONFIG"); env != nullptr && *env != '\0') {
      std::stringstream ss(env);
      std::string item;
      while (std::getline(ss, item, ':'))
        if (!item.empty() && exists(item)) {
          file = item;
          break;
        }
    }
    if (file.empty())
      if (const char* home = std::getenv("HOME"); home != nullptr) file = std::string(home) + "/.kube/config";
  }
  std::string text;
  if (file.empty() || !read_file(file, text))
    return make_unexpected(make_error(error::kind::config, "cannot read kubeconfig " + file));
  return parse_kubeconfig(text, dir_of(file), context);
}

expected<config, error> load_in_cluster(const std::string& mount_dir) {
  const char* host = std::getenv("KUBERNETES_SERVICE_HOST");
  const char* port = std::getenv("KUBERNETES_SERVICE_PORT");
  if (host == nullptr || port == nullptr || *host == '\0' || *port == '\0')
    return make_unexpected(make_error(error::kind::config,
                                      "not in a cluster: KUBERNETES_SERVICE_HOST/PORT are not set"));
  config cfg;
  std::string h = host;
  if (h.find(':') != std::string::npos) h = "[" + h + "]"; // IPv6
  cfg.server = "https://" + h + ":" + port;
  cfg.token_file = mount_dir + "/token";
  std::string probe;
  if (!read_file(cfg.token_file, probe))
    return make_unexpected(make_error(error::kind::config, "cannot read " + cfg.token_file));
  cfg.ca_file = mount_dir + "/ca.crt";
  if (!exists(cfg.ca_file)) return make_unexpected(make_error(error::kind::config, "cannot read " + cfg.ca_file));
  std::string ns;
  if (read_file(mount_dir + "/namespace", ns) && !trim(ns).empty()) cfg.namespace_ = trim(ns);
  return cfg;
}

token_source::token_source(std::string token, std::string file) : token_(std::move(token)), file_(std::move(file)) {}

std::string token_source::get() {
  std::lock_guard<std::mutex> lock(mutex_);
  if (file_.empty()) return token_;
  struct stat st {};
  if (::stat(file_.c_str(), &st) != 0) return cached_.empty() ? token_ : cached_;
  const long long mtime = static_cast<long long>(st.st_mtim.tv_sec) * 1000000000LL + st.st_mtim.tv_nsec;
  if (mtime != mtime_ns_ || static_cast<long long>(st.st_size) != size_) {
    std::string text;
    if (read_file(file_, text)) {
      cached_ = trim(text);
      mtime_ns_ = mtime;
      size_ = static_cast<long long>(st.st_size);
      logger()->debug("bearer token re-read from {}", file_);
    }
  }
  return cached_.empty() ? token_ : cached_;
}

bool prefer_lazy_system_trust() {
  if (std::getenv(X509_get_default_cert_file_env()) != nullptr)
    return false;
  std::error_code ec;
  const char* dir = std::getenv(X509_get_default_cert_dir_env());
  for (std::filesystem::directory_iterator it(dir != nullptr ? dir : X509_get_default_cert_dir(), ec),
       end;
       !ec && it != end; it.increment(ec)) {
    const auto name = it->path().filename().string();
    if (name.size() == 10 && name.compare(8, 2, ".0") == 0) // <8 hex digits of the hash>.0
      return setenv(X509_get_default_cert_file_env(), "/dev/null", 0) == 0;
  }
  return false;
}

} // namespace dbuser::k8s
