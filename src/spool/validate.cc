#include "spool/validate.h"

#include <cstdio>
#include <optional>

#include "zkspool/spool.h"

namespace zkspool {
namespace {

// Decodes one UTF-8 code point at `i`, advancing it; empty on malformed or overlong input.
std::optional<char32_t> NextCodePoint(std::string_view s, size_t& i) {
  const auto byte = [&](size_t k) { return static_cast<unsigned char>(s[k]); };
  unsigned char lead = byte(i);
  int extra;
  char32_t cp;
  if (lead < 0x80) { ++i; return lead; }
  if ((lead & 0xE0) == 0xC0) { extra = 1; cp = lead & 0x1F; }
  else if ((lead & 0xF0) == 0xE0) { extra = 2; cp = lead & 0x0F; }
  else if ((lead & 0xF8) == 0xF0) { extra = 3; cp = lead & 0x07; }
  else return std::nullopt;
  if (i + extra >= s.size()) return std::nullopt;
  for (int k = 1; k <= extra; ++k) {
    if ((byte(i + k) & 0xC0) != 0x80) return std::nullopt;
    cp = (cp << 6) | (byte(i + k) & 0x3F);
  }
  static constexpr char32_t kMinForLength[] = {0, 0x80, 0x800, 0x10000};
  if (cp < kMinForLength[extra] || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return std::nullopt;
  i += extra + 1;
  return cp;
}

// The server works on UTF-16 and rejects control characters, surrogates (so every code point
// above U+FFFF), the private use area and U+FFF0..U+FFFF.
bool DisallowedByServer(char32_t cp) {
  return (cp >= 0x01 && cp <= 0x1F) || (cp >= 0x7F && cp <= 0x9F) || (cp >= 0xD800 && cp <= 0xF8FF) ||
         (cp >= 0xFFF0);
}

Status Invalid(std::string_view path, const std::string& rule) {
  return Status::InvalidArgument("path " + QuoteForMessage(path) + " " + rule);
}

}  // namespace

std::string QuoteForMessage(std::string_view text) {
  constexpr size_t kShown = 200;
  std::string out = "\"";
  for (size_t i = 0; i < text.size() && i < kShown; ++i) {
    unsigned char c = static_cast<unsigned char>(text[i]);
    if (c == '"' || c == '\\') {
      out += '\\';
      out += static_cast<char>(c);
    } else if (c < 0x20 || c >= 0x7F) {
      char buf[5];
      std::snprintf(buf, sizeof buf, "\\x%02x", c);
      out += buf;
    } else {
      out += static_cast<char>(c);
    }
  }
  if (text.size() > kShown) out += "...";
  return out + "\"";
}

Status ValidatePath(std::string_view path) {
  if (path.empty()) return Status::InvalidArgument("path is empty");
  if (path.size() > kMaxPathBytes) {
    return Invalid(path, "is " + std::to_string(path.size()) + " bytes long; the limit is " +
                             std::to_string(kMaxPathBytes));
  }
  if (path[0] != '/') return Invalid(path, "must be absolute (start with '/')");
  if (path == "/") return Invalid(path, "is the root, which cannot be registered or deregistered");
  if (path.back() == '/') return Invalid(path, "must not end with '/'");
  if (path == "/zookeeper" || path.starts_with("/zookeeper/")) {
    return Invalid(path, "is under /zookeeper, which ZooKeeper reserves for itself");
  }
  size_t segment_start = 1;
  for (size_t i = 1; i <= path.size(); ++i) {
    if (i < path.size() && path[i] != '/') continue;
    std::string_view segment = path.substr(segment_start, i - segment_start);
    if (segment.empty()) return Invalid(path, "has an empty segment ('//')");
    if (segment == "." || segment == "..") return Invalid(path, "has a relative segment '" + std::string(segment) + "'");
    segment_start = i + 1;
  }
  for (size_t i = 0; i < path.size();) {
    size_t at = i;
    std::optional<char32_t> cp = NextCodePoint(path, i);
    if (!cp) return Invalid(path, "is not valid UTF-8 at byte " + std::to_string(at));
    if (*cp == 0) return Invalid(path, "contains a NUL character at byte " + std::to_string(at));
    if (DisallowedByServer(*cp)) {
      char buf[16];
      std::snprintf(buf, sizeof buf, "U+%04X", static_cast<unsigned>(*cp));
      return Invalid(path, std::string("contains the character ") + buf + " at byte " + std::to_string(at) +
                               ", which ZooKeeper does not allow in paths");
    }
  }
  return Status::Ok();
}

Status ValidateIntent(const Intent& intent, std::chrono::milliseconds ttl, size_t max_data_bytes) {
  if (intent.op != Op::kPut && intent.op != Op::kDelete) {
    return Status::InvalidArgument("op " + std::to_string(static_cast<int>(intent.op)) + " is not put or delete");
  }
  if (Status s = ValidatePath(intent.path); !s.ok()) return s;
  if (static_cast<uint8_t>(intent.mode) > static_cast<uint8_t>(NodeMode::kPersistentWithTtl)) {
    return Status::InvalidArgument("node mode " + std::to_string(static_cast<int>(intent.mode)) + " is unknown");
  }
  if (static_cast<uint8_t>(intent.acl) > static_cast<uint8_t>(AclChoice::kCreatorAllWorldRead)) {
    return Status::InvalidArgument("acl choice " + std::to_string(static_cast<int>(intent.acl)) + " is unknown");
  }
  if (intent.op == Op::kDelete && !intent.data.empty()) {
    return Status::InvalidArgument("a delete of " + QuoteForMessage(intent.path) + " must carry no data");
  }
  if (intent.data.size() > max_data_bytes) {
    return Status::InvalidArgument("data for " + QuoteForMessage(intent.path) + " is " +
                                   std::to_string(intent.data.size()) + " bytes; the limit is " +
                                   std::to_string(max_data_bytes));
  }
  if (intent.keep_mode && (intent.op != Op::kPut || intent.node_ttl_ms != 0)) {
    return Status::InvalidArgument("keep_mode is only valid for a put without a node TTL of its own");
  }
  if (intent.op == Op::kPut && intent.mode == NodeMode::kPersistentWithTtl) {
    if (intent.node_ttl_ms < 1 || intent.node_ttl_ms > kMaxNodeTtlMs) {
      return Status::InvalidArgument("node TTL " + std::to_string(intent.node_ttl_ms) +
                                     " ms is out of range: a persistent-ttl node needs 1.." +
                                     std::to_string(kMaxNodeTtlMs) + " ms");
    }
  } else if (intent.node_ttl_ms != 0) {
    return Status::InvalidArgument("node TTL is only valid for a put of a persistent-ttl node");
  }
  if (ttl.count() < 0 || ttl > kMaxSpoolTtl) {
    return Status::InvalidArgument("spool TTL " + std::to_string(ttl.count()) + " ms is out of range: 0 (none) to " +
                                   std::to_string(kMaxSpoolTtl.count()) + " ms");
  }
  return Status::Ok();
}

}  // namespace zkspool
