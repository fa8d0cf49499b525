#pragma once
// What pollmsgr's rdma transport puts in the fields a peer sees (a SEND's immediate data, a
// READ descriptor) and in the wr_ids only we see. Both sides of a connection use this layout.
// Pure functions: any thread.
#include <cstdint>
#include <cstring>
#include <span>

namespace pollmsgr::verbs {

// Immediate data of every SEND: credits returned (bits 0-15), the peer's large buffers released
// (bits 16-30), and whether the SEND is a ReadDescriptor (bit 31).
struct Imm {
  uint32_t credits;   // < 2^16
  uint32_t released;  // < 2^15
  bool descriptor;
};
constexpr uint32_t kImmDescriptor = 1u << 31;
constexpr uint32_t encode_imm(const Imm& imm) {
  return (imm.credits & 0xffff) | (imm.released & 0x7fff) << 16 |
         (imm.descriptor ? kImmDescriptor : 0);
}
constexpr Imm decode_imm(uint32_t v) {
  return {v & 0xffff, (v >> 16) & 0x7fff, (v & kImmDescriptor) != 0};
}

// Credits on pollmsgr's wire. Each SEND takes one of the peer's credits and returns every credit
// we owe (buffers of the peer's we consumed since our last SEND). Two rules keep both sides
// moving:
// - the last credit goes only on a SEND that returns some, so the sides are never both at zero
//   with nothing on the way: each one's last SEND gave the other a credit;
// - a SEND of credits alone goes once half our grant is owed, so a side at zero always gets some
//   back. With a grant of 3 or more, such a SEND (owing one for it) never calls for another
//   one back; with 2 it always would, so the two sides would trade them forever.
constexpr uint32_t kMinCredits = 3;
constexpr bool may_send(uint32_t peer_credits, uint32_t owed_credits) {
  return peer_credits > 1 || (peer_credits == 1 && owed_credits > 0);
}
constexpr bool credit_update_due(uint32_t owed_credits, uint32_t large_released,
                                 uint32_t granted) {
  return owed_credits >= (granted + 1) / 2 || large_released > 0;
}

// What a SEND carries instead of a large frame: where the receiver can READ it.
struct ReadDescriptor {
  uint64_t addr;
  uint32_t rkey;
  uint32_t length;
};

// What a received SEND is, from its immediate data and its bytes: the receive path's only
// reading of what a peer sent. kStream: bytes of the stream (keep the buffer); kCreditsOnly;
// kRead: a large frame to pull with an RDMA READ of `read`; kFault: past the credits we gave
// (the receive queue is full), or a READ we never offered to make (no large buffers, a length
// of 0 or beyond ours, a descriptor of the wrong size).
struct Received {
  enum Kind : uint8_t { kStream, kCreditsOnly, kRead, kFault } kind;
  ReadDescriptor read{};
};
inline Received classify_receive(const Imm& imm, std::span<const uint8_t> bytes, bool rx_full,
                                 uint32_t max_read) {
  if (!imm.descriptor) {
    if (bytes.empty()) return {Received::kCreditsOnly};
    return {rx_full ? Received::kFault : Received::kStream};
  }
  ReadDescriptor d{};
  if (bytes.size() != sizeof(d)) return {Received::kFault};
  std::memcpy(&d, bytes.data(), sizeof(d));
  if (rx_full || max_read == 0 || d.length == 0 || d.length > max_read) return {Received::kFault};
  return {Received::kRead, d};
}

// wr_ids: a receive's is its Buffer*; a SEND's kSendTag | sequence; a READ's kReadTag | rx
// slot; the flushed "beacon" posted at teardown kBeaconWrId.
constexpr uint64_t kSendTag = 1ull << 63;
constexpr uint64_t kReadTag = 3ull << 62;
constexpr uint64_t kBeaconWrId = ~0ull;
enum class WorkKind { kReceive, kSend, kRead, kBeacon };
constexpr WorkKind work_kind(uint64_t wr_id) {
  if (wr_id == kBeaconWrId) return WorkKind::kBeacon;
  if ((wr_id & kReadTag) == kReadTag) return WorkKind::kRead;
  if (wr_id & kSendTag) return WorkKind::kSend;
  return WorkKind::kReceive;
}

}  // namespace pollmsgr::verbs
