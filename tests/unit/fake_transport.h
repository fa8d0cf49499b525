#pragma once
// A transport in memory, for testing connections and reactors without a device or a peer
// process (eRPC's fake transport; crimson's fault injection at named frames): each connection
// is a pair of byte pipes with a set capacity (the window a real transport would have), and a
// tap on each pipe reads the msgr2 frames going through it, so that a test can break the
// transport exactly when a frame of a given tag passes, and see the order frames went in.
// One thread drives both sides. Poll mode only (no wait fds).
#include <cstring>
#include <deque>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "dataplane/transport/transport.h"
#include "proto/frame.h"
#include "proto/session.h"

namespace pollmsgr::test {

// One direction of one connection.
struct FakePipe {
  explicit FakePipe(size_t cap) : capacity(cap), buf(2 * cap + 4096) {}
  size_t capacity;
  std::vector<uint8_t> buf;
  size_t begin = 0, end = 0;
  bool broken = false;
  // The tap: every frame that crosses, by tag, in order; and when to break.
  std::vector<proto::Tag> tags;
  proto::FrameDecoder tap{{}, false};
  size_t banner_left = proto::kBannerSize;
  proto::Tag break_on{};
  int break_countdown = 0;  // break when the break_on frame with this (1-based) count passes

  size_t in_flight() const { return end - begin; }
  void watch(std::span<const uint8_t> bytes) {
    // Each side opens with a banner, and again after a reconnect (a new pipe then).
    const size_t skip = std::min(banner_left, bytes.size());
    banner_left -= skip;
    bytes = bytes.subspan(skip);
    proto::Frame f;
    while (!bytes.empty()) {
      auto step = tap.next(bytes, f);
      if (!step.ok() || *step == proto::FrameDecoder::Step::kNeedMore) return;
      tags.push_back(f.tag());
      if (break_countdown > 0 && f.tag() == break_on && --break_countdown == 0) broken = true;
    }
  }
};

class FakeEndpoint final : public Endpoint {
 public:
  FakeEndpoint(std::shared_ptr<FakePipe> in, std::shared_ptr<FakePipe> out)
      : in_(std::move(in)), out_(std::move(out)) {}
  ~FakeEndpoint() override { in_->broken = out_->broken = true; }  // the peer sees the close
  std::span<const uint8_t> rx_window() override {
    if (in_->broken) return {};
    return {in_->buf.data() + in_->begin, in_->in_flight()};
  }
  void rx_release(size_t n) override {
    in_->begin += n;
    if (in_->begin == in_->end) in_->begin = in_->end = 0;
  }
  std::span<uint8_t> tx_window(size_t) override {
    FakePipe& p = *out_;
    if (p.broken) return {};
    if (p.begin > 0 && p.end + p.capacity > p.buf.size()) {  // slide what waits to the front
      std::memmove(p.buf.data(), p.buf.data() + p.begin, p.in_flight());
      p.end -= p.begin;
      p.begin = 0;
    }
    return {p.buf.data() + p.end, p.capacity - p.in_flight()};
  }
  void tx_commit(size_t n) override {
    out_->watch({out_->buf.data() + out_->end, n});
    out_->end += n;
  }
  EndpointStatus tx_flush() override { return status(); }
  bool tx_idle() const override { return true; }
  EndpointStatus check_peer() override { return status(); }
  int wait_fd() const override { return -1; }
  EndpointStatus status() const override {
    return in_->broken || out_->broken ? EndpointStatus::kPeerClosed : EndpointStatus::kOk;
  }

 private:
  std::shared_ptr<FakePipe> in_, out_;
};

class FakeTransport final : public Transport {
 public:
  explicit FakeTransport(size_t capacity = 1 << 20) : capacity_(capacity) {}
  // Breaks connection number `connection` (0: the first made) when the `count`-th frame of
  // `tag` crosses it, client to server or back.
  struct BreakRule {
    size_t connection;
    bool client_to_server;
    proto::Tag tag;
    int count = 1;
  };
  std::vector<BreakRule> rules;
  const char* name() const override { return "fake"; }
  std::unique_ptr<Endpoint> connect(const HostPort& server, size_t, uint64_t, bool) override {
    auto c2s = std::make_shared<FakePipe>(capacity_), s2c = std::make_shared<FakePipe>(capacity_);
    for (const BreakRule& r : rules)
      if (r.connection == c2s_.size()) {
        FakePipe& p = r.client_to_server ? *c2s : *s2c;
        p.break_on = r.tag;
        p.break_countdown = r.count;
      }
    c2s_.push_back(c2s);
    s2c_.push_back(s2c);
    pending_[server.to_string()].push_back(std::make_unique<FakeEndpoint>(c2s, s2c));
    return std::make_unique<FakeEndpoint>(s2c, c2s);
  }
  void listen(const HostPort& bind) override { listening_ = bind.to_string(); }
  int listen_fd() const override { return -1; }
  Accepted accept(const Placement& place) override {
    auto& q = pending_[listening_];
    if (q.empty()) return {};
    auto ep = std::move(q.front());
    q.pop_front();
    return {std::move(ep), place(0)};
  }
  // The pipes of the n-th connection made (0: the first), client to server and back.
  FakePipe& c2s(size_t n) { return *c2s_.at(n); }
  FakePipe& s2c(size_t n) { return *s2c_.at(n); }
  size_t connections() const { return c2s_.size(); }

 private:
  size_t capacity_;
  std::string listening_;
  std::map<std::string, std::deque<std::unique_ptr<Endpoint>>> pending_;
  std::vector<std::shared_ptr<FakePipe>> c2s_, s2c_;
};

}  // namespace pollmsgr::test
