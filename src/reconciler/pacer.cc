#include "reconciler/pacer.h"

#include <algorithm>
#include <limits>

namespace zkspool {
namespace {

double Ms(std::chrono::steady_clock::duration d) { return std::chrono::duration<double, std::milli>(d).count(); }

}  // namespace

Pacer::Pacer(size_t max_window, double ops_per_second, bool enabled)
    : max_window_(static_cast<double>(std::max<size_t>(max_window, 1))),
      ops_per_second_(ops_per_second),
      enabled_(enabled),
      window_(enabled ? std::min(max_window_, static_cast<double>(kInitialWindow)) : max_window_),
      threshold_(max_window_),
      tokens_(BucketSize()) {}

void Pacer::SetSessionTimeout(std::chrono::milliseconds timeout) {
  timeout_ms_ = static_cast<double>(std::max<int64_t>(timeout.count(), 1));
}

void Pacer::Restart() {
  if (!enabled_) return;
  // Slow start up to where the last cut (a loss or a late call) left the window.
  window_ = std::min({max_window_, static_cast<double>(kInitialWindow), std::max(threshold_, 1.0)});
}

void Pacer::OnAnswer(size_t ops, Clock::time_point sent, Clock::time_point now) {
  const double latency = Ms(now - sent);
  latency_ewma_ms_ = latency_ewma_ms_ == 0 ? latency : 0.8 * latency_ewma_ms_ + 0.2 * latency;
  if (!enabled_) return;
  if (latency > CutAboveMs()) {
    if (sent >= last_cut_) Cut(now);
    return;
  }
  if (latency > GrowBelowMs()) return;  // rising: hold
  const double acked = static_cast<double>(ops);
  if (window_ < threshold_) {
    window_ = std::min(window_ + acked, threshold_);  // slow start: doubles per round trip
  } else {
    window_ += acked / window_ * std::max(1.0, max_window_ / 16);  // + max/16 per round trip
  }
  window_ = std::min(window_, max_window_);
}

void Pacer::OnConnectionLoss(Clock::time_point now) {
  if (enabled_) Cut(now);
}

void Pacer::OnOldestOut(Clock::time_point sent, Clock::time_point now) {
  if (enabled_ && Ms(now - sent) > CutAboveMs() && sent >= last_cut_) Cut(now);
}

void Pacer::Cut(Clock::time_point now) {
  window_ = std::max(1.0, window_ / 2);
  threshold_ = window_;
  last_cut_ = now;
  ++cuts_;
}

size_t Pacer::Allowance(Clock::time_point now) {
  if (ops_per_second_ <= 0) return std::numeric_limits<size_t>::max();
  if (refilled_ != Clock::time_point{}) {
    tokens_ = std::min(BucketSize(), tokens_ + ops_per_second_ * Ms(now - refilled_) / 1000);
  }
  refilled_ = now;
  return static_cast<size_t>(tokens_);
}

void Pacer::Spend(size_t ops) {
  if (ops_per_second_ > 0) tokens_ -= static_cast<double>(ops);
}

Pacer::Clock::time_point Pacer::NextToken(Clock::time_point now) const {
  if (ops_per_second_ <= 0 || tokens_ >= 1) return now;
  const double wait_ms = (1 - tokens_) / ops_per_second_ * 1000;
  return now + std::chrono::microseconds(static_cast<int64_t>(wait_ms * 1000) + 1);
}

}  // namespace zkspool
