#pragma once

// Client-side token bucket (client-go's flowcontrol): `burst` tokens, refilled at `qps` per
// second. Non-blocking: `reserve()` takes a token now (the balance may go negative) and says how
// long the caller must wait before sending, so requests queue in order without a thread sleeping.
// The clock is injected: unit tests drive time by hand.

#include <chrono>
#include <functional>
#include <mutex>

namespace dbuser::k8s {

class token_bucket {
public:
  using clock_fn = std::function<std::chrono::steady_clock::time_point()>;

  // qps <= 0 disables limiting (reserve() always returns zero).
  token_bucket(double qps, int burst, clock_fn clock = [] { return std::chrono::steady_clock::now(); });

  // Takes one token; returns the delay before the request may be sent (zero when a token was free).
  [[nodiscard]] std::chrono::nanoseconds reserve();
  // Takes a token only when one is available now.
  [[nodiscard]] bool try_take();
  // Tokens available now (may be negative when requests are queued).
  [[nodiscard]] double available();

private:
  void refill(std::chrono::steady_clock::time_point now);

  std::mutex mutex_;
  double qps_;
  double burst_;
  clock_fn clock_;
  double tokens_;
  std::chrono::steady_clock::time_point last_;
};

} // namespace dbuser::k8s
