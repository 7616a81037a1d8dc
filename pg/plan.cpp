#include "pg/plan.hpp"

#include "common/text.hpp"

#include "pg/groups.hpp"
#include "pg/sql.hpp"
#include "pg/validation.hpp"

#include <algorithm>
#include <map>
#include <set>
#include <type_traits>
#include <utility>

namespace dbuser::pg {

namespace {

using scope_key = std::pair<std::string, std::string>; // database, schema

std::string where(const scope_key& k) { return k.first + "." + k.second; }

struct builder {
  std::string role;
  std::string admin;
  std::vector<action> out;

  void add(std::string database, std::string sql, std::string description, std::string context,
           bool outside_transaction = false, bool sensitive = false, std::string if_denied = {}) {
    if (sql.empty())
      return;
    out.push_back(action{std::move(database), std::move(sql), std::move(description),
                         std::move(context), outside_transaction, sensitive,
                         std::move(if_denied)});
  }

  // What a least-privilege admin lacks when the server refuses (42501), and the way out.
  [[nodiscard]] std::string needs_admin_option(const std::string& r) const {
    return "the admin " + admin + " cannot alter role " + r
           + ": on PostgreSQL 16+ it needs ADMIN OPTION on it (it has it on roles it created)";
  }
  [[nodiscard]] std::string needs_grantable(const std::string& group) const {
    return "the admin " + admin + " cannot grant membership in " + group
           + ": grant it ADMIN OPTION on that role (GRANT " + sql::quote_ident(group) + " TO "
           + sql::quote_ident(admin)
           + " WITH ADMIN OPTION); before PostgreSQL 16, CREATEROLE is enough";
  }
};

// One (database, schema) the role should hold privileges in, merged over grants.
struct scope {
  scope_key key;
  privilege_set privileges;
  sequence_privilege_set sequences;
  schema_privilege_set schema;
  function_privilege_set functions;
  std::vector<std::string> creators; // whose future tables are covered; never empty
};

const observed_schema* find_schema(const observed_state& o, const scope_key& k) {
  for (const auto& s : o.schemas)
    if (s.database == k.first && s.schema == k.second)
      return &s;
  return nullptr;
}

// The role's comment: the marker that names its owning resource.
result<void> mark_managed(builder& b, const desired_role& d) {
  const auto& r = d.name;
  auto comment = sql::comment_on_role(r, d.marker);
  if (!comment)
    return make_unexpected(comment.error());
  b.add("", *comment, "marked role " + r + " as managed", "while marking role " + r, false, false,
        b.needs_admin_option(r));
  return {};
}

// The role itself: created (LOGIN with the password when it is the active one, else NOLOGIN),
// then its attributes, connection limit and marker; `mode` says what LOGIN and the password
// should be. `verifier` and `set_password` apply to an active role.
result<void> plan_role(builder& b, const desired_role& d, const observed_role& o,
                       login_mode mode) {
  const auto& r = d.name;
  const bool active = mode == login_mode::active;
  if (!o.exists) {
    if (active && d.verifier.empty())
      return make_unexpected(make_error(error_kind::invalid,
                                        "role " + r + " does not exist and no password was given",
                                        "while creating role " + r));
    auto create = active ? sql::create_role(r, d.verifier, d.connection_limit)
                         : result<std::string>(sql::create_role_nologin(r, d.connection_limit));
    if (!create)
      return make_unexpected(create.error());
    b.add("", *create, "created role " + r, "while creating role " + r, false, active,
          "the admin " + b.admin + " lacks CREATEROLE: grant it CREATEROLE");
    return mark_managed(b, d);
  }
  if (active && !o.login)
    b.add("", sql::alter_role_attribute(r, "LOGIN"), "enabled LOGIN for role " + r,
          "while enabling LOGIN for role " + r, false, false, b.needs_admin_option(r));
  if (mode == login_mode::disabled && o.login)
    b.add("", sql::disable_login(r), "disabled the login of role " + r,
          "while disabling the login of role " + r, false, false, b.needs_admin_option(r));
  if (active && d.set_password) {
    auto set = sql::alter_role_password(r, d.verifier);
    if (!set)
      return make_unexpected(set.error());
    b.add("", *set, "set the password of role " + r, "while setting the password of role " + r,
          false, true, b.needs_admin_option(r));
  }
  const std::pair<bool, const char*> flags[] = {
    {o.superuser, "SUPERUSER"},     {o.createdb, "CREATEDB"},   {o.createrole, "CREATEROLE"},
    {o.replication, "REPLICATION"}, {o.bypassrls, "BYPASSRLS"},
  };
  for (const auto& [held, name] : flags)
    if (held)
      b.add("", sql::alter_role_attribute(r, std::string("NO") + name),
            std::string("removed ") + name + " from role " + r,
            std::string("while removing ") + name + " from role " + r, false, false,
            "the admin " + b.admin + " cannot remove " + name + " from role " + r
              + ": only a superuser can (a role with " + name + " is not the operator's to fix)");
  if (o.connection_limit != d.connection_limit)
    b.add("", sql::alter_role_connection_limit(r, d.connection_limit),
          "set the connection limit of role " + r + " to " + std::to_string(d.connection_limit),
          "while setting the connection limit of role " + r, false, false,
          b.needs_admin_option(r));
  if (o.comment != d.marker)
    return mark_managed(b, d);
  return {};
}

// Memberships granted, privilege groups joined (each in its database, where joining and dropping
// a group are serialised: pg/groups.hpp), then memberships and groups left: a role never lacks
// a privilege it keeps.
void plan_memberships(builder& b, const desired_role& d, const observed_state& observed,
                      const std::vector<privilege_group>& groups) {
  const auto& o = observed.role;
  const std::set<std::string> want(d.member_of.begin(), d.member_of.end());
  const auto held = [&o](const std::vector<std::string>& v) {
    return o.exists ? std::set<std::string>(v.begin(), v.end()) : std::set<std::string>{};
  };
  const std::set<std::string> have = held(o.member_of);
  const std::set<std::string> have_groups = held(o.groups);
  for (const auto& g : want)
    if (have.count(g) == 0)
      b.add("", sql::grant_membership(g, d.name), "granted membership in " + g,
            "while granting membership in " + g + " to " + d.name, false, false,
            b.needs_grantable(g));
  std::set<std::string> want_groups;
  for (const auto& g : groups) {
    want_groups.insert(g.name);
    if (have_groups.count(g.name) == 0)
      b.add(g.scope.database,
            sql::grant_group_membership(g.name, d.name, observed.server_version_num),
            "granted membership in privilege group " + g.name,
            "while granting membership in privilege group " + g.name + " to " + d.name, false,
            false, b.needs_grantable(g.name));
  }
  for (const auto& g : have)
    if (want.count(g) == 0)
      b.add("", sql::revoke_membership(g, d.name), "revoked membership in " + g,
            "while revoking membership in " + g + " from " + d.name, false, false,
            b.needs_grantable(g));
  for (const auto& g : have_groups)
    if (want_groups.count(g) == 0)
      b.add("", sql::revoke_membership(g, d.name), "revoked membership in privilege group " + g,
            "while revoking membership in privilege group " + g + " from " + d.name, false,
            false, b.needs_grantable(g));
}

// The admin sets default privileges for its own tables; for another creator's, it must be a
// member of that role.
std::string default_privileges_denied(const builder& b, const std::string& creator) {
  if (creator == b.admin)
    return {};
  return "the admin " + b.admin + " cannot set default privileges for tables that " + creator
         + " creates: make it a member (GRANT " + sql::quote_ident(creator) + " TO "
         + sql::quote_ident(b.admin) + ")";
}

// Default privileges of one kind of object (tables or sequences) for each creator: granted where
// missing, revoked where held and no longer wanted.
template <class Set>
void plan_defaults(builder& b, const scope_key& k, Set want,
                   const std::vector<std::string>& creators, const std::map<std::string, Set>& have,
                   const char* objects) {
  const auto& r = b.role;
  auto held = [&](const std::string& c) {
    auto it = have.find(c);
    return it == have.end() ? Set{} : it->second;
  };
  const bool tables = std::string_view(objects) == "tables";
  auto add = [&b, &k, &r, objects, tables](const std::string& c, Set p, bool grant) {
    const std::string whose = c == b.admin ? "" : " created by " + c;
    std::string sql;
    if constexpr (std::is_same_v<Set, privilege_set>)
      sql = grant ? sql::grant_default_privileges(c, p, k.second, r)
                  : sql::revoke_default_privileges(c, p, k.second, r);
    else if constexpr (std::is_same_v<Set, sequence_privilege_set>)
      sql = grant ? sql::grant_default_sequence_privileges(c, p, k.second, r)
                  : sql::revoke_default_sequence_privileges(c, p, k.second, r);
    else
      sql = grant ? sql::grant_default_function_privileges(c, p, k.second, r)
                  : sql::revoke_default_function_privileges(c, p, k.second, r);
    b.add(k.first, std::move(sql),
          (grant ? "granted " : "revoked ") + p.to_string() + " on future " + objects + " of "
            + where(k) + whose,
          std::string(grant ? "while granting" : "while revoking") + " default privileges "
            + p.to_string() + (tables ? "" : std::string(" on ") + objects) + " on " + where(k)
            + whose
            + (grant ? " to " : " from ") + r,
          false, false, default_privileges_denied(b, c));
  };
  for (const auto& c : creators)
    add(c, want.minus(held(c)), true);
  for (const auto& [c, privileges] : have) {
    const bool wanted = std::find(creators.begin(), creators.end(), c) != creators.end();
    add(c, wanted ? privileges.minus(want) : privileges, false);
  }
}

// Sequences or routines of a schema: what is wanted on every one of them, what is held beyond
// it revoked.
template <class Set>
void plan_objects(builder& b, const scope_key& k, Set want, Set every, Set some,
                  const char* objects) {
  const auto& r = b.role;
  auto sql = [&](bool grant, Set p) {
    if constexpr (std::is_same_v<Set, sequence_privilege_set>)
      return grant ? sql::grant_on_all_sequences(p, k.second, r)
                   : sql::revoke_on_all_sequences(p, k.second, r);
    else
      return grant ? sql::grant_on_all_routines(p, k.second, r)
                   : sql::revoke_on_all_routines(p, k.second, r);
  };
  const std::string of = std::string(" on the ") + objects + " of " + where(k);
  const auto grant = want.minus(every);
  b.add(k.first, sql(true, grant), "granted " + grant.to_string() + of,
        "while granting " + grant.to_string() + of + " to " + r);
  const auto revoke = some.minus(want);
  b.add(k.first, sql(false, revoke), "revoked " + revoke.to_string() + of,
        "while revoking " + revoke.to_string() + of + " from " + r);
}

void plan_schema(builder& b, const scope& sc, const observed_schema* o) {
  const auto& r = b.role;
  const auto& k = sc.key;
  const auto& want = sc.privileges;
  const auto& [db, schema] = k;
  const observed_schema none{};
  const observed_schema& have = o != nullptr ? *o : none;
  // PUBLIC's USAGE (schema public's default) is enough: no ACL entry per role.
  if (!have.usage && !have.usage_via_public)
    b.add(db, sql::grant_usage(schema, r), "granted USAGE on schema " + where(k),
          "while granting USAGE on schema " + where(k) + " to " + r);
  const privilege_set every = o != nullptr ? have.on_every_table : privilege_set{};
  const auto grant = want.minus(every);
  b.add(db, sql::grant_on_all_tables(grant, schema, r),
        "granted " + grant.to_string() + " on " + where(k),
        "while granting " + grant.to_string() + " on " + where(k) + " to " + r);
  const auto revoke = have.on_some_table.minus(want);
  b.add(db, sql::revoke_on_all_tables(revoke, schema, r),
        "revoked " + revoke.to_string() + " on " + where(k),
        "while revoking " + revoke.to_string() + " on " + where(k) + " from " + r);
  plan_defaults(b, k, want, sc.creators, have.defaults, "tables");
  plan_objects(b, k, sc.sequences, o != nullptr ? have.on_every_sequence : sequence_privilege_set{},
               have.on_some_sequence, "sequences");
  plan_defaults(b, k, sc.sequences, sc.creators, have.sequence_defaults, "sequences");
  plan_objects(b, k, sc.functions, o != nullptr ? have.on_every_function : function_privilege_set{},
               have.on_some_function, "functions");
  plan_defaults(b, k, sc.functions, sc.creators, have.function_defaults, "functions");
  const bool create = sc.schema.contains(schema_privilege::create);
  if (create && !have.create)
    b.add(db, sql::grant_schema_create(schema, r), "granted CREATE on schema " + where(k),
          "while granting CREATE on schema " + where(k) + " to " + r);
  if (!create && have.create)
    b.add(db, sql::revoke_schema_create(schema, r), "revoked CREATE on schema " + where(k),
          "while revoking CREATE on schema " + where(k) + " from " + r);
}

void plan_unwanted_schema(builder& b, const observed_schema& o) {
  const auto& r = b.role;
  const scope_key k{o.database, o.schema};
  b.add(o.database, sql::revoke_on_all_tables(o.on_some_table, o.schema, r),
        "revoked " + o.on_some_table.to_string() + " on " + where(k),
        "while revoking " + o.on_some_table.to_string() + " on " + where(k) + " from " + r);
  plan_defaults(b, k, privilege_set{}, {}, o.defaults, "tables");
  plan_objects(b, k, sequence_privilege_set{}, {}, o.on_some_sequence, "sequences");
  plan_defaults(b, k, sequence_privilege_set{}, {}, o.sequence_defaults, "sequences");
  plan_objects(b, k, function_privilege_set{}, {}, o.on_some_function, "functions");
  plan_defaults(b, k, function_privilege_set{}, {}, o.function_defaults, "functions");
  if (o.create)
    b.add(o.database, sql::revoke_schema_create(o.schema, r), "revoked CREATE on schema " + where(k),
          "while revoking CREATE on schema " + where(k) + " from " + r);
  if (o.usage)
    b.add(o.database, sql::revoke_usage(o.schema, r), "revoked USAGE on schema " + where(k),
          "while revoking USAGE on schema " + where(k) + " from " + r);
}

// A login role of `owner` (Alternating): a member of the owner alone, acting as it. A role of
// that name that is not ours is never touched, and refused when it should log in.
result<void> plan_login(builder& b, const desired_role& owner, const login_role& l,
                        const observed_login* o) {
  const observed_role none{};
  const observed_role& have = o != nullptr ? o->role : none;
  if (l.mode == login_mode::disabled || (l.mode == login_mode::keep && !have.exists)) {
    if (have.exists && have.login && have.comment == owner.marker)
      b.add("", sql::disable_login(l.name), "disabled the login of role " + l.name,
            "while disabling the login of role " + l.name, false, false,
            b.needs_admin_option(l.name));
    return {};
  }
  if (have.exists && (!have.comment || *have.comment != owner.marker))
    return make_unexpected(make_error(
      error_kind::invalid,
      "role " + l.name + " already exists and is not a login role of this resource (comment "
        + (have.comment ? "\"" + *have.comment + "\"" : std::string("none"))
        + "); refusing to use it: drop or rename it",
      "while preparing login role " + l.name));
  desired_role d;
  d.name = l.name;
  d.marker = owner.marker;
  d.connection_limit = owner.connection_limit;
  d.member_of = {owner.name};
  d.verifier = owner.verifier;
  d.set_password = owner.set_password;
  if (auto r = plan_role(b, d, have, l.mode); !r)
    return r;
  observed_state as_observed;
  as_observed.role = have;
  plan_memberships(b, d, as_observed, {}); // the owner alone: no privilege group
  const std::string acts_as = "role=" + owner.name;
  if (std::find(have.config.begin(), have.config.end(), acts_as) == have.config.end()) {
    auto set = sql::alter_role_set_role(l.name, owner.name);
    if (!set)
      return make_unexpected(set.error());
    b.add("", *set, "made role " + l.name + " act as " + owner.name,
          "while making role " + l.name + " act as " + owner.name, false, false,
          b.needs_admin_option(l.name));
  }
  return {};
}

// What the role owns (desired_role::owns_database, ::owned_schemas): its database handed over
// from the admin (who created it when it was missing), its schemas created with it as their
// owner; the admin acts as the role for that (a membership it takes once and keeps: REASSIGN
// OWNED at deletion needs it too). Another role's database or schema is refused untouched, before
// anything is done.
result<void> plan_ownership(builder& b, const desired_role& d, const observed_state& o) {
  if (d.grants.empty() || (!d.owns_database && d.owned_schemas.empty()))
    return {};
  const auto& r = d.name;
  const auto& db = d.grants.front().database;
  const auto& own = o.ownership;
  const auto refuse = [&](const std::string& message) {
    return make_unexpected(make_error(error_kind::conflict, message,
                                      "while making role " + r + " the owner of what it asks for"));
  };
  const bool hand_database = d.owns_database && own.database_owner != r;
  if (hand_database && !own.database_owner.empty()) {
    if (own.database_owner != b.admin)
      return refuse("database " + db + " is owned by role " + own.database_owner
                    + ": refusing to take it over for " + r
                    + " (spec.databaseOwner); its owner can hand it over (ALTER DATABASE "
                    + sql::quote_ident(db) + " OWNER TO " + sql::quote_ident(r)
                    + "), or set databaseOwner: false");
    if (own.foreign_objects > 0)
      return refuse("database " + db + " holds " + std::to_string(own.foreign_objects)
                    + " objects owned by roles other than the admin " + b.admin + " and " + r
                    + ": refusing to hand it to " + r
                    + " (spec.databaseOwner); use a new database, or hand it over yourself");
  }
  std::vector<std::string> create_schemas;
  for (const auto& s : d.owned_schemas) {
    const auto found = own.schema_owners.find(s);
    if (found == own.schema_owners.end())
      create_schemas.push_back(s);
    else if (found->second != r)
      return refuse("schema " + db + "." + s + " is owned by role " + found->second
                    + ": refusing to take it over for " + r
                    + " (spec.ownedSchemas); its owner can hand it over (ALTER SCHEMA "
                    + sql::quote_ident(s) + " OWNER TO " + sql::quote_ident(r)
                    + "), or choose another schema");
  }
  if (!hand_database && create_schemas.empty())
    return {};
  const int version = o.server_version_num;
  if (!own.admin_acts_as_role)
    b.add("", sql::grant_role_to_admin(r, b.admin, version),
          "granted role " + r + " to the admin " + b.admin
            + (version >= 160000 ? " WITH INHERIT TRUE, SET TRUE" : "")
            + " (to make it the owner of what it asks for)",
          "while granting role " + r + " to the admin " + b.admin, false, false,
          "the admin " + b.admin + " cannot act as role " + r
            + " to make it an owner: on PostgreSQL 16+ it needs ADMIN OPTION on it (it has it on "
              "roles it created); before 16, CREATEROLE");
  if (hand_database)
    b.add("", sql::alter_database_owner(db, r), "made role " + r + " the owner of database " + db,
          "while making role " + r + " the owner of database " + db, false, false,
          "the admin " + b.admin + " cannot hand database " + db + " to " + r
            + ": it needs CREATEDB and to own the database");
  for (const auto& s : create_schemas)
    b.add(db, sql::create_owned_schema(s, r),
          "created schema " + db + "." + s + " owned by " + r,
          "while creating schema " + db + "." + s + " owned by " + r, false, false,
          "the admin " + b.admin + " cannot create schema " + s + " in database " + db
            + ": it needs CREATE on the database (GRANT CREATE ON DATABASE "
            + sql::quote_ident(db) + " TO " + sql::quote_ident(b.admin)
            + "), or spec.databaseOwner: true");
  return {};
}

} // namespace

std::string desired_role::active_name() const {
  if (login == login_mode::active)
    return name;
  for (const auto& l : logins)
    if (l.mode == login_mode::active)
      return l.name;
  return {};
}

result<std::vector<action>> plan(const desired_role& desired, const observed_state& observed,
                                 std::string_view admin_user) {
  builder b{desired.name, std::string(admin_user), {}};
  // Desired scopes, merged by (database, schema) in first-seen order; databases likewise.
  std::vector<scope> scopes;
  std::vector<std::pair<std::string, bool>> databases; // name, may be created
  for (const auto& g : desired.grants) {
    scope_key k{g.database, g.schema};
    auto s = std::find_if(scopes.begin(), scopes.end(), [&](auto& e) { return e.key == k; });
    if (s == scopes.end())
      s = scopes.insert(scopes.end(), scope{k, g.privileges, g.sequences(), g.schema_privileges,
                                            g.function_privileges, {}});
    else {
      s->privileges = s->privileges.unite(g.privileges);
      s->sequences = s->sequences.unite(g.sequences());
      s->schema = s->schema.unite(g.schema_privileges);
      s->functions = s->functions.unite(g.function_privileges);
    }
    for (const auto& c : g.default_creators.empty() ? std::vector<std::string>{b.admin}
                                                    : g.default_creators)
      if (std::find(s->creators.begin(), s->creators.end(), c) == s->creators.end())
        s->creators.push_back(c);
    auto d = std::find_if(databases.begin(), databases.end(),
                          [&](auto& e) { return e.first == g.database; });
    if (d == databases.end())
      databases.emplace_back(g.database, g.create_database);
    else
      d->second = d->second || g.create_database;
  }

  // Through groups the role holds nothing itself: what it holds directly is revoked (5.).
  std::vector<privilege_group> groups;
  if (desired.use_groups) {
    groups = privilege_groups(desired, admin_user);
    scopes.clear();
    databases.clear();
  }

  // 1. Databases.
  for (const auto& [name, may_create] : databases) {
    const auto* o = find_by(observed.databases, &observed_database::name, name);
    if (o != nullptr && o->exists)
      continue;
    if (!may_create)
      return make_unexpected(make_error(error_kind::invalid, "database " + name + " does not exist",
                                        "while granting on database " + name + " to "
                                          + desired.name));
    b.add("", sql::create_database(name), "created database " + name,
          "while creating database " + name, true, false,
          "the admin " + b.admin + " lacks CREATEDB: create database " + name
            + " (owned by the admin) or grant the admin CREATEDB");
  }
  // Predefined roles exist from a version on: refused, before anything is done, on an older one.
  for (const auto& m : desired.member_of)
    if (const auto* pre = find_predefined_role(m);
        pre != nullptr && observed.server_version_num != 0
        && observed.server_version_num < pre->since)
      return make_unexpected(make_error(
        error_kind::invalid,
        "memberOf " + m + ": this server (version " + std::to_string(observed.server_version_num)
          + ") has no such role; PostgreSQL has it from "
          + std::to_string(pre->since / 10000) + " on",
        "while granting membership in " + m + " to " + desired.name));
  // 2. The role, 3. its memberships.
  // The owner's verifier goes to whichever role is active.
  desired_role owner = desired;
  if (desired.login != login_mode::active)
    owner.verifier.clear();
  if (auto r = plan_role(b, owner, observed.role, desired.login); !r)
    return make_unexpected(r.error());
  plan_memberships(b, desired, observed, groups);
  // Its login roles (after the owner exists: they become its members).
  for (const auto& l : desired.logins) {
    const auto* o = find_by(observed.logins, &observed_login::name, l.name);
    if (auto r = plan_login(b, desired, l, o); !r)
      return make_unexpected(r.error());
  }
  // What it owns (after its login roles: a refusal leaves everything as it is).
  if (auto r = plan_ownership(b, desired, observed); !r)
    return make_unexpected(r.error());
  // 4. CONNECT, then per schema USAGE, table and default privileges.
  for (const auto& [name, may_create] : databases) {
    (void)may_create;
    const auto* o = find_by(observed.databases, &observed_database::name, name);
    if (o == nullptr || !o->connect || !observed.role.exists)
      b.add("", sql::grant_connect(name, desired.name), "granted CONNECT on database " + name,
            "while granting CONNECT on database " + name + " to " + desired.name, false, false,
            "the admin " + b.admin + " cannot grant CONNECT on database " + name
              + ": make it the database's owner (ALTER DATABASE " + sql::quote_ident(name)
              + " OWNER TO " + sql::quote_ident(b.admin) + ")");
  }
  for (const auto& sc : scopes)
    plan_schema(b, sc, observed.role.exists ? find_schema(observed, sc.key) : nullptr);
  // 5. Whatever is held and no longer desired.
  if (observed.role.exists) {
    for (const auto& s : observed.schemas) {
      const scope_key k{s.database, s.schema};
      if (std::none_of(scopes.begin(), scopes.end(), [&](auto& e) { return e.key == k; }))
        plan_unwanted_schema(b, s);
    }
    for (const auto& d : observed.databases) {
      if (!d.connect)
        continue;
      if (std::none_of(databases.begin(), databases.end(),
                       [&](auto& e) { return e.first == d.name; }))
        b.add("", sql::revoke_connect(d.name, desired.name),
              "revoked CONNECT on database " + d.name,
              "while revoking CONNECT on database " + d.name + " from " + desired.name);
    }
  }
  return std::move(b.out);
}

std::string owner_marker(std::string_view owner) {
  return std::string(marker_prefix) + std::string(owner);
}

std::optional<std::string> marker_owner(std::string_view comment) {
  if (comment.substr(0, marker_prefix.size()) != marker_prefix)
    return std::nullopt;
  return std::string(comment.substr(marker_prefix.size()));
}

ownership_result ownership_of(const observed_role& observed, std::string_view expected_owner) {
  if (!observed.exists)
    return {ownership::absent, {}};
  auto owner = observed.comment ? marker_owner(*observed.comment) : std::nullopt;
  if (!owner)
    return {ownership::unmanaged, {}};
  if (*owner == expected_owner)
    return {ownership::ours, *owner};
  return {ownership::owned_by_other, *owner};
}

} // namespace dbuser::pg
