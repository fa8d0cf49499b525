// The immediate-data layout of pollmsgr's rdma SENDs and the wr_id tags, and the records of
// Ceph's rdma side channel, without a device.
#include <gtest/gtest.h>

#include <cstring>
#include <string>
#include <unordered_map>
#include <vector>

#include "verbs/ceph_wire.h"
#include "verbs/rdma_wire.h"

namespace pollmsgr::verbs {
namespace {

TEST(RdmaWire, ImmediateDataPutsEachFieldInItsBits) {
  EXPECT_EQ(encode_imm({5, 3, true}), 0x80030005u);  // credits 0-15, released 16-30, flag 31
  EXPECT_EQ(encode_imm({0xffff, 0, false}), 0x0000ffffu);
  EXPECT_EQ(encode_imm({0, 0x7fff, false}), 0x7fff0000u);
  EXPECT_EQ(encode_imm({0, 0, false}), 0u);  // a SEND without immediate data means nothing
}

TEST(RdmaWire, ImmediateDataDecodesWhatWasEncoded) {
  for (const Imm in : {Imm{0, 0, false}, Imm{1, 0, true}, Imm{16384, 16, false},
                       Imm{0xffff, 0x7fff, true}}) {
    const Imm out = decode_imm(encode_imm(in));
    EXPECT_EQ(out.credits, in.credits);
    EXPECT_EQ(out.released, in.released);
    EXPECT_EQ(out.descriptor, in.descriptor);
  }
  const Imm flag_only = decode_imm(0x80000000u);
  EXPECT_EQ(flag_only.credits, 0u);
  EXPECT_EQ(flag_only.released, 0u);  // the flag bit is not part of the release count
  EXPECT_TRUE(flag_only.descriptor);
}

TEST(RdmaWire, WorkRequestTagsAreTellableApart) {
  alignas(64) static char buffer[64];  // a receive's wr_id is a pointer
  EXPECT_EQ(work_kind(reinterpret_cast<uint64_t>(buffer)), WorkKind::kReceive);
  EXPECT_EQ(work_kind(kSendTag | 12345), WorkKind::kSend);
  EXPECT_EQ(work_kind(kReadTag | 17), WorkKind::kRead);
  EXPECT_EQ(work_kind(kBeaconWrId), WorkKind::kBeacon);
  EXPECT_EQ(sizeof(ReadDescriptor), 16u);  // fits the inline data of every device we set up
}

std::vector<uint8_t> descriptor_bytes(uint32_t length) {
  const ReadDescriptor d{0x1000, 77, length};
  std::vector<uint8_t> b(sizeof(d));
  std::memcpy(b.data(), &d, sizeof(d));
  return b;
}

TEST(RdmaWire, AReceivedSendIsClassifiedAsTheSenderMayMeanIt) {
  const std::vector<uint8_t> data(100, 1), none;
  const Imm stream{3, 0, false}, described{0, 0, true};
  EXPECT_EQ(classify_receive(stream, data, false, 1 << 20).kind, Received::kStream);
  EXPECT_EQ(classify_receive(stream, none, false, 1 << 20).kind, Received::kCreditsOnly);
  EXPECT_EQ(classify_receive(stream, none, true, 1 << 20).kind, Received::kCreditsOnly);
  const Received read = classify_receive(described, descriptor_bytes(4096), false, 1 << 20);
  ASSERT_EQ(read.kind, Received::kRead);
  EXPECT_EQ(read.read.length, 4096u);
  EXPECT_EQ(read.read.rkey, 77u);
}

TEST(RdmaWire, WhatNoHonestSenderSendsIsAFault) {
  const std::vector<uint8_t> data(100, 1);
  const Imm stream{0, 0, false}, described{0, 0, true};
  EXPECT_EQ(classify_receive(stream, data, true, 1 << 20).kind, Received::kFault);  // past credits
  EXPECT_EQ(classify_receive(described, descriptor_bytes(4096), true, 1 << 20).kind, Received::kFault);
  EXPECT_EQ(classify_receive(described, descriptor_bytes(0), false, 1 << 20).kind, Received::kFault);
  EXPECT_EQ(classify_receive(described, descriptor_bytes((1 << 20) + 1), false, 1 << 20).kind,
            Received::kFault);  // larger than any buffer we would READ into
  EXPECT_EQ(classify_receive(described, descriptor_bytes(4096), false, 0).kind,
            Received::kFault);  // we offered no READs
  EXPECT_EQ(classify_receive(described, data, false, 1 << 20).kind, Received::kFault);
}

// The credit rules (may_send, credit_update_due), checked on a model of two endpoints: every
// order of producing, flushing, delivering and consuming, explored whole. Each side flushes as
// RdmaEndpoint::tx_flush does: data while may_send (the first SEND returning what is owed), else
// credits alone when an update is due.
struct CreditModel {
  struct Message {
    uint8_t credits;
    bool data;
  };
  struct Side {
    uint8_t credits, owed = 0, held = 0, produced = 0, sent = 0, consumed = 0;
    std::vector<Message> to_peer;  // in flight, in order
  };
  struct State {
    Side side[2];
    std::string key() const {
      std::string k;
      for (const Side& s : side) {
        k += {char(s.credits), char(s.owed), char(s.held), char(s.produced), char(s.sent),
              char(s.consumed), char(s.to_peer.size())};
        for (const Message& m : s.to_peer) k += {char(m.credits), char(m.data)};
      }
      return k;
    }
  };
  uint32_t granted, data_each;
  std::string problem;  // the first found, with the state it was found in

