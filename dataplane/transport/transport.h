#pragma once
// A transport: one backend (shm, tcp, rdma) that makes endpoints. The Messenger connects and
// accepts through this interface only, so a new backend touches no messenger code.
//
// Threads: connect() on the lcore that will own the endpoint (or before run()); listen() before
// run(); listen_fd() and accept() on the lcore that polls the listener (the first reactor's).
// The transport outlives the Messenger and every endpoint it made.
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "dataplane/transport/address.h"
#include "dataplane/transport/endpoint.h"

namespace pollmsgr {

class Transport {
 public:
  virtual ~Transport() = default;
  virtual const char* name() const = 0;  // "shm", "tcp", "rdma"

  // A new endpoint toward `server` for the reactor with this index. `resume_cookie`: a
  // lossless client reconnecting names its session (its client cookie; 0 for a new one), so
  // that the server can build the connection on the lcore that owns the session.
  // wait = true (start-up): blocks until connected or throws StartupError with the reason.
  // wait = false (a redial on a running lcore): never waits for the peer; the endpoint finishes
  // connecting in the loop, and a failure shows as a transport fault then. It throws only when
  // the attempt fails at once.
  virtual std::unique_ptr<Endpoint> connect(const HostPort& server, size_t reactor_index,
                                            uint64_t resume_cookie, bool wait) = 0;

  virtual void listen(const HostPort& bind) = 0;  // throws StartupError
  virtual int listen_fd() const = 0;              // readable when a client may be waiting
  struct Accepted {
    std::unique_ptr<Endpoint> endpoint;  // nullptr: nobody is ready (or see `refused`)
    size_t reactor_index = 0;            // the reactor it goes to
    std::string refused;  // without an endpoint: a client turned away, and why (call again)
  };
  // Which reactor a new connection goes to, given the client's resume cookie (0: none).
  using Placement = std::function<size_t(uint64_t resume_cookie)>;
  // Never blocks: finishes the set-up of a client whose side of it has arrived, and asks
  // `place` where it goes (a backend whose endpoints cannot move asks before building it).
  virtual Accepted accept(const Placement& place) = 0;

  // The transport's buffer pools, for a census that shows leaks (any thread: a snapshot, exact
  // only when the lcores are still). Without pools (shm: each connection maps its own rings): none.
  struct PoolCensus {
    std::string name;
    unsigned total = 0, free = 0, posted_for_receive = 0;
    unsigned held() const {  // by connections
      return total > free + posted_for_receive ? total - free - posted_for_receive : 0;
    }
  };
  virtual std::vector<PoolCensus> pools() const { return {}; }
};

}  // namespace pollmsgr
