#pragma once
// Ceph's RDMA side channel (async+rdma, ms_async_rdma_cm = false): each side writes one 65-byte
// record over TCP, "%04x:%08x:%08x:%08x:%s" = lid, qpn, psn, the peer's qpn (0 until known) and
// the GID as 32 hex digits of its bytes in order, then a NUL. The client sends its record, the
// server answers with its own (peer qpn = the client's), the client sends its record again as
// the acknowledgement (peer qpn = the server's). The record carries no MTU: Ceph uses 1024.
// Pure functions: any thread.
#include <infiniband/verbs.h>

#include <array>
#include <cstdint>
#include <cstdio>
#include <optional>
#include <span>

namespace pollmsgr::verbs {

constexpr size_t kCephRecordSize = 65;

struct CephRecord {
  uint16_t lid = 0;
  uint32_t qpn = 0, psn = 0, peer_qpn = 0;
  ibv_gid gid{};
};

inline std::array<char, kCephRecordSize> format_ceph_record(const CephRecord& r) {
  std::array<char, kCephRecordSize> out{};
  int n = std::snprintf(out.data(), out.size(), "%04x:%08x:%08x:%08x:", r.lid, r.qpn, r.psn,
                        r.peer_qpn);
  for (uint8_t byte : r.gid.raw)
    n += std::snprintf(out.data() + n, out.size() - static_cast<size_t>(n), "%02x", byte);
  return out;  // 64 characters and the NUL
}

namespace detail {
inline int hex_digit(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}
// `digits` hex digits at `p`, or nullopt when any is not one.
inline std::optional<uint32_t> hex_field(const char* p, int digits) {
  uint32_t v = 0;
  for (int i = 0; i < digits; ++i) {
    const int d = hex_digit(p[i]);
    if (d < 0) return std::nullopt;
    v = v << 4 | static_cast<uint32_t>(d);
  }
  return v;
}
}  // namespace detail

// Strict: the exact layout, hex digits only, the NUL last; nullopt for anything else.
inline std::optional<CephRecord> parse_ceph_record(std::span<const uint8_t> bytes) {
  if (bytes.size() != kCephRecordSize || bytes[64] != 0) return std::nullopt;
  const char* p = reinterpret_cast<const char*>(bytes.data());
  for (int colon : {4, 13, 22, 31})
    if (p[colon] != ':') return std::nullopt;
  const auto lid = detail::hex_field(p, 4), qpn = detail::hex_field(p + 5, 8),
             psn = detail::hex_field(p + 14, 8), peer = detail::hex_field(p + 23, 8);
  if (!lid || !qpn || !psn || !peer || *qpn > 0xffffff || *psn > 0xffffff || *peer > 0xffffff)
    return std::nullopt;
  CephRecord r{static_cast<uint16_t>(*lid), *qpn, *psn, *peer, {}};
  for (int i = 0; i < 16; ++i) {
    const auto byte = detail::hex_field(p + 32 + 2 * i, 2);
    if (!byte) return std::nullopt;
    r.gid.raw[i] = static_cast<uint8_t>(*byte);
  }
  return r;
}

// Tells a Ceph record from pollmsgr's own hello by its first five bytes (four hex digits of the
// lid and a colon; pollmsgr's hello starts with its magic number).
inline bool looks_like_ceph_record(std::span<const uint8_t> first5) {
  return first5.size() >= 5 && first5[4] == ':';
}

}  // namespace pollmsgr::verbs
