#include "apps/mon_session.h"

#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <fmt/format.h>

#include "dataplane/runtime/startup_error.h"

namespace pollmsgr::perf {
namespace {

proto::SessionConfig config(const HostPort& mon) {
  proto::SessionConfig c;
  c.role = proto::Role::kClient;
  c.my_type = proto::EntityType::kClient;
  c.my_addr = proto::EntityAddr::ipv4(proto::EntityAddr::kAny, "127.0.0.1", 0,
                                      static_cast<uint32_t>(getpid()));
  c.peer_addr = mon.entity_addr(proto::EntityAddr::kMsgr2);
  c.lossy = true;  // as Ceph's MonClient
  return c;
}

}  // namespace

MonSession::MonSession(Transport& transport, const HostPort& mon, double timeout_s)
    : where_(fmt::format("the monitor at {}", mon.to_string())),
      deadline_(Clock::now() + std::chrono::duration_cast<Clock::duration>(
                                   std::chrono::duration<double>(timeout_s))),
      endpoint_(transport.connect(mon, 0, 0, true)),
      session_(config(mon)) {
  session_.start(out_);
  flush();
  wait("the msgr2 handshake", [&] { return session_.ready(); });
}

std::pair<std::vector<uint8_t>, std::vector<uint8_t>> MonSession::call(
    uint16_t type, std::span<const uint8_t> front, uint16_t reply_type, const std::string& what,
    uint16_t version, uint16_t compat_version) {
  proto::MsgHeader2 h;
  h.type = type;
  h.version = version;
  h.compat_version = compat_version;
  h.tid = ++tid_;
  auto space = out_.reserve(proto::message_head_size(front.size(), 0) + proto::kEpilogueSize);
  auto head = session_.encode_message(space, h, front, {}, {});
  if (!head) throw StartupError(fmt::format("cannot send {} to {}", what, where_), 1);
  std::copy(head->epilogue.begin(), head->epilogue.begin() + head->epilogue_size,
            space.begin() + head->head_size);
  out_.commit(head->frame_size(0));
  want_type_ = reply_type;
  got_ = false;
  flush();
  wait(what, [&] { return got_; });
  return {std::move(front_), std::move(data_)};
}

std::vector<uint8_t> MonSession::command(const proto::Fsid& fsid, const std::string& json_text) {
  proto::MonCommand m{fsid, json_text};
  std::vector<uint8_t> front(proto::mon_command_front_size(m));
  proto::encode_front(front, m);
  const std::string shown = json_text.size() > 200 ? json_text.substr(0, 200) + "..." : json_text;
  auto [ack_front, output] = call(proto::kMsgMonCommand, front, proto::kMsgMonCommandAck,
                                  fmt::format("the answer to `{}`", shown));
  auto ack = proto::decode_mon_command_ack(ack_front);
  if (!ack) throw StartupError(fmt::format("{} sent a malformed command ack", where_), 1);
  if (ack->result != 0)
    throw StartupError(fmt::format("{} refused `{}`: {} ({})", where_, shown, ack->status,
                                   ack->result), 1);
  return output;
}

void MonSession::on_message(const proto::MessageView& m) {
  if (got_ || m.header.type != want_type_) return;  // e.g. a monmap the mon pushes
  front_.assign(m.front.begin(), m.front.end());
  data_.assign(m.data.begin(), m.data.end());
  got_ = true;
}

void MonSession::check_time(const std::string& what) const {
  if (Clock::now() > deadline_)
    throw StartupError(fmt::format("no answer from {}: timed out waiting for {} (is it up? "
                                   "tools/ceph-cluster status)", where_, what), 1);
  if (endpoint_->status() != EndpointStatus::kOk)
    throw StartupError(fmt::format("{} closed the connection while we waited for {}{}", where_,
                                   what, *endpoint_->failure() ? fmt::format(" ({})",
                                   endpoint_->failure()) : ""), 1);
}

bool MonSession::receive() {
  const std::span<const uint8_t> in = endpoint_->rx_window();
  if (in.empty()) return false;
  const proto::ProtoError e = session_.on_bytes(in, out_, *this);  // appends any answer to out_
  endpoint_->rx_release(in.size());
  if (e != proto::ProtoError::kOk)
    throw StartupError(fmt::format("msgr2 with {}: {}", where_, to_string(e)), 1);
  // Our answers (KEEPALIVE2_ACKs, ...) wait in out_ while the mon does not read them: a mon
  // that sends and never reads would grow it without end.
  if (out_.bytes.size() > kMaxUnsentBytes)
    throw StartupError(fmt::format("{} sends faster than it reads: {} KiB of our answers unsent "
                                   "(a flood?)", where_, out_.bytes.size() >> 10), 1);
  return true;
}

void MonSession::flush() {
  size_t sent = 0;
  while (sent < out_.bytes.size()) {
    const std::span<uint8_t> w = endpoint_->tx_window(out_.bytes.size() - sent);
    if (w.empty()) {  // the peer must take some first: flush, and keep receiving
      endpoint_->tx_flush();
      receive();
      check_time("room to send");
      continue;
    }
    const size_t n = std::min(w.size(), out_.bytes.size() - sent);
    std::memcpy(w.data(), out_.bytes.data() + sent, n);
    endpoint_->tx_commit(n);
    sent += n;
  }
  out_.bytes.clear();
  endpoint_->tx_flush();
}

template <class Done>
void MonSession::wait(const std::string& what, Done done) {
  for (unsigned turn = 1; !done(); ++turn) {
    // The deadline holds whether or not anything arrives: a flood must not outlast it.
    if (turn % 1024 == 0) check_time(what);
    if (receive()) {
      flush();
      continue;
    }
    endpoint_->tx_flush();  // e.g. credits owed
    if (turn % 1024 == 0) {  // a syscall at most: not on every empty poll
      endpoint_->check_peer();
      usleep(100);
    }
  }
}

}  // namespace pollmsgr::perf
