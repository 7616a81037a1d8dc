#include "api/shard.hpp"

#include "api/target_policy.hpp"

namespace dbuser::api {

std::optional<shard_key_mode> parse_shard_key_mode(const std::string& s) {
  if (s == "target")
    return shard_key_mode::target;
  if (s == "namespace")
    return shard_key_mode::namespace_;
  return std::nullopt;
}

std::string target_key(const nlohmann::json& object, engine eng) {
  auto spec = object.find("spec");
  if (spec == object.end() || !spec->is_object())
    return "";
  auto host = spec->find("host");
  if (host == spec->end() || !host->is_string())
    return "";
  auto port = spec->find("port");
  const int p = port != spec->end() && port->is_number_integer()
                  ? port->get<int>()
                  : (eng == engine::mysql ? 3306 : 5432);
  return target_policy::describe({"", eng, host->get<std::string>(), p});
}

const std::string& shard_key(shard_key_mode mode, const std::string& target,
                             const std::string& ns) {
  return mode == shard_key_mode::namespace_ ? ns : target;
}

int bucket_of(const std::string& key) {
  std::uint64_t h = 14695981039346656037ULL;
  for (unsigned char c : key) {
    h ^= c;
    h *= 1099511628211ULL;
  }
  return static_cast<int>(h % static_cast<std::uint64_t>(shard_buckets));
}

int shard_of_bucket(int bucket, int shards) {
  if (shards <= 1)
    return 0;
  return static_cast<int>(static_cast<long>(bucket) * shards / shard_buckets);
}

std::string shard_lease_name(const std::string& base, int shard) {
  return base + "-shard-" + std::to_string(shard);
}

std::optional<int> ordinal_of(const std::string& host) {
  const auto dash = host.rfind('-');
  if (dash == std::string::npos || dash + 1 >= host.size() || host.size() - dash > 7)
    return std::nullopt;
  int n = 0;
  for (auto i = dash + 1; i < host.size(); ++i) {
    if (host[i] < '0' || host[i] > '9')
      return std::nullopt;
    n = n * 10 + (host[i] - '0');
  }
  return n;
}

} // namespace dbuser::api
