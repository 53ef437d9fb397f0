// libvirt's events: its default event loop, and what a measurement must notice at once (a
// domain paused, resumed, stopped or crashed; the connection closing).
#pragma once

#include <atomic>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "virt/connection.hpp"

namespace vmp::virt {

// libvirt's default event loop in a thread of its own. Must exist before the connection is
// opened (libvirt wants the loop registered first) and outlive it.
class LibvirtEventLoop {
 public:
  LibvirtEventLoop();
  ~LibvirtEventLoop();
  LibvirtEventLoop(const LibvirtEventLoop&) = delete;
  LibvirtEventLoop& operator=(const LibvirtEventLoop&) = delete;

 private:
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

// Keepalive: a daemon that stops answering is given up after about interval x (count + 1).
inline constexpr int kKeepAliveIntervalS = 2;
inline constexpr unsigned kKeepAliveCount = 3;

// What VIR_CONNECT_CLOSE_REASON_* means, in words.
std::string close_reason_text(int reason);

struct LifecycleEvent {
  int event = 0;  // VIR_DOMAIN_EVENT_*
  int detail = 0;
  std::string text;  // lifecycle_text()
  // The domain's QEMU process is gone or going (stopped, shutting down, crashed).
  bool ends_qemu() const;
};

// The lifecycle events of every domain of a connection (by name) and the connection's closing,
// from registration on; keepalive on. Needs a LibvirtEventLoop.
class LifecycleLog {
 public:
  explicit LifecycleLog(const Connection& connection);
  ~LifecycleLog();
  LifecycleLog(const LifecycleLog&) = delete;
  LifecycleLog& operator=(const LifecycleLog&) = delete;

  // How many events `domain` has had so far, and the n-th.
  std::size_t count(const std::string& domain) const;
  std::optional<LifecycleEvent> event(const std::string& domain, std::size_t n) const;
  // Why the connection closed, once it has.
  std::optional<std::string> closed() const;

 private:
  static int on_lifecycle(virConnectPtr, virDomainPtr, int event, int detail, void* opaque);
  static void on_close(virConnectPtr, int reason, void* opaque);

  virConnectPtr conn_;
  int lifecycle_id_ = -1;
  bool close_registered_ = false;
  mutable std::mutex mutex_;
  std::map<std::string, std::vector<LifecycleEvent>> events_;
  std::optional<std::string> closed_;
};

// A lifecycle event in words ("was paused", "was destroyed", ...); nullopt for the events that
// do not change whether the guest runs (defined, undefined).
std::optional<std::string> lifecycle_text(int event, int detail);

}  // namespace vmp::virt
