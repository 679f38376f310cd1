// Status and Result<T>: how every zkspool function reports failure. No exception crosses the
// public API; a function that can fail returns one of these, and the caller must look at it.
#pragma once

#include <cassert>
#include <optional>
#include <string>
#include <utility>

namespace zkspool {

enum class StatusCode {
  kOk = 0,
  kInvalidArgument,  // the caller's input breaks a documented rule; nothing was changed
  kNotFound,         // the named record does not exist
  kSpoolFull,        // the spool's pending limits are reached; nothing was changed
  kSpoolInUse,       // another process owns the spool
  kCorruption,       // a stored record or file failed its checks
  kNewerFormat,      // the spool or a record was written by a newer zkspool
  kIOError,          // the file system or RocksDB failed
  kTimedOut,         // a wait ran out of time; nothing failed
  kNotASpool,        // the directory is not a spool (no spool marker, or another program's database)
};

// Short lower-case name of a code, e.g. "spool full".
const char* StatusCodeName(StatusCode code);

// A success, or a failure with a code and a message that names the problem.
// Thread-safety: a value type; distinct objects may be used from distinct threads.
class [[nodiscard]] Status {
 public:
  Status() = default;  // OK

  static Status Ok() { return Status(); }
  static Status InvalidArgument(std::string message) { return {StatusCode::kInvalidArgument, std::move(message)}; }
  static Status NotFound(std::string message) { return {StatusCode::kNotFound, std::move(message)}; }
  static Status SpoolFull(std::string message) { return {StatusCode::kSpoolFull, std::move(message)}; }
  static Status SpoolInUse(std::string message) { return {StatusCode::kSpoolInUse, std::move(message)}; }
  static Status Corruption(std::string message) { return {StatusCode::kCorruption, std::move(message)}; }
  static Status NewerFormat(std::string message) { return {StatusCode::kNewerFormat, std::move(message)}; }
  static Status IOError(std::string message) { return {StatusCode::kIOError, std::move(message)}; }
  static Status TimedOut(std::string message) { return {StatusCode::kTimedOut, std::move(message)}; }
  static Status NotASpool(std::string message) { return {StatusCode::kNotASpool, std::move(message)}; }

  bool ok() const { return code_ == StatusCode::kOk; }
  StatusCode code() const { return code_; }
  const std::string& message() const { return message_; }

  // "OK", or "<code name>: <message>".
  std::string ToString() const;

 private:
  Status(StatusCode code, std::string message) : code_(code), message_(std::move(message)) {}

  StatusCode code_ = StatusCode::kOk;
  std::string message_;
};

// A value or a failed Status. Accessing the value of a failed Result is a programming error
// (asserted in debug builds).
template <typename T>
class [[nodiscard]] Result {
 public:
  Result(T value) : value_(std::move(value)) {}  // NOLINT: implicit by design
  Result(Status status) : status_(std::move(status)) { assert(!status_.ok()); }  // NOLINT

  bool ok() const { return status_.ok(); }
  const Status& status() const { return status_; }

  T& value() & { assert(ok()); return *value_; }
  const T& value() const& { assert(ok()); return *value_; }
  T&& value() && { assert(ok()); return std::move(*value_); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }

 private:
  Status status_;
  std::optional<T> value_;
};

}  // namespace zkspool
