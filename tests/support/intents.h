// Intents as the spool tests build them: a put of `data` at `path`, a delete of `path`.
#pragma once

#include <string>
#include <utility>

#include "zkspool/intent.h"

namespace zkspool::testing {

inline Intent Put(std::string path, std::string data, NodeMode mode = NodeMode::kEphemeral) {
  Intent i;
  i.op = Op::kPut;
  i.path = std::move(path);
  i.data = std::move(data);
  i.mode = mode;
  return i;
}

inline Intent Delete(std::string path) {
  Intent i;
  i.op = Op::kDelete;
  i.path = std::move(path);
  return i;
}

}  // namespace zkspool::testing
