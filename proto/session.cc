#include "proto/session.h"

#include <algorithm>
#include <cstring>

namespace pollmsgr::proto {
namespace {

constexpr char kBannerPrefix[] = "ceph v2\n";
constexpr size_t kBannerPrefixSize = 8;
constexpr size_t kBannerHeadSize = kBannerPrefixSize + 2;  // prefix + le16 length
constexpr size_t kControlFrameReserve = 512;  // room for any control frame we send

FrameLimits handshake_limits(const FrameLimits& after) {
  return {std::min(after.max_segment, kHandshakeLimits.max_segment),
          std::min(after.max_frame, kHandshakeLimits.max_frame)};
}

}  // namespace

std::span<uint8_t> VectorSink::reserve(size_t n) {
  reserved_at_ = bytes.size();
  bytes.resize(reserved_at_ + n);
  return {bytes.data() + reserved_at_, n};
}

void VectorSink::commit(size_t n) { bytes.resize(reserved_at_ + n); }

size_t encode_banner(std::span<uint8_t, kBannerSize> out) {
  std::memcpy(out.data(), kBannerPrefix, kBannerPrefixSize);
  WireWriter w(out.subspan(kBannerPrefixSize));
  w.u16(16);
  w.u64(kProtocolFeatureRevision1);  // supported
  w.u64(0);                          // required
  return kBannerSize;
}

const char* to_string(Session::State s) {
  switch (s) {
    case Session::State::kBanner: return "banner";
    case Session::State::kHello: return "hello";
    case Session::State::kAuth: return "auth";
    case Session::State::kAuthSignature: return "auth-signature";
    case Session::State::kIdent: return "ident";
    case Session::State::kResumeWait: return "resume-wait";
    case Session::State::kReady: return "ready";
    case Session::State::kFault: return "fault";
    case Session::State::kClosed: return "closed";
  }
  return "?";
}

Session::Session(SessionConfig config)
    : config_(std::move(config)), decoder_(handshake_limits(config_.limits), config_.data_crc),
      lossy_(config_.lossy) {}

void Session::become_ready(SessionHandler& handler) {
  state_ = State::kReady;
  decoder_.set_limits(config_.limits);
  if (resuming_) {
    resuming_ = false;
    ++resumes_;
    handler.on_resumed();
  } else {
    was_ready_ = true;
    handler.on_ready();
  }
}

void Session::drop_reassembly() {
  decoder_ = FrameDecoder(handshake_limits(config_.limits), config_.data_crc);
}

void Session::new_transport() {
  drop_reassembly();
  banner_have_ = 0;
  fault_ = ProtoError::kOk;
}

ProtoError Session::restart(FrameSink& out) {
  if (!was_ready_ || lossy_ || config_.role != Role::kClient) return fail(ProtoError::kSessionLost);
  new_transport();
  state_ = State::kBanner;
  resuming_ = true;
  ++connect_seq_;
  return start(out);
}

ProtoError Session::resume(FrameSink& out, const ReconnectFrame& request,
                           SessionHandler& handler) {
  new_transport();
  peer_acked_ = std::max(peer_acked_, std::min(request.msg_seq, out_seq_));
  connect_seq_ = request.connect_seq;
  resuming_ = true;
  if (ProtoError e = send(out, ReconnectOkFrame{in_seq_}); e != ProtoError::kOk) return e;
  acked_in_seq_ = in_seq_;
  become_ready(handler);
  return ProtoError::kOk;
}

ProtoError Session::refuse_resume(FrameSink& out) {
  ProtoError e = send(out, SessionResetFrame{true});
  close();
  return e;
}

ProtoError Session::fail(ProtoError e) {
  if (e != ProtoError::kOk && state_ != State::kClosed) {
    state_ = State::kFault;
    if (fault_ == ProtoError::kOk) fault_ = e;
  }
  return e;
}

template <class F>
ProtoError Session::send(FrameSink& out, const F& frame) {
  auto space = out.reserve(kControlFrameReserve);
  const size_t n = space.empty() ? 0 : encode_frame(space, frame);
  if (n == 0) {
    out.commit(0);
    return fail(ProtoError::kTxOverflow);
  }
  out.commit(n);
  return ProtoError::kOk;
}

ProtoError Session::start(FrameSink& out) {
  auto space = out.reserve(kBannerSize);
  if (space.size() < kBannerSize) {
    out.commit(0);
    return fail(ProtoError::kTxOverflow);
  }
  out.commit(encode_banner(space.first<kBannerSize>()));
  return ProtoError::kOk;
}

bool Session::features_ok(uint64_t peer_supported, uint64_t peer_required) const {
  return (peer_supported & config_.required_features) == config_.required_features &&
         (config_.supported_features & peer_required) == peer_required;
}

ProtoError Session::on_bytes(std::span<const uint8_t> in, FrameSink& out,
                             SessionHandler& handler) {
  return on_bytes(in, out, handler, SIZE_MAX);
}

ProtoError Session::on_bytes(std::span<const uint8_t>& in, FrameSink& out,
                             SessionHandler& handler, size_t max_frames) {
  if (state_ == State::kFault) return fault_;
  if (state_ == State::kClosed) return ProtoError::kClosed;
  if (state_ == State::kBanner) {
    if (ProtoError e = on_banner_bytes(in, out); e != ProtoError::kOk) return e;
  }
  Frame frame;
  for (size_t frames = 0; frames < max_frames && !in.empty() && state_ != State::kFault &&
                          state_ != State::kClosed;
       ++frames) {
    auto step = decoder_.next(in, frame);
    if (!step) return fail(step.error());
    if (*step == FrameDecoder::Step::kNeedMore) break;
    ++frames_in_;
    handler.on_frame(frame);
    if (frame.aborted) continue;  // the sender gave up on it mid-way
    if (ProtoError e = on_frame(frame, out, handler); e != ProtoError::kOk) return fail(e);
  }
  return state_ == State::kFault ? fault_ : ProtoError::kOk;
}

Result<Banner> decode_banner(std::span<const uint8_t> bytes) {
  if (bytes.size() < kBannerHeadSize) return Banner{};
  if (std::memcmp(bytes.data(), kBannerPrefix, kBannerPrefixSize) != 0)
    return ProtoError::kBadBanner;
  const size_t payload = load_le<uint16_t>(bytes.data() + kBannerPrefixSize);
  if (payload < 16 || kBannerHeadSize + payload > kMaxBannerSize) return ProtoError::kBadBanner;
  if (bytes.size() < kBannerHeadSize + payload) return Banner{};
  Banner b;
  b.supported = load_le<uint64_t>(bytes.data() + kBannerHeadSize);
  b.required = load_le<uint64_t>(bytes.data() + kBannerHeadSize + 8);
  b.size = kBannerHeadSize + payload;
  if ((b.required & ~kProtocolFeatureRevision1) != 0 ||
      (b.supported & kProtocolFeatureRevision1) == 0)
    return ProtoError::kMissingFeatures;  // rev0 peers and unknown features: not spoken
  return b;
}

ProtoError Session::on_banner_bytes(std::span<const uint8_t>& in, FrameSink& out) {
  // Copy what may be banner into banner_, decode, and hand back whatever follows it.
  const size_t before = banner_have_;
  const size_t n = std::min(in.size(), banner_.size() - banner_have_);
  std::memcpy(banner_.data() + banner_have_, in.data(), n);
  banner_have_ += n;
  auto banner = decode_banner({banner_.data(), banner_have_});
  if (!banner) return fail(banner.error());
  if (banner->size == 0) {
    in = {};
    return ProtoError::kOk;
  }
  in = in.subspan(banner->size - before);
  banner_have_ = banner->size;
  decoder_.skip_offset(banner->size);
  state_ = State::kHello;
  return send(out, HelloFrame{config_.my_type, config_.peer_addr});
}

ProtoError Session::on_frame(const Frame& f, FrameSink& out, SessionHandler& handler) {
  const auto& seg = f.segments[0];
  const bool client = config_.role == Role::kClient;
  switch (state_) {
    case State::kHello: {
      HelloFrame hello;
      if (f.tag() != Tag::kHello) return ProtoError::kUnexpectedTag;
      if (!decode(seg, hello)) return ProtoError::kMalformedPayload;
      peer_type_ = hello.entity_type;
      my_addr_seen_ = hello.peer_addr;
      state_ = State::kAuth;
      if (!client) return ProtoError::kOk;
      // A monitor hands out global_ids; every other daemon checks the one the mon gave.
      // A client that starts over (a lossless resume) says it is who it was: the global_id the
      // server gave it, so that the session it resumes is its own.
      const auto payload = encode_auth_none_payload(
          {config_.my_type, config_.auth_name, global_id_ ? global_id_ : config_.global_id,
           peer_type_ == EntityType::kMon});
      return send(out, AuthRequestFrame{kAuthMethodNone, {kConModeCrc}, payload});
    }
    case State::kAuth:
      if (client) {
        if (f.tag() == Tag::kAuthBadMethod) return ProtoError::kAuthRejected;
        AuthDoneFrame done;
        if (f.tag() != Tag::kAuthDone) return ProtoError::kUnexpectedTag;
        if (!decode(seg, done)) return ProtoError::kMalformedPayload;
        if (done.con_mode != kConModeCrc) return ProtoError::kAuthRejected;
        global_id_ = done.global_id;
        state_ = State::kAuthSignature;
        return send(out, AuthSignatureFrame{});
      } else {
        AuthRequestFrame req;
        if (f.tag() != Tag::kAuthRequest) return ProtoError::kUnexpectedTag;
        if (!decode(seg, req)) return ProtoError::kMalformedPayload;
        const bool crc_ok = std::find(req.preferred_modes.begin(), req.preferred_modes.end(),
                                      kConModeCrc) != req.preferred_modes.end();
        if (req.method != kAuthMethodNone || !crc_ok) {
          constexpr int32_t kNotSupported = -95;  // -EOPNOTSUPP, as Ceph answers
          return send(out, AuthBadMethodFrame{req.method, kNotSupported, {kAuthMethodNone},
                                              {kConModeCrc}});  // the client may try again
        }
        auto id = decode_auth_none_payload(req.auth_payload);
        if (!id) return id.error();
        peer_auth_type_ = id->type;
        peer_auth_name_ = id->name;
        // A client the monitor already named keeps its global_id (as an OSD echoes it).
        peer_global_id_ = id->global_id ? id->global_id : config_.global_id;
        state_ = State::kAuthSignature;
        if (ProtoError e = send(out, AuthDoneFrame{peer_global_id_, kConModeCrc, {}});
            e != ProtoError::kOk)
          return e;
        return send(out, AuthSignatureFrame{});
      }
    case State::kAuthSignature: {
      AuthSignatureFrame sig;
      if (f.tag() != Tag::kAuthSignature) return ProtoError::kUnexpectedTag;
      if (!decode(seg, sig)) return ProtoError::kMalformedPayload;
      // With auth none the session key is empty and the signature is all zero.
      if (std::any_of(sig.sha256.begin(), sig.sha256.end(), [](uint8_t b) { return b != 0; }))
        return ProtoError::kBadAuthSignature;
      state_ = State::kIdent;
      if (!client) return ProtoError::kOk;
      if (resuming_)
        return send(out, ReconnectFrame{{config_.my_addr}, config_.cookie, peer_cookie_,
                                        config_.global_seq, connect_seq_, in_seq_});
      return send(out, ClientIdentFrame{{config_.my_addr}, config_.peer_addr,
                                        global_id_ ? static_cast<int64_t>(global_id_) : -1,
                                        config_.global_seq, config_.supported_features,
                                        config_.required_features,
                                        config_.lossy ? kConnectLossy : 0, config_.cookie});
    }
    case State::kIdent:
      if (client) {
        if (f.tag() == Tag::kIdentMissingFeatures) return ProtoError::kMissingFeatures;
        if (resuming_) {
          if (f.tag() == Tag::kSessionReset) return ProtoError::kSessionLost;
          ReconnectOkFrame ok;
          if (f.tag() != Tag::kSessionReconnectOk) return ProtoError::kUnexpectedTag;
          if (!decode(seg, ok)) return ProtoError::kMalformedPayload;
          peer_acked_ = std::max(peer_acked_, std::min(ok.msg_seq, out_seq_));
          become_ready(handler);
          return ProtoError::kOk;
        }
        ServerIdentFrame ident;
        if (f.tag() != Tag::kServerIdent) return ProtoError::kUnexpectedTag;
        if (!decode(seg, ident)) return ProtoError::kMalformedPayload;
        if (!features_ok(ident.supported_features, ident.required_features))
          return ProtoError::kMissingFeatures;
        peer_features_ = ident.supported_features;
        peer_addrs_ = std::move(ident.addrs);
        peer_cookie_ = ident.cookie;
        lossy_ = lossy_ || (ident.flags & kConnectLossy);
        become_ready(handler);
        return ProtoError::kOk;
      } else {
        if (f.tag() == Tag::kSessionReconnect) {
          if (!decode(seg, resume_request_)) return ProtoError::kMalformedPayload;
          if (config_.lossy) return refuse_resume(out);  // we keep no sessions
          state_ = State::kResumeWait;  // the messenger finds the session and calls its resume()
          return ProtoError::kOk;
        }
        ClientIdentFrame ident;
        if (f.tag() != Tag::kClientIdent) return ProtoError::kUnexpectedTag;
        if (!decode(seg, ident)) return ProtoError::kMalformedPayload;
        if (!features_ok(ident.supported_features, ident.required_features)) {
          send(out, IdentMissingFeaturesFrame{config_.required_features &
                                              ~ident.supported_features});
          return ProtoError::kMissingFeatures;
        }
        peer_features_ = ident.supported_features;
        peer_addrs_ = std::move(ident.addrs);
        peer_cookie_ = ident.cookie;
        lossy_ = lossy_ || (ident.flags & kConnectLossy);
        state_ = State::kReady;
        if (ProtoError e = send(out, ServerIdentFrame{{config_.my_addr}, 0, config_.global_seq,
                                                      config_.supported_features,
                                                      config_.required_features,
                                                      lossy_ ? kConnectLossy : 0,
                                                      lossy_ ? 0 : config_.cookie});
            e != ProtoError::kOk)
          return e;
        become_ready(handler);
        return ProtoError::kOk;
      }
    case State::kReady:
      return on_ready_frame(f, out, handler);
    default:
      return ProtoError::kUnexpectedTag;
  }
}

ProtoError Session::on_ready_frame(const Frame& f, FrameSink& out, SessionHandler& handler) {
  const auto& seg = f.segments[0];
  switch (f.tag()) {
    case Tag::kMessage: {
      auto m = decode_message(f);
      if (!m) return m.error();
      if (m->header.seq <= in_seq_) return ProtoError::kOk;  // a duplicate: already delivered
      if (!lossy_ && m->header.seq != in_seq_ + 1) return ProtoError::kBadSequence;
      in_seq_ = m->header.seq;
      peer_acked_ = std::max(peer_acked_, std::min(m->header.ack_seq, out_seq_));
      ++messages_in_;
      handler.on_message(*m);
      return ProtoError::kOk;
    }
    case Tag::kAck: {
      AckFrame ack;
      if (!decode(seg, ack)) return ProtoError::kMalformedPayload;
      peer_acked_ = std::max(peer_acked_, std::min(ack.seq, out_seq_));
      return ProtoError::kOk;
    }
    case Tag::kKeepalive2: {
      Keepalive2Frame k;
      if (!decode(seg, k)) return ProtoError::kMalformedPayload;
      return send(out, Keepalive2AckFrame{k.stamp});
    }
    case Tag::kKeepalive2Ack: {
      Keepalive2AckFrame k;
      if (!decode(seg, k)) return ProtoError::kMalformedPayload;
      handler.on_keepalive_ack(k.stamp);
      return ProtoError::kOk;
    }
    case Tag::kSessionReset:
      return ProtoError::kPeerReset;
    default:
      return ProtoError::kUnexpectedTag;
  }
}

Result<MessageFrameHead> Session::encode_message(std::span<uint8_t> out, MsgHeader2 header,
                                                 std::span<const uint8_t> front,
                                                 std::span<const uint8_t> middle,
                                                 std::span<const uint8_t> data) {
  if (state_ != State::kReady) return fault_ != ProtoError::kOk ? fault_ : ProtoError::kClosed;
  const bool next = header.seq == 0;
  if (next) header.seq = out_seq_ + 1;
  header.ack_seq = in_seq_;
  auto head = encode_message_head(out, header, front, middle, data, config_.data_crc);
  if (!head) return head;
  if (next) ++out_seq_;
  acked_in_seq_ = in_seq_;
  return head;
}

ProtoError Session::send_keepalive(FrameSink& out, Timestamp stamp) {
  if (state_ != State::kReady) return ProtoError::kClosed;
  return send(out, Keepalive2Frame{stamp});
}

ProtoError Session::send_ack(FrameSink& out) {
  if (state_ != State::kReady) return ProtoError::kClosed;
  acked_in_seq_ = in_seq_;
  return send(out, AckFrame{in_seq_});
}

ProtoError Session::send_reset(FrameSink& out, bool full) {
  if (state_ != State::kReady) return ProtoError::kClosed;
  ProtoError e = send(out, SessionResetFrame{full});
  close();
  return e;
}

void Session::close() { state_ = State::kClosed; }

}  // namespace pollmsgr::proto
