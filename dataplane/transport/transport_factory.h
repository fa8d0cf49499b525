#pragma once
// A transport that lives outside dataplane/ (verbs/ implements RDMA on it, since dataplane may
// not depend on verbs): the Messenger connects and accepts through it. Set-up paths only.
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>

#include "dataplane/transport/address.h"
#include "dataplane/transport/endpoint.h"

namespace pollmsgr {

class TransportFactory {
 public:
  virtual ~TransportFactory() = default;
  // Connects for the reactor with this index (may block briefly; throws StartupError).
  // `resume_cookie`: a lossless client reconnecting names its session (its client cookie; 0 for
  // a new one), so that the server can build the connection on the lcore that owns the session.
  virtual std::unique_ptr<Endpoint> connect(const HostPort& server, size_t reactor_index,
                                            uint64_t resume_cookie = 0) = 0;
  virtual void listen(const HostPort& bind) = 0;  // throws StartupError
  virtual int listen_fd() const = 0;              // readable when a client may be waiting
  struct Accepted {
    std::unique_ptr<Endpoint> endpoint;  // nullptr: nobody is ready
    size_t reactor_index = 0;            // the reactor whose resources it was built on
  };
  // Which reactor a new connection goes to, given the client's resume cookie.
  using Placement = std::function<size_t(uint64_t resume_cookie)>;
  // Never blocks: finishes the set-up of clients whose side of it has arrived, each on the
  // reactor `place` picks.
  virtual Accepted accept(const Placement& place) = 0;
};

}  // namespace pollmsgr
