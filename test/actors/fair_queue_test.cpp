#include "common/fair_queue.hpp"

#include <catch2/catch.hpp>

#include <string>
#include <vector>

using namespace dbuser;

TEST_CASE("namespaces take turns: one namespace's thousands do not hold back another's one") {
  fair_queue<std::string> q;
  for (int i = 0; i < 1000; ++i)
    q.push(lane::urgent, "bulk", "bulk/" + std::to_string(i));
  q.push(lane::urgent, "team-b", "team-b/app");
  CHECK(q.namespaces(lane::urgent) == 2);
  CHECK(q.pop().first == "bulk/0");
  CHECK(q.pop().first == "team-b/app"); // its turn comes after one of the bulk's
  CHECK(q.pop().first == "bulk/1");
  CHECK(q.size(lane::urgent) == 998);
}

TEST_CASE("new or changed work goes before resyncs and deletions, which keep their order") {
  fair_queue<int> q;
  q.push(lane::background, "a", 1);
  q.push(lane::background, "a", 2);
  q.push(lane::urgent, "a", 3);
  auto [first, from] = q.pop();
  CHECK(first == 3);
  CHECK(from == lane::urgent);
  CHECK(q.pop() == std::pair<int, lane>{1, lane::background});
  CHECK(q.pop() == std::pair<int, lane>{2, lane::background});
  CHECK(q.empty());
}

TEST_CASE("every item is handed out exactly once, in its namespace's order") {
  fair_queue<int> q;
  std::vector<int> out;
  for (int i = 0; i < 30; ++i)
    q.push(i % 4 == 0 ? lane::urgent : lane::background, "ns" + std::to_string(i % 3), i);
  while (!q.empty())
    out.push_back(q.pop().first);
  REQUIRE(out.size() == 30);
  std::vector<int> last(3, -1);
  std::vector<int> last_urgent(3, -1);
  for (int v : out) {
    auto& l = v % 4 == 0 ? last_urgent : last;
    CHECK(v > l[static_cast<std::size_t>(v % 3)]);
    l[static_cast<std::size_t>(v % 3)] = v;
  }
}
