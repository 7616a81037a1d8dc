#include "k8s/rate_limiter.hpp"

#include <catch2/catch.hpp>

using namespace dbuser::k8s;
using namespace std::chrono;

namespace {
struct manual_clock {
  steady_clock::time_point now{};
  token_bucket::clock_fn fn() {
    return [this] { return now; };
  }
};
} // namespace

TEST_CASE("a full bucket lets a burst through without waiting") {
  manual_clock clock;
  token_bucket b(10, 5, clock.fn());
  for (int i = 0; i < 5; ++i) CHECK(b.reserve() == nanoseconds::zero());
}

TEST_CASE("past the burst each request waits one more 1/qps") {
  manual_clock clock;
  token_bucket b(10, 2, clock.fn());
  CHECK(b.reserve() == nanoseconds::zero());
  CHECK(b.reserve() == nanoseconds::zero());
  CHECK(b.reserve() == milliseconds(100));
  CHECK(b.reserve() == milliseconds(200));
  CHECK(b.reserve() == milliseconds(300));
}

TEST_CASE("tokens refill with time up to the burst and no further") {
  manual_clock clock;
  token_bucket b(10, 3, clock.fn());
  for (int i = 0; i < 3; ++i) (void)b.reserve();
  CHECK(b.available() == Approx(0));
  clock.now += milliseconds(150);
  CHECK(b.available() == Approx(1.5));
  clock.now += seconds(60);
  CHECK(b.available() == Approx(3));
}

TEST_CASE("try_take refuses when the bucket is empty and succeeds after a refill") {
  manual_clock clock;
  token_bucket b(2, 1, clock.fn());
  CHECK(b.try_take());
  CHECK_FALSE(b.try_take());
  clock.now += milliseconds(500);
  CHECK(b.try_take());
}

TEST_CASE("500 requests at qps 50 with burst 100 are spread over 8 seconds") {
  manual_clock clock;
  token_bucket b(50, 100, clock.fn());
  nanoseconds last{};
  for (int i = 0; i < 500; ++i) last = b.reserve();
  CHECK(duration_cast<milliseconds>(last) == milliseconds(8000));
}

TEST_CASE("a zero qps disables limiting") {
  manual_clock clock;
  token_bucket b(0, 1, clock.fn());
  for (int i = 0; i < 1000; ++i) REQUIRE(b.reserve() == nanoseconds::zero());
}
