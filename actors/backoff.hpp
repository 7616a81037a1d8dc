#pragma once

// Retry delays: exponential with jitter, from `initial` up to `max`, reset on success. Pure: the
// caller passes the random draw in [0, 1).

#include <algorithm>
#include <chrono>
#include <cmath>

namespace dbuser::actors {

struct backoff_policy {
  std::chrono::milliseconds initial{100};
  std::chrono::milliseconds max{std::chrono::minutes(5)};
};

// The delay before retry number `attempt` (1 = first retry): initial·2^(attempt-1), capped at
// max, then scaled by a jitter factor in [0.5, 1.5) (and capped at max again).
inline std::chrono::milliseconds backoff_delay(const backoff_policy& p, int attempt, double draw) {
  const double base = static_cast<double>(p.initial.count())
                      * std::pow(2.0, std::clamp(attempt - 1, 0, 30));
  const double capped = std::min(base, static_cast<double>(p.max.count()));
  const double jittered = std::min(capped * (0.5 + std::clamp(draw, 0.0, 1.0)),
                                   static_cast<double>(p.max.count()));
  return std::chrono::milliseconds(static_cast<long long>(jittered));
}

// A periodic resync spread out: period scaled by a factor in [0.9, 1.1).
inline std::chrono::milliseconds spread(std::chrono::milliseconds period, double draw) {
  return std::chrono::milliseconds(
    static_cast<long long>(static_cast<double>(period.count()) * (0.9 + 0.2 * draw)));
}

} // namespace dbuser::actors
