#include "actors/operator.hpp"
#include "actors/secret_writer.hpp"

#include <catch2/catch.hpp>

using namespace dbuser::actors;
using nlohmann::json;

TEST_CASE("status-only updates of a PostgresUser do not ask for a reconcile") {
  json old_obj = {{"metadata", {{"generation", 1}, {"resourceVersion", "1"}}},
                  {"status", {{"ready", false}}}};
  json status_only = old_obj;
  status_only["metadata"]["resourceVersion"] = "2";
  status_only["status"]["ready"] = true;
  CHECK_FALSE(user_update_matters(old_obj, status_only));

  json spec_change = status_only;
  spec_change["metadata"]["generation"] = 2;
  CHECK(user_update_matters(old_obj, spec_change));
  json annotated = old_obj;
  annotated["metadata"]["annotations"] = {{"database.example.com/rotate", "now"}};
  CHECK(user_update_matters(old_obj, annotated));
  json deleting = old_obj;
  deleting["metadata"]["deletionTimestamp"] = "2026-01-01T00:00:00Z";
  CHECK(user_update_matters(old_obj, deleting));
}

TEST_CASE("a Secret of ours names its PostgresUser through its owner label") {
  json s = {{"metadata",
             {{"namespace", "team-a"},
              {"labels", {{"database.example.com/postgresuser", "app-user"}}}}}};
  CHECK(owner_key_of_secret(s, dbuser::api::engine::postgres) == "team-a/app-user");
  CHECK(owner_key_of_secret(s, dbuser::api::engine::mysql).empty());
  CHECK(owner_key_of_secret(json{{"metadata", {{"namespace", "x"}}}}, dbuser::api::engine::postgres)
          .empty());
  json m = {{"metadata",
             {{"namespace", "team-b"}, {"labels", {{"database.example.com/mysqluser", "db-user"}}}}}};
  CHECK(owner_key_of_secret(m, dbuser::api::engine::mysql) == "team-b/db-user");
}

TEST_CASE("a merge patch that changes nothing is recognised") {
  json secret = {{"metadata", {{"labels", {{"a", "1"}, {"other", "kept"}}}}},
                 {"data", {{"password", "cHc="}}}};
  CHECK_FALSE(patch_changes(secret, {{"metadata", {{"labels", {{"a", "1"}}}}}}));
  CHECK(patch_changes(secret, {{"data", {{"password", "bmV3"}}}}));
  CHECK(patch_changes(secret, {{"data", {{"pending", nullptr}, {"password", "cHc="}}}}) == false);
}
