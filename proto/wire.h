#pragma once
// Little-endian encoding helpers with bounds checks. A reader never reads past its span: a short
// read sets a sticky failure that the caller turns into ProtoError::kMalformedPayload.
#include <cstdint>
#include <cstring>
#include <span>
#include <string_view>

namespace pollmsgr::proto {

template <class T>
inline T load_le(const uint8_t* p) {
  T v;
  std::memcpy(&v, p, sizeof(T));  // x86-64 is little-endian, as the wire is
  return v;
}
template <class T>
inline void store_le(uint8_t* p, T v) {
  std::memcpy(p, &v, sizeof(T));
}

class WireReader {
 public:
  explicit WireReader(std::span<const uint8_t> bytes) : bytes_(bytes) {}

  template <class T>
  T get() {
    if (!take(sizeof(T))) return T{};
    return load_le<T>(bytes_.data() + pos_ - sizeof(T));
  }
  uint8_t u8() { return get<uint8_t>(); }
  uint16_t u16() { return get<uint16_t>(); }
  uint32_t u32() { return get<uint32_t>(); }
  uint64_t u64() { return get<uint64_t>(); }
  int32_t s32() { return get<int32_t>(); }
  int64_t s64() { return get<int64_t>(); }

  // n raw bytes, in place (empty on failure).
  std::span<const uint8_t> bytes(size_t n) {
    if (!take(n)) return {};
    return bytes_.subspan(pos_ - n, n);
  }
  // A le32 length followed by that many bytes (Ceph's string and bufferlist encoding).
  std::span<const uint8_t> blob() { return bytes(u32()); }
  std::string_view string() {
    auto b = blob();
    return {reinterpret_cast<const char*>(b.data()), b.size()};
  }

  // A le32 count of elements of at least `min_size` bytes each; 0, failing the reader, if the
  // bytes left cannot hold that many: a peer's count never sizes an allocation.
  uint32_t count(size_t min_size) {
    const uint32_t n = u32();
    if (n > remaining() / min_size) fail();
    return ok_ ? n : 0;
  }

  bool ok() const { return ok_; }
  void fail() { ok_ = false; }
  size_t remaining() const { return bytes_.size() - pos_; }
  size_t position() const { return pos_; }
  bool at_end() const { return ok_ && pos_ == bytes_.size(); }

 private:
  bool take(size_t n) {
    if (!ok_ || n > bytes_.size() - pos_) {
      ok_ = false;
      return false;
    }
    pos_ += n;
    return true;
  }
  std::span<const uint8_t> bytes_;
  size_t pos_ = 0;
  bool ok_ = true;
};

class WireWriter {
 public:
  explicit WireWriter(std::span<uint8_t> out) : out_(out) {}

  template <class T>
  void put(T v) {
    if (uint8_t* p = take(sizeof(T))) store_le<T>(p, v);
  }
  void u8(uint8_t v) { put(v); }
  void u16(uint16_t v) { put(v); }
  void u32(uint32_t v) { put(v); }
  void u64(uint64_t v) { put(v); }
  void s32(int32_t v) { put(v); }
  void s64(int64_t v) { put(v); }
  void bytes(std::span<const uint8_t> b) {
    if (uint8_t* p = take(b.size()); p && !b.empty()) std::memcpy(p, b.data(), b.size());
  }
  void blob(std::span<const uint8_t> b) {
    u32(static_cast<uint32_t>(b.size()));
    bytes(b);
  }
  void string(std::string_view s) {
    blob({reinterpret_cast<const uint8_t*>(s.data()), s.size()});
  }
  // Reserves n bytes to fill in later (e.g. a length); nullptr on overflow.
  uint8_t* skip(size_t n) { return take(n); }

  bool ok() const { return ok_; }
  size_t size() const { return pos_; }
  std::span<uint8_t> written() const { return out_.first(pos_); }

 private:
  uint8_t* take(size_t n) {
    if (!ok_ || n > out_.size() - pos_) {
      ok_ = false;
      return nullptr;
    }
    pos_ += n;
    return out_.data() + pos_ - n;
  }
  std::span<uint8_t> out_;
  size_t pos_ = 0;
  bool ok_ = true;
};

}  // namespace pollmsgr::proto
