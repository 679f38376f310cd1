#include "damage.h"

#include <fcntl.h>
#include <sys/wait.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "zkspool/spool.h"

namespace zkspool::testing {
namespace fs = std::filesystem;

void MakeSpool(const std::string& dir, int count) {
  // In a child that dies without closing the spool, as a crash would: a clean close flushes the
  // log into a table file, and these tests damage the log.
  pid_t child = ::fork();
  if (child == 0) {
    auto spool = Spool::Open(dir);
    for (int i = 1; spool.ok() && i <= count; ++i) {
      Intent intent;
      intent.path = "/hostile/n" + std::to_string(i);
      intent.data = std::string(64, static_cast<char>('a' + i % 26));
      if (!(*spool)->Append(intent).ok()) std::_Exit(1);
    }
    std::_Exit(spool.ok() ? 0 : 1);
  }
  int status = 0;
  ASSERT_EQ(::waitpid(child, &status, 0), child);
  ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << "the child that fills the spool failed";
}

void MakeSpoolWithAGrownManifest(const std::string& dir) {
  MakeSpool(dir, 200);
  {
    auto spool = Spool::Open(dir);
    ASSERT_TRUE(spool.ok()) << spool.status().ToString();
    ASSERT_TRUE((*spool)->SaveSession({0x1234, std::string(16, 'p')}).ok());
    const uint64_t first = 1;
    ASSERT_TRUE((*spool)->MarkFailed(std::span<const uint64_t>(&first, 1), "hostile test").ok());
  }
  auto again = Spool::Open(dir);
  ASSERT_TRUE(again.ok()) << again.status().ToString();
}

std::string OnlyLog(const std::string& dir) {
  std::string found;
  int count = 0;
  for (const auto& entry : fs::directory_iterator(dir)) {
    if (entry.path().extension() == ".log") {
      found = entry.path().string();
      ++count;
    }
  }
  return count == 1 ? found : "";
}

std::string CurrentManifest(const std::string& dir) {
  std::ifstream in(dir + "/CURRENT");
  std::string name;
  std::getline(in, name);
  return dir + "/" + name;
}

uint64_t FileSize(const std::string& path) { return fs::file_size(path); }

void OverwriteBytes(const std::string& path, uint64_t offset, std::string_view bytes) {
  int fd = ::open(path.c_str(), O_WRONLY | O_CLOEXEC);
  ASSERT_GE(fd, 0) << path;
  ASSERT_EQ(::pwrite(fd, bytes.data(), bytes.size(), static_cast<off_t>(offset)), static_cast<ssize_t>(bytes.size()));
  ::close(fd);
}

void ZeroBytes(const std::string& path, uint64_t offset, uint64_t count) {
  OverwriteBytes(path, offset, std::string(count, '\0'));
}

void Truncate(const std::string& path, uint64_t size) { fs::resize_file(path, size); }

void Append(const std::string& path, std::string_view bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::app);
  out << bytes;
}

void WipeDatabase(const std::string& dir) {
  for (const auto& entry : fs::directory_iterator(dir)) {
    const std::string name = entry.path().filename().string();
    if (name != "ZKSPOOL" && name != "HIGHWATER") fs::remove(entry.path());
  }
}

std::string Basename(const std::string& path) { return fs::path(path).filename().string(); }

}  // namespace zkspool::testing
