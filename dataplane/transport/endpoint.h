#pragma once
// One connection's end on a transport: an ordered byte stream each way, which msgr2 runs over
// unchanged, shaped for a poller (DPDK's rx/tx bursts, eRPC's transports):
//   rx_window -> (the session parses in place) -> rx_release
//   tx_window / tx_commit while encoding -> tx_flush once per iteration (the doorbell)
//
// Threads: an endpoint belongs to the lcore of the connection that holds it; every call is that
// lcore's (set-up code may call before the loop runs). Nothing here blocks or allocates.
#include <cstddef>
#include <cstdint>
#include <span>

#include "proto/entity_addr.h"

namespace pollmsgr {

enum class EndpointStatus : uint8_t { kOk, kPeerClosed, kError };

class Endpoint {
 public:
  virtual ~Endpoint() = default;

  // Received bytes not yet released, contiguous (empty when none): a poll, no blocking. Valid
  // until rx_release or the next rx_window.
  virtual std::span<const uint8_t> rx_window() = 0;
  // The first n bytes of the last rx_window are processed: their space goes back to the sender.
  virtual void rx_release(size_t n) = 0;

  // Contiguous space to write into now (possibly empty: backpressure). `want` is a hint: a
  // window smaller than it makes the endpoint look harder for space (e.g. re-read credits).
  virtual std::span<uint8_t> tx_window(size_t want = 0) = 0;
  virtual void tx_commit(size_t n) = 0;
  // Hands everything committed to the peer: one doorbell per burst. kPeerClosed / kError when
  // the peer is gone.
  virtual EndpointStatus tx_flush() = 0;
  virtual bool tx_idle() const = 0;  // nothing committed is still waiting to go out

  // On a slow timer: is the peer still there (and, while connecting, has it answered)?
  virtual EndpointStatus check_peer() = 0;
  // What went wrong, in words, once a call has returned kPeerClosed or kError ("" when unknown).
  virtual const char* failure() const { return ""; }
  // Every housekeeping period (tens of microseconds) on the owning lcore: cheap upkeep.
  virtual void on_timer() {}
  // The peer's address as this end sees it (for the session's HELLO).
  virtual proto::EntityAddr peer_addr() const {
    return proto::EntityAddr::ipv4(proto::EntityAddr::kAny, "127.0.0.1", 0);
  }

  // The event-driven wait policy. wait_fd() is what it blocks on for this endpoint's receive
  // side; allow_sleep() is called once before the first wait; arm_wait() just before blocking
  // (false: data is already there, do not block); disarm_wait() after waking.
  virtual int wait_fd() const = 0;
  virtual void allow_sleep() {}
  virtual bool arm_wait() { return true; }
  virtual void disarm_wait() {}
  // Whether the endpoint may be handed to another lcore (a resumed session's owner): not when it
  // is built on its lcore's resources.
  virtual bool movable_between_lcores() const { return true; }
};

}  // namespace pollmsgr
