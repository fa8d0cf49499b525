// Lossless sessions off the hot loop: a connection whose transport failed is parked. A client's
// dials again (at once, then with back-off up to a second) until its session resumes or the
// reconnect window, counted from the failure, runs out; a server's waits that long for its
// client's SESSION_RECONNECT, which may arrive on any lcore and is passed to the session's owner.
#include <fmt/format.h>
#include <rte_cycles.h>

#include "dataplane/reactor/reactor.h"
#include "dataplane/runtime/tsc.h"

namespace pollmsgr {
namespace {
constexpr uint64_t kFirstRedialUs = 1000, kMaxRedialUs = 1000000;
}  // namespace

void Reactor::park(Connection& conn, uint64_t now) {
  ++stats_.transport_faults;
  std::unique_ptr<Connection> c = take(conn);
  if (c->outage().redials++ == 0) dispatcher_.on_transport_fault(*c, c->fault_reason());
  c->drop_transport();
  // A redial that failed comes back here: the window and the back-off carry on from the first
  // failure of the outage.
  Connection::Outage& o = c->outage();
  const uint64_t wait = o.backoff;
  o.backoff = o.backoff ? std::min(o.backoff * 2, us_to_tsc(kMaxRedialUs)) : us_to_tsc(kFirstRedialUs);
  parked_.push_back({std::move(c), o.started_tsc + resume_window_, now + wait});
}

void Reactor::tend_parked(uint64_t now) {
  const double window_s = tsc_to_seconds(resume_window_);
  for (size_t i = parked_.size(); i-- > 0;) {
    Parked& p = parked_[i];
    bool gone = false;
    const Connection::Outage& o = p.conn->outage();
    if (now >= p.deadline) {
      ++stats_.connections_faulted;
      dispatcher_.on_fault(*p.conn,
                           p.conn->can_redial()
                               ? fmt::format("{}; could not reconnect within {:g} s: {}", o.why,
                                             window_s, o.last_error)
                               : fmt::format("{}; the client did not reconnect within {:g} s",
                                             o.why, window_s));
      gone = true;
    } else if (p.conn->can_redial() && now >= p.next_dial) {
      // Never waits: the new transport finishes connecting in the loop; if it fails there, the
      // connection is parked again.
      if (p.conn->redial()) {
        place(std::move(p.conn));
        gone = true;
      } else {
        p.next_dial = now + p.conn->outage().backoff;
      }
    }
    if (gone) {
      parked_[i] = std::move(parked_.back());
      parked_.pop_back();
    }
  }
}

// A client asks, on this connection, to resume a session: it may be ours or another lcore's.
void Reactor::route_resume(Connection& c) {
  std::unique_ptr<Connection> fresh = take(c);
  Reactor* owner = sessions_ ? sessions_->owner(fresh->session().resume_request().client_cookie)
                             : nullptr;
  // An endpoint that cannot move (rdma) was built on the owner's lcore by the messenger, if the
  // session had an owner then; otherwise it is refused here.
  if (owner && owner != this && fresh->endpoint().movable_between_lcores() &&
      owner->hand_off(fresh.get())) {
    fresh.release();  // the owner resumes the session with it
    return;
  }
  resume_here(std::move(fresh));
}

void Reactor::resume_here(std::unique_ptr<Connection> fresh) {
  fresh->attach(&dispatcher_, this, sessions_);  // it may come from another lcore's inbox
  std::unique_ptr<Connection> session;
  for (auto& c : connections_)
    if (c->resumes(*fresh)) {
      session = take(*c);  // its transport is replaced
      break;
    }
  for (size_t i = 0; !session && i < parked_.size(); ++i)
    if (parked_[i].conn->resumes(*fresh)) {
      session = std::move(parked_[i].conn);
      parked_[i] = std::move(parked_.back());
      parked_.pop_back();
    }
  if (session) {
    session->resume_from(*fresh);
    place(std::move(session));
    ++stats_.sessions_resumed;
    return;  // fresh, now without a transport, goes
  }
  fresh->refuse_resume();  // SESSION_RESET: the client learns its session is lost
  place(std::move(fresh));
}

}  // namespace pollmsgr
