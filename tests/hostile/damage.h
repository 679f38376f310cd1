// Damage as disks and people do it, for the hostile-input tests: bytes zeroed or overwritten in
// place, files cut short or removed, and the spool files to aim at.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace zkspool::testing {

// A spool in `dir` holding `count` acknowledged put intents (/hostile/n<i>, 64 bytes of data
// each), appended one by one with the default (sync) durability by a process that then died
// without closing it: they are in the write-ahead log (a clean close would flush them into a
// table file). Call it before anything in the test process has opened a spool (it forks).
void MakeSpool(const std::string& dir, int count);
// The same, opened twice more, with a saved session and a failed intent on the way, so that the
// MANIFEST has records after its first snapshot (flushes into table files).
void MakeSpoolWithAGrownManifest(const std::string& dir);

// The one write-ahead log file of `dir` ("" if there is not exactly one).
std::string OnlyLog(const std::string& dir);
// The MANIFEST that `dir`/CURRENT names.
std::string CurrentManifest(const std::string& dir);

uint64_t FileSize(const std::string& path);
void ZeroBytes(const std::string& path, uint64_t offset, uint64_t count);
void OverwriteBytes(const std::string& path, uint64_t offset, std::string_view bytes);
void Truncate(const std::string& path, uint64_t size);
void Append(const std::string& path, std::string_view bytes);
// Removes everything in the spool `dir` but ZKSPOOL and HIGHWATER: RocksDB's whole database gone.
void WipeDatabase(const std::string& dir);
std::string Basename(const std::string& path);

}  // namespace zkspool::testing
