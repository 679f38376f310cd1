#include "regular_file.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace zkspool::agent {
namespace {

const char* KindOf(mode_t mode) {
  if (S_ISDIR(mode)) return "a directory";
  if (S_ISFIFO(mode)) return "a FIFO";
  if (S_ISCHR(mode)) return "a character device";
  if (S_ISBLK(mode)) return "a block device";
  if (S_ISSOCK(mode)) return "a socket";
  return "a special file";
}

class Fd {
 public:
  explicit Fd(int fd) : fd_(fd) {}
  ~Fd() {
    if (fd_ >= 0) ::close(fd_);
  }
  int get() const { return fd_; }

 private:
  int fd_;
};

}  // namespace

Result<std::string> ReadRegularFile(const std::string& path, size_t max_bytes, const std::string& what) {
  Fd fd(::open(path.c_str(), O_RDONLY | O_NONBLOCK | O_NOCTTY | O_CLOEXEC));
  if (fd.get() < 0) {
    if (errno == ENOENT) return Status::NotFound(what + " does not exist");
    return Status::IOError(fmt::format("{} cannot be opened: {}", what, std::strerror(errno)));
  }
  struct stat st;
  if (::fstat(fd.get(), &st) != 0) return Status::IOError(fmt::format("{}: fstat: {}", what, std::strerror(errno)));
  if (!S_ISREG(st.st_mode)) return Status::InvalidArgument(fmt::format("{} is {}, not a regular file", what, KindOf(st.st_mode)));
  const std::string too_big = fmt::format("{} is larger than {} bytes, the limit", what, max_bytes);
  if (static_cast<uint64_t>(st.st_size) > max_bytes) return Status::InvalidArgument(too_big);
  std::string content;
  content.resize(static_cast<size_t>(st.st_size) + 1);  // one more: a file still growing shows
  size_t done = 0;
  for (;;) {
    if (done == content.size()) {
      if (content.size() > max_bytes) return Status::InvalidArgument(too_big);
      content.resize(std::min(content.size() * 2, max_bytes + 1));
    }
    ssize_t n = ::read(fd.get(), content.data() + done, content.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return Status::IOError(fmt::format("{} cannot be read: {}", what, std::strerror(errno)));
    if (n == 0) break;
    done += static_cast<size_t>(n);
  }
  content.resize(done);
  return content;
}

}  // namespace zkspool::agent
