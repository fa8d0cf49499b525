#pragma once
// The burst-shaped transport interface every backend implements (shm, tcp; verbs later). An
// endpoint is one connection's end: an ordered byte stream each way, which msgr2 runs over
// unchanged. The reactor calls, per iteration: rx_burst -> (session parses in place) ->
// rx_release; tx_window/commit while encoding; tx_flush once (the doorbell).
#include <cstddef>
#include <cstdint>
#include <span>

#include "proto/session.h"

namespace pollmsgr {

enum class EndpointStatus : uint8_t { kOk, kPeerClosed, kError };

class Endpoint : public proto::FrameSink {
 public:
  // Received bytes not yet released, contiguous (empty when none): a poll, no blocking.
  virtual std::span<const uint8_t> rx_burst() = 0;
  // The first n bytes of the last rx_burst are processed: their space goes back to the sender.
  virtual void rx_release(size_t n) = 0;

  // Contiguous space to write into now (possibly empty: backpressure). `want` is a hint: a
  // window smaller than it makes the endpoint look harder for space (e.g. re-read credits).
  virtual std::span<uint8_t> tx_window(size_t want = 0) = 0;
  virtual void tx_commit(size_t n) = 0;
  // Hands everything committed to the peer: one doorbell per burst. kPeerClosed / kError when
  // the peer is gone.
  virtual EndpointStatus tx_flush() = 0;
  virtual bool tx_idle() const = 0;  // nothing committed is still waiting to go out

  // On a slow timer: is the peer still there? (shm: its setup socket; tcp: the socket.)
  virtual EndpointStatus check_peer() = 0;
  // Every housekeeping period (tens of microseconds) on the owning lcore: cheap upkeep.
  virtual void on_timer() {}
  // The event-driven wait policy. wait_fd() is what it blocks on for this endpoint's receive
  // side; allow_sleep() is called once before the first wait; arm_wait() just before blocking
  // (false: data is already there, do not block); disarm_wait() after waking.
  virtual int wait_fd() const = 0;
  virtual void allow_sleep() {}
  virtual bool arm_wait() { return true; }
  virtual void disarm_wait() {}
  virtual const char* kind() const = 0;
  // Whether the endpoint may be handed to another lcore (a resumed session's owner): not when it
  // is built on its lcore's resources.
  virtual bool movable_between_lcores() const { return true; }

  // FrameSink: the session's control frames go straight into the tx window.
  std::span<uint8_t> reserve(size_t n) override {
    auto w = tx_window(n);
    return w.size() >= n ? w.first(n) : std::span<uint8_t>{};
  }
  void commit(size_t n) override { tx_commit(n); }
};

}  // namespace pollmsgr
