#include "common/private_file.hpp"

#include <filesystem>
#include <system_error>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

namespace dbuser {

expected<std::string, std::string> write_private_file(std::string_view prefix,
                                                      std::string_view content) {
  std::error_code ec;
  auto dir = std::filesystem::temp_directory_path(ec);
  std::string path =
    (ec ? std::string("/tmp") : dir.string()) + "/" + std::string(prefix) + "-XXXXXX";
  int fd = ::mkstemp(path.data()); // created 0600
  if (fd < 0)
    return make_unexpected(std::string("cannot create a temporary file"));
  ::fchmod(fd, S_IRUSR | S_IWUSR);
  size_t written = 0;
  while (written < content.size()) {
    auto n = ::write(fd, content.data() + written, content.size() - written);
    if (n <= 0)
      break;
    written += static_cast<size_t>(n);
  }
  ::close(fd);
  if (written != content.size()) {
    ::unlink(path.c_str());
    return make_unexpected(std::string("cannot write to a temporary file"));
  }
  return path;
}

} // namespace dbuser
