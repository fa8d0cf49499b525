#include "proto/frame.h"

#include <sys/mman.h>

#include <algorithm>
#include <cstring>
#include <new>

#include "proto/crc32c.h"

namespace pollmsgr::proto {

namespace {
constexpr uint32_t kSegmentCrcSeed = 0xFFFFFFFFu;
constexpr uint32_t kPreambleCrcSeed = 0;
constexpr size_t kPreambleCrcOffset = 28;
constexpr size_t kDataSegment = 3;
}  // namespace

uint8_t* FrameDecoder::ReassemblyAllocator::allocate(size_t n) {
  if (n < kMapFrom) return static_cast<uint8_t*>(::operator new(n));
  void* p = mmap(nullptr, n, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (p == MAP_FAILED) throw std::bad_alloc();
  return static_cast<uint8_t*>(p);
}

void FrameDecoder::ReassemblyAllocator::deallocate(uint8_t* p, size_t n) noexcept {
  if (n < kMapFrom)
    ::operator delete(p);
  else
    munmap(p, n);
}

const char* to_string(Tag tag) {
  static const char* kNames[] = {
      "?",           "HELLO",          "AUTH_REQUEST",         "AUTH_BAD_METHOD",
      "AUTH_REPLY_MORE", "AUTH_REQUEST_MORE", "AUTH_DONE",     "AUTH_SIGNATURE",
      "CLIENT_IDENT", "SERVER_IDENT",  "IDENT_MISSING_FEATURES", "SESSION_RECONNECT",
      "SESSION_RESET", "SESSION_RETRY", "SESSION_RETRY_GLOBAL", "SESSION_RECONNECT_OK",
      "WAIT",        "MESSAGE",        "KEEPALIVE2",           "KEEPALIVE2_ACK",
      "ACK",         "COMPRESSION_REQUEST", "COMPRESSION_DONE"};
  auto i = static_cast<uint8_t>(tag);
  return is_known_tag(i) ? kNames[i] : "?";
}

bool is_known_tag(uint8_t tag) {
  return tag >= static_cast<uint8_t>(Tag::kHello) &&
         tag <= static_cast<uint8_t>(Tag::kCompressionDone);
}

size_t Preamble::frame_size() const {
  size_t size = kPreambleSize + lengths[0] + (lengths[0] ? kCrcSize : 0);
  for (size_t i = 1; i < num_segments; ++i) size += lengths[i];
  if (num_segments > 1) size += kEpilogueSize;
  return size;
}

Result<Preamble> decode_preamble(std::span<const uint8_t, kPreambleSize> b,
                                 const FrameLimits& limits) {
  if (crc32c(kPreambleCrcSeed, b.first(kPreambleCrcOffset)) !=
      load_le<uint32_t>(b.data() + kPreambleCrcOffset))
    return ProtoError::kBadPreambleCrc;
  Preamble p;
  if (!is_known_tag(b[0])) return ProtoError::kBadTag;
  p.tag = static_cast<Tag>(b[0]);
  p.num_segments = b[1];
  if (p.num_segments == 0 || p.num_segments > kMaxSegments) return ProtoError::kBadSegmentCount;
  uint64_t total = 0;
  for (size_t i = 0; i < kMaxSegments; ++i) {
    p.lengths[i] = load_le<uint32_t>(b.data() + 2 + 6 * i);
    p.alignments[i] = load_le<uint16_t>(b.data() + 6 + 6 * i);
    if (i >= p.num_segments && p.lengths[i] != 0) return ProtoError::kBadSegmentCount;
    if (p.lengths[i] > limits.max_segment) return ProtoError::kSegmentTooLarge;
    total += p.lengths[i];
  }
  p.flags = b[26];
  if (total + kPreambleSize + kCrcSize + kEpilogueSize > limits.max_frame)
    return ProtoError::kFrameTooLarge;
  return p;
}

FrameDecoder::FrameDecoder(FrameLimits limits, bool check_data_crc)
    : limits_(limits), check_data_crc_(check_data_crc), need_(kPreambleSize) {}

Result<FrameDecoder::Step> FrameDecoder::next(std::span<const uint8_t>& input, Frame& frame) {
  if (fault_ != ProtoError::kOk) return fault_;
  if (have_ == 0 && partial_.capacity() > kKeepReassembly)
    decltype(partial_)().swap(partial_);  // the last frame (now released) was a large one
  if (have_ == 0) {
    // Fast path: the whole frame is in this chunk; parse it where it lies.
    if (input.size() >= kPreambleSize) {
      auto pre = decode_preamble(input.first<kPreambleSize>(), limits_);
      if (!pre) return set_fault(pre.error());
      const size_t size = pre->frame_size();
      if (input.size() >= size) {
        auto bytes = input.first(size);
        input = input.subspan(size);
        return finish(bytes, *pre, true, frame);
      }
      pending_ = *pre;
      need_ = size;
      preamble_known_ = true;
    } else {
      need_ = kPreambleSize;
      preamble_known_ = false;
    }
    if (input.empty()) return Step::kNeedMore;
  }
  // Slow path: reassemble. The preamble is checked before its lengths size anything.
  while (!input.empty()) {
    const size_t n = std::min(input.size(), need_ - have_);
    if (partial_.size() < have_ + n)  // grow with what has arrived, doubling, up to the frame
      partial_.resize(std::min(need_, std::max(have_ + n, 2 * partial_.size())));
    std::memcpy(partial_.data() + have_, input.data(), n);
    have_ += n;
    input = input.subspan(n);
    if (have_ < need_) break;
    // (A frame may be its preamble alone: one empty segment. Only the flag, not the size, says
    // whether the preamble is known yet.)
    if (!preamble_known_) {
      auto pre = decode_preamble(std::span<const uint8_t, kPreambleSize>(partial_.data(),
                                                                         kPreambleSize), limits_);
      if (!pre) return set_fault(pre.error());
      pending_ = *pre;
      need_ = pre->frame_size();
      preamble_known_ = true;
      continue;
    }
    const size_t size = have_;
    have_ = 0;
    need_ = kPreambleSize;
    preamble_known_ = false;
    return finish({partial_.data(), size}, pending_, false, frame);
  }
  return Step::kNeedMore;
}

Result<FrameDecoder::Step> FrameDecoder::finish(std::span<const uint8_t> bytes,
                                                const Preamble& p, bool in_place, Frame& frame) {
  frame.preamble = p;
  frame.in_place = in_place;
  frame.aborted = false;
  frame.stream_offset = offset_;
  offset_ += bytes.size();
  frame.segments = {};

  size_t pos = kPreambleSize;
  frame.segments[0] = bytes.subspan(pos, p.lengths[0]);
  pos += p.lengths[0];
  if (p.lengths[0]) {
    if (crc32c(kSegmentCrcSeed, frame.segments[0]) != load_le<uint32_t>(bytes.data() + pos))
      return set_fault(ProtoError::kBadSegmentCrc);
    pos += kCrcSize;
  }
  for (size_t i = 1; i < p.num_segments; ++i) {
    frame.segments[i] = bytes.subspan(pos, p.lengths[i]);
    pos += p.lengths[i];
  }
  if (p.num_segments > 1) {
    const uint8_t* epilogue = bytes.data() + pos;
    const uint8_t status = epilogue[0] & 0x0F;
    if (status == kLateStatusAborted) {
      frame.aborted = true;
      return Step::kFrame;
    }
    if (status != kLateStatusComplete) return set_fault(ProtoError::kBadLateStatus);
    for (size_t i = 1; i < p.num_segments; ++i) {
      if (i == kDataSegment && !check_data_crc_) continue;
      if (crc32c(kSegmentCrcSeed, frame.segments[i]) !=
          load_le<uint32_t>(epilogue + 1 + 4 * (i - 1)))
        return set_fault(ProtoError::kBadSegmentCrc);
    }
  }
  return Step::kFrame;
}

void write_preamble(uint8_t* out, const Preamble& p) {
  out[0] = static_cast<uint8_t>(p.tag);
  out[1] = p.num_segments;
  for (size_t i = 0; i < kMaxSegments; ++i) {
    store_le<uint32_t>(out + 2 + 6 * i, p.lengths[i]);
    store_le<uint16_t>(out + 6 + 6 * i, p.alignments[i]);
  }
  out[26] = p.flags;
  out[27] = 0;
  store_le<uint32_t>(out + kPreambleCrcOffset, crc32c(kPreambleCrcSeed, {out, kPreambleCrcOffset}));
}

void write_epilogue(uint8_t* out, uint8_t late_status, const std::array<uint32_t, 3>& crcs) {
  out[0] = late_status;
  for (size_t i = 0; i < 3; ++i) store_le<uint32_t>(out + 1 + 4 * i, crcs[i]);
}

size_t finish_control_frame(std::span<uint8_t> out, Tag tag, size_t payload_len) {
  Preamble p;
  p.tag = tag;
  p.num_segments = 1;
  p.lengths[0] = static_cast<uint32_t>(payload_len);
  p.alignments[0] = kDefaultAlignment;
  write_preamble(out.data(), p);
  if (payload_len == 0) return kPreambleSize;
  const uint32_t crc = crc32c(kSegmentCrcSeed, out.subspan(kPreambleSize, payload_len));
  store_le<uint32_t>(out.data() + kPreambleSize + payload_len, crc);
  return kPreambleSize + payload_len + kCrcSize;
}

}  // namespace pollmsgr::proto
