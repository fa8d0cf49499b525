#pragma once
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <stdexcept>
#include <string>
#include <vector>

#include "proto/session.h"

namespace pollmsgr::test {

inline std::vector<uint8_t> read_file(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::runtime_error("cannot open " + path.string());
  return {std::istreambuf_iterator<char>(in), {}};
}

inline std::filesystem::path data_dir() { return POLLMSGR_TEST_DATA_DIR; }

inline std::vector<uint8_t> from_hex(std::string_view hex) {
  std::vector<uint8_t> out;
  int hi = -1;
  for (char c : hex) {
    int v = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
    if (v < 0) continue;  // spaces and separators
    if (hi < 0) {
      hi = v;
    } else {
      out.push_back(static_cast<uint8_t>(hi << 4 | v));
      hi = -1;
    }
  }
  return out;
}

// Records what a session delivers.
struct RecordingHandler : proto::SessionHandler {
  struct Msg {
    uint64_t seq, tid;
    uint16_t type;
    size_t front, middle, data;
    std::vector<uint8_t> front_bytes, data_bytes;
  };
  std::vector<proto::Tag> tags;
  std::vector<Msg> messages;
  std::vector<proto::Timestamp> keepalive_acks;
  int ready = 0;
  void on_ready() override { ++ready; }
  void on_frame(const proto::Frame& f) override { tags.push_back(f.tag()); }
  void on_message(const proto::MessageView& m) override {
    messages.push_back({m.header.seq, m.header.tid, m.header.type, m.front.size(),
                        m.middle.size(), m.data.size(), {m.front.begin(), m.front.end()},
                        {m.data.begin(), m.data.end()}});
  }
  void on_keepalive_ack(proto::Timestamp t) override { keepalive_acks.push_back(t); }
};

}  // namespace pollmsgr::test
