#include "mysql/plan.hpp"

#include "common/text.hpp"

#include "mysql/sql.hpp"

#include <algorithm>
#include <cctype>
#include <utility>

namespace dbuser::mysql {

namespace {

struct builder {
  std::string user;
  std::string host;
  std::string label; // 'user'@'host'
  std::vector<action> out;

  // Adds a statement (an empty one is nothing to do); a builder error stops the plan.
  result<void> add(result<std::string> sql, std::string description, std::string context,
                   bool sensitive = false, std::string undo = {}) {
    if (!sql)
      return make_unexpected(make_error(sql.error().kind, sql.error().message, context));
    if (sql->empty())
      return {};
    out.push_back(action{std::move(*sql), std::move(description), std::move(context), sensitive,
                         std::move(undo)});
    return {};
  }
};

result<void> plan_account(builder& b, const desired_account& d, const observed_account& o) {
  const auto& who = b.label;
  if (!o.exists) {
    if (d.password_hash.empty())
      return make_unexpected(make_error(error_kind::invalid,
                                        "account " + who + " does not exist and no password was given",
                                        "while creating account " + who));
    if (!o.owner) {
      if (auto r = b.add(sql::create_bookkeeping_database(), "created the database "
                                                                 "dbuser_operator",
                         "while creating the operator's database dbuser_operator");
          !r)
        return r;
      if (auto r = b.add(sql::create_owners_table(), "created the table dbuser_operator.owners",
                         "while creating the table dbuser_operator.owners");
          !r)
        return r;
      if (auto r = b.add(sql::claim_owner(b.user, b.host, d.owner),
                         "claimed account " + who + " for " + d.owner,
                         "while claiming account " + who + " for " + d.owner);
          !r)
        return r;
    }
    auto release = sql::release_owner(b.user, b.host, d.owner);
    return b.add(sql::create_user(b.user, b.host, d.password_hash, d.max_user_connections),
                 "created account " + who, "while creating account " + who, true,
                 release ? *release : std::string());
  }
  if (!o.global_privileges.empty())
    if (auto r = b.add(sql::revoke_global_privileges(b.user, b.host),
                       "revoked global privileges " + join(o.global_privileges, ", ") + " from " + who,
                       "while revoking global privileges from " + who);
        !r)
      return r;
  if (o.global_grant_option)
    if (auto r = b.add(sql::revoke_global_grant_option(b.user, b.host),
                       "revoked GRANT OPTION on *.* from " + who,
                       "while revoking GRANT OPTION on *.* from " + who);
        !r)
      return r;
  if (o.max_user_connections != d.max_user_connections)
    if (auto r = b.add(sql::alter_user_max_connections(b.user, b.host, d.max_user_connections),
                       "set MAX_USER_CONNECTIONS of " + who + " to "
                         + std::to_string(d.max_user_connections),
                       "while setting MAX_USER_CONNECTIONS of " + who);
        !r)
      return r;
  return {};
}

// Revokes everything `g` holds that is not in `want`.
result<void> revoke_extra(builder& b, const std::string& shown, const observed_grant& g,
                          privilege_set want) {
  const auto& who = b.label;
  const auto revoke = g.privileges.minus(want);
  if (auto r = b.add(sql::revoke_on_database(revoke, g.pattern, b.user, b.host),
                     "revoked " + revoke.to_string() + " on " + shown + ".*",
                     "while revoking " + revoke.to_string() + " on " + shown + ".* from " + who);
      !r)
    return r;
  if (auto r = b.add(sql::revoke_keywords_on_database(g.other, g.pattern, b.user, b.host),
                     "revoked " + join(g.other, ", ") + " on " + shown + ".*",
                     "while revoking " + join(g.other, ", ") + " on " + shown + ".* from " + who);
      !r)
    return r;
  if (g.grant_option)
    return b.add(sql::revoke_grant_option(g.pattern, b.user, b.host),
                 "revoked GRANT OPTION on " + shown + ".*",
                 "while revoking GRANT OPTION on " + shown + ".* from " + who);
  return {};
}

} // namespace

std::string account_label(std::string_view user, std::string_view host) {
  return "'" + std::string(user) + "'@'" + std::string(host) + "'";
}

result<std::vector<action>> plan(const desired_account& desired, const observed_state& observed) {
  builder b{desired.user, ascii_lower(desired.host), {}, {}};
  b.label = account_label(b.user, b.host);
  const auto own = ownership_of(observed.account, desired.owner);
  if (own.state == ownership::unmanaged)
    return make_unexpected(make_error(error_kind::conflict,
                                      "account " + b.label
                                        + " exists and is not managed by the operator",
                                      "while converging account " + b.label));
  if (own.state == ownership::owned_by_other)
    return make_unexpected(make_error(error_kind::conflict,
                                      "account " + b.label + " belongs to " + own.owner,
                                      "while converging account " + b.label));

  // Desired grants merged by database, in first-seen order.
  std::vector<database_grant> wanted;
  for (const auto& g : desired.grants) {
    auto w = std::find_if(wanted.begin(), wanted.end(),
                          [&](const database_grant& e) { return e.database == g.database; });
    if (w == wanted.end()) {
      wanted.push_back(g);
    } else {
      w->privileges = w->privileges.unite(g.privileges);
      w->create_database = w->create_database || g.create_database;
    }
  }

  // 1. Databases.
  for (const auto& g : wanted) {
    const auto* o = find_by(observed.databases, &observed_database::name, g.database);
    if (o != nullptr && o->exists)
      continue;
    if (!g.create_database)
      return make_unexpected(make_error(error_kind::invalid,
                                        "database " + g.database + " does not exist",
                                        "while granting on database " + g.database + " to "
                                          + b.label));
    if (auto r = b.add(sql::create_database(g.database), "created database " + g.database,
                       "while creating database " + g.database);
        !r)
      return make_unexpected(r.error());
  }
  // 2. The account.
  if (auto r = plan_account(b, desired, observed.account); !r)
    return make_unexpected(r.error());
  // 3. Grants on the desired databases; 4. whatever is held elsewhere.
  const bool exists = observed.account.exists;
  for (const auto& g : wanted) {
    const auto pattern = sql::database_pattern(g.database);
    const auto* have =
      exists ? find_by(observed.grants, &observed_grant::pattern, pattern) : nullptr;
    const auto grant = g.privileges.minus(have != nullptr ? have->privileges : privilege_set{});
    if (auto r = b.add(sql::grant_on_database(grant, pattern, b.user, b.host),
                       "granted " + grant.to_string() + " on " + g.database + ".*",
                       "while granting " + grant.to_string() + " on " + g.database + ".* to "
                         + b.label);
        !r)
      return make_unexpected(r.error());
    if (have != nullptr)
      if (auto r = revoke_extra(b, g.database, *have, g.privileges); !r)
        return make_unexpected(r.error());
  }
  if (exists)
    for (const auto& have : observed.grants) {
      if (std::any_of(wanted.begin(), wanted.end(), [&](const database_grant& g) {
            return sql::database_pattern(g.database) == have.pattern;
          }))
        continue;
      if (auto r = revoke_extra(b, have.pattern, have, privilege_set{}); !r)
        return make_unexpected(r.error());
    }
  return std::move(b.out);
}

ownership_result ownership_of(const observed_account& observed, std::string_view expected_owner) {
  if (observed.owner && *observed.owner != expected_owner)
    return {ownership::owned_by_other, *observed.owner};
  if (!observed.exists)
    return {ownership::absent, {}};
  if (!observed.owner)
    return {ownership::unmanaged, {}};
  return {ownership::ours, *observed.owner};
}

} // namespace dbuser::mysql
