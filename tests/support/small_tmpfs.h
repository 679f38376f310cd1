// A real full disk for tests of programs that cannot take a fake FileSystem (the agent binary):
// a small tmpfs mounted in a mount namespace of the test process's own, so that nothing outside
// it sees the mount and it vanishes with the process, also if the test dies. Mounting needs
// CAP_SYS_ADMIN (root in this container has it); where it is refused, Mount says why and the
// test should skip, saying so.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

namespace zkspool::testing {

class SmallTmpfs {
 public:
  // Must be called while the process has a single thread (unshare(CLONE_NEWNS) requires it).
  static std::unique_ptr<SmallTmpfs> Mount(uint64_t bytes, std::string& why_not);
  ~SmallTmpfs();

  const std::string& path() const { return path_; }
  // Writes a filler file until the file system reports ENOSPC; Free deletes it.
  void Fill();
  void Free();

 private:
  explicit SmallTmpfs(std::string path) : path_(std::move(path)) {}
  std::string path_;
};

}  // namespace zkspool::testing
