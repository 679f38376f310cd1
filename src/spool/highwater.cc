#include "spool/highwater.h"

#include <fmt/format.h>
#include <rocksdb/file_system.h>
#include <spdlog/logger.h>

#include <charconv>
#include <iterator>
#include <sstream>

#include "spool/crc32c.h"

namespace zkspool {
namespace {

constexpr std::string_view kHeader = "zkspool highwater 1\n";

std::string Body(const Highwater& mark) {
  std::string tables;
  for (uint64_t table : mark.tables) fmt::format_to(std::back_inserter(tables), " {}", table);
  return fmt::format("{}acknowledged {}\nmanifest {} {}\ntables{}\n", kHeader, mark.acknowledged,
                     mark.manifest_number, mark.manifest_size, tables);
}

bool ParseU64(std::string_view text, uint64_t& out) {
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), out);
  return ec == std::errc() && end == text.data() + text.size();
}

std::optional<Highwater> Parse(std::string_view text) {
  const size_t crc_at = text.rfind("crc32c ");
  if (!text.starts_with(kHeader) || crc_at == std::string_view::npos || !text.ends_with("\n")) return std::nullopt;
  const std::string_view body = text.substr(0, crc_at);
  const std::string_view crc_text = text.substr(crc_at + 7, text.size() - crc_at - 8);
  if (crc_text != fmt::format("{:08x}", Crc32c(body))) return std::nullopt;
  Highwater mark;
  std::istringstream lines{std::string(body.substr(kHeader.size()))};
  std::string key, a, b;
  if (!(lines >> key >> a) || key != "acknowledged" || !ParseU64(a, mark.acknowledged)) return std::nullopt;
  if (!(lines >> key >> a >> b) || key != "manifest" || !ParseU64(a, mark.manifest_number) ||
      !ParseU64(b, mark.manifest_size)) {
    return std::nullopt;
  }
  std::string tables;
  if (!(lines >> key) || key != "tables" || !std::getline(lines, tables)) return std::nullopt;
  std::istringstream numbers(tables);
  for (std::string n; numbers >> n;) {
    uint64_t table = 0;
    if (!ParseU64(n, table)) return std::nullopt;
    mark.tables.push_back(table);
  }
  return mark;
}

}  // namespace

Result<std::optional<Highwater>> ReadHighwater(rocksdb::FileSystem& fs, const std::string& dir) {
  const std::string path = dir + "/" + kHighwaterFile;
  rocksdb::IOStatus exists = fs.FileExists(path, rocksdb::IOOptions(), nullptr);
  if (exists.IsNotFound()) return std::optional<Highwater>();
  std::string text;
  rocksdb::IOStatus s = exists.ok() ? rocksdb::ReadFileToString(&fs, path, &text) : exists;
  if (!s.ok()) return Status::IOError("cannot read " + path + ": " + s.ToString());
  std::optional<Highwater> mark = Parse(text);
  if (!mark) return Status::Corruption(path + " is damaged: it does not parse or fails its checksum");
  return mark;
}

Status WriteHighwater(rocksdb::FileSystem& fs, const std::string& dir, const Highwater& mark) {
  const std::string path = dir + "/" + kHighwaterFile;
  const std::string temp = path + ".tmp";
  std::string body = Body(mark);
  std::string text = body + fmt::format("crc32c {:08x}\n", Crc32c(body));
  rocksdb::IOStatus s = rocksdb::WriteStringToFile(&fs, text, temp, /*should_sync=*/true);
  if (s.ok()) s = fs.RenameFile(temp, path, rocksdb::IOOptions(), nullptr);
  std::unique_ptr<rocksdb::FSDirectory> directory;
  if (s.ok()) s = fs.NewDirectory(dir, rocksdb::IOOptions(), &directory, nullptr);
  if (s.ok()) s = directory->Fsync(rocksdb::IOOptions(), nullptr);
  if (!s.ok()) return Status::IOError("cannot write " + path + ": " + s.ToString());
  return Status::Ok();
}

HighwaterKeeper::HighwaterKeeper(std::function<Result<Highwater>()> collect,
                                 std::function<Status(const Highwater&)> write, std::shared_ptr<spdlog::logger> log,
                                 std::chrono::milliseconds interval)
    : collect_(std::move(collect)), write_(std::move(write)), log_(std::move(log)), interval_(interval),
      thread_([this] { Run(); }) {}

HighwaterKeeper::~HighwaterKeeper() { Stop().ok(); }

void HighwaterKeeper::Changed() {
  std::lock_guard lock(mu_);
  changed_ = true;
  wake_.notify_one();
}

Status HighwaterKeeper::RecordNow() {
  std::lock_guard lock(record_mu_);
  Result<Highwater> mark = collect_();
  if (!mark.ok()) return mark.status();
  if (written_ == *mark) return Status::Ok();
  if (Status s = write_(*mark); !s.ok()) return s;
  written_ = *mark;
  return Status::Ok();
}

void HighwaterKeeper::Run() {
  std::unique_lock lock(mu_);
  for (;;) {
    wake_.wait(lock, [this] { return changed_ || stopping_; });
    if (stopping_) return;
    // Let the interval's appends gather: one rewrite records them all.
    if (wake_.wait_for(lock, interval_, [this] { return stopping_; })) return;
    changed_ = false;
    lock.unlock();
    if (Status s = RecordNow(); !s.ok()) {
      log_->warn("spool high-water mark not recorded (retrying): {}", s.message());
      lock.lock();
      changed_ = true;
      continue;
    }
    lock.lock();
  }
}

Status HighwaterKeeper::Stop() {
  {
    std::lock_guard lock(mu_);
    if (stopping_ && !thread_.joinable()) return Status::Ok();
    stopping_ = true;
  }
  wake_.notify_one();
  if (thread_.joinable()) thread_.join();
  return RecordNow();
}

}  // namespace zkspool
