#pragma once

#include <chrono>
#include <functional>
#include <string>

namespace dbuser::test {

// Polls `condition` until it holds or `deadline` passes; returns whether it held. Tests wait on
// conditions with a deadline, never on a fixed sleep.
bool wait_until(const std::function<bool()>& condition,
                std::chrono::milliseconds deadline = std::chrono::seconds(30),
                std::chrono::milliseconds poll = std::chrono::milliseconds(50));

// A name unique to this process and call, for objects a test creates (lowercase, DNS-safe).
std::string unique_name(const std::string& prefix);

} // namespace dbuser::test
