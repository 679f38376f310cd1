// ValidateConnectString (declared in zkspool/registrar.h).
#include <fmt/format.h>

#include <algorithm>
#include <cctype>
#include <charconv>

#include "spool/validate.h"
#include "zkspool/registrar.h"

namespace zkspool {
namespace {

// A host name (letters, digits, '-', '.', '_') or an IPv6 literal in brackets (hex digits, ':',
// '.', and a "%zone" of letters and digits). The client hands the text to getaddrinfo as it is,
// where a typo (a space, a stray character) fails on every attempt: a session that stays in
// connecting forever, with nothing saying why.
bool IsHostChar(char c) { return std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '.' || c == '_'; }

bool IsValidHost(std::string_view host) {
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') {
    std::string_view v6 = host.substr(1, host.size() - 2);
    const size_t zone = v6.find('%');
    for (size_t i = 0; i < v6.size(); ++i) {
      const char c = v6[i];
      const bool ok = i > zone ? std::isalnum(static_cast<unsigned char>(c)) != 0
                               : (std::isxdigit(static_cast<unsigned char>(c)) || c == ':' || c == '.' || i == zone);
      if (!ok) return false;
    }
    return v6.find(':') != std::string_view::npos && zone != v6.size() - 1;
  }
  return !host.empty() && host.size() <= 253 && std::all_of(host.begin(), host.end(), IsHostChar);
}

}  // namespace

Status ValidateConnectString(std::string_view connect) {
  const std::string quoted = QuoteForMessage(connect);
  if (connect.empty()) return Status::InvalidArgument("the ZooKeeper connect string is empty");
  const size_t slash = connect.find('/');
  std::string_view hosts = connect.substr(0, slash);
  if (slash != std::string_view::npos && connect.size() > slash + 1) {
    // The client takes "/" as no chroot; anything longer must be a valid path.
    if (Status s = ValidatePath(connect.substr(slash)); !s.ok()) {
      return Status::InvalidArgument(fmt::format("ZooKeeper connect string {}: the chroot: {}", quoted, s.message()));
    }
  }
  size_t index = 0;
  for (size_t start = 0; start <= hosts.size(); ++index) {
    const size_t comma = std::min(hosts.find(',', start), hosts.size());
    std::string_view entry = hosts.substr(start, comma - start);
    start = comma + 1;
    const std::string where = fmt::format("ZooKeeper connect string {}: server {}", quoted, index + 1);
    if (entry.empty()) return Status::InvalidArgument(where + " is empty (host:port expected)");
    // "[v6 address]:port" or "host:port".
    const size_t colon = entry.starts_with('[') ? entry.find("]:") + 1 : entry.rfind(':');
    if (colon == std::string_view::npos || colon == 0) {
      return Status::InvalidArgument(fmt::format("{} ({}) has no port (host:port expected)", where, QuoteForMessage(entry)));
    }
    if (std::string_view host = entry.substr(0, colon); !IsValidHost(host)) {
      return Status::InvalidArgument(fmt::format(
          "{} ({}): the host {} is not a host name (letters, digits, '-', '.', '_') or an IPv6 address in brackets",
          where, QuoteForMessage(entry), QuoteForMessage(host)));
    }
    std::string_view port_text = entry.substr(colon + 1);
    unsigned port = 0;
    auto [end, ec] = std::from_chars(port_text.data(), port_text.data() + port_text.size(), port);
    if (port_text.empty() || ec != std::errc() || end != port_text.data() + port_text.size() || port < 1 || port > 65535) {
      return Status::InvalidArgument(fmt::format("{} ({}): the port {} is not a number from 1 to 65535", where,
                                                 QuoteForMessage(entry), QuoteForMessage(port_text)));
    }
    if (comma == hosts.size()) break;
  }
  return Status::Ok();
}

}  // namespace zkspool
