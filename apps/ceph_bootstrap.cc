#include "apps/ceph_bootstrap.h"

#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "dataplane/runtime/startup_error.h"
#include "dataplane/transport/tcp_transport.h"
#include "proto/session.h"

namespace pollmsgr::perf {
namespace {

using Clock = std::chrono::steady_clock;

// One lossy msgr2 session with a monitor over a blocking exchange: send, then wait for the
// message of the type asked for (the mon may push others first, such as a monmap).
class MonSession final : public proto::SessionHandler {
 public:
  MonSession(const HostPort& mon, double timeout_s)
      : where_(fmt::format("the monitor at {}", mon.to_string())),
        deadline_(Clock::now() + std::chrono::duration_cast<Clock::duration>(
                                     std::chrono::duration<double>(timeout_s))),
        fd_(tcp_connect(mon, "ceph-mon")),
        session_(config(mon)) {
    session_.start(out_);
    flush();
    wait("the msgr2 handshake", [&] { return session_.ready(); });
  }

  uint64_t global_id() const { return session_.global_id(); }

  // Sends a message and waits for the first reply of `reply_type`; returns (front, data).
  std::pair<std::vector<uint8_t>, std::vector<uint8_t>> call(uint16_t type,
                                                             std::span<const uint8_t> front,
                                                             uint16_t reply_type,
                                                             const std::string& what) {
    proto::MsgHeader2 h;
    h.type = type;
    h.tid = ++tid_;
    auto space = out_.reserve(proto::message_head_size(front.size(), 0) + proto::kEpilogueSize);
    auto head = session_.encode_message(space, h, front, {}, {});
    if (!head) throw StartupError(fmt::format("cannot send {} to {}", what, where_), 1);
    std::copy(head->epilogue.begin(), head->epilogue.begin() + head->epilogue_size,
              space.begin() + head->head_size);
    out_.commit(head->frame_size(0));
    flush();
    want_type_ = reply_type;
    got_ = false;
    wait(what, [&] { return got_; });
    return {std::move(front_), std::move(data_)};
  }

  // A JSON command; its output as JSON. The mon's own error text when it refuses.
  nlohmann::json command(const proto::Fsid& fsid, const nlohmann::json& cmd) {
    const std::string text = cmd.dump();
    proto::MonCommand m{fsid, text};
    std::vector<uint8_t> front(proto::mon_command_front_size(m));
    proto::encode_front(front, m);
    auto [ack_front, output] = call(proto::kMsgMonCommand, front, proto::kMsgMonCommandAck,
                                    fmt::format("the answer to `{}`", text));
    auto ack = proto::decode_mon_command_ack(ack_front);
    if (!ack) throw StartupError(fmt::format("{} sent a malformed command ack", where_), 1);
    if (ack->result != 0)
      throw StartupError(fmt::format("{} refused `{}`: {} ({})", where_, text, ack->status,
                                     ack->result), 1);
    auto json = nlohmann::json::parse(output.begin(), output.end(), nullptr, false);
    if (json.is_discarded())
      throw StartupError(fmt::format("{} answered `{}` with output that is not JSON", where_, text), 1);
    return json;
  }

  void on_message(const proto::MessageView& m) override {
    if (got_ || m.header.type != want_type_) return;  // e.g. a monmap the mon pushes
    front_.assign(m.front.begin(), m.front.end());
    data_.assign(m.data.begin(), m.data.end());
    got_ = true;
  }

 private:
  static proto::SessionConfig config(const HostPort& mon) {
    proto::SessionConfig c;
    c.role = proto::Role::kClient;
    c.my_type = proto::EntityType::kClient;
    c.my_addr = proto::EntityAddr::ipv4(proto::EntityAddr::kAny, "127.0.0.1", 0,
                                        static_cast<uint32_t>(getpid()));
    c.peer_addr = mon.entity_addr(proto::EntityAddr::kMsgr2);
    c.lossy = true;  // as Ceph's MonClient
    return c;
  }

  void flush() {
    size_t off = 0;
    while (off < out_.bytes.size()) {
      pollfd p{fd_.get(), POLLOUT, 0};
      poll(&p, 1, 1000);
      ssize_t n = send(fd_.get(), out_.bytes.data() + off, out_.bytes.size() - off, MSG_NOSIGNAL);
      if (n < 0 && (errno == EAGAIN || errno == EINTR)) continue;
      if (n <= 0) throw StartupError(fmt::format("{} closed the connection", where_), 1);
      off += static_cast<size_t>(n);
    }
    out_.bytes.clear();
  }

