// ValidateConnectString (declared in zkspool/registrar.h).
#include <fmt/format.h>

#include <charconv>

#include "spool/validate.h"
#include "zkspool/registrar.h"

namespace zkspool {

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
