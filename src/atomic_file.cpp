// Atomic whole-file writes (atomic_file.hpp).
#include "saddle/atomic_file.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>

namespace saddle {

WriteError::WriteError(const std::string& path, const std::string& reason)
    : InputError("cannot write " + path + ": " + reason), path_(path) {}

namespace {

std::string folder_of(const std::string& path) {
  const auto slash = path.find_last_of('/');
  if (slash == std::string::npos) return ".";
  if (slash == 0) return "/";
  return path.substr(0, slash);
}

[[noreturn]] void fail(const std::string& path, const std::string& tmp, int error) {
  if (!tmp.empty()) ::unlink(tmp.c_str());
  throw WriteError(path, std::strerror(error));
}

}  // namespace

void write_file_atomically(const std::string& path, const std::string& bytes) {
  const std::string tmp = path + ".tmp";
  const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) fail(path, "", errno);
  std::size_t done = 0;
  while (done < bytes.size()) {
    const ssize_t n = ::write(fd, bytes.data() + done, bytes.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      const int error = n < 0 ? errno : ENOSPC;
      ::close(fd);
      fail(path, tmp, error);
    }
    done += static_cast<std::size_t>(n);
  }
  // A full disk may only show at fsync or close (delayed allocation, network file systems).
  if (::fsync(fd) != 0) {
    const int error = errno;
    ::close(fd);
    fail(path, tmp, error);
  }
  if (::close(fd) != 0) fail(path, tmp, errno);
  if (std::rename(tmp.c_str(), path.c_str()) != 0) fail(path, tmp, errno);
  // Make the rename itself durable. Best effort: some file systems refuse fsync on a folder.
  const int dir = ::open(folder_of(path).c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dir >= 0) {
    (void)::fsync(dir);
    ::close(dir);
  }
}

}  // namespace saddle
