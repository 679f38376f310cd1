// The agent's log on stderr. Under systemd (JOURNAL_STREAM names our stderr) every line starts
// with its syslog priority, "<4>" for a warning, which journald takes as the entry's priority
// (`journalctl -p warning` then finds warnings) and strips; journald stamps the time itself.
// On a terminal or a file the lines carry a timestamp and the level instead.
#pragma once

#include <spdlog/logger.h>

#include <memory>
#include <string>

namespace zkspool::agent {

// True when stderr is the journal stream systemd set up for us: JOURNAL_STREAM is
// "<device>:<inode>" of stderr (sd_journal_stream_fd(3), systemd.exec(5)). Thread-safe.
bool StderrIsJournal();

// The logger "zkspool-agent" on stderr at `level` (spdlog level name). Call once, from main().
std::shared_ptr<spdlog::logger> MakeAgentLogger(const std::string& level);

}  // namespace zkspool::agent
