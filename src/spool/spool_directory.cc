#include "spool/spool_directory.h"

#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>

namespace zkspool {
namespace fs = std::filesystem;

namespace {

constexpr const char* kMarkerFile = "ZKSPOOL";

// Claims an empty directory as a spool before RocksDB writes anything into it, so that a crash in
// the middle of creating the database leaves a directory that is still recognised as ours.
Status WriteMarker(const std::string& dir) {
  std::ofstream out(fs::path(dir) / kMarkerFile, std::ios::trunc);
  out << "zkspool spool directory; see zkspoolctl\n";
  out.close();
  if (!out) return Status::IOError("cannot write " + (fs::path(dir) / kMarkerFile).string());
  ::chmod((fs::path(dir) / kMarkerFile).c_str(), 0600);
  return Status::Ok();
}

}  // namespace

Status PrepareSpoolDirectory(const std::string& dir) {
  if (dir.empty()) return Status::InvalidArgument("spool directory path is empty");
  struct stat st;
  if (::stat(dir.c_str(), &st) != 0) {
    if (errno != ENOENT) return Status::IOError("cannot stat spool directory " + dir + ": " + std::strerror(errno));
    if (::mkdir(dir.c_str(), 0700) != 0 && errno != EEXIST) {
      return Status::IOError("cannot create spool directory " + dir + ": " + std::strerror(errno));
    }
    return WriteMarker(dir);
  }
  if (!S_ISDIR(st.st_mode)) return Status::InvalidArgument(dir + " is not a directory");
  std::error_code ec;
  bool empty = fs::is_empty(dir, ec);
  if (ec) return Status::IOError("cannot list spool directory " + dir + ": " + ec.message());
  if (empty) {
    // An existing empty directory (systemd's StateDirectory= makes them 0755) becomes private
    // before anything is written into it.
    if (::chmod(dir.c_str(), 0700) != 0) {
      return Status::IOError("cannot make spool directory " + dir + " private: " + std::strerror(errno));
    }
    return WriteMarker(dir);
  }
  if (!fs::exists(fs::path(dir) / kMarkerFile, ec) && !fs::exists(fs::path(dir) / "CURRENT", ec)) {
    return Status::InvalidArgument(dir + " is not a spool: it is a non-empty directory without a " + kMarkerFile +
                                   " marker or a RocksDB CURRENT file");
  }
  return Status::Ok();
}

Status CheckSpoolDirectory(const std::string& dir) {
  if (dir.empty()) return Status::InvalidArgument("spool directory path is empty");
  struct stat st;
  if (::stat(dir.c_str(), &st) != 0) {
    if (errno == ENOENT) return Status::NotFound("spool directory " + dir + " does not exist");
    return Status::IOError("cannot stat spool directory " + dir + ": " + std::strerror(errno));
  }
  if (!S_ISDIR(st.st_mode)) return Status::InvalidArgument(dir + " is not a directory");
  std::error_code ec;
  if (!fs::exists(fs::path(dir) / kMarkerFile, ec) && !fs::exists(fs::path(dir) / "CURRENT", ec)) {
    return Status::InvalidArgument(dir + " is not a spool: it has no " + std::string(kMarkerFile) +
                                   " marker and no RocksDB CURRENT file");
  }
  if (!fs::exists(fs::path(dir) / "CURRENT", ec)) {
    return Status::InvalidArgument(dir + " is not a spool yet: it was claimed but its database was never created");
  }
  return Status::Ok();
}

void WriteOwner(const std::string& dir) {
  char host[256] = {};
  ::gethostname(host, sizeof host - 1);
  std::ofstream out(fs::path(dir) / "OWNER", std::ios::trunc);
  out << ::getpid() << "@" << host << "\n";
  out.close();
  ::chmod((fs::path(dir) / "OWNER").c_str(), 0600);
}

std::string ReadOwner(const std::string& dir) {
  std::ifstream in(fs::path(dir) / "OWNER");
  std::string owner;
  std::getline(in, owner);
  return owner;
}

}  // namespace zkspool
