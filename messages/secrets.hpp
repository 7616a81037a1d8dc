#pragma once

// The Secret protocol: supervisors ask the secret writer to make a credentials Secret hold what
// they say, or to delete it. The writer serialises work per Secret, checks ownership, and retries
// write conflicts. Payloads hold passwords: unsafe message types on purpose (see db.hpp).

#include <caf/allowed_unsafe_message_type.hpp>
#include <caf/atom.hpp>
#include <nlohmann/json.hpp>
#include <string>

namespace dbuser::msg {

// (write_atom, secret_write) → secret_outcome
using write_atom = caf::atom_constant<caf::atom("write")>;
// (erase_atom, secret_write) → secret_outcome; deletes the Secret if (and only if) it is ours
using erase_atom = caf::atom_constant<caf::atom("erase")>;

struct secret_write {
  std::string ns;
  std::string name;
  std::string owner_uid;   // the PostgresUser's uid: the Secret is ours iff its controller ref says so
  std::string owner_key;   // its "namespace/name": a Secret released to it is adopted (api::released_to)
  nlohmann::json create;   // the full object, when it does not exist yet
  nlohmann::json patch;    // the merge patch, when it exists and is ours
  // What the asker saw a moment ago, to save the writer's first read: the Secret was absent
  // (create at once), or it was ours at this resourceVersion (patch at once, guarded by it).
  // A wrong guess costs a Conflict/AlreadyExists and the full read-check-write flow.
  bool seen_absent = false;
  std::string seen_ours_at;
};

enum class secret_status : std::uint8_t { written, unchanged, deleted, absent, foreign, failed };

struct secret_outcome {
  secret_status status = secret_status::failed;
  std::string message;     // why, for foreign and failed
  bool transient = false;  // for failed: worth a retry
  nlohmann::json object;   // the Secret as stored after a write
};

} // namespace dbuser::msg

CAF_ALLOW_UNSAFE_MESSAGE_TYPE(dbuser::msg::secret_write)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(dbuser::msg::secret_outcome)
