#include "proto/errors.h"

namespace pollmsgr::proto {

std::string_view to_string(ProtoError e) {
  switch (e) {
    case ProtoError::kOk: return "ok";
    case ProtoError::kBadBanner: return "bad banner";
    case ProtoError::kMissingFeatures: return "missing features";
    case ProtoError::kBadPreambleCrc: return "bad preamble crc";
    case ProtoError::kBadSegmentCrc: return "bad segment crc";
    case ProtoError::kBadTag: return "bad tag";
    case ProtoError::kBadSegmentCount: return "bad segment count";
    case ProtoError::kSegmentTooLarge: return "segment too large";
    case ProtoError::kFrameTooLarge: return "frame too large";
    case ProtoError::kBadLateStatus: return "bad late status";
    case ProtoError::kUnexpectedTag: return "unexpected tag in this state";
    case ProtoError::kMalformedPayload: return "malformed payload";
    case ProtoError::kAuthRejected: return "auth method rejected";
    case ProtoError::kBadAuthSignature: return "bad auth signature";
    case ProtoError::kBadSequence: return "message sequence out of order";
    case ProtoError::kPeerReset: return "session reset by peer";
    case ProtoError::kSessionLost: return "the peer no longer has this session (cannot resume)";
    case ProtoError::kTxOverflow: return "no room to send";
    case ProtoError::kUnsupportedVersion: return "message version not supported";
    case ProtoError::kOsdRedirect: return "the OSD redirected the op (redirects are not followed)";
    case ProtoError::kClosed: return "session closed";
  }
  return "unknown error";
}

}  // namespace pollmsgr::proto