  // Everything a side can do next that changes the state.
  std::vector<State> next(const State& st) {
    std::vector<State> out;
    for (int i = 0; i < 2; ++i) {
      const Side& me = st.side[i];
      const Side& peer = st.side[1 - i];
      if (me.produced < data_each) {
        State n = st;
        ++n.side[i].produced;
        out.push_back(n);
      }
      if (me.held > 0) {  // the session consumes a received SEND: its credit is owed back
        State n = st;
        --n.side[i].held;
        ++n.side[i].owed;
        ++n.side[i].consumed;
        out.push_back(n);
      }
      if (!peer.to_peer.empty()) {  // the peer's oldest SEND arrives
        State n = st;
        const Message m = n.side[1 - i].to_peer.front();
        n.side[1 - i].to_peer.erase(n.side[1 - i].to_peer.begin());
        n.side[i].credits += m.credits;
        ++(m.data ? n.side[i].held : n.side[i].owed);  // credits alone are consumed at once
        out.push_back(n);
      }
      State n = st;
      Side& s = n.side[i];
      auto send = [&](bool data) {
        if (s.credits == 0) problem = "a SEND past the peer's credits in " + describe(st);
        s.to_peer.push_back({s.owed, data});
        s.owed = 0;
        --s.credits;
      };
      bool any = false;
      while (s.sent < s.produced && may_send(s.credits, s.owed) && problem.empty()) {
        send(true);
        ++s.sent;
        any = true;
      }
      if (!any && credit_update_due(s.owed, 0, granted) && may_send(s.credits, s.owed)) {
        send(false);
        any = true;
      }
      if (any) out.push_back(n);
    }
    return out;
  }

  bool done(const State& st) const {
    for (const Side& s : st.side)
      if (s.consumed != data_each || !s.to_peer.empty()) return false;
    return true;
  }

  std::string describe(const State& st) const {
    std::string d;
    for (int i = 0; i < 2; ++i) {
      const Side& s = st.side[i];
      d += (i ? "; B:" : "A:") + std::string(" credits ") + std::to_string(s.credits) +
           " owed " + std::to_string(s.owed) + " held " + std::to_string(s.held) + " sent " +
           std::to_string(s.sent) + "/" + std::to_string(s.produced) + " consumed " +
           std::to_string(s.consumed) + " in flight " + std::to_string(s.to_peer.size());
    }
    return d;
  }

