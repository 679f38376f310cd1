// libFuzzer target: the agent's registrations file (LoadRegistrationsFile), which an operator
// edits by hand and the agent rereads on SIGHUP. It must reject any bad file with an error, never
// crash, and whatever it accepts must hold only entries the spool would take, within the limits.
//
// The loader reads a path, so each input goes into an anonymous memfd read back through
// /proc/self/fd: no file on disk, nothing to clean up after a crash.
#include <sys/mman.h>
#include <unistd.h>

#include <cstdint>
#include <cstdlib>
#include <set>
#include <string>

#include "registrations_file.h"
#include "zkspool/spool.h"

namespace {

void Check(bool ok) {
  if (!ok) std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace zkspool;
  int fd = memfd_create("registrations", MFD_CLOEXEC);
  Check(fd >= 0);
  for (size_t done = 0; done < size;) {
    ssize_t n = write(fd, data + done, size - done);
    Check(n > 0);
    done += static_cast<size_t>(n);
  }
  Result<std::vector<agent::Registration>> loaded =
      agent::LoadRegistrationsFile("/proc/self/fd/" + std::to_string(fd), kDefaultMaxDataBytes);
  close(fd);
  if (!loaded.ok()) {
    Check(loaded.status().code() == StatusCode::kInvalidArgument);
    return 0;
  }
  Check(loaded->size() <= agent::kMaxRegistrations);
  std::set<std::string> paths;
  for (const agent::Registration& r : *loaded) {
    Check(paths.insert(r.path).second);
    Intent intent;
    intent.path = r.path;
    intent.data = r.data;
    intent.mode = r.mode;
    intent.node_ttl_ms = r.node_ttl.count();
    Check(ValidateIntent(intent, r.ttl, kDefaultMaxDataBytes).ok());
  }
  return 0;
}
