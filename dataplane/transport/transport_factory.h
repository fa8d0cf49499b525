#pragma once
// A transport that lives outside dataplane/ (verbs/ implements RDMA on it, since dataplane may
// not depend on verbs): the Messenger connects and accepts through it. Set-up paths only.
#include <cstddef>
#include <memory>

#include "dataplane/transport/address.h"
#include "dataplane/transport/endpoint.h"

namespace pollmsgr {

class TransportFactory {
 public:
  virtual ~TransportFactory() = default;
  // Connects for the reactor with this index (may block briefly; throws StartupError).
  virtual std::unique_ptr<Endpoint> connect(const HostPort& server, size_t reactor_index) = 0;
  virtual void listen(const HostPort& bind) = 0;  // throws StartupError
  virtual int listen_fd() const = 0;              // readable when a client may be waiting
  struct Accepted {
    std::unique_ptr<Endpoint> endpoint;  // nullptr: nobody is ready
    size_t reactor_index = 0;            // the reactor whose resources it was built on
  };
  // Never blocks: finishes the set-up of clients whose side of it has arrived.
  virtual Accepted accept() = 0;
};

}  // namespace pollmsgr
