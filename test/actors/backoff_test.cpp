#include "actors/backoff.hpp"

#include <catch2/catch.hpp>

using namespace dbuser::actors;
using namespace std::chrono;

TEST_CASE("backoff doubles from about 100 ms and never exceeds 5 minutes") {
  backoff_policy p;
  CHECK(backoff_delay(p, 1, 0.5) == milliseconds(100));
  CHECK(backoff_delay(p, 2, 0.5) == milliseconds(200));
  CHECK(backoff_delay(p, 5, 0.5) == milliseconds(1600));
  CHECK(backoff_delay(p, 30, 0.99) == minutes(5));
  CHECK(backoff_delay(p, 1000, 0.0) == milliseconds(150000));
}

TEST_CASE("jitter spreads a delay between half and one and a half times") {
  backoff_policy p;
  CHECK(backoff_delay(p, 4, 0.0) == milliseconds(400));
  CHECK(backoff_delay(p, 4, 0.999).count() == Approx(1199).margin(1));
}

TEST_CASE("resyncs are spread within ten percent of the period") {
  CHECK(spread(minutes(5), 0.0) == milliseconds(270000));
  CHECK(spread(minutes(5), 0.5) == milliseconds(300000));
  CHECK(spread(minutes(5), 0.999).count() < 330000);
}
