// Reading a file the agent is pointed at (the registrations file, the credentials file) without
// letting it hang or exhaust the agent: a FIFO with no writer blocked start-up forever, and
// /dev/zero as a registrations file ran the agent out of memory (std::bad_alloc). The file is
// opened non-blocking and checked with fstat before a byte is read; only a regular file is read,
// and only up to a limit.
#pragma once

#include <cstddef>
#include <string>

#include "zkspool/status.h"

namespace zkspool::agent {

// The whole content of `path`. `what` names it in messages ("registrations file /etc/x.json").
// Errors: kNotFound (no such file), kInvalidArgument (not a regular file: a directory, FIFO,
// device or socket; more than `max_bytes`), kIOError (cannot be opened or read, e.g. EACCES).
// Thread-safe.
Result<std::string> ReadRegularFile(const std::string& path, size_t max_bytes, const std::string& what);

}  // namespace zkspool::agent
