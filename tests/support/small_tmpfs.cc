#include "support/small_tmpfs.h"

#include <fcntl.h>
#include <sched.h>
#include <sys/mount.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <vector>

namespace zkspool::testing {

std::unique_ptr<SmallTmpfs> SmallTmpfs::Mount(uint64_t bytes, std::string& why_not) {
  if (::unshare(CLONE_NEWNS) != 0) {
    why_not = std::string("unshare(CLONE_NEWNS): ") + std::strerror(errno);
    return nullptr;
  }
  // Nothing mounted from here on propagates to the rest of the system.
  if (::mount("none", "/", nullptr, MS_REC | MS_PRIVATE, nullptr) != 0) {
    why_not = std::string("making mounts private: ") + std::strerror(errno);
    return nullptr;
  }
  std::string dir = (std::filesystem::temp_directory_path() / "zkspool-tmpfs-XXXXXX").string();
  if (::mkdtemp(dir.data()) == nullptr) {
    why_not = std::string("mkdtemp: ") + std::strerror(errno);
    return nullptr;
  }
  const std::string options = "size=" + std::to_string(bytes) + ",mode=0755";
  if (::mount("tmpfs", dir.c_str(), "tmpfs", 0, options.c_str()) != 0) {
    why_not = std::string("mount -t tmpfs: ") + std::strerror(errno);
    ::rmdir(dir.c_str());
    return nullptr;
  }
  return std::unique_ptr<SmallTmpfs>(new SmallTmpfs(dir));
}

SmallTmpfs::~SmallTmpfs() {
  ::umount2(path_.c_str(), MNT_DETACH);
  ::rmdir(path_.c_str());
}

void SmallTmpfs::Fill() {
  int fd = ::open((path_ + "/filler").c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
  if (fd < 0) return;  // no inode left either: full
  std::vector<char> block(4096, 'f');
  while (::write(fd, block.data(), block.size()) > 0) {
  }
  // Whatever is left is smaller than a block: fill it byte by byte.
  while (::write(fd, block.data(), 1) > 0) {
  }
  ::close(fd);
}

void SmallTmpfs::Free() { ::unlink((path_ + "/filler").c_str()); }

}  // namespace zkspool::testing
