// Appends one intent to a spool through the installed library and reads it back.
#include <zkspool/spool.h>

#include <cstdio>

int main(int argc, char** argv) {
  if (argc != 2) return 2;
  auto spool = zkspool::Spool::Open(argv[1]);
  if (!spool.ok()) {
    std::fprintf(stderr, "%s\n", spool.status().ToString().c_str());
    return 1;
  }
  zkspool::Intent intent;
  intent.path = "/consumer/check";
  intent.data = "hello";
  auto seq = (*spool)->Append(intent);
  if (!seq.ok()) return 1;
  auto back = (*spool)->GetPending(*seq);
  if (!back.ok() || back->intent.data != "hello") return 1;
  std::printf("consumer ok: seq %llu\n", static_cast<unsigned long long>(*seq));
  return 0;
}
