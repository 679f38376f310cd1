#include "spool/record_codec.h"

#include "spool/bytes.h"
#include "spool/crc32c.h"

namespace zkspool {
namespace {

constexpr size_t kFixedV1Bytes = 4 + 1 + 3 + 8 + 3 * 8 + 4 + 4;
constexpr uint8_t kFlagKeepMode = 1;

uint8_t FlagsOf(const Intent& in) { return in.keep_mode ? kFlagKeepMode : 0; }

bool ValidOp(uint8_t v) { return v == static_cast<uint8_t>(Op::kPut) || v == static_cast<uint8_t>(Op::kDelete); }
bool ValidMode(uint8_t v) { return v <= static_cast<uint8_t>(NodeMode::kPersistentWithTtl); }
bool ValidAcl(uint8_t v) { return v <= static_cast<uint8_t>(AclChoice::kCreatorAllWorldRead); }

}  // namespace

size_t EncodedRecordSize(const Intent& intent) {
  return kFixedV1Bytes + (FlagsOf(intent) != 0 ? 1 : 0) + intent.path.size() + intent.data.size();
}

std::string EncodeRecord(const SpooledIntent& record) {
  const Intent& in = record.intent;
  std::string out;
  out.reserve(EncodedRecordSize(in));
  PutFixed(out, 0, 4);  // checksum, filled in below
  const uint8_t flags = FlagsOf(in);
  PutFixed(out, flags != 0 ? 2 : 1, 1);
  PutFixed(out, static_cast<uint8_t>(in.op), 1);
  PutFixed(out, static_cast<uint8_t>(in.mode), 1);
  PutFixed(out, static_cast<uint8_t>(in.acl), 1);
  if (flags != 0) PutFixed(out, flags, 1);
  PutFixed(out, record.seq, 8);
  PutFixed(out, static_cast<uint64_t>(in.node_ttl_ms), 8);
  PutFixed(out, static_cast<uint64_t>(in.enqueued_at_ms), 8);
  PutFixed(out, static_cast<uint64_t>(in.expires_at_ms), 8);
  PutLengthPrefixed(out, in.path);
  PutLengthPrefixed(out, in.data);
  std::string crc;
  PutFixed(crc, Crc32c(std::string_view(out).substr(4)), 4);
  out.replace(0, 4, crc);
  return out;
}

Result<SpooledIntent> DecodeRecord(std::string_view bytes) {
  ByteReader reader(bytes);
  uint32_t stored_crc;
  uint8_t version;
  if (!reader.ReadU32(stored_crc) || !reader.ReadU8(version)) {
    return Status::Corruption("record of " + std::to_string(bytes.size()) + " bytes is too short");
  }
  if (Crc32c(bytes.substr(4)) != stored_crc) return Status::Corruption("record checksum mismatch");
  if (version > kRecordFormatVersion) {
    return Status::NewerFormat("record format version " + std::to_string(version) +
                               " is newer than this build supports (" +
                               std::to_string(kRecordFormatVersion) + ")");
  }
  if (version == 0) return Status::Corruption("record format version 0 does not exist");

  SpooledIntent record;
  Intent& in = record.intent;
  uint8_t op, mode, acl, flags = 0;
  if (!reader.ReadU8(op) || !reader.ReadU8(mode) || !reader.ReadU8(acl) || (version >= 2 && !reader.ReadU8(flags)) ||
      !reader.ReadU64(record.seq) ||
      !reader.ReadI64(in.node_ttl_ms) || !reader.ReadI64(in.enqueued_at_ms) || !reader.ReadI64(in.expires_at_ms) ||
      !reader.ReadLengthPrefixed(in.path) || !reader.ReadLengthPrefixed(in.data)) {
    return Status::Corruption("record is truncated");
  }
  if (!reader.empty()) return Status::Corruption("record has trailing bytes");
  if (!ValidOp(op) || !ValidMode(mode) || !ValidAcl(acl) || (flags & ~kFlagKeepMode) != 0) {
    return Status::Corruption("record has an unknown op, mode, acl or flag value");
  }
  // Version 2 exists only to carry a flag: a record without one is written as version 1, so a
  // version 2 record with no flag set was not written by us.
  if (version == 2 && flags == 0) return Status::Corruption("record format version 2 without a flag");
  in.keep_mode = (flags & kFlagKeepMode) != 0;
  in.op = static_cast<Op>(op);
  in.mode = static_cast<NodeMode>(mode);
  in.acl = static_cast<AclChoice>(acl);
  return record;
}

std::string EncodeFailed(std::string_view record_bytes, std::string_view reason) {
  std::string out;
  PutLengthPrefixed(out, record_bytes);
  out.append(reason);
  return out;
}

Result<FailedIntent> DecodeFailed(std::string_view bytes) {
  ByteReader reader(bytes);
  std::string record_bytes;
  if (!reader.ReadLengthPrefixed(record_bytes)) return Status::Corruption("failed record is truncated");
  Result<SpooledIntent> record = DecodeRecord(record_bytes);
  if (!record.ok()) return record.status();
  FailedIntent failed;
  failed.record = std::move(record).value();
  failed.reason = std::string(bytes.substr(4 + record_bytes.size()));
  return failed;
}

}  // namespace zkspool
