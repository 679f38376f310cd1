// libFuzzer target: the spool's on-disk decoders (record, failed record, meta values) on
// arbitrary bytes, as after disk damage or a bug in another build. None may crash, and whatever
// decodes must re-encode to exactly the input: the formats have no slack a reader could skip.
//
// Random bytes almost never carry a valid CRC-32C, so each input is also decoded a second time
// with its checksum recomputed; that lets the fuzzer reach the field parsing behind the check.
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "spool/bytes.h"
#include "spool/crc32c.h"
#include "spool/meta_codec.h"
#include "spool/record_codec.h"

namespace zkspool {
namespace {

void Check(bool ok) {
  if (!ok) std::abort();  // libFuzzer reports the abort with the input that caused it
}

void DecodeAndRoundTrip(std::string_view bytes) {
  Result<SpooledIntent> record = DecodeRecord(bytes);
  if (record.ok()) {
    Check(EncodeRecord(*record) == bytes);
    Check(EncodedRecordSize(record->intent) == bytes.size());
  } else {
    Check(record.status().code() == StatusCode::kCorruption ||
          record.status().code() == StatusCode::kNewerFormat);
  }
}

}  // namespace
}  // namespace zkspool

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace zkspool;
  const std::string_view bytes(reinterpret_cast<const char*>(data), size);

  DecodeAndRoundTrip(bytes);
  if (bytes.size() >= 4) {
    std::string fixed(bytes);
    std::string crc;
    PutFixed(crc, Crc32c(std::string_view(fixed).substr(4)), 4);
    fixed.replace(0, 4, crc);
    DecodeAndRoundTrip(fixed);

    // A parked failed intent wraps a record; give it one whose checksum holds.
    std::string failed = EncodeFailed(fixed, "reason");
    Result<FailedIntent> parked = DecodeFailed(failed);
    Check(parked.ok() == DecodeRecord(fixed).ok());
    if (parked.ok()) Check(parked->reason == "reason");
  }
  Result<FailedIntent> parked = DecodeFailed(bytes);
  if (parked.ok()) Check(EncodeFailed(EncodeRecord(parked->record), parked->reason) == bytes);

  Result<SessionInfo> session = DecodeSession(bytes);
  if (session.ok() && !bytes.empty() && bytes[0] == 1) Check(EncodeSession(*session) == bytes);
  Result<std::vector<int64_t>> ids = DecodeSessionIds(bytes);
  if (ids.ok()) Check(EncodeSessionIds(*ids) == bytes);
  Result<uint64_t> value = DecodeU64(bytes, "fuzz");
  if (value.ok()) Check(EncodeU64(*value) == bytes);
  return 0;
}
