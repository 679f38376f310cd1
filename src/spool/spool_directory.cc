#include "spool/spool_directory.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>

namespace zkspool {
namespace fs = std::filesystem;

namespace {

constexpr const char* kMarkerFile = "ZKSPOOL";
constexpr const char* kMarkerText = "zkspool spool directory; see zkspoolctl\n";
constexpr const char* kCreatedLine = "created\n";

std::string Errno() { return std::strerror(errno); }

// Writes the marker. The first write claims an empty directory before RocksDB writes anything
// into it and goes straight to its place, so that a crash leaves at worst an empty marker, still
// a claim; later rewrites go through a temporary file and a rename, so the claim never lapses.
Status WriteMarker(const std::string& dir, const std::string& text, bool replace) {
  const std::string path = (fs::path(dir) / kMarkerFile).string();
  const std::string target = replace ? path + ".tmp" : path;
  int fd = ::open(target.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) return Status::IOError("cannot write " + target + ": " + Errno());
  bool ok = ::write(fd, text.data(), text.size()) == static_cast<ssize_t>(text.size()) && ::fsync(fd) == 0;
  std::string error = ok ? "" : Errno();
  ::close(fd);
  if (ok && replace && ::rename(target.c_str(), path.c_str()) != 0) {
    ok = false;
    error = Errno();
  }
  if (!ok) {
    if (replace) ::unlink(target.c_str());
    return Status::IOError("cannot write " + path + ": " + error);
  }
  return Status::Ok();
}

// The path as stat sees it, following a symbolic link; a link to nothing is named as such.
// Returns false with errno set when it cannot be examined.
bool StatFollowing(const std::string& dir, struct stat& st, std::string& dangling_target) {
  if (::stat(dir.c_str(), &st) == 0) return true;
  const int saved = errno;
  struct stat link;
  if (saved == ENOENT && ::lstat(dir.c_str(), &link) == 0 && S_ISLNK(link.st_mode)) {
    std::error_code ec;
    dangling_target = fs::read_symlink(dir, ec).string();
  }
  errno = saved;
  return false;
}

// Names in `dir`; false with errno set if it cannot be listed.
bool ListNames(const std::string& dir, std::set<std::string>& names) {
  DIR* d = ::opendir(dir.c_str());
  if (d == nullptr) return false;
  errno = 0;
  while (dirent* entry = ::readdir(d)) {
    std::string name = entry->d_name;
    if (name != "." && name != "..") names.insert(name);
  }
  const int saved = errno;
  ::closedir(d);
  errno = saved;
  return saved == 0;
}

bool AllDigits(std::string_view s) {
  return !s.empty() && s.find_first_not_of("0123456789") == std::string_view::npos;
}

// Files a RocksDB database has only after its creation finished: creation writes
// MANIFEST-000001 and then CURRENT, and nothing else before CURRENT exists.
std::string DatabaseFilesWithoutCurrent(const std::set<std::string>& names) {
  std::ostringstream found;
  int count = 0;
  for (const std::string& name : names) {
    const bool wal_or_table = (name.ends_with(".log") || name.ends_with(".sst")) &&
                              AllDigits(std::string_view(name).substr(0, name.size() - 4));
    const bool later_manifest = name.starts_with("MANIFEST-") && name != "MANIFEST-000001";
    if (!wal_or_table && !later_manifest && !name.starts_with("OPTIONS-")) continue;
    if (count++ < 3) found << (count > 1 ? ", " : "") << name;
  }
  if (count > 3) found << " and " << (count - 3) << " more";
  return found.str();
}

// The checks both functions share, once the path is known to be a directory.
Status CheckContents(const std::string& dir, const std::set<std::string>& names, bool creating) {
  if (!names.contains(kMarkerFile)) {
    return Status::NotASpool(dir + " is not a spool: it has no " + kMarkerFile + " marker" +
                             (names.contains("CURRENT") ? " (it holds a RocksDB database, another program's)" : ""));
  }
  if (names.contains("CURRENT")) return Status::Ok();
  std::string files = DatabaseFilesWithoutCurrent(names);
  if (!files.empty()) {
    return Status::Corruption("spool " + dir + " has lost its RocksDB CURRENT file but still holds " + files +
                              ": it is damaged (zkspoolctl salvage copies what is left into a new spool)");
  }
  if (creating) return Status::Ok();  // claimed, but the database was never created: create it now
  return Status::NotASpool(dir + " is not a spool yet: it was claimed, but its database was never created");
}

// Examines `dir`: whether it exists (exists=false: ENOENT) and what it holds.
Status Examine(const std::string& dir, bool& exists, std::set<std::string>& names) {
  if (dir.empty()) return Status::InvalidArgument("spool directory path is empty");
  struct stat st;
  std::string dangling;
  exists = StatFollowing(dir, st, dangling);
  if (!exists) {
    if (!dangling.empty()) {
      return Status::IOError("spool directory " + dir + " is a symbolic link to " + dangling + ", which does not exist");
    }
    if (errno == ENOENT) return Status::Ok();
    return Status::IOError("cannot access spool directory " + dir + ": " + Errno());
  }
  if (!S_ISDIR(st.st_mode)) return Status::NotASpool(dir + " is not a directory");
  if (!ListNames(dir, names)) return Status::IOError("cannot read spool directory " + dir + ": " + Errno());
  return Status::Ok();
}

}  // namespace

Status PrepareSpoolDirectory(const std::string& dir) {
  bool exists;
  std::set<std::string> names;
  if (Status s = Examine(dir, exists, names); !s.ok()) return s;
  if (!exists) {
    if (::mkdir(dir.c_str(), 0700) != 0 && errno != EEXIST) {
      return Status::IOError("cannot create spool directory " + dir + ": " + Errno());
    }
    return WriteMarker(dir, kMarkerText, /*replace=*/false);
  }
  if (names.empty()) {
    // An existing empty directory (systemd's StateDirectory= makes them 0755) becomes private
    // before anything is written into it.
    if (::chmod(dir.c_str(), 0700) != 0) {
      return Status::IOError("cannot make spool directory " + dir + " private: " + Errno());
    }
    return WriteMarker(dir, kMarkerText, /*replace=*/false);
  }
  return CheckContents(dir, names, /*creating=*/true);
}

Status CheckSpoolDirectory(const std::string& dir) {
  bool exists;
  std::set<std::string> names;
  if (Status s = Examine(dir, exists, names); !s.ok()) return s;
  if (!exists) return Status::NotFound("spool directory " + dir + " does not exist");
  if (names.empty()) return Status::NotASpool(dir + " is not a spool: it is an empty directory");
  return CheckContents(dir, names, /*creating=*/false);
}

Status MarkSpoolCreated(const std::string& dir) {
  if (SpoolMarkedCreated(dir)) return Status::Ok();
  return WriteMarker(dir, std::string(kMarkerText) + kCreatedLine, /*replace=*/true);
}

bool SpoolMarkedCreated(const std::string& dir) {
  std::ifstream in(fs::path(dir) / kMarkerFile);
  std::string line;
  while (std::getline(in, line)) {
    if (line + "\n" == kCreatedLine) return true;
  }
  return false;
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