  // Depth-first over every reachable state: a state with nothing left to do must be the end (or
  // the sides wait on each other), and no state may come round again (or updates go on forever).
  // Returns how many states there are.
  size_t explore() {
    State start;
    for (Side& s : start.side) s.credits = static_cast<uint8_t>(granted);
    enum Mark : uint8_t { kOnPath, kFinished };
    std::unordered_map<std::string, Mark> mark;
    struct Frame {
      State state;
      std::vector<State> successors;
      size_t next = 0;
    };
    std::vector<Frame> path;
    auto enter = [&](const State& st) {
      mark[st.key()] = kOnPath;
      path.push_back({st, next(st)});
      if (path.back().successors.empty() && !done(st) && problem.empty())
        problem = "both sides wait with work left: " + describe(st);
    };
    enter(start);
    while (!path.empty() && problem.empty()) {
      Frame& f = path.back();
      if (f.next == f.successors.size()) {
        mark[f.state.key()] = kFinished;
        path.pop_back();
        continue;
      }
      const State st = f.successors[f.next++];
      const auto seen = mark.find(st.key());
      if (seen == mark.end())
        enter(st);
      else if (seen->second == kOnPath)
        problem = "SENDs that can go on forever, round through " + describe(st);
    }
    return mark.size();
  }
};

TEST(RdmaCredits, EveryOrderOfEventsEndsWithAllDataThroughAndNoUpdatesLeft) {
  // More data than credits, so that each side runs out (and the exploration stays small).
  for (auto [granted, data] : {std::pair{kMinCredits, 7u}, {kMinCredits + 1, 5u}}) {
    CreditModel m{granted, data};
    const size_t states = m.explore();
    EXPECT_EQ(m.problem, "") << "grant " << granted << ", " << data << " SENDs of data each way";
    EXPECT_GT(states, 1000u) << "the model explored too little to mean anything";
  }
}

TEST(RdmaCredits, WithTwoTheSidesWouldTradeUpdatesForever) {
  CreditModel m{2, 1};  // why kMinCredits is 3
  m.explore();
  EXPECT_NE(m.problem.find("can go on forever"), std::string::npos) << m.problem;
}

TEST(RdmaCredits, TheLastCreditGoesOnlyWithCreditsReturned) {
  EXPECT_TRUE(may_send(2, 0));
  EXPECT_TRUE(may_send(1, 1));
  EXPECT_FALSE(may_send(1, 0));  // kept back for an update
  EXPECT_FALSE(may_send(0, 5));
  EXPECT_FALSE(credit_update_due(1, 0, 3));  // an update alone (one owed for it) calls for none
  EXPECT_TRUE(credit_update_due(2, 0, 3));
  EXPECT_TRUE(credit_update_due(0, 1, 32));  // a large buffer released
}

// A record as Ceph's async+rdma formats it ("%04x:%08x:%08x:%08x:%s" and the NUL): lid 0,
// qpn 0x11, psn 0xa1b2c3, peer qpn 0x12, GID ::ffff:127.0.0.1 as its 16 bytes in order.
const char kCephRecord[] = "0000:00000011:00a1b2c3:00000012:00000000000000000000ffff7f000001";
static_assert(sizeof(kCephRecord) == kCephRecordSize);

std::vector<uint8_t> record_bytes(const char* text = kCephRecord) {
  return {text, text + kCephRecordSize};
}

TEST(CephRecord, ReadsEachFieldOfARecordAsCephWritesIt) {
  const auto r = parse_ceph_record(record_bytes());
  ASSERT_TRUE(r);
  EXPECT_EQ(r->lid, 0);
  EXPECT_EQ(r->qpn, 0x11u);
  EXPECT_EQ(r->psn, 0xa1b2c3u);
  EXPECT_EQ(r->peer_qpn, 0x12u);
  const uint8_t gid[16] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 127, 0, 0, 1};
  EXPECT_EQ(std::memcmp(r->gid.raw, gid, 16), 0);
}

TEST(CephRecord, WritesWhatCephWrites) {
  CephRecord r{0, 0x11, 0xa1b2c3, 0x12, {}};
  const uint8_t gid[16] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 127, 0, 0, 1};
  std::memcpy(r.gid.raw, gid, 16);
  const auto text = format_ceph_record(r);
  EXPECT_EQ(std::memcmp(text.data(), kCephRecord, kCephRecordSize), 0)
      << std::string(text.data(), kCephRecordSize - 1);
}

TEST(CephRecord, AnythingButTheExactLayoutIsRefused) {
  auto bad = [](size_t at, char c) {
    auto b = record_bytes();
    b[at] = static_cast<uint8_t>(c);
    return parse_ceph_record(b).has_value();
  };
  EXPECT_FALSE(bad(64, 'x'));  // no NUL at the end
  EXPECT_FALSE(bad(4, '-'));   // a separator missing
  EXPECT_FALSE(bad(31, '0'));
  EXPECT_FALSE(bad(6, 'g'));   // not a hex digit
  EXPECT_FALSE(bad(63, ' '));
  EXPECT_FALSE(bad(5, '1'));   // a qpn past 24 bits
  auto shorter = record_bytes();
  shorter.pop_back();
  EXPECT_FALSE(parse_ceph_record(shorter));
}

TEST(CephRecord, ToldFromPollmsgrsHelloByItsFirstBytes) {
  EXPECT_TRUE(looks_like_ceph_record(record_bytes()));
  const uint64_t magic = 0x706f6c6c72646d31ull;  // pollmsgr's hello begins with it
  uint8_t hello[8];
  std::memcpy(hello, &magic, sizeof(hello));
  EXPECT_FALSE(looks_like_ceph_record({hello, 5}));
}

}  // namespace
}  // namespace pollmsgr::verbs
