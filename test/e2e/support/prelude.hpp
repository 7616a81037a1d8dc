#pragma once

// What every end-to-end test file starts with: the harness (e2e_env), its Catch2 checks, waiting
// on conditions, and the names the tests use unqualified. For test files only: it brings those
// names into the global namespace.

#include "test/e2e/support/checks.hpp"
#include "test/e2e/support/e2e_env.hpp"
#include "test/support/wait.hpp"

#include <catch2/catch.hpp>
#include <chrono>
#include <nlohmann/json.hpp>

using namespace std::chrono;
using namespace dbuser::test::e2e;
using dbuser::test::wait_until;
using nlohmann::json;
