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

// Readiness an fd per endpoint would make expensive: work for many endpoints that arrives on one
// shared queue (rdma: its lcore's completion queues). The reactor asks each source its endpoints
// name at every readiness check, once however many endpoints share it.
class ReadySource {
 public:
  virtual ~ReadySource() = default;
  // Takes what has arrived for its endpoints; writes the ready tags (Endpoint::set_ready_tag) of
  // up to `max` idle ones that now have something, and returns how many (the rest: next call).
  virtual size_t take_ready(uint64_t* tags, size_t max) = 0;
  // Event policies: readable once something arrives after arm(); -1: the source has none.
  virtual int wait_fd() const = 0;
  // Before the reactor sleeps: arms wait_fd; false when something arrived meanwhile.
  virtual bool arm() = 0;
  // wait_fd signalled: clears it (the next take_ready finds what came).
  virtual void acknowledge() = 0;
};

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

  // Is the peer still there (and, while connecting, has it answered)? Called when the wait fd
  // signals and on a slow timer; may make a syscall.
  virtual EndpointStatus check_peer() = 0;
  // What the last call saw, without a syscall.
  virtual EndpointStatus status() const = 0;
  // What went wrong, in words, once a call has returned kPeerClosed or kError ("" when unknown).
  virtual const char* failure() const { return ""; }
  // Every timer sweep (from milliseconds, to seconds with thousands of connections): upkeep.
  virtual void on_timer() {}
  // The peer's address as this end sees it (for the session's HELLO).
  virtual proto::EntityAddr peer_addr() const {
    return proto::EntityAddr::ipv4(proto::EntityAddr::kAny, "127.0.0.1", 0);
  }

  // Readiness, so that an iteration costs O(ready) and not O(connections). wait_fd() becomes
  // readable (the reactor watches it edge-triggered, in poll mode and event mode alike) when the
  // endpoint has something for the reactor: bytes, a doorbell, a close; -1 when it has no such
  // fd, and is then polled every iteration. enter_idle(): the reactor would stop polling it
  // until its wait fd signals; true when it may (nothing is buffered, and a peer that sends more
  // will make the fd signal), false to stay polled. leave_idle(): it is polled again.
  virtual int wait_fd() const = 0;
  virtual bool enter_idle() { return false; }
  virtual void leave_idle() {}
  // A shared source (of its lcore) that also reports this endpoint ready, besides its wait fd
  // (nullptr: none); the tag it is to report this endpoint by (set by the owning lcore).
  virtual ReadySource* ready_source() { return nullptr; }
  virtual void set_ready_tag(uint64_t) {}
  // Whether the endpoint may be handed to another lcore (a resumed session's owner): not when it
  // is built on its lcore's resources.
  virtual bool movable_between_lcores() const { return true; }
};

}  // namespace pollmsgr
