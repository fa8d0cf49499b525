// The shm data path: ring windows, credits, the doorbell, liveness, the floor probe. Every value
// the peer writes is loaded once and checked before it is used; no syscall unless the peer's
// receiver sleeps (event mode) or on the slow peer check.
#include <rte_cycles.h>
#include <rte_pause.h>
#include <sys/socket.h>

#include <algorithm>
#include <cerrno>

#include "dataplane/transport/shm_transport.h"

namespace pollmsgr {
namespace {
constexpr size_t kRxPrefetchBytes = 4096;
constexpr size_t kTxPrefetchBytes = 1024;
constexpr uint64_t kMaxFloorRounds = 100000;  // what a client may ask of a server's lcore
}  // namespace

std::span<const uint8_t> ShmEndpoint::rx_window() {
  if (!peer_control_ && !finish_setup()) return {};
  if (status_ != EndpointStatus::kOk) return {};
  const uint64_t produced = peer_control_->produced.load(std::memory_order_acquire);
  const uint64_t n = produced - rx_consumed_;
  if (n == 0) return {};
  if (n > rx_ring_bytes_) {  // never read past the ring, whatever the peer says
    fail(EndpointStatus::kError, "the peer published an impossible ring index");
    return {};
  }
  const uint8_t* data = rx_ring_ + rx_consumed_ % rx_ring_bytes_;
  // Ask for every line of the burst at once: the lines are in the sender's cache, and fetching
  // them one after another as the parser reaches them costs a cross-core trip each.
  const size_t prefetch = std::min<size_t>(n, kRxPrefetchBytes);
  for (size_t off = 0; off < prefetch; off += 64) __builtin_prefetch(data + off);
  return {data, static_cast<size_t>(n)};
}

void ShmEndpoint::rx_release(size_t n) {
  if (n == 0) return;
  rx_consumed_ += n;
  own_control_->consumed.store(rx_consumed_, std::memory_order_release);
}

std::span<uint8_t> ShmEndpoint::tx_window(size_t want) {
  // Credits are re-read from the peer's line only when they run low: fewer cache-line moves.
  if (peer_control_ && tx_credit_limit_ - tx_produced_ < std::max<uint64_t>(want, tx_ring_bytes_ / 4))
    read_peer_consumed();
  if (status_ != EndpointStatus::kOk) return {};
  const uint64_t room = std::min(tx_credit_limit_ - tx_produced_, tx_ring_bytes_);
  return {tx_ring_ + tx_produced_ % tx_ring_bytes_, static_cast<size_t>(room)};
}

// The peer's consumed index, loaded once and checked: it never goes back, nor past what we
// published.
void ShmEndpoint::read_peer_consumed() {
  const uint64_t consumed = peer_control_->consumed.load(std::memory_order_acquire);
  if (consumed < peer_consumed_ || consumed > tx_published_) {
    fail(EndpointStatus::kError, "the peer published an impossible consumed index");
    return;
  }
  peer_consumed_ = consumed;
  tx_credit_limit_ = consumed + tx_ring_bytes_;
}

EndpointStatus ShmEndpoint::tx_flush() {
  if (tx_produced_ != tx_published_) {
    // The doorbell. An exchange (a locked instruction, a full barrier on x86) rather than a
    // store: the idle flag read below must not be read before produced is visible, or a
    // receiver going idle just then and we would each miss the other.
    own_control_->produced.exchange(tx_produced_, std::memory_order_seq_cst);
    tx_published_ = tx_produced_;
    // Take ownership of the lines the next frames will be written into now, while nothing
    // waits on them, instead of one at a time from inside the encoder.
    uint8_t* next = tx_ring_ + tx_produced_ % tx_ring_bytes_;
    for (size_t off = 0; off < kTxPrefetchBytes; off += 64) __builtin_prefetch(next + off, 1);
    if (peer_control_) {
      const uint32_t spell = peer_control_->idle.load(std::memory_order_relaxed);
      if (spell != 0 && spell != rung_) {
        const char ring = 'd';  // MSG_DONTWAIT: a full socket means a wake-up is pending already
        [[maybe_unused]] ssize_t r = send(socket_.get(), &ring, 1, MSG_DONTWAIT | MSG_NOSIGNAL);
        rung_ = spell;
      }
    }
  }
  return status_;
}

bool ShmEndpoint::enter_idle() {
  if (status_ != EndpointStatus::kOk) return false;
  if (!peer_control_) return true;  // the server's half arrives on the socket, which signals
  // The doorbell bytes of earlier spells are read first: one sent for this spell must still be
  // there to make the socket signal, or a wake-up is lost.
  if (check_peer() != EndpointStatus::kOk) return false;
  if (++idle_spell_ == 0) idle_spell_ = 1;
  own_control_->idle.store(idle_spell_, std::memory_order_relaxed);
  std::atomic_thread_fence(std::memory_order_seq_cst);  // the sender's mirror of its exchange
  if (peer_control_->produced.load(std::memory_order_relaxed) != rx_consumed_) {
    own_control_->idle.store(0, std::memory_order_relaxed);
    return false;
  }
  return true;
}

void ShmEndpoint::leave_idle() {
  if (peer_control_) own_control_->idle.store(0, std::memory_order_relaxed);
}

EndpointStatus ShmEndpoint::check_peer() {
  if (status_ != EndpointStatus::kOk) return status_;
  if (!peer_control_) {
    finish_setup();
    return status_;
  }
  if (peer_memory_faulted()) {
    fail(EndpointStatus::kError, "the peer's memory went away under us (its file was cut)");
    return status_;
  }
  read_peer_consumed();  // (on the data path only when credits run low)
  // Doorbell bytes are read and dropped; a peer that closed reads as end of stream.
  char bytes[64];
  for (int i = 0; i < 16; ++i) {
    const ssize_t n = recv(socket_.get(), bytes, sizeof(bytes), MSG_DONTWAIT);
    if (n > 0) continue;
    if (n == 0 || (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR))
      fail(EndpointStatus::kPeerClosed, "");
    break;
  }
  return status_;
}

void ShmEndpoint::on_timer() {
  if (serve_floor_ && peer_control_) serve_floor_probe();
}

// The server's half of the floor probe: a raw cache-line ping-pong, so that the client can
// measure what a round trip between the two lcores costs with no protocol at all. It spins the
// lcore, so it runs only when the server was started to serve it, and for bounded rounds and
// time, whatever the client asks.
void ShmEndpoint::serve_floor_probe() {
  const uint64_t rounds = std::min(peer_control_->floor_rounds.load(std::memory_order_acquire),
                                   kMaxFloorRounds);
  uint64_t last = own_control_->floor_pong.load(std::memory_order_relaxed);
  if (rounds == 0 || peer_control_->floor_ping.load(std::memory_order_acquire) == last) return;
  const uint64_t hz = rte_get_tsc_hz(), start = rte_rdtsc();
  uint64_t since = start;
  for (uint64_t answered = 0; answered < rounds && rte_rdtsc() - start < hz;) {
    const uint64_t ping = peer_control_->floor_ping.load(std::memory_order_acquire);
    if (ping != last) {
      own_control_->floor_pong.store(ping, std::memory_order_release);
      last = ping;
      since = rte_rdtsc();
      ++answered;
    } else if (rte_rdtsc() - since > hz / 10) {
      break;  // a tenth of a second without a ping: the client is done or gone
    } else {
      rte_pause();
    }
  }
}

bool ShmEndpoint::measure_floor(uint64_t* rtt_cycles, uint64_t rounds) {
  if (!peer_control_) return false;
  uint64_t seq = own_control_->floor_ping.load(std::memory_order_relaxed);
  own_control_->floor_rounds.store(rounds, std::memory_order_release);
  const uint64_t hz = rte_get_tsc_hz();
  for (uint64_t i = 0; i < rounds; ++i) {
    const uint64_t t0 = rte_rdtsc();
    own_control_->floor_ping.store(++seq, std::memory_order_release);
    while (peer_control_->floor_pong.load(std::memory_order_acquire) != seq) {
      if (rte_rdtsc() - t0 > hz) return false;  // not served (the server was not asked to)
      rte_pause();
    }
    rtt_cycles[i] = rte_rdtsc() - t0;
  }
  own_control_->floor_rounds.store(0, std::memory_order_release);
  return true;
}

}  // namespace pollmsgr
