#pragma once
// Who may call what, checked: a connection and its reactor belong to one lcore (eRPC opens each
// dispatch-thread-only function with assert(in_dispatch())). Debug builds assert it; release
// builds compile it out.
#include <cassert>

#define POLLMSGR_ASSERT_OWNER(reactor)                                                  \
  assert(((reactor) == nullptr || (reactor)->on_owner_thread()) &&                     \
         "called from a thread other than the lcore that owns this reactor/connection")
