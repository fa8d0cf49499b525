#pragma once
// A peer of pollmsgr's rdma wire made by hand on the device: it sets up as a client would
// (RdmaHello over the TCP side channel), then does what no pollmsgr endpoint does: READs and
// WRITEs where it likes, SENDs past its credits. Its own queue pair, receive queue and memory;
// its SENDs wait out an empty receive queue at the server forever (RNR retry 7). Used by the
// verbs tests and by tests/hostile/rdma_peer.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstring>
#include <stdexcept>
#include <vector>

#include "verbs/rdma_transport.h"
#include "verbs/rdma_wire.h"

namespace pollmsgr::verbs {

struct RawPeer {
  static constexpr uint32_t kReceives = 32, kChunk = 1024;
  Device device{"", 1, -1};
  std::vector<uint8_t> memory = std::vector<uint8_t>(1 << 20);  // receives, then READ targets
  MrPtr mr;
  CqPtr cq;
  QpPtr qp;
  int side = -1;
  RdmaHello server;

  explicit RawPeer(uint16_t port) {
    mr = device.register_memory(memory.data(), memory.size(), false);
    cq.reset(ibv_create_cq(device.context(), 8192, nullptr, nullptr, 0));
    ibv_qp_init_attr qa{};
    qa.send_cq = qa.recv_cq = cq.get();
    qa.qp_type = IBV_QPT_RC;
    qa.cap.max_send_wr = 1024;
    qa.cap.max_recv_wr = kReceives;
    qa.cap.max_send_sge = qa.cap.max_recv_sge = 1;
    qp.reset(ibv_create_qp(device.pd(), &qa));
    if (!cq || !qp) throw std::runtime_error("raw peer: no CQ or QP");
    side = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(side, reinterpret_cast<sockaddr*>(&a), sizeof(a)) != 0)
      throw std::runtime_error("raw peer: cannot connect to the server's side channel");
    RdmaHello mine;
    mine.credits = kReceives;
    mine.chunk_bytes = kChunk;
    mine.large_bytes = 64 << 10;  // so that the server lends it large frames
    mine.qp = device.address_of(qp.get(), 4242);
    if (write(side, &mine, sizeof(mine)) != sizeof(mine) ||
        recv(side, &server, sizeof(server), MSG_WAITALL) != sizeof(server))
      throw std::runtime_error("raw peer: no hello from the server");
    device.connect_qp(qp.get(), 4242, server.qp, 7);
    for (uint32_t i = 0; i < kReceives; ++i) {  // a queue pair takes receives once past RESET
      ibv_sge sge{reinterpret_cast<uint64_t>(&memory[i * kChunk]), kChunk, mr->lkey};
      ibv_recv_wr wr{}, *bad = nullptr;
      wr.wr_id = i;
      wr.sg_list = &sge;
      wr.num_sge = 1;
      if (ibv_post_recv(qp.get(), &wr, &bad)) throw std::runtime_error("raw peer: post_recv");
    }
    if (write(side, &RdmaHello::kReadyByte, 1) != 1) throw std::runtime_error("raw peer: ready");
  }
  ~RawPeer() { close(side); }
  RawPeer(const RawPeer&) = delete;
  RawPeer& operator=(const RawPeer&) = delete;

  // The next completion; status IBV_WC_GENERAL_ERR with wr_id ~0 when none came.
  ibv_wc next_completion(long spins = 50'000'000) {
    ibv_wc wc{};
    for (long i = 0; i < spins; ++i)
      if (ibv_poll_cq(cq.get(), 1, &wc) == 1) return wc;
    wc.status = IBV_WC_GENERAL_ERR;
    wc.wr_id = ~0ull;
    return wc;
  }
  // The completion of our work request tagged `tag`, passing over receives (a server sends its
  // banner unasked); wr_id ~0 when none came.
  static constexpr uint64_t kReadTag = 1ull << 62, kSendTag = 1ull << 61;
  ibv_wc completion_of(uint64_t tag) {
    for (;;) {
      const ibv_wc wc = next_completion();
      if (wc.wr_id == tag || wc.wr_id == ~0ull) return wc;
    }
  }
  // The descriptor of the next large frame the server lends us (length 0: none came).
  ReadDescriptor lent() {
    for (;;) {
      const ibv_wc wc = next_completion();
      if (wc.status != IBV_WC_SUCCESS || wc.opcode != IBV_WC_RECV) return {};
      if (decode_imm(ntohl(wc.imm_data)).descriptor && wc.byte_len == sizeof(ReadDescriptor)) {
        ReadDescriptor d;
        std::memcpy(&d, &memory[wc.wr_id * kChunk], sizeof(d));
        return d;
      }
    }
  }
  // One-sided access to the server's memory: the completion's status.
  ibv_wc_status access(ibv_wr_opcode op, uint64_t addr, uint32_t rkey, uint32_t length) {
    ibv_sge sge{reinterpret_cast<uint64_t>(&memory[512 << 10]), length, mr->lkey};
    ibv_send_wr wr{}, *bad = nullptr;
    wr.wr_id = kReadTag;
    wr.opcode = op;
    wr.send_flags = IBV_SEND_SIGNALED;
    wr.sg_list = &sge;
    wr.num_sge = 1;
    wr.wr.rdma.remote_addr = addr;
    wr.wr.rdma.rkey = rkey;
    if (ibv_post_send(qp.get(), &wr, &bad)) return IBV_WC_GENERAL_ERR;
    return completion_of(kReadTag).status;
  }
  const uint8_t* read_back() const { return &memory[512 << 10]; }
  // `count` SENDs with immediate data, `length` bytes each, posted at once (completions tagged
  // kSendTag); false if the send queue would not take them.
  bool send(uint32_t imm, uint32_t length, unsigned count) {
    for (unsigned i = 0; i < count; ++i) {
      ibv_sge sge{reinterpret_cast<uint64_t>(&memory[768 << 10]), length, mr->lkey};
      ibv_send_wr wr{}, *bad = nullptr;
      wr.wr_id = kSendTag;
      wr.opcode = IBV_WR_SEND_WITH_IMM;
      wr.send_flags = IBV_SEND_SIGNALED;
      wr.imm_data = htonl(imm);
      wr.sg_list = &sge;
      wr.num_sge = length ? 1 : 0;
      if (ibv_post_send(qp.get(), &wr, &bad) != 0) return false;
    }
    return true;
  }
};

}  // namespace pollmsgr::verbs
