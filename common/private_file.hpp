#pragma once

// A file only this process's user may read, in the temporary directory, holding `content`: how
// both engines hand an in-memory CA certificate to their client library (libpq and MariaDB's
// take a path). The caller removes it (unlink) when done.

#include "common/expected.hpp"

#include <string>
#include <string_view>

namespace dbuser {

// The new file's path ("<tmp>/<prefix>-XXXXXX", mode 0600), or why it could not be written.
[[nodiscard]] expected<std::string, std::string> write_private_file(std::string_view prefix,
                                                                    std::string_view content);

} // namespace dbuser
