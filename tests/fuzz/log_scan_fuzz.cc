// libFuzzer target: ScanLogFile, which reads a spool's write-ahead logs and MANIFEST before
// RocksDB does - bytes a damaged disk may have changed in any way. It must never crash or read
// out of bounds, and what it reports must hang together: the valid prefix ends at the first
// damage (or the end), valid records after damage lie after it, every record it hands out lies
// within the file.
#include <rocksdb/file_system.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cstdint>
#include <cstdlib>
#include <string>

#include "spool/log_scan.h"

namespace {

void Check(bool ok) {
  if (!ok) std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  int fd = memfd_create("log", MFD_CLOEXEC);
  Check(fd >= 0);
  for (size_t done = 0; done < size;) {
    ssize_t n = write(fd, data + done, size - done);
    Check(n > 0);
    done += static_cast<size_t>(n);
  }
  size_t delivered = 0;
  zkspool::Result<zkspool::LogScan> scan =
      zkspool::ScanLogFile(*rocksdb::FileSystem::Default(), "/proc/self/fd/" + std::to_string(fd),
                           [&](std::string_view record) { delivered += record.size(); });
  close(fd);
  Check(scan.ok());
  Check(scan->size == size);
  Check(scan->valid_end <= size);
  if (!scan->damage_at) Check(scan->valid_end == size);
  if (scan->damage_at) Check(*scan->damage_at == scan->valid_end && !scan->damage.empty());
  if (scan->valid_after) Check(scan->damage_at && *scan->valid_after > *scan->damage_at && *scan->valid_after < size);
  Check(delivered <= size);
  return 0;
}
