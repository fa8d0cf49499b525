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
    uint16_t type, version;
    size_t front, middle, data;
    std::vector<uint8_t> front_bytes, data_bytes;
  };
  std::vector<proto::Tag> tags;
  std::vector<Msg> messages;
  std::vector<proto::Timestamp> keepalive_acks;
  int ready = 0, resumed = 0;
  void on_ready() override { ++ready; }
  void on_resumed() override { ++resumed; }
  void on_frame(const proto::Frame& f) override { tags.push_back(f.tag()); }
  void on_message(const proto::MessageView& m) override {
    messages.push_back({m.header.seq, m.header.tid, m.header.type, m.header.version, m.front.size(),
                        m.middle.size(), m.data.size(), {m.front.begin(), m.front.end()},
                        {m.data.begin(), m.data.end()}});
  }
  void on_keepalive_ack(proto::Timestamp t) override { keepalive_acks.push_back(t); }
};

// Runs a whole captured stream through a session in the receiving role: what it delivered.
inline RecordingHandler receive_stream(const std::vector<uint8_t>& bytes, proto::Role receiver) {
  proto::SessionConfig c;
  c.role = receiver;
  c.my_type = receiver == proto::Role::kClient ? proto::EntityType::kClient : proto::EntityType::kOsd;
  proto::Session session(c);
  proto::VectorSink out;
  RecordingHandler h;
  session.start(out);
  if (session.on_bytes(bytes, out, h) != proto::ProtoError::kOk)
    throw std::runtime_error(std::string("stream did not parse: ") +
                             std::string(to_string(session.fault())));
  return h;
}

// A client and a server session wired back to back in memory.
struct SessionPair {
  proto::Session client, server;
  proto::VectorSink to_server, to_client;
  RecordingHandler ch, sh;
  static proto::SessionConfig client_config() {
    proto::SessionConfig c;
    c.my_addr = proto::EntityAddr::ipv4(proto::EntityAddr::kAny, "127.0.0.1", 0, 1234);
    c.peer_addr = proto::EntityAddr::ipv4(proto::EntityAddr::kMsgr2, "127.0.0.1", 6800);
    c.cookie = 77;
    return c;
  }
  static proto::SessionConfig server_config() {
    proto::SessionConfig s;
    s.role = proto::Role::kServer;
    s.my_type = proto::EntityType::kOsd;
    s.my_addr = proto::EntityAddr::ipv4(proto::EntityAddr::kMsgr2, "127.0.0.1", 6800);
    s.peer_addr = proto::EntityAddr::ipv4(proto::EntityAddr::kAny, "127.0.0.1", 40000);
    s.global_id = 4242;
    return s;
  }
  explicit SessionPair(proto::SessionConfig c = client_config(),
                       proto::SessionConfig s = server_config())
      : client(std::move(c)), server(std::move(s)) {
    client.start(to_server);
    server.start(to_client);
  }
  // Moves bytes both ways until neither side has more to say; the first fault, or kOk.
  proto::ProtoError pump() {
    proto::ProtoError first = proto::ProtoError::kOk;
    auto note = [&](proto::ProtoError e) {
      if (first == proto::ProtoError::kOk) first = e;
    };
    for (int i = 0; i < 20 && (!to_server.bytes.empty() || !to_client.bytes.empty()); ++i) {
      auto a = std::move(to_server.bytes);
      to_server.bytes.clear();
      note(server.on_bytes(a, to_client, sh));
      auto b = std::move(to_client.bytes);
      to_client.bytes.clear();
      note(client.on_bytes(b, to_server, ch));
    }
    return first;
  }
};

}  // namespace pollmsgr::test
