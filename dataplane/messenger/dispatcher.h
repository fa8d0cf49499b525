#pragma once
#include <cstdint>
#include <string_view>

#include "proto/control_frames.h"
#include "proto/message.h"

namespace pollmsgr {

class Connection;

// The `why` of on_fault for every connection a reactor still holds when it is destroyed.
inline constexpr std::string_view kShutdownReason = "the reactor shut down";

// Called inline on the lcore that owns the connection (like Ceph's fast dispatch). One
// dispatcher per reactor: nothing here is shared between lcores.
class Dispatcher {
 public:
  virtual ~Dispatcher() = default;
  virtual void on_ready(Connection&) {}
  // The message's spans are valid only during the call.
  virtual void on_message(Connection& connection, const proto::MessageView& message) = 0;
  // The peer answered a KEEPALIVE2 (Connection::send_keepalive) with this stamp.
  virtual void on_keepalive_ack(Connection&, proto::Timestamp) {}
  // A lossless session carried on over a new transport after `outage_tsc` cycles without one
  // (from the failure to SESSION_RECONNECT_OK); what the peer lacked is being sent again.
  virtual void on_resumed(Connection&, uint64_t /*outage_tsc*/) {}
  // A lossless session's transport failed; the session waits (a client redials) for a new one.
  // Once per outage (the redials that fail after it are not told).
  virtual void on_transport_fault(Connection&, std::string_view /*why*/) {}
  // The connection is about to be destroyed (peer gone, protocol fault, shutdown). A reactor
  // being destroyed calls it for each connection it still holds, with kShutdownReason: the
  // dispatcher, and whatever it keeps in Connection::user, must outlive its reactor.
  virtual void on_fault(Connection&, std::string_view /*why*/) {}
  // The messenger turned a new connection away before it reached a reactor (its limit of
  // connections, a full inbox): on the first reactor's lcore, which accepts. `why` says which.
  virtual void on_refused(std::string_view /*why*/) {}
  // Once per reactor iteration, after receive: the place for work that is due (sends, timers).
  virtual void on_tick(uint64_t /*now_tsc*/) {}
  // When on_tick next has work that is not a reply to a message (think time, a deadline): how
  // long an event-driven reactor may sleep. UINT64_MAX: nothing scheduled.
  virtual uint64_t next_due_tsc() const { return UINT64_MAX; }
};

}  // namespace pollmsgr
