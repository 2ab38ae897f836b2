// The readable text of a raw e-mail (RFC 822 / MIME), for the spam dataset: headers
// dropped, MIME parts walked, transfer encodings and charsets decoded, HTML reduced to
// its text. Never throws on a malformed message; the worst case is an empty body.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace latte::data {

struct EmailBodyOptions {
  size_t max_chars = 20000;  // code points kept from the start of the cleaned body
};

// The header block ends at the first blank line (or at the first line that is neither a
// "Name: value" header, a folded continuation nor the mbox "From " line: a malformed
// header block does not swallow the body). Then:
// - multipart/*: the parts between the boundary lines, recursively; multipart/alternative
//   keeps text/plain when it has text, else the HTML part; other multiparts join their
//   text parts. Non-text parts (images, applications, signatures) are skipped.
// - message/rfc822 parts are parsed as messages of their own.
// - Content-Transfer-Encoding quoted-printable and base64 are decoded.
// - The charset is converted to UTF-8 (us-ascii and iso-8859-1 read as windows-1252, as
//   browsers do; no charset: UTF-8 when valid, else windows-1252); bytes that do not
//   convert become U+FFFD.
// - text/html, or a text part that holds <html or <body, goes through html_to_text.
// The result has whitespace and control characters collapsed to single spaces, is trimmed
// and is cut to options.max_chars code points.
std::string parse_email_body(std::string_view raw_message, const EmailBodyOptions& options = {});

// Quoted-printable (RFC 2045): "=XX" is a byte, "=" at the end of a line joins lines;
// a malformed "=" is kept as is.
std::string decode_quoted_printable(std::string_view encoded);

// Base64; characters outside the alphabet (line breaks) are skipped, decoding stops at '='.
std::string decode_base64(std::string_view encoded);

// Text of an HTML document: comments, <script>, <style> and <head> dropped, tags removed
// (block-level tags become a space), character references decoded (named: the common
// ones; numeric: all, with 128-159 read as windows-1252 as HTML5 does).
std::string html_to_text(std::string_view html);

// bytes in `charset` (a MIME charset name, any case) as UTF-8; see parse_email_body.
std::string to_utf8(std::string_view bytes, std::string_view charset);

// Valid UTF-8 with every invalid sequence replaced by U+FFFD.
std::string repair_utf8(std::string_view bytes);

// Runs of whitespace, control characters and Unicode spaces become one space; zero-width
// characters are dropped; runs of U+FFFD become one; leading and trailing space trimmed.
// Input must be valid UTF-8.
std::string collapse_whitespace(std::string_view text);

// The first max_chars code points of valid UTF-8 text.
std::string truncate_utf8(std::string_view text, size_t max_chars);

}  // namespace latte::data
