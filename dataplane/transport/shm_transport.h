#pragma once
// shm: client and server on one host. Each direction is a byte ring in a memfd (hugetlb where
// available) mapped twice back to back, so every frame is contiguous in memory: the sender
// encodes straight into the ring, the receiver parses in place. Free ring bytes are the
// sender's credits: a slow receiver holds the sender back and nothing is overrun or dropped.
// No syscalls on the data path. Set-up: the client connects to the server's abstract Unix socket
// and passes the memfds (and eventfd doorbells for the event-driven policy) with SCM_RIGHTS.
#include <atomic>
#include <cstdint>
#include <memory>
#include <string>

#include "dataplane/transport/address.h"
#include "dataplane/transport/endpoint.h"
#include "dataplane/transport/unique_fd.h"

namespace pollmsgr {

struct ShmOptions {
  uint32_t ring_bytes = 1u << 20;  // per direction; a multiple of 2 MiB to use hugetlb
  bool hugetlb = true;             // try MFD_HUGETLB first (falls back to ordinary pages)
};

// The shared control page: one cache line per writer, so the two sides never false-share.
struct alignas(64) ShmRingCounters {
  alignas(64) std::atomic<uint64_t> produced{0};  // written by the sender only
  alignas(64) std::atomic<uint64_t> consumed{0};  // written by the receiver only
  // The event policy's doorbell protocol: the receiver says once that it may sleep, and sets
  // `receiver_sleeping` before it blocks; a sender that sees it writes the eventfd.
  alignas(64) std::atomic<uint32_t> receiver_may_sleep{0};
  std::atomic<uint32_t> receiver_sleeping{0};
};
struct ShmControl {
  static constexpr uint64_t kMagic = 0x706f6c6c73686d31ull;  // "pollshm1"
  uint64_t magic;
  uint32_t ring_bytes;
  uint32_t hugetlb;
  ShmRingCounters ring[2];  // [0]: client to server, [1]: server to client
  // The floor probe: a raw cache-line ping-pong between the two sides' lcores.
  alignas(64) std::atomic<uint64_t> floor_ping{0};
  alignas(64) std::atomic<uint64_t> floor_pong{0};
  alignas(64) std::atomic<uint64_t> floor_rounds{0};  // set by the client to ask for a probe
};

class ShmMapping;

class ShmEndpoint final : public Endpoint {
 public:
  ~ShmEndpoint() override;
  std::span<const uint8_t> rx_burst() override;
  void rx_release(size_t n) override;
  std::span<uint8_t> tx_window(size_t want) override;
  void tx_commit(size_t n) override { tx_produced_ += n; }
  EndpointStatus tx_flush() override;
  bool tx_idle() const override { return true; }  // committed bytes are in the peer's memory
  EndpointStatus check_peer() override;
  int wait_fd() const override { return rx_doorbell_.get(); }
  void allow_sleep() override;
  bool arm_wait() override;
  void disarm_wait() override;
  void on_timer() override { serve_floor_probe(); }
  const char* kind() const override { return "shm"; }

  bool hugetlb() const;
  ShmControl& control();
  // Server side: if the client asked for a floor probe, answer it now (spins for its rounds).
  void serve_floor_probe();
  // Client side: ping-pong `rounds` times with the server's lcore; round trips in TSC cycles.
  void measure_floor(uint64_t* rtt_cycles, uint64_t rounds);

  static std::unique_ptr<ShmEndpoint> connect(const HostPort& server, const ShmOptions& options);

 private:
  friend class ShmListener;
  ShmEndpoint() = default;
  std::unique_ptr<ShmMapping> map_;
  UniqueFd setup_socket_;
  UniqueFd rx_doorbell_, tx_doorbell_;
  ShmRingCounters* rx_counters_ = nullptr;
  ShmRingCounters* tx_counters_ = nullptr;
  uint8_t* rx_ring_ = nullptr;
  uint8_t* tx_ring_ = nullptr;
  uint64_t ring_bytes_ = 0;
  uint64_t rx_consumed_ = 0;   // our copy of rx_counters_->consumed
  uint64_t tx_produced_ = 0;   // committed locally; published by tx_flush
  uint64_t tx_published_ = 0;
  uint64_t tx_credit_limit_ = 0;  // produced may go up to here (consumed + ring) without a look
  bool corrupt_ = false;          // the peer published impossible counters
};

// The server's rendezvous socket. accept() is polled on a slow timer, never blocks, and finishes
// a client's set-up only once its memfds have arrived.
class ShmListener {
 public:
  explicit ShmListener(const HostPort& bind);
  ~ShmListener();
  std::unique_ptr<ShmEndpoint> accept();  // nullptr when no client is ready
  int fd() const { return listen_.get(); }

 private:
  UniqueFd listen_;
  struct Pending;
  std::unique_ptr<Pending[]> pending_;
  size_t pending_count_ = 0;
};

}  // namespace pollmsgr
