#include "spool/meta_codec.h"

#include "spool/bytes.h"

namespace zkspool {
namespace {
constexpr uint8_t kSessionFormat = 1;
}

std::string EncodeU64(uint64_t value) {
  std::string out;
  PutFixed(out, value, 8);
  return out;
}

Result<uint64_t> DecodeU64(std::string_view bytes, std::string_view what) {
  ByteReader reader(bytes);
  uint64_t value;
  if (!reader.ReadU64(value) || !reader.empty()) {
    return Status::Corruption("meta value '" + std::string(what) + "' is not 8 bytes");
  }
  return value;
}

std::string EncodeSession(const SessionInfo& session) {
  std::string out;
  PutFixed(out, kSessionFormat, 1);
  PutFixed(out, static_cast<uint64_t>(session.id), 8);
  PutLengthPrefixed(out, session.password);
  return out;
}

Result<SessionInfo> DecodeSession(std::string_view bytes) {
  ByteReader reader(bytes);
  uint8_t format;
  SessionInfo session;
  if (!reader.ReadU8(format)) return Status::Corruption("saved session is empty");
  if (format > kSessionFormat) return Status::NewerFormat("saved session has a newer format");
  if (!reader.ReadI64(session.id) || !reader.ReadLengthPrefixed(session.password) || !reader.empty()) {
    return Status::Corruption("saved session is malformed");
  }
  return session;
}

std::string EncodeSessionIds(const std::vector<int64_t>& ids) {
  std::string out;
  for (int64_t id : ids) PutFixed(out, static_cast<uint64_t>(id), 8);
  return out;
}

Result<std::vector<int64_t>> DecodeSessionIds(std::string_view bytes) {
  if (bytes.size() % 8 != 0) return Status::Corruption("owned session list is malformed");
  ByteReader reader(bytes);
  std::vector<int64_t> ids(bytes.size() / 8);
  for (int64_t& id : ids) reader.ReadI64(id);
  return ids;
}

}  // namespace zkspool
