// libFuzzer target: arbitrary bytes into a msgr2 session (both roles), fed whole and in the
// chunk sizes the input's first byte picks. The session must never crash, read out of bounds
// or allocate beyond its limits; faults are expected and fine.
#include <cstddef>
#include <cstdint>
#include <span>

#include "proto/session.h"

using namespace pollmsgr::proto;

namespace {

struct NullHandler : SessionHandler {
  size_t bytes = 0;
  void on_message(const MessageView& m) override {
    bytes += m.front.size() + m.middle.size() + m.data.size();
    if (!m.data.empty()) bytes += m.data.back();  // touch the last byte: ASan checks the span
  }
};

void run(Role role, std::span<const uint8_t> data, size_t chunk) {
  SessionConfig cfg;
  cfg.role = role;
  cfg.lossy = role == Role::kServer;
  cfg.limits = {1u << 20, 4u << 20};  // keep reassembly bounded for the fuzzer
  Session session(cfg);
  VectorSink out;
  NullHandler h;
  session.start(out);
  while (!data.empty()) {
    const size_t n = std::min(chunk, data.size());
    session.on_bytes(data.first(n), out, h);
    data = data.subspan(n);
    out.bytes.clear();
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const size_t chunk = 1 + data[0] % 64;
  std::span<const uint8_t> rest(data + 1, size - 1);
  run(Role::kClient, rest, rest.size() ? rest.size() : 1);
  run(Role::kServer, rest, chunk);
  return 0;
}
