// msgr2_dump: decode a captured msgr2 byte stream (one direction of one connection) and print a
// line per frame and per message. Exit 0 only when every byte was consumed as valid frames;
// otherwise say where and why decoding stopped, and exit 1.
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <cstdio>
#include <fmt/format.h>
#include <fstream>
#include <iostream>
#include <iterator>
#include <nlohmann/json.hpp>
#include <memory>
#include <optional>

#include "proto/control_frames.h"
#include "proto/message.h"
#include "proto/osd_messages.h"
#include "proto/session.h"

using namespace pollmsgr::proto;
using nlohmann::json;

namespace {

// Which side may send a tag: the dump checks the stream against --role.
std::optional<Role> only_sent_by(Tag tag) {
  switch (tag) {
    case Tag::kAuthRequest: case Tag::kAuthRequestMore: case Tag::kClientIdent:
    case Tag::kSessionReconnect:
      return Role::kClient;
    case Tag::kAuthBadMethod: case Tag::kAuthReplyMore: case Tag::kAuthDone:
    case Tag::kServerIdent: case Tag::kIdentMissingFeatures: case Tag::kSessionRetry:
    case Tag::kSessionRetryGlobal: case Tag::kSessionReconnectOk: case Tag::kWait:
      return Role::kServer;
    default:
      return std::nullopt;
  }
}

// A few words on what a control frame says; empty when it does not decode.
std::string describe(const Frame& f) {
  auto seg = f.segments[0];
  switch (f.tag()) {
    case Tag::kHello: {
      HelloFrame h;
      if (!decode(seg, h)) return "";
      return fmt::format("entity_type {:#x} peer_addr {}", static_cast<int>(h.entity_type),
                         h.peer_addr.to_string());
    }
    case Tag::kAuthRequest: {
      AuthRequestFrame a;
      if (!decode(seg, a)) return "";
      return fmt::format("method {} payload {} B", a.method, a.auth_payload.size());
    }
    case Tag::kAuthDone: {
      AuthDoneFrame a;
      if (!decode(seg, a)) return "";
      return fmt::format("global_id {} con_mode {}", a.global_id, a.con_mode);
    }
    case Tag::kClientIdent: {
      ClientIdentFrame c;
      if (!decode(seg, c)) return "";
      return fmt::format("target {} global_seq {} features {:#x} required {:#x} cookie {:#x}",
                         c.target_addr.to_string(), c.global_seq, c.supported_features,
                         c.required_features, c.cookie);
    }
    case Tag::kServerIdent: {
      ServerIdentFrame s;
      if (!decode(seg, s)) return "";
      return fmt::format("global_seq {} features {:#x} required {:#x} flags {:#x}", s.global_seq,
                         s.supported_features, s.required_features, s.flags);
    }
    case Tag::kAck: {
      AckFrame a;
      return decode(seg, a) ? fmt::format("seq {}", a.seq) : "";
    }
    default:
      return "";
  }
}

std::string flag_names(uint64_t flags) {
  static const std::pair<uint64_t, const char*> kNames[] = {
      {kOsdFlagAck, "ack"}, {kOsdFlagOndisk, "ondisk"}, {kOsdFlagRead, "read"},
      {kOsdFlagWrite, "write"}, {kOsdFlagKnownRedir, "known_if_redirected"}};
  std::string out;
  for (auto [bit, name] : kNames)
    if (flags & bit) {
      out += out.empty() ? "" : "+";
      out += name;
      flags &= ~bit;
    }
  if (flags) out += fmt::format("{}{:#x}", out.empty() ? "" : "+", flags);
  return out.empty() ? "0" : out;
}

// The ops of an MOSDOp or MOSDOpReply, as text ("writefull 0~4096") and JSON.
void describe_ops(const OsdOpList& ops, bool reply, std::string& text, json& j) {
  j["ops"] = json::array();
  for (const OsdOp& op : ops.view()) {
    text += fmt::format(" {} {}~{}", osd_op_name(op.code), op.offset, op.length);
    if (op.payload_len) text += fmt::format(" [{} B]", op.payload_len);
    if (reply) text += fmt::format(" = {}", op.rval);
    json jo = {{"op", osd_op_name(op.code)}, {"offset", op.offset}, {"length", op.length},
               {"payload_len", op.payload_len}};
    if (reply) jo["rval"] = op.rval;
    j["ops"].push_back(jo);
  }
}

// What an OSD message says; false when it does not decode (`text` then says why).
bool describe_osd_message(const MessageView& m, std::string& text, json& j) {
  if (m.header.type == kMsgOsdOp) {
    auto op = std::make_unique<OsdOpRequest>();
    if (auto e = decode_osd_op(m.front, m.header.version, m.data.size(), *op); e != ProtoError::kOk) {
      text = fmt::format("osd_op does not decode: {}", to_string(e));
      return false;
    }
    text = fmt::format("osd_op {} pg {}.{:x} e{} {}:", op->object, op->pool, op->pg_seed,
                       op->osdmap_epoch, flag_names(op->flags));
    j = {{"object", op->object}, {"pool", op->pool}, {"pg_seed", op->pg_seed},
         {"hash", op->hash}, {"epoch", op->osdmap_epoch}, {"flags", flag_names(op->flags)}};
    describe_ops(op->ops, false, text, j);
    return true;
  }
  if (m.header.type == kMsgOsdOpReply) {
    auto r = std::make_unique<OsdOpReply>();
    if (auto e = decode_osd_op_reply(m.front, m.header.version, m.data.size(), *r);
        e != ProtoError::kOk) {
      text = fmt::format("osd_op_reply does not decode: {}", to_string(e));
      return false;
    }
    text = fmt::format("osd_op_reply {} result {} e{} v{}'{} uv{} {}:", r->object, r->result,
                       r->osdmap_epoch, r->replay_version.epoch, r->replay_version.version,
                       r->user_version, flag_names(r->flags));
    j = {{"object", r->object}, {"result", r->result}, {"epoch", r->osdmap_epoch},
         {"version", r->replay_version.version}, {"user_version", r->user_version},
         {"flags", flag_names(r->flags)}};
    describe_ops(r->ops, true, text, j);
    return true;
  }
  return true;
}

std::vector<uint8_t> read_input(const std::string& path) {
  if (path == "-") {
    std::cin >> std::noskipws;
    return {std::istream_iterator<char>(std::cin), {}};
  }
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::runtime_error("cannot open " + path);
  return {std::istreambuf_iterator<char>(in), {}};
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"msgr2_dump: decode a captured Ceph msgr2 (rev1, crc mode) byte stream"};
  std::string path = "-";
  std::string role_name = "client";
  bool as_json = false, no_data_crc = false;
  app.add_option("file", path, "the stream (one direction of one connection); - for stdin");
  app.add_option("--role", role_name, "which side sent these bytes")
      ->check(CLI::IsMember({"client", "server"}));
  app.add_flag("--json", as_json, "print one JSON document instead of lines");
  app.add_flag("--no-data-crc", no_data_crc, "do not check data-segment crcs (ms_crc_data off)");
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e) == 0 ? 0 : 2;
  }
  const Role sender = role_name == "client" ? Role::kClient : Role::kServer;

  std::vector<uint8_t> bytes;
  try {
    bytes = read_input(path);
  } catch (const std::exception& e) {
    fmt::print(stderr, "msgr2_dump: {}\n", e.what());
    return 2;
  }

  json doc = {{"role", role_name}, {"bytes", bytes.size()}, {"frames", json::array()}};
  std::string error;
  size_t error_offset = 0, frames = 0, messages = 0;
  auto banner = decode_banner(bytes);
  if (!banner || banner->size == 0) {
    error = banner ? "stream ends inside the banner" : std::string(to_string(banner.error()));
  } else {
    doc["banner"] = {{"supported", banner->supported}, {"required", banner->required}};
    if (!as_json)
      fmt::print("{:>8}  banner  ceph v2 supported {:#x} required {:#x}\n", 0, banner->supported,
                 banner->required);
    FrameDecoder decoder({}, !no_data_crc);
    decoder.skip_offset(banner->size);
    std::span<const uint8_t> in = std::span<const uint8_t>(bytes).subspan(banner->size);
    Frame f;
    while (!in.empty()) {
      const uint64_t at = decoder.stream_offset();
      auto step = decoder.next(in, f);
      if (!step) {
        error = to_string(step.error());
        error_offset = at;
        break;
      }
      if (*step == FrameDecoder::Step::kNeedMore) {
        error = fmt::format("stream ends inside a frame ({} bytes of it present)",
                            bytes.size() - at);
        error_offset = at;
        break;
      }
      ++frames;
      auto sent_by = only_sent_by(f.tag());
      json jf = {{"offset", f.stream_offset},
                 {"tag", to_string(f.tag())},
                 {"segments", json::array()},
                 {"crc", f.aborted ? "aborted" : "ok"}};
      std::string segs;
      for (size_t i = 0; i < f.preamble.num_segments; ++i) {
        jf["segments"].push_back(f.preamble.lengths[i]);
        segs += fmt::format("{}{}", i ? "," : "", f.preamble.lengths[i]);
      }
      std::string detail, extra;
      if (f.tag() == Tag::kMessage && !f.aborted) {
        auto m = decode_message(f);
        if (!m) {
          error = "MESSAGE header segment is not 41 bytes";
          error_offset = f.stream_offset;
          break;
        }
        ++messages;
        const auto& h = m->header;
        jf["message"] = {{"type", h.type}, {"seq", h.seq}, {"tid", h.tid},
                         {"ack_seq", h.ack_seq}, {"front", m->front.size()},
                         {"middle", m->middle.size()}, {"data", m->data.size()}};
        detail = fmt::format("type {} seq {} tid {} ack_seq {} front {} middle {} data {}", h.type,
                             h.seq, h.tid, h.ack_seq, m->front.size(), m->middle.size(),
                             m->data.size());
        std::string osd_text;
        json osd;
        if (!describe_osd_message(*m, osd_text, osd)) {
          error = osd_text;
          error_offset = f.stream_offset;
          break;
        }
        if (!osd_text.empty()) {
          jf["message"][h.type == kMsgOsdOp ? "osd_op" : "osd_op_reply"] = osd;
          extra = "\n          " + osd_text;
        }
      } else {
        detail = describe(f);
      }
      if (!detail.empty()) jf["detail"] = detail;
      doc["frames"].push_back(jf);
      if (!as_json)
        fmt::print("{:>8}  {:<22} segments [{}] crc {}{}{}{}\n", f.stream_offset,
                   to_string(f.tag()), segs, f.aborted ? "aborted" : "ok",
                   detail.empty() ? "" : "  ", detail, extra);
      if (sent_by && *sent_by != sender) {
        error = fmt::format("{} is sent only by a {}: is --role right?", to_string(f.tag()),
                            *sent_by == Role::kClient ? "client" : "server");
        error_offset = f.stream_offset;
        break;
      }
    }
  }
  doc["frame_count"] = frames;
  doc["message_count"] = messages;
  doc["ok"] = error.empty();
  if (!error.empty()) doc["error"] = {{"offset", error_offset}, {"reason", error}};
  if (as_json) {
    std::cout << doc.dump(2) << "\n";
  } else if (error.empty()) {
    fmt::print("ok: {} bytes, {} frames, {} messages\n", bytes.size(), frames, messages);
  } else {
    fmt::print("error at offset {}: {}\n", error_offset, error);
  }
  return error.empty() ? 0 : 1;
}
