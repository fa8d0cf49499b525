#pragma once
#include <cstdint>
#include <string_view>

namespace pollmsgr::proto {

// Every way a msgr2 connection can go wrong, typed. Any of these faults the session (the
// connection), never the process.
enum class ProtoError : uint8_t {
  kOk = 0,
  kBadBanner,            // not "ceph v2\n", or a bad banner length
  kMissingFeatures,      // the peer requires features we lack, or lacks ones we require
  kBadPreambleCrc,
  kBadSegmentCrc,
  kBadTag,               // a tag msgr2 does not define
  kBadSegmentCount,      // 0 or more than 4 segments, or lengths past the count
  kSegmentTooLarge,      // over the configured maximum segment size
  kFrameTooLarge,        // over the configured maximum frame size
  kBadLateStatus,        // epilogue status neither complete nor aborted
  kUnexpectedTag,        // a valid tag that this state (or this role) does not accept
  kMalformedPayload,     // a frame or message payload that does not decode
  kAuthRejected,         // AUTH_BAD_METHOD, or a method we do not offer
  kBadAuthSignature,
  kBadSequence,          // a message sequence number out of order
  kPeerReset,            // SESSION_RESET from the peer
  kSessionLost,          // a lossless session could not be resumed: the peer no longer has it
  kTxOverflow,           // the output sink had no room for a frame
  kUnsupportedVersion,   // a message encoding (header version) pollmsgr does not decode
  kOsdRedirect,          // an OSD asked for the op to be sent elsewhere: not followed
  kClosed,               // the session was closed locally
};

std::string_view to_string(ProtoError e);

// Result of an operation on the data path: a value or a ProtoError, never an exception.
template <class T>
class Result {
 public:
  Result(T value) : value_(value), error_(ProtoError::kOk) {}  // NOLINT: implicit on purpose
  Result(ProtoError e) : value_{}, error_(e) {}                // NOLINT
  bool ok() const { return error_ == ProtoError::kOk; }
  explicit operator bool() const { return ok(); }
  ProtoError error() const { return error_; }
  const T& value() const { return value_; }
  const T& operator*() const { return value_; }
  const T* operator->() const { return &value_; }

 private:
  T value_;
  ProtoError error_;
};

}  // namespace pollmsgr::proto
