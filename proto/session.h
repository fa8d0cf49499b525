#pragma once
// The msgr2 session state machine for both roles, without I/O: bytes in, frames and events out.
//   banner -> HELLO -> AUTH_REQUEST / AUTH_DONE (method none) -> AUTH_SIGNATURE both ways
//   -> CLIENT_IDENT / SERVER_IDENT -> ready: MESSAGE, ACK, KEEPALIVE2(_ACK), SESSION_RESET
// A lossless session outlives its transport: the client starts again on a new one and sends
// SESSION_RECONNECT instead of CLIENT_IDENT; the server answers SESSION_RECONNECT_OK from the
// original session (or SESSION_RESET when it has none), and each side sends again what the
// other has not acknowledged.
#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "proto/control_frames.h"
#include "proto/errors.h"
#include "proto/frame.h"
#include "proto/message.h"

namespace pollmsgr::proto {

enum class Role : uint8_t { kClient, kServer };

// Ceph Pacific's CEPH_FEATURES_ALL: what a Pacific peer expects a full client to support.
inline constexpr uint64_t kDefaultFeatures = 0x3f01cfbdfffdffffull;

// Where a session writes what it sends: reserve contiguous space, fill it, commit it. An empty
// reservation means the transport has no room: the session faults with kTxOverflow.
class FrameSink {
 public:
  virtual ~FrameSink() = default;
  virtual std::span<uint8_t> reserve(size_t n) = 0;
  virtual void commit(size_t n) = 0;
};

// A FrameSink into a growing vector (tests, tools, the handshake of simple clients).
class VectorSink final : public FrameSink {
 public:
  std::span<uint8_t> reserve(size_t n) override;
  void commit(size_t n) override;
  std::vector<uint8_t> bytes;

 private:
  size_t reserved_at_ = 0;
};

// The banner: "ceph v2\n", le16 payload length (16), le64 supported and required protocol
// features (bit 0: revision 1 frames).
inline constexpr size_t kBannerSize = 26;
inline constexpr uint64_t kProtocolFeatureRevision1 = 1;
size_t encode_banner(std::span<uint8_t, kBannerSize> out);

struct Banner {
  uint64_t supported = 0, required = 0;
  size_t size = 0;  // bytes on the wire
};
// Decodes a banner from the start of `bytes`: kOk with size 0 means "need more bytes".
// kBadBanner for a bad prefix or length; kMissingFeatures for a peer we cannot speak with
// (no revision 1, or required features we do not know).
Result<Banner> decode_banner(std::span<const uint8_t> bytes);
inline constexpr size_t kMaxBannerSize = 64;

class SessionHandler {
 public:
  virtual ~SessionHandler() = default;
  virtual void on_ready() {}
  // A lossless session carries on over a new transport: messages after peer_acked_seq() go again.
  virtual void on_resumed() {}
  // Spans valid only during the call: use or copy the payload before returning.
  virtual void on_message(const MessageView& message) = 0;
  virtual void on_keepalive_ack(Timestamp) {}
  virtual void on_frame(const Frame&) {}  // every frame received, for tracing
};

struct SessionConfig {
  Role role = Role::kClient;
  EntityType my_type = EntityType::kClient;
  EntityAddr my_addr;    // our address (client: type any, nonce; server: v2 bind address)
  EntityAddr peer_addr;  // client: the server we connect to; server: the client as seen
  uint64_t supported_features = kDefaultFeatures;
  uint64_t required_features = kFeatureMsgAddr2;
  // Auth method none. Client: the name it gives (client.<auth_name>) and the global_id the
  // monitor gave it (0 for none yet); the payload's form follows the peer's type in its HELLO.
  // Server: the global_id it gives a client that presents none.
  std::string auth_name = "admin";
  uint64_t global_id = 0;
  uint64_t global_seq = 1;
  uint64_t cookie = 0;  // client: the client cookie; server: the server cookie
  bool lossy = false;   // lossless only when both sides ask for it
  bool data_crc = true;  // check and send data-segment crcs (Ceph's ms_crc_data)
  FrameLimits limits;
};

class Session {
 public:
  enum class State : uint8_t {
    kBanner, kHello, kAuth, kAuthSignature, kIdent,
    kResumeWait,  // server: SESSION_RECONNECT received; the session it names must answer
    kReady, kFault, kClosed
  };

  explicit Session(SessionConfig config);

  // Sends our banner. Call once, first.
  ProtoError start(FrameSink& out);
  // Consumes received bytes: replies go to `out`, messages and events to `handler`.
  // Returns the fault (also kept in fault()) or kOk.
  ProtoError on_bytes(std::span<const uint8_t> in, FrameSink& out, SessionHandler& handler);
  // The same, but stops after `max_frames` whole frames, leaving `in` at the first byte not
  // consumed (a poller's burst bound: the rest stays where it is for the next iteration).
  ProtoError on_bytes(std::span<const uint8_t>& in, FrameSink& out, SessionHandler& handler,
                      size_t max_frames);

