// The Dockerfile cannot be built here (no container engine). What can be checked: its runtime
// stage installs exactly the Debian packages that ship the libraries the binary links directly
// (readelf NEEDED → the file ldd resolves → dpkg -S), plus ca-certificates.
#include "test/support/dev_env.hpp"

#include <catch2/catch.hpp>
#include <fstream>
#include <set>
#include <sstream>

using dbuser::test::run_command;

namespace {

std::set<std::string> lines_of(const std::string& text) {
  std::set<std::string> out;
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line))
    if (!line.empty())
      out.insert(line);
  return out;
}

std::set<std::string> dockerfile_runtime_packages() {
  std::ifstream in(std::string(DBUSER_SOURCE_DIR) + "/deploy/Dockerfile");
  std::string line;
  bool inside = false;
  std::set<std::string> pkgs;
  while (std::getline(in, line)) {
    if (line.find("runtime-packages-begin") != std::string::npos)
      inside = true;
    else if (line.find("runtime-packages-end") != std::string::npos)
      inside = false;
    else if (inside) {
      std::istringstream words(line);
      std::string w;
      while (words >> w)
        if (w.rfind("lib", 0) == 0 || w == "ca-certificates")
          pkgs.insert(w);
    }
  }
  return pkgs;
}

} // namespace

TEST_CASE("the Dockerfile's runtime packages are those of the libraries the binary links") {
  const std::string bin = DBUSER_OPERATOR_BINARY;
  // Base-image libraries (libc, libm, libgcc) are in debian:bookworm-slim already; the sanitizer
  // runtimes are linked only by the ASan/UBSan build of the tests.
  auto r = run_command(
    "readelf -d '" + bin + "' | sed -n 's/.*NEEDED.*\\[\\(.*\\)\\]/\\1/p' | "
    "while read l; do f=$(ldd '" + bin + "' | awk -v l=\"$l\" '$1==l {print $3}'); "
    "dpkg -S \"$(readlink -f \"$f\")\" | cut -d: -f1 | head -1; done | "
    "grep -vxE 'libc6|libgcc-s1|libasan[0-9]*|libubsan[0-9]*' | sort -u");
  REQUIRE(r.status == 0);
  auto linked = lines_of(r.out);
  REQUIRE(linked.size() >= 8);
  auto listed = dockerfile_runtime_packages();
  listed.erase("ca-certificates"); // TLS trust for the API server and PostgreSQL
  CHECK(listed == linked);
}
