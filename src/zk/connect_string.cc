// ValidateConnectString (declared in zkspool/registrar.h).
#include <fmt/format.h>

#include <algorithm>
#include <cctype>
#include <charconv>

#include "spool/validate.h"
#include "zkspool/registrar.h"

namespace zkspool {
namespace {

// The client splits each server at its last ':', skips leading white space and hands the rest
// to getaddrinfo as it is: a typo there (a space, a stray character) fails on every attempt, a
// session that never connects with nothing saying why. So a host is a name (letters, digits,
// '-', '.', '_') or an IPv6 address as it is ("::1", "fe80::1%eth0"), never in brackets, which
// getaddrinfo does not take.
bool IsNameChar(char c) { return std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '.' || c == '_'; }

bool IsValidHost(std::string_view host) {
  if (host.empty() || host.size() > 253) return false;
  if (host.find(':') == std::string_view::npos) return std::all_of(host.begin(), host.end(), IsNameChar);
  const size_t percent = host.find('%');
  std::string_view address = host.substr(0, percent);
  const bool address_ok = std::all_of(address.begin(), address.end(), [](char c) {
    return std::isxdigit(static_cast<unsigned char>(c)) || c == ':' || c == '.';
  });
  if (percent == std::string_view::npos) return address_ok;
  std::string_view zone = host.substr(percent + 1);
  return address_ok && !zone.empty() && std::all_of(zone.begin(), zone.end(), IsNameChar);
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
    while (!entry.empty() && std::isspace(static_cast<unsigned char>(entry.front()))) entry.remove_prefix(1);
    if (entry.empty()) return Status::InvalidArgument(where + " is empty (host:port expected)");
    if (entry.starts_with('[')) {
      return Status::InvalidArgument(fmt::format(
          "{} ({}): write an IPv6 address without brackets (e.g. ::1:2181): the ZooKeeper client hands "
          "them to getaddrinfo, which does not take them",
          where, QuoteForMessage(entry)));
    }
    const size_t colon = entry.rfind(':');
    if (colon == 0) return Status::InvalidArgument(fmt::format("{} ({}) has no host", where, QuoteForMessage(entry)));
    if (colon == std::string_view::npos) {
      return Status::InvalidArgument(fmt::format("{} ({}) has no port (host:port expected)", where, QuoteForMessage(entry)));
    }
    if (std::string_view host = entry.substr(0, colon); !IsValidHost(host)) {
      return Status::InvalidArgument(fmt::format(
          "{} ({}): the host {} is neither a host name (letters, digits, '-', '.', '_') nor an IPv6 address",
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
