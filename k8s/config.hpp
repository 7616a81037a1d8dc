#pragma once

// Where the API server is and how to authenticate: from a kubeconfig file (out of cluster) or from
// the ServiceAccount mount (in cluster). Secrets held here (token, key bytes) are never logged.

#include <mutex>
#include <string>

#include "common/expected.hpp"
#include "k8s/error.hpp"

namespace dbuser::k8s {

struct config {
  std::string server; // https://host:port
  // Trust: a PEM file or PEM bytes (kubeconfig certificate-authority / -data).
  std::string ca_file, ca_data;
  // Client certificate auth: files or PEM bytes.
  std::string client_cert_file, client_cert_data;
  std::string client_key_file, client_key_data;
  // Bearer token auth: literal or a file re-read when it changes (projected tokens rotate).
  std::string token, token_file;
  bool insecure_skip_tls_verify = false;
  std::string namespace_ = "default"; // the context's namespace, or the in-cluster namespace file
};

// Reads a kubeconfig. `path` "" means $KUBECONFIG (first existing entry of the list), else
// ~/.kube/config; `context` "" means current-context. Relative file paths resolve against the
// kubeconfig's directory.
[[nodiscard]] expected<config, error> load_kubeconfig(const std::string& path = "", const std::string& context = "");
// Parses kubeconfig text (pure; `base_dir` resolves relative paths).
[[nodiscard]] expected<config, error> parse_kubeconfig(const std::string& yaml_text, const std::string& base_dir,
                                                       const std::string& context = "");
// The ServiceAccount mount (token, ca.crt, namespace) and KUBERNETES_SERVICE_HOST/PORT.
[[nodiscard]] expected<config, error> load_in_cluster(
    const std::string& mount_dir = "/var/run/secrets/kubernetes.io/serviceaccount");

// The bearer token to send now: the literal token, or the token file's content, re-read when the
// file's modification time or size changes. Thread-safe.
class token_source {
public:
  token_source(std::string token, std::string file);
  [[nodiscard]] std::string get();
  [[nodiscard]] bool empty() const { return token_.empty() && file_.empty(); }

private:
  std::mutex mutex_;
  std::string token_, file_;
  std::string cached_;
  long long mtime_ns_ = -1;
  long long size_ = -1;
};

[[nodiscard]] std::string base64_decode(const std::string& in);

// cpprestsdk gives every new TLS connection a context with OpenSSL's default trust paths, and the
// default file (Debian: the whole ca-certificates bundle) is parsed each time: 15 ms of CPU per
// connection, whatever CA the kubeconfig names (bench/README.md). When the default directory holds
// the same certificates by hash (looked up lazily, one by one), the default file is set to
// /dev/null for this process: system trust still works through the directory, for the MariaDB
// client too. Nothing changes when SSL_CERT_FILE is set or the directory has no hashed entries.
// Call before any thread starts (it sets an environment variable). Returns whether it did.
bool prefer_lazy_system_trust();

} // namespace dbuser::k8s
