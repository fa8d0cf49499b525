#pragma once
// Memory a peer shares with us can vanish under our feet: a peer that owns a hugetlb file can
// punch a hole in it, and the next read of that range is a SIGBUS when no free hugepage is left
// to fill it. Display servers meet this with client shared-memory buffers (Wayland's wl_shm); the
// same answer here: a SIGBUS handler that, when the faulting address lies in a registered peer
// mapping, maps anonymous zero pages over that whole mapping (so the read completes and the lcore
// carries on) and marks it faulted, so that its connection alone is dropped. A SIGBUS anywhere
// else is a bug of ours and ends the process as it would have.
//
// Threads: add() and remove() from any thread (set-up and teardown paths); faulted() from the
// owning lcore. The handler reads the table without locks.
#include <cstddef>
#include <cstdint>

namespace pollmsgr {

class PeerMemoryGuard {
 public:
  static constexpr size_t kSlots = 16384;  // peer mappings at once, process-wide
  // Covers [addr, addr + len) (a mapping of a peer's file, read-only). -1 when the table is
  // full: the caller refuses the peer.
  static int add(void* addr, size_t len);
  static void remove(int slot);
  static bool faulted(int slot);
};

}  // namespace pollmsgr