  template <class Done>
  void wait(const std::string& what, Done done) {
    std::vector<uint8_t> buf(1 << 16);
    while (!done()) {
      const auto left = deadline_ - Clock::now();
      if (left <= Clock::duration::zero())
        throw StartupError(fmt::format("no answer from {}: timed out waiting for {} (is it up? "
                                       "tools/ceph-cluster status)", where_, what), 1);
      pollfd p{fd_.get(), POLLIN, 0};
      const int ms = static_cast<int>(std::chrono::duration_cast<std::chrono::milliseconds>(left).count());
      if (poll(&p, 1, std::min(ms + 1, 200)) <= 0) continue;
      ssize_t n = recv(fd_.get(), buf.data(), buf.size(), 0);
      if (n < 0 && (errno == EAGAIN || errno == EINTR)) continue;
      if (n <= 0)
        throw StartupError(fmt::format("{} closed the connection while we waited for {}", where_,
                                       what), 1);
      if (auto e = session_.on_bytes({buf.data(), static_cast<size_t>(n)}, out_, *this);
          e != proto::ProtoError::kOk)
        throw StartupError(fmt::format("msgr2 with {}: {}", where_, to_string(e)), 1);
      flush();
    }
  }

  std::string where_;
  Clock::time_point deadline_;
  UniqueFd fd_;
  proto::Session session_;
  proto::VectorSink out_;
  uint64_t tid_ = 0;
  uint16_t want_type_ = 0;
  bool got_ = false;
  std::vector<uint8_t> front_, data_;
};

HostPort v2_address(const nlohmann::json& osd) {
  for (const auto& a : osd.at("public_addrs").at("addrvec"))
    if (a.at("type") == "v2") {
      HostPort hp = parse_host_port(a.at("addr").get<std::string>());
      hp.nonce = a.at("nonce").get<uint32_t>();
      return hp;
    }
  throw StartupError(fmt::format("osd.{} has no msgr2 address (is ms_bind_msgr2 on?)",
                                 osd.at("osd").get<int>()), 1);
}

}  // namespace

CephClusterView query_ceph_cluster(const HostPort& mon, const std::string& pool, double timeout_s) {
  MonSession s(mon, timeout_s);
  CephClusterView v;
  v.global_id = s.global_id();
  auto [map_front, unused] = s.call(proto::kMsgMonGetMap, {}, proto::kMsgMonMap, "the monmap");
  auto fsid = proto::decode_mon_map_fsid(map_front);
  if (!fsid) throw StartupError("the monitor sent a monmap that does not decode", 1);
  v.fsid = *fsid;
  try {
    auto dump = s.command(v.fsid, {{"prefix", "osd dump"}, {"format", "json"}});
    v.osdmap_epoch = dump.at("epoch").get<uint32_t>();
    for (const auto& p : dump.at("pools"))
      if (p.at("pool_name") == pool) {
        v.pool_name = pool;
        v.pool_id = p.at("pool").get<int64_t>();
        v.pg_num = p.at("pg_num").get<uint32_t>();
      }
    if (v.pool_name.empty())
      throw StartupError(fmt::format("the cluster has no pool '{}' (ceph osd pool ls)", pool), 1);
    for (const auto& o : dump.at("osds"))
      if (o.at("up").get<int>() == 1) v.osds[o.at("osd").get<int>()] = v2_address(o);
    for (uint32_t seed = 0; seed < v.pg_num; ++seed) {
      const std::string pgid = fmt::format("{}.{:x}", v.pool_id, seed);
      auto map = s.command(v.fsid, {{"prefix", "pg map"}, {"pgid", pgid}, {"format", "json"}});
      const auto& acting = map.at("acting");
      if (acting.empty() || !v.osds.contains(acting.at(0).get<int>()))
        throw StartupError(fmt::format("PG {} has no OSD that is up (ceph pg map {})", pgid, pgid), 1);
      v.primary_of_pg.push_back(acting.at(0).get<int>());  // the acting primary
    }
  } catch (const nlohmann::json::exception& e) {
    throw StartupError(fmt::format("the monitor's JSON is not what a Pacific mon sends: {}", e.what()), 1);
  }
  return v;
}

}  // namespace pollmsgr::perf
