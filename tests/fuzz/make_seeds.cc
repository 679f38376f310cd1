// Writes the binary seeds of corpus/record: records EncodeRecord produces for a few intents,
// damaged copies of them, and meta values. Run by hand when the formats change:
//   build-fuzz/tests/fuzz/fuzz_make_seeds tests/fuzz/corpus/record
#include <cstdio>
#include <fstream>
#include <string>

#include "spool/meta_codec.h"
#include "spool/record_codec.h"

namespace {

void Write(const std::string& dir, const std::string& name, const std::string& bytes) {
  std::ofstream(dir + "/" + name, std::ios::binary) << bytes;
}

}  // namespace

int main(int argc, char** argv) {
  using namespace zkspool;
  if (argc != 2) {
    std::fprintf(stderr, "usage: %s DIR\n", argv[0]);
    return 2;
  }
  const std::string dir = argv[1];

  SpooledIntent put;
  put.seq = 42;
  put.intent.op = Op::kPut;
  put.intent.path = "/services/web/host-1";
  put.intent.data = R"({"port":8080})";
  put.intent.enqueued_at_ms = 1'700'000'000'000;
  put.intent.expires_at_ms = 1'700'000'300'000;

  SpooledIntent ttl = put;
  ttl.seq = 43;
  ttl.intent.mode = NodeMode::kPersistentWithTtl;
  ttl.intent.acl = AclChoice::kCreatorAllWorldRead;
  ttl.intent.node_ttl_ms = 60'000;
  ttl.intent.data = std::string("bin\0\xff", 5);

  SpooledIntent del;
  del.seq = 44;
  del.intent.op = Op::kDelete;
  del.intent.path = "/services/cache";

  const std::string put_bytes = EncodeRecord(put);
  Write(dir, "put", put_bytes);
  Write(dir, "put-ttl", EncodeRecord(ttl));
  Write(dir, "delete", EncodeRecord(del));
  Write(dir, "put-truncated", put_bytes.substr(0, put_bytes.size() - 3));
  Write(dir, "put-trailing", put_bytes + "x");
  std::string flipped = put_bytes;
  flipped[20] ^= 0x40;
  Write(dir, "put-bit-flip", flipped);
  std::string long_path = put_bytes;
  long_path[43] = '\x7f';  // the path length's top byte: far past the end
  Write(dir, "put-path-length", long_path);
  Write(dir, "failed", EncodeFailed(put_bytes, "ZNOAUTH: not authorised"));
  Write(dir, "session", EncodeSession(SessionInfo{0x1234'5678'9abc'def0, std::string(16, 'p')}));
  Write(dir, "session-ids", EncodeSessionIds({1, 2, -3}));
  Write(dir, "u64", EncodeU64(7));
  return 0;
}
