#pragma once

// Logging setup for the binary: spdlog with `text` (for humans) or `json` (one valid JSON object
// per line: time, level, logger, msg, and namespace/name when the message starts with a resource
// key "ns/name: "). Nothing that is logged may hold a password, verifier or token.

#include <string>

namespace dbuser::log {

// Sets the default logger's level ("trace".."critical", "off") and format ("text" | "json").
// Returns false for an unknown level or format.
[[nodiscard]] bool setup(const std::string& level, const std::string& format);

// The JSON line for one message (pure; used by the json formatter and its test).
[[nodiscard]] std::string json_line(const std::string& time, const std::string& level,
                                    const std::string& logger, const std::string& msg);

} // namespace dbuser::log
