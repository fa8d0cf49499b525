#include "dataplane/transport/peer_memory_guard.h"

#include <signal.h>
#include <sys/mman.h>

#include <atomic>
#include <mutex>

namespace pollmsgr {
namespace {

struct Slot {
  std::atomic<uintptr_t> start{0};  // 0: free
  std::atomic<size_t> len{0};
  std::atomic<bool> faulted{false};
};
Slot slots[PeerMemoryGuard::kSlots];
std::mutex slots_mutex;  // add/remove only; the handler never takes it
struct sigaction previous{};

void on_sigbus(int sig, siginfo_t* info, void* context) {
  const auto addr = reinterpret_cast<uintptr_t>(info->si_addr);
  for (Slot& s : slots) {
    const uintptr_t start = s.start.load(std::memory_order_acquire);
    if (start == 0 || addr < start || addr >= start + s.len.load(std::memory_order_relaxed)) continue;
    // Zero pages over the whole peer mapping: the faulting read completes with zeros.
    mmap(reinterpret_cast<void*>(start), s.len.load(std::memory_order_relaxed), PROT_READ,
         MAP_FIXED | MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    s.faulted.store(true, std::memory_order_release);
    return;
  }
  // Not a peer's memory: what would have happened without us.
  if (previous.sa_flags & SA_SIGINFO && previous.sa_sigaction) {
    previous.sa_sigaction(sig, info, context);
  } else if (previous.sa_handler != SIG_DFL && previous.sa_handler != SIG_IGN) {
    previous.sa_handler(sig);
  } else {
    signal(SIGBUS, SIG_DFL);
    raise(SIGBUS);
  }
}

void install_once() {
  static std::once_flag once;
  std::call_once(once, [] {
    struct sigaction sa{};
    sa.sa_sigaction = on_sigbus;
    sa.sa_flags = SA_SIGINFO | SA_NODEFER;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGBUS, &sa, &previous);
  });
}

}  // namespace

int PeerMemoryGuard::add(void* addr, size_t len) {
  install_once();
  std::lock_guard lock(slots_mutex);
  for (size_t i = 0; i < kSlots; ++i) {
    if (slots[i].start.load(std::memory_order_relaxed) != 0) continue;
    slots[i].faulted.store(false, std::memory_order_relaxed);
    slots[i].len.store(len, std::memory_order_relaxed);
    slots[i].start.store(reinterpret_cast<uintptr_t>(addr), std::memory_order_release);
    return static_cast<int>(i);
  }
  return -1;
}

void PeerMemoryGuard::remove(int slot) {
  if (slot < 0) return;
  std::lock_guard lock(slots_mutex);
  slots[slot].start.store(0, std::memory_order_release);
}

bool PeerMemoryGuard::faulted(int slot) {
  return slot >= 0 && slots[slot].faulted.load(std::memory_order_acquire);
}

}  // namespace pollmsgr
