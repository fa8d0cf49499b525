#pragma once
// One lossy msgr2 session with a Ceph monitor, run to completion by the calling thread over any
// transport's endpoint (tcp, or rdma on Ceph's wire to an async+rdma mon): send, then poll until
// the answer comes. For start-up questions (ceph_bootstrap.h) and interop tests, never on an
// lcore's loop. Throws StartupError naming what was waited for, and what to check.
#include <chrono>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "dataplane/transport/transport.h"
#include "proto/mon_messages.h"
#include "proto/session.h"

namespace pollmsgr::perf {

class MonSession final : public proto::SessionHandler {
 public:
  // Connects through `transport` (as its reactor 0) and completes the handshake.
  MonSession(Transport& transport, const HostPort& mon, double timeout_s);

  uint64_t global_id() const { return session_.global_id(); }

  // Sends a message and waits for the first reply of `reply_type`; returns (front, data).
  std::pair<std::vector<uint8_t>, std::vector<uint8_t>> call(uint16_t type,
                                                             std::span<const uint8_t> front,
                                                             uint16_t reply_type,
                                                             const std::string& what,
                                                             uint16_t version = 1,
                                                             uint16_t compat_version = 1);
  // A command (one JSON object); its output bytes. The mon's own error text when it refuses.
  std::vector<uint8_t> command(const proto::Fsid& fsid, const std::string& json_text);

  void on_message(const proto::MessageView& m) override;

 private:
  using Clock = std::chrono::steady_clock;
  static constexpr size_t kMaxUnsentBytes = 4u << 20;
  void flush();  // everything in out_ to the endpoint, receiving meanwhile
  bool receive();  // what has arrived into the session; false when nothing had
  template <class Done>
  void wait(const std::string& what, Done done);
  void check_time(const std::string& what) const;

  std::string where_;
  Clock::time_point deadline_;
  std::unique_ptr<Endpoint> endpoint_;
  proto::Session session_;
  proto::VectorSink out_;
  uint64_t tid_ = 0;
  uint16_t want_type_ = 0;
  bool got_ = false;
  std::vector<uint8_t> front_, data_;
};

}  // namespace pollmsgr::perf
