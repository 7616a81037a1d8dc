// dbuser-operator: manages PostgreSQL users declaratively from PostgresUser resources.
#include <cstring>
#include <iostream>

int main(int argc, char** argv) {
  for (int i = 1; i < argc; ++i) {
    if (std::strcmp(argv[i], "--version") == 0) {
      std::cout << "dbuser-operator " << DBUSER_VERSION << "\n";
      return 0;
    }
  }
  std::cerr << "dbuser-operator " << DBUSER_VERSION << ": the reconciler is not built yet\n";
  return 2;
}
