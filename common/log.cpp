#include "common/log.hpp"

#include <chrono>
#include <ctime>
#include <nlohmann/json.hpp>
#include <spdlog/pattern_formatter.h>
#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>

namespace dbuser::log {

namespace {

// "team-a/app-user: reconciled" → ("team-a", "app-user")
bool resource_key(const std::string& msg, std::string& ns, std::string& name) {
  auto colon = msg.find(": ");
  if (colon == std::string::npos || colon > 320)
    return false;
  auto slash = msg.find('/');
  if (slash == std::string::npos || slash > colon)
    return false;
  auto is_dns = [](char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '.'; };
  for (size_t i = 0; i < colon; ++i)
    if (i != slash && !is_dns(msg[i]))
      return false;
  ns = msg.substr(0, slash);
  name = msg.substr(slash + 1, colon - slash - 1);
  return !ns.empty() && !name.empty();
}

class json_formatter final : public spdlog::formatter {
public:
  void format(const spdlog::details::log_msg& m, spdlog::memory_buf_t& dest) override {
    using namespace std::chrono;
    auto t = system_clock::to_time_t(m.time);
    std::tm tm{};
    gmtime_r(&t, &tm);
    char buf[96];
    auto ms = duration_cast<milliseconds>(m.time.time_since_epoch()).count() % 1000;
    std::snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900,
                  tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
                  static_cast<int>(ms));
    auto level = spdlog::level::to_string_view(m.level);
    std::string line = json_line(buf, std::string(level.data(), level.size()),
                                 std::string(m.logger_name.data(), m.logger_name.size()),
                                 std::string(m.payload.data(), m.payload.size()));
    line += '\n';
    dest.append(line.data(), line.data() + line.size());
  }
  [[nodiscard]] std::unique_ptr<spdlog::formatter> clone() const override {
    return std::make_unique<json_formatter>();
  }
};

} // namespace

std::string json_line(const std::string& time, const std::string& level,
                      const std::string& logger, const std::string& msg) {
  nlohmann::json j = {{"time", time}, {"level", level}, {"logger", logger.empty() ? "dbuser-operator" : logger}};
  std::string ns, name;
  if (resource_key(msg, ns, name)) {
    j["namespace"] = ns;
    j["name"] = name;
    j["msg"] = msg.substr(ns.size() + name.size() + 3);
  } else {
    j["msg"] = msg;
  }
  return j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

bool setup(const std::string& level, const std::string& format) {
  auto lvl = spdlog::level::from_str(level);
  if (lvl == spdlog::level::off && level != "off")
    return false;
  if (format != "json" && format != "text")
    return false;
  auto logger = std::make_shared<spdlog::logger>(
    "dbuser-operator", std::make_shared<spdlog::sinks::stderr_sink_mt>());
  if (format == "json")
    logger->set_formatter(std::make_unique<json_formatter>());
  else
    logger->set_pattern("%Y-%m-%dT%H:%M:%S.%e %^%-5l%$ %v");
  logger->set_level(lvl);
  logger->flush_on(spdlog::level::info);
  spdlog::set_default_logger(logger);
  return true;
}

} // namespace dbuser::log
