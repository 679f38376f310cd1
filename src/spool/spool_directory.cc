#include "spool/spool_directory.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
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

// The small files of ours and RocksDB's that are read whole: none is near this.
constexpr off_t kMaxSmallFileBytes = 64 << 10;

bool IsSmallFile(const std::string& name) {
  return name == kMarkerFile || name == "OWNER" || name == "HIGHWATER" || name == "CURRENT" || name == "IDENTITY";
}

const char* FileKind(mode_t mode) {
  if (S_ISLNK(mode)) return "a symbolic link";
  if (S_ISDIR(mode)) return "a directory";
  if (S_ISFIFO(mode)) return "a FIFO";
  if (S_ISSOCK(mode)) return "a socket";
  if (S_ISCHR(mode) || S_ISBLK(mode)) return "a device";
  return "not a regular file";
}

// Everything in a spool directory is a regular file that we or RocksDB wrote. Anything else
// was put there: a FIFO would hang the read of it, a device or a link to one (/dev/zero) would
// exhaust memory, a link would make us write someone else's file. Refused before anything in the
// directory is opened.
Status CheckEntries(const std::string& dir, const std::set<std::string>& names) {
  for (const std::string& name : names) {
    const std::string path = (fs::path(dir) / name).string();
    struct stat st;
    if (::lstat(path.c_str(), &st) != 0) {
      if (errno == ENOENT) continue;  // removed since the listing (RocksDB's own old files)
      return Status::IOError("cannot examine " + path + ": " + Errno());
    }
    if (!S_ISREG(st.st_mode)) {
      return Status::Corruption("spool " + dir + " holds " + name + ", which is " + FileKind(st.st_mode) +
                                ": a spool holds only regular files; refusing to open it");
    }
    if (IsSmallFile(name) && st.st_size > kMaxSmallFileBytes) {
      return Status::Corruption("spool " + dir + ": " + name + " has " + std::to_string(st.st_size) +
                                " bytes, far more than it ever holds; refusing to read it");
    }
  }
  return Status::Ok();
}

// Up to kMaxSmallFileBytes of a regular file in a spool directory; false if it cannot be read.
// Non-blocking and not following a link, so a FIFO or link put there since CheckEntries costs
// nothing.
bool ReadSmallFile(const std::string& path, std::string& out) {
  int fd = ::open(path.c_str(), O_RDONLY | O_NONBLOCK | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0) return false;
  struct stat st;
  bool ok = ::fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && st.st_size <= kMaxSmallFileBytes;
  out.clear();
  char buffer[4096];
  while (ok && out.size() <= static_cast<size_t>(kMaxSmallFileBytes)) {
    ssize_t n = ::read(fd, buffer, sizeof buffer);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      ok = n == 0;
      break;
    }
    out.append(buffer, static_cast<size_t>(n));
  }
  ::close(fd);
  return ok;
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
  if (Status s = CheckEntries(dir, names); !s.ok()) return s;
  if (names.contains("CURRENT")) return Status::Ok();
  std::string files = DatabaseFilesWithoutCurrent(names);
  if (!files.empty()) {
    return Status::Corruption("spool " + dir + " has lost its RocksDB CURRENT file but still holds " + files +
                              ": it is damaged (zkspoolctl salvage copies what is left into a new spool)");
  }
  // Creation writes HIGHWATER and the "created" mark only after the database exists, and
  // RocksDB replaces CURRENT by a rename, never leaving it absent: with either present and no
  // database at all, the database was removed. An empty one must not be created in its place.
  if (names.contains("HIGHWATER") || SpoolMarkedCreated(dir)) {
    return Status::Corruption("spool " + dir +
                              " was created, but its RocksDB database (CURRENT, MANIFEST, tables and logs) is gone: "
                              "what it acknowledged is lost; refusing to start it empty (move the directory away "
                              "to start a new spool)");
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

Status CheckSpoolEntries(const std::string& dir) {
  std::set<std::string> names;
  if (!ListNames(dir, names)) return Status::IOError("cannot read spool directory " + dir + ": " + Errno());
  return CheckEntries(dir, names);
}

Status MarkSpoolCreated(const std::string& dir) {
  if (SpoolMarkedCreated(dir)) return Status::Ok();
  return WriteMarker(dir, std::string(kMarkerText) + kCreatedLine, /*replace=*/true);
}

bool SpoolMarkedCreated(const std::string& dir) {
  std::string text;
  if (!ReadSmallFile((fs::path(dir) / kMarkerFile).string(), text)) return false;
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) {
    if (line + "\n" == kCreatedLine) return true;
  }
  return false;
}

// Called with the RocksDB lock held, so no other opener races it. Whatever was planted at
// OWNER is removed, not opened: a link there must not make us truncate its target.
void WriteOwner(const std::string& dir) {
  char host[256] = {};
  ::gethostname(host, sizeof host - 1);
  const std::string path = (fs::path(dir) / "OWNER").string();
  ::unlink(path.c_str());
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
  if (fd < 0) return;  // only a hint for the message a second opener gets
  const std::string text = std::to_string(::getpid()) + "@" + host + "\n";
  [[maybe_unused]] ssize_t written = ::write(fd, text.data(), text.size());  // a hint as well
  ::close(fd);
}

std::string ReadOwner(const std::string& dir) {
  std::string text;
  if (!ReadSmallFile((fs::path(dir) / "OWNER").string(), text)) return "";
  text = text.substr(0, std::min<size_t>(text.find('\n'), 256));
  return text;
}

}  // namespace zkspool
