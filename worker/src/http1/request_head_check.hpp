#pragma once
// The checks Beast's parser does not make, on the raw bytes of a request head before Beast
// sees it: Gunicorn's limits (request line, field count, field size), and what request
// smuggling needs refused. Beast 1.81 unfolds obs-fold, takes `Content-Length: 5, 5`, and
// for `Transfer-Encoding: chunked, gzip` reads no body; this pass answers those first. It
// follows Gunicorn's stricter defaults where its request corpus asks for them (upper-case
// methods, one Host, one Content-Type); docs/http.md lists each rule.
//
// It is the authority on framing: a head it passes says how its body ends (`framing`), and
// the connection refuses a request whose parser would frame it otherwise. So it passes only
// framing that Beast reads the same way, and no byte of a body can be read as a request.
// Pure: bytes in, a verdict out.

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "server/server_limits.hpp"  // head_limits

namespace corral {

/// How the body of a request that passed ends (RFC 9112 6.3).
enum class body_framing {
    none,            ///< no body: the next request starts after the head
    content_length,  ///< `content_length` bytes
    chunked,         ///< the chunked coding is final (RFC 9112 7.1)
};

struct head_verdict {
    enum class kind {
        incomplete,  ///< no end of head yet, and nothing wrong so far: read more
        complete,    ///< the head ends at `head_size`; hand it to Beast
        rejected,    ///< answer `status` and close
    };
    kind outcome = kind::incomplete;
    int status = 0;
    std::string reason;           ///< for the log
    std::size_t head_size = 0;    ///< complete: bytes up to and including the empty line
    std::size_t field_count = 0;  ///< complete: header fields in the head (trailers come after)
    body_framing framing = body_framing::none;  ///< complete: how the body ends
    std::uint64_t content_length = 0;           ///< complete, framing content_length: its size
};

/// Checks the start of `bytes`, which holds at least the beginning of one request.
head_verdict check_request_head(std::string_view bytes, const head_limits& limits);

/// Checks `framing`, the bytes a parser holds back while it waits for the rest of a chunked
/// body's framing: the CRLF after a chunk's data and the next chunk-size line, or the last
/// chunk and the trailer section. Rejected: a line ended by a bare LF, or a CR followed by
/// anything but LF (400); more bytes than a head's fields may hold, limit_request_fields
/// times limit_request_field_size (431). Else incomplete: wait for more. The first `checked`
/// bytes passed before and are not scanned again.
head_verdict check_chunk_framing(std::string_view framing, std::size_t checked,
                                 const head_limits& limits);

/// Whether a header name is to be dropped under header_map = drop.
bool has_underscore(std::string_view name);

}  // namespace corral
