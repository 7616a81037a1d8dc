#pragma once

// The operator's command-line flags: their defaults, their parsing, and the usage text that a bad
// flag prints (cmd/flags.cpp). main.cpp runs the operator from them.

#include "api/shard.hpp"
#include "pg/executor.hpp"
#include "pg/password.hpp"
#include "pg/scram.hpp"

#include <chrono>
#include <cstddef>
#include <string>

namespace dbuser_main {

using namespace std::chrono;

struct flags {
  std::string kubeconfig;
  std::string ns;
  std::string listen = ":8080";
  std::string log_level = "info";
  std::string log_format = "text";
  std::size_t pool_size = 4;
  int scram_iterations = dbuser::pg::scram_iterations;
  dbuser::pg::credential_proof verify = dbuser::pg::credential_proof::automatic;
  milliseconds resync = minutes(5);
  milliseconds login_check = minutes(30);
  milliseconds admin_secret_ttl = seconds(10);
  milliseconds db_probe_timeout = seconds(3);
  milliseconds db_job_timeout = seconds(120);
  std::size_t max_concurrent = 64;
  double qps = 0; // no client-side limit: at most 16 requests in flight, APF does the rest
  int burst = 100;
  bool leader_elect = false;
  std::string election_ns;
  std::string election_name = "dbuser-operator";
  milliseconds lease_duration = seconds(15);
  milliseconds renew_deadline = seconds(10);
  milliseconds retry_period = seconds(2);
  int shards = 1;
  dbuser::api::shard_key_mode shard_key = dbuser::api::shard_key_mode::target;
  int shard_ordinal = -1; // -1: from the host name, else from the identity
  bool fault_injection = false;
  dbuser::pg::password_policy password_policy;
  std::string install_id; // empty: the Lease's namespace/name
  bool release_all = false;
};

// Parses argv; prints the usage and exits 2 on a bad flag, 0 after --help or --version.
flags parse(int argc, char** argv);

// Prints msg and the usage to stderr, and exits 2.
[[noreturn]] void bad_flag(const std::string& msg);

} // namespace dbuser_main
