#include "test/support/dev_env.hpp"

#include "common/quote.hpp"

#include <array>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <stdexcept>
#include <sys/wait.h>

namespace dbuser::test {

namespace {

std::string unquote(std::string v) {
  // Values are written by dev-up.sh as 'single quoted' POSIX shell words.
  if (v.size() >= 2 && v.front() == '\'' && v.back() == '\'') {
    v = v.substr(1, v.size() - 2);
    std::string out;
    for (size_t i = 0; i < v.size(); ++i) {
      if (v.compare(i, 4, "'\\''") == 0) {
        out += '\'';
        i += 3;
      } else {
        out += v[i];
      }
    }
    return out;
  }
  return v;
}

std::string quote_conninfo(const std::string& v) { return dbuser::quote_escaped(v, '\''); }

} // namespace

dev_env dev_env::load(const std::string& dir) {
  dev_env e;
  e.dir_ = dir;
  std::ifstream in(e.dir_ + "/env");
  if (!in)
    throw std::runtime_error("no dev environment at " + e.dir_ + "/env: run `make dev-up`");
  std::string line;
  while (std::getline(in, line)) {
    const std::string prefix = "export ";
    if (line.rfind(prefix, 0) != 0)
      continue;
    auto eq = line.find('=');
    if (eq == std::string::npos)
      continue;
    e.vars_[line.substr(prefix.size(), eq - prefix.size())] = unquote(line.substr(eq + 1));
  }
  return e;
}

const dev_env& dev_env::get() {
  static const dev_env env = [] {
    const char* dir = std::getenv("DBUSER_DEV_DIR");
    return load(dir != nullptr ? dir : std::string(DBUSER_SOURCE_DIR) + "/.dev");
  }();
  return env;
}

const std::string& dev_env::at(const std::string& key) const {
  auto i = vars_.find(key);
  if (i == vars_.end())
    throw std::runtime_error("dev environment has no " + key);
  return i->second;
}

std::string dev_env::pg_admin_conninfo(const std::string& dbname) const {
  return "host=" + quote_conninfo(pg_host()) + " port=" + std::to_string(pg_port())
         + " user=" + quote_conninfo(pg_user()) + " password=" + quote_conninfo(pg_password())
         + " dbname=" + quote_conninfo(dbname) + " application_name=dbuser-operator-test";
}

command_result run_command(const std::string& cmd) {
  command_result r;
  FILE* p = popen(cmd.c_str(), "r");
  if (p == nullptr)
    return r;
  std::array<char, 4096> buf{};
  size_t n = 0;
  while ((n = fread(buf.data(), 1, buf.size(), p)) > 0)
    r.out.append(buf.data(), n);
  int st = pclose(p);
  r.status = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
  return r;
}

std::string dev_env::value(const std::string& key, const std::string& fallback) const {
  auto it = vars_.find(key);
  return it == vars_.end() ? fallback : it->second;
}

} // namespace dbuser::test
