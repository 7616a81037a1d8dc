#include "k8s/rate_limiter.hpp"

#include <algorithm>
#include <cmath>

namespace dbuser::k8s {

token_bucket::token_bucket(double qps, int burst, clock_fn clock)
    : qps_(qps), burst_(std::max(1, burst)), clock_(std::move(clock)), tokens_(burst_), last_(clock_()) {}

void token_bucket::refill(std::chrono::steady_clock::time_point now) {
  if (now > last_) {
    const double elapsed = std::chrono::duration<double>(now - last_).count();
    tokens_ = std::min(burst_, tokens_ + elapsed * qps_);
    last_ = now;
  }
}

std::chrono::nanoseconds token_bucket::reserve() {
  if (qps_ <= 0) return std::chrono::nanoseconds::zero();
  std::lock_guard<std::mutex> lock(mutex_);
  refill(clock_());
  tokens_ -= 1.0;
  if (tokens_ >= 0) return std::chrono::nanoseconds::zero();
  return std::chrono::nanoseconds(static_cast<long long>(std::ceil(-tokens_ / qps_ * 1e9)));
}

bool token_bucket::try_take() {
  if (qps_ <= 0) return true;
  std::lock_guard<std::mutex> lock(mutex_);
  refill(clock_());
  if (tokens_ < 1.0) return false;
  tokens_ -= 1.0;
  return true;
}

double token_bucket::available() {
  std::lock_guard<std::mutex> lock(mutex_);
  refill(clock_());
  return tokens_;
}

} // namespace dbuser::k8s
