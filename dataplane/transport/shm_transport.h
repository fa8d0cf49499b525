#pragma once
// shm: client and server on one host, no syscalls on the data path. Each side creates the
// memory it writes, one memfd: a control page and its outgoing byte ring, the ring mapped twice
// back to back so that every frame is contiguous (the sender encodes straight into it, the
// receiver parses in place). Each side maps the other's memfd read-only, from a read-only file
// description: a peer can neither write our memory nor resize or punch it. Free ring bytes are
// the sender's credits (the receiver publishes how far it has consumed): a slow receiver holds
// the sender back, and nothing is overrun or dropped.
//
// The peer is not trusted. Set-up goes through a Unix socket file in a private directory
// (--shm-dir, mode 0700), and each side checks the other's SO_PEERCRED against its allowed
// uids. A received fd must be a memfd sealed against resizing (seals checked before the size),
// of the size its ring needs, at most --shm-max-peer-ring-kb; every index the peer writes is
// read once and checked before use; a peer mapping is covered by PeerMemoryGuard. The same
// socket is the event policy's doorbell: a sender whose receiver sleeps sends it a byte with
// MSG_DONTWAIT (nothing the peer does can make that block), and nothing else is ever rung:
// a receiver that has stopped polling a ring says so in its control page ("idle"), and the
// sender rings once after producing into it.
#include <sys/types.h>

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "dataplane/transport/address.h"
#include "dataplane/transport/transport.h"
#include "dataplane/transport/unique_fd.h"

namespace pollmsgr {

struct ShmOptions {
  uint32_t ring_bytes = 1u << 20;  // our outgoing ring; a multiple of 2 MiB to use hugetlb
  bool hugetlb = true;             // try MFD_HUGETLB first (falls back to ordinary pages)
  uint32_t max_peer_ring_bytes = 64u << 20;  // a peer asking us to map more is refused
  std::string dir;                 // the rendezvous sockets' directory ("": the default)
  std::vector<uid_t> allowed_uids; // peers allowed to connect or serve ({}: our own uid)
  bool serve_floor_probe = false;  // server: answer clients' --measure-floor
  uint32_t setup_timeout_ms = 2000;
  size_t max_pending_setups = 256;
};
// /tmp/pollmsgr-shm-<uid>: private to the user that runs the programs.
std::string default_shm_dir();
// Where the server at `address` listens: <dir>/<ip>:<port>.
std::string shm_socket_path(const ShmOptions& options, const HostPort& address);

// One side's control page, written by that side only; the peer maps it read-only. One cache
// line per field a different side polls, so the two sides never false-share.
struct alignas(64) ShmControl {
  static constexpr uint64_t kMagic = 0x706f6c6c73686d32ull;  // "pollshm2"
  uint64_t magic;
  uint32_t ring_bytes;  // of the ring that follows this page
  uint32_t hugetlb;
  alignas(64) std::atomic<uint64_t> produced;  // bytes written into our outgoing ring
  alignas(64) std::atomic<uint64_t> consumed;  // bytes of the peer's ring we have consumed
  // Non-zero: we (as receiver) no longer poll the peer's ring, and a sender that produces into
  // it must ring the doorbell (a byte on the set-up socket, which our reactor watches). Each
  // idle spell has its own number, so that a sender rings once per spell.
  alignas(64) std::atomic<uint32_t> idle;
  // The floor probe: the client counts pings in its page, the server echoes them in its own.
  alignas(64) std::atomic<uint64_t> floor_ping;
  std::atomic<uint64_t> floor_rounds;  // client: how many it asks for
  alignas(64) std::atomic<uint64_t> floor_pong;
};

class ShmMapping;
class ShmListener;

class ShmEndpoint final : public Endpoint {
 public:
  ~ShmEndpoint() override;
  std::span<const uint8_t> rx_window() override;
  void rx_release(size_t n) override;
  std::span<uint8_t> tx_window(size_t want) override;
  void tx_commit(size_t n) override { tx_produced_ += n; }
  EndpointStatus tx_flush() override;
  bool tx_idle() const override { return true; }  // committed bytes are in the peer's reach
  EndpointStatus check_peer() override;
  EndpointStatus status() const override { return status_; }
  const char* failure() const override { return failure_.c_str(); }
  int wait_fd() const override { return socket_.get(); }
  bool enter_idle() override;
  void leave_idle() override;
  void on_timer() override;

  bool hugetlb() const;
  bool connected() const { return peer_control_ != nullptr; }  // the peer's half is mapped
  // Client: ping-pong `rounds` times with the server's lcore; round trips in TSC cycles. False
  // when the server does not serve the probe (it answers nothing within a second).
  bool measure_floor(uint64_t* rtt_cycles, uint64_t rounds);

 private:
  friend class ShmTransport;
  void read_peer_consumed();  // checked; faults the endpoint on an impossible one
  friend class ShmListener;
  // Either side, once its own half exists (the memfd sent to the peer, and our mapping of it).
  ShmEndpoint(UniqueFd socket, std::string where, std::unique_ptr<ShmMapping> own,
              const ShmOptions& options);
  void attach_peer(std::unique_ptr<ShmMapping> peer, uint32_t ring_bytes);
  bool peer_memory_faulted() const;  // PeerMemoryGuard had to replace the peer's pages
  void fail(EndpointStatus status, std::string why);
  bool finish_setup();  // client: the server's half has arrived (false: not yet, or failed)
  void serve_floor_probe();

  std::unique_ptr<ShmMapping> own_, peer_;  // peer_ is null until the set-up completes
  UniqueFd socket_;             // the rendezvous connection: set-up, liveness, doorbell
  std::string where_;           // "the shm server at 127.0.0.1:6800", for messages
  ShmControl* own_control_ = nullptr;
  const ShmControl* peer_control_ = nullptr;
  uint8_t* tx_ring_ = nullptr;
  const uint8_t* rx_ring_ = nullptr;
  uint64_t tx_ring_bytes_ = 0, rx_ring_bytes_ = 0;
  uint64_t rx_consumed_ = 0;      // our copy of own_control_->consumed
  uint64_t tx_produced_ = 0;      // committed locally; published by tx_flush
  uint64_t tx_published_ = 0;
  uint64_t tx_credit_limit_ = 0;  // produced may go up to here (peer's consumed + ring)
  uint64_t peer_consumed_ = 0;    // the last value the peer published that made sense
  uint32_t rung_ = 0;             // the peer's idle spell we rang the doorbell for
  uint32_t idle_spell_ = 0;       // ours
  uint64_t setup_deadline_ = 0;   // client, while the server's half has not arrived
  uint32_t max_peer_ring_bytes_ = 0;
  std::vector<uid_t> allowed_uids_;
  bool serve_floor_ = false;
  EndpointStatus status_ = EndpointStatus::kOk;
  std::string failure_;
};

class ShmTransport final : public Transport {
 public:
  explicit ShmTransport(ShmOptions options = {});
  ~ShmTransport() override;
  const char* name() const override { return "shm"; }
  std::unique_ptr<Endpoint> connect(const HostPort& server, size_t reactor_index,
                                    uint64_t resume_cookie, bool wait) override;
  void listen(const HostPort& bind) override;
  int listen_fd() const override;
  Accepted accept(const Placement& place) override;
  const ShmOptions& options() const { return options_; }

 private:
  ShmOptions options_;
  std::unique_ptr<ShmListener> listener_;
};

}  // namespace pollmsgr
