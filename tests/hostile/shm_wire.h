#pragma once
// The shm set-up as a peer does it by hand (dataplane/transport/shm_setup.cc is the other
// side): a SEQPACKET socket to <dir>/<ip>:<port>, then a hello ("pollshm2", version 2, the ring
// size) carrying a memfd each way. For the hostile peers and the fuzz target, which must be able
// to lie in any of it.
#include <fcntl.h>
#include <poll.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstdint>
#include <cstring>
#include <string>

namespace pollmsgr::test {

struct ShmHello {
  uint64_t magic = 0x706f6c6c73686d32ull;  // "pollshm2"
  uint32_t version = 2, ring_bytes = 0;
};

// A connected set-up socket, or -1.
inline int shm_connect(const std::string& path) {
  const int fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
  sockaddr_un sa{};
  sa.sun_family = AF_UNIX;
  std::strncpy(sa.sun_path, path.c_str(), sizeof(sa.sun_path) - 1);
  if (connect(fd, reinterpret_cast<sockaddr*>(&sa), sizeof(sa)) == 0) return fd;
  close(fd);
  return -1;
}

// A memfd of `size` bytes, sealed against resizing or not; -1 on failure.
inline int shm_memfd(size_t size, bool sealed) {
  const int fd = memfd_create("pollmsgr-test-peer", MFD_CLOEXEC | MFD_ALLOW_SEALING);
  if (fd < 0) return -1;
  if (ftruncate(fd, static_cast<off_t>(size)) != 0 ||
      (sealed && fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL) != 0)) {
    close(fd);
    return -1;
  }
  return fd;
}

// A hello and room for one fd, as one sendmsg/recvmsg argument (it points into itself).
struct ShmHelloMessage {
  ShmHello hello;
  iovec iov{&hello, sizeof(hello)};
  alignas(cmsghdr) char cbuf[CMSG_SPACE(sizeof(int))] = {};
  msghdr mh{};
  ShmHelloMessage() {
    mh.msg_iov = &iov;
    mh.msg_iovlen = 1;
    mh.msg_control = cbuf;
    mh.msg_controllen = sizeof(cbuf);
  }
  ShmHelloMessage(const ShmHelloMessage&) = delete;
};

inline bool shm_send_hello(int sock, uint32_t ring_bytes, int memfd) {
  ShmHelloMessage m;
  m.hello.ring_bytes = ring_bytes;
  cmsghdr* cm = CMSG_FIRSTHDR(&m.mh);
  cm->cmsg_level = SOL_SOCKET;
  cm->cmsg_type = SCM_RIGHTS;
  cm->cmsg_len = CMSG_LEN(sizeof(int));
  std::memcpy(CMSG_DATA(cm), &memfd, sizeof(int));
  return sendmsg(sock, &m.mh, MSG_NOSIGNAL) == static_cast<ssize_t>(sizeof(m.hello));
}

// The other side's hello and memfd (waiting up to `timeout_ms`), or -1: it closed the set-up
// instead, or sent something else, or nothing in time.
inline int shm_receive_hello(int sock, ShmHello& h, int timeout_ms) {
  pollfd p{sock, POLLIN, 0};
  if (poll(&p, 1, timeout_ms) != 1) return -1;
  ShmHelloMessage m;
  if (recvmsg(sock, &m.mh, MSG_CMSG_CLOEXEC) != static_cast<ssize_t>(sizeof(m.hello))) return -1;
  h = m.hello;
  cmsghdr* cm = CMSG_FIRSTHDR(&m.mh);
  int fd = -1;
  if (cm && cm->cmsg_type == SCM_RIGHTS) std::memcpy(&fd, CMSG_DATA(cm), sizeof(int));
  return fd;
}

}  // namespace pollmsgr::test
