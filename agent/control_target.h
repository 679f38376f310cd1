// What a control request may ask of the running agent, whether it came as a line on stdin or
// over HTTP: one implementation (the agent), so both transports validate, spool and reply alike.
#pragma once

#include "protocol.h"
#include "zkspool/registrar.h"
#include "zkspool/spool.h"

namespace zkspool::agent {

// Thread-safety: every function may be called from any thread, concurrently.
class ControlTarget {
 public:
  virtual ~ControlTarget() = default;

  // Spools a register or deregister request; returns its sequence number once it is durable,
  // after its "spooled" reply is queued on stdout (so events about it follow it there). Errors:
  // those of Registrar::Register / Deregister; kTimedOut when stdout has not been read for a
  // while with EventOutput::kMaxQueued lines waiting; in every case nothing was spooled.
  virtual Result<uint64_t> SpoolRequest(const Request& request) = 0;
  // Registrar::RetryFailed, serialized with SpoolRequest; a "spooled" line is queued for each
  // retried intent.
  virtual Result<Spool::RetryReport> RetryFailed() = 0;
  // Ends the ZooKeeper session and stops the agent, soon, from its main thread.
  virtual void Leave() = 0;
  virtual const Registrar& registrar() const = 0;
};

}  // namespace zkspool::agent