  // Fills ack_seq of `header` (and its seq when 0: the next one) and encodes the message frame
  // head into `out` (see encode_message_head). Only in state kReady. A non-zero seq is one taken
  // before with take_seq() (a lossless message queued, or sent again after a reconnect).
  Result<MessageFrameHead> encode_message(std::span<uint8_t> out, MsgHeader2 header,
                                          std::span<const uint8_t> front,
                                          std::span<const uint8_t> middle,
                                          std::span<const uint8_t> data);
  ProtoError send_keepalive(FrameSink& out, Timestamp stamp);
  ProtoError send_ack(FrameSink& out);  // acknowledges everything received so far
  ProtoError send_reset(FrameSink& out, bool full);
  void close();
  uint64_t take_seq() { return ++out_seq_; }

  // Lossless sessions.
  // Client: starts over on a new transport (sends the banner); the handshake then resumes this
  // session with SESSION_RECONNECT. kSessionLost if the server no longer has it.
  ProtoError restart(FrameSink& out);
  // Server, in kResumeWait: what the client asked for.
  const ReconnectFrame& resume_request() const { return resume_request_; }
  // Server, on the session the request names: carry on over the new transport the request came
  // in on. Answers SESSION_RECONNECT_OK and calls on_resumed.
  ProtoError resume(FrameSink& out, const ReconnectFrame& request, SessionHandler& handler);
  // Server, in kResumeWait: there is no such session: SESSION_RESET, then closed.
  ProtoError refuse_resume(FrameSink& out);
  bool lossless() const { return !lossy_; }  // as negotiated (known once ready)
  bool was_ready() const { return was_ready_; }
  uint64_t cookie() const { return config_.cookie; }
  uint64_t peer_cookie() const { return peer_cookie_; }
  uint64_t resumes() const { return resumes_; }
  uint64_t connect_seq() const { return connect_seq_; }  // reconnects tried (client), taken (server)

  State state() const { return state_; }
  bool ready() const { return state_ == State::kReady; }
  ProtoError fault() const { return fault_; }
  Role role() const { return config_.role; }

  uint64_t out_seq() const { return out_seq_; }             // last message seq sent
  uint64_t in_seq() const { return in_seq_; }               // last message seq received
  uint64_t peer_acked_seq() const { return peer_acked_; }   // last of ours the peer has
  bool ack_pending() const { return in_seq_ > acked_in_seq_; }
  uint64_t peer_features() const { return peer_features_; }
  // Client: the global_id from AUTH_DONE, which CLIENT_IDENT gives as our gid (so that an OSD
  // sees client.<global_id> and request ids differ between clients). Server: the client's.
  uint64_t peer_global_id() const { return peer_global_id_; }
  uint64_t global_id() const { return global_id_; }
  // Server: who the client said it was in AUTH_REQUEST (its type and name).
  EntityType peer_auth_type() const { return peer_auth_type_; }
  const std::string& peer_auth_name() const { return peer_auth_name_; }
  EntityType peer_type() const { return peer_type_; }
  const EntityAddr& my_addr_as_seen() const { return my_addr_seen_; }
  const EntityAddrVec& peer_addrs() const { return peer_addrs_; }
  uint64_t frames_received() const { return frames_in_; }
  uint64_t messages_received() const { return messages_in_; }
  uint64_t bytes_received() const { return decoder_.stream_offset(); }
  // Memory held for a frame split across reads (FrameDecoder::reassembly_capacity).
  size_t reassembly_capacity() const { return decoder_.reassembly_capacity(); }
  // The transport is gone: a partial frame can never complete (the next transport starts
  // afresh), so its memory goes now, not when the session resumes.
  void drop_reassembly();

 private:
  ProtoError on_banner_bytes(std::span<const uint8_t>& in, FrameSink& out);
  ProtoError on_frame(const Frame& f, FrameSink& out, SessionHandler& handler);
  ProtoError on_ready_frame(const Frame& f, FrameSink& out, SessionHandler& handler);
  template <class F>
  ProtoError send(FrameSink& out, const F& frame);
  ProtoError fail(ProtoError e);
  void become_ready(SessionHandler& handler);
  void new_transport();
  bool features_ok(uint64_t peer_supported, uint64_t peer_required) const;

  SessionConfig config_;
  State state_ = State::kBanner;
  ProtoError fault_ = ProtoError::kOk;
  FrameDecoder decoder_;
  std::array<uint8_t, kMaxBannerSize> banner_{};
  size_t banner_have_ = 0;

  uint64_t out_seq_ = 0, in_seq_ = 0, peer_acked_ = 0, acked_in_seq_ = 0;
  uint64_t peer_features_ = 0, peer_global_id_ = 0, global_id_ = 0;
  EntityType peer_auth_type_{};
  std::string peer_auth_name_;
  EntityType peer_type_{};
  EntityAddr my_addr_seen_;
  EntityAddrVec peer_addrs_;
  uint64_t frames_in_ = 0, messages_in_ = 0;
  bool lossy_;
  bool was_ready_ = false, resuming_ = false;
  uint64_t peer_cookie_ = 0, connect_seq_ = 0, resumes_ = 0;
  ReconnectFrame resume_request_;
};

const char* to_string(Session::State s);


}  // namespace pollmsgr::proto
