// Registrar statistics in the Prometheus text exposition format (version 0.0.4), for
// node_exporter's textfile collector on edge hosts or any HTTP endpoint the application has.
#pragma once

#include <string>

#include "zkspool/registrar.h"
#include "zkspool/status.h"

namespace zkspool {

// Renders `stats` as metrics named zkspool_*: the spool's gauges (pending, registered, failed,
// oldest pending age), the session (state as a one-hot zkspool_session_state{state=...}, its id
// as a label of zkspool_session_info, connected-since timestamp), the counters since Open (applied, retried, conflicts, expired,
// failed, reasserted, sessions started) and the apply latency as a histogram in seconds.
// `labels` is added to every sample as is, e.g. `spool="/var/lib/app"` (empty: none); the
// caller escapes its values. Never fails. Thread-safe.
std::string RenderPrometheusText(const RegistrarStats& stats, const std::string& labels = "");

// Replaces the file at `path` with `text` atomically: writes a temporary file in the same
// directory, then renames it over `path`, so a reader (node_exporter) sees the old or the new
// content, never a partial one. The file gets mode 0644.
// Errors: kIOError naming the file and the system error (the temporary file is removed).
// Thread-safe for distinct paths.
Status WriteFileAtomically(const std::string& path, const std::string& text);

}  // namespace zkspool
