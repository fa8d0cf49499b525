#pragma once
// msgr2.1 (rev1) frames in crc mode:
//   preamble(32) | segment0 | le32 crc0 (when segment0 is non-empty) | segments 1..3 |
//   epilogue(13: u8 late_status, le32 crc of segments 1..3) when there is more than one segment.
// Preamble: u8 tag, u8 segment count, 4 x {le32 length, le16 alignment}, u8 flags, u8 reserved,
// le32 crc (seed 0) of the preamble's first 28 bytes. Segment crcs use seed 0xFFFFFFFF.
#include <array>
#include <cstdint>
#include <span>
#include <type_traits>
#include <vector>

#include "proto/errors.h"

namespace pollmsgr::proto {

enum class Tag : uint8_t {
  kHello = 1,
  kAuthRequest = 2,
  kAuthBadMethod = 3,
  kAuthReplyMore = 4,
  kAuthRequestMore = 5,
  kAuthDone = 6,
  kAuthSignature = 7,
  kClientIdent = 8,
  kServerIdent = 9,
  kIdentMissingFeatures = 10,
  kSessionReconnect = 11,
  kSessionReset = 12,
  kSessionRetry = 13,
  kSessionRetryGlobal = 14,
  kSessionReconnectOk = 15,
  kWait = 16,
  kMessage = 17,
  kKeepalive2 = 18,
  kKeepalive2Ack = 19,
  kAck = 20,
  kCompressionRequest = 21,
  kCompressionDone = 22,
};
const char* to_string(Tag tag);
bool is_known_tag(uint8_t tag);

inline constexpr size_t kPreambleSize = 32;
inline constexpr size_t kCrcSize = 4;
inline constexpr size_t kEpilogueSize = 13;
inline constexpr size_t kMaxSegments = 4;
inline constexpr uint8_t kLateStatusComplete = 0x0E;  // low nibble
inline constexpr uint8_t kLateStatusAborted = 0x01;
inline constexpr uint16_t kDefaultAlignment = 8;
inline constexpr uint16_t kPageAlignment = 4096;  // a message's data segment

struct FrameLimits {
  uint32_t max_segment = 64u << 20;
  uint32_t max_frame = 80u << 20;
};
// Until the session is ready only control frames come, and none is large: a peer that has not
// said who it is may not make us hold more than this for one frame.
inline constexpr FrameLimits kHandshakeLimits{256u << 10, 256u << 10};

struct Preamble {
  Tag tag{};
  uint8_t num_segments = 0;
  std::array<uint32_t, kMaxSegments> lengths{};
  std::array<uint16_t, kMaxSegments> alignments{};
  uint8_t flags = 0;

  // Bytes on the wire for the whole frame, preamble included.
  size_t frame_size() const;
};

// Parses and checks the 32 preamble bytes: crc first, then tag, count and limits.
Result<Preamble> decode_preamble(std::span<const uint8_t, kPreambleSize> bytes,
                                 const FrameLimits& limits);

// A decoded frame. Its segments point into the caller's chunk when the frame lay wholly inside
// it (in place, no copy) or into the decoder's reassembly buffer; valid until the next call.
struct Frame {
  Preamble preamble;
  std::array<std::span<const uint8_t>, kMaxSegments> segments;
  uint64_t stream_offset = 0;  // of the preamble, counted from the first byte fed
  bool in_place = false;
  bool aborted = false;  // the sender aborted it (late status): skip it
  Tag tag() const { return preamble.tag; }
};

// Streaming decoder: feed chunks of any size, split anywhere; get frames out.
class FrameDecoder {
 public:
  enum class Step { kFrame, kNeedMore };

  explicit FrameDecoder(FrameLimits limits = {}, bool check_data_crc = true);

  // Consumes from `input` (advancing it) up to the end of the next frame. kFrame: `frame` holds
  // it. kNeedMore: all of `input` was taken and a frame is still incomplete (or none started).
  // An error faults the decoder; every later call returns that error.
  Result<Step> next(std::span<const uint8_t>& input, Frame& frame);

  uint64_t stream_offset() const { return offset_; }  // bytes consumed so far
  bool mid_frame() const { return have_ > 0; }
  ProtoError fault() const { return fault_; }
  void set_check_data_crc(bool on) { check_data_crc_ = on; }
  void set_limits(const FrameLimits& limits) { limits_ = limits; }
  // Bytes held for reassembly: they follow what has arrived of a split frame (not what its
  // preamble announces), and a buffer grown past kKeepReassembly is freed after its frame.
  static constexpr size_t kKeepReassembly = 4u << 20;
  size_t reassembly_capacity() const { return partial_.capacity(); }
  // Counts the stream's bytes before the decoder starts (e.g. the banner) for stream_offset.
  void skip_offset(uint64_t n) { offset_ += n; }

 private:
  // Checks the segment crcs and epilogue of a whole frame whose preamble `p` is already checked.
  Result<Step> finish(std::span<const uint8_t> bytes, const Preamble& p, bool in_place,
                      Frame& frame);
  ProtoError set_fault(ProtoError e) { return fault_ = e; }

  FrameLimits limits_;
  bool check_data_crc_;
  ProtoError fault_ = ProtoError::kOk;
  uint64_t offset_ = 0;
  // Reassembly memory of a large size comes straight from the kernel (mmap), so that freeing it
  // returns it: a malloc arena would keep what hostile peers made it grow to.
  struct ReassemblyAllocator {
    using value_type = uint8_t;
    template <class U>
    struct rebind {  // bytes only
      static_assert(std::is_same_v<U, uint8_t>);
      using other = ReassemblyAllocator;
    };
    static constexpr size_t kMapFrom = 256u << 10;
    uint8_t* allocate(size_t n);
    void deallocate(uint8_t* p, size_t n) noexcept;
    bool operator==(const ReassemblyAllocator&) const = default;
  };
  // Reassembly of a frame split across chunks: grows as its bytes arrive, and is reused (up to
  // kKeepReassembly) for the next.
  std::vector<uint8_t, ReassemblyAllocator> partial_;
  size_t have_ = 0;   // bytes of the current frame in partial_
  size_t need_ = 0;   // its full size once the preamble is known, else kPreambleSize
  bool preamble_known_ = false;
  Preamble pending_;  // the preamble of the frame being reassembled
};

// Encodes a one-segment control frame into `out`: write_payload(WireWriter&) fills segment 0.
// Returns the frame's size, or 0 when `out` is too small.
template <class WritePayload>
size_t encode_control_frame(std::span<uint8_t> out, Tag tag, WritePayload&& write_payload);

// Low-level pieces the encoders share.
void write_preamble(uint8_t* out, const Preamble& p);
void write_epilogue(uint8_t* out, uint8_t late_status, const std::array<uint32_t, 3>& crcs);
size_t finish_control_frame(std::span<uint8_t> out, Tag tag, size_t payload_len);

}  // namespace pollmsgr::proto

#include "proto/wire.h"

namespace pollmsgr::proto {

template <class WritePayload>
size_t encode_control_frame(std::span<uint8_t> out, Tag tag, WritePayload&& write_payload) {
  if (out.size() < kPreambleSize + kCrcSize) return 0;
  WireWriter w(out.subspan(kPreambleSize, out.size() - kPreambleSize - kCrcSize));
  write_payload(w);
  if (!w.ok()) return 0;
  return finish_control_frame(out, tag, w.size());
}

}  // namespace pollmsgr::proto
