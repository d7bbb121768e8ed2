#pragma once
// Small helpers for the text of HTTP header fields, shared by the checks that read them.

#include <cctype>
#include <string>
#include <string_view>

namespace corral {

/// `text` without the optional whitespace (spaces and tabs, RFC 9110 5.6.3) around it.
inline std::string_view trim_whitespace(std::string_view text) {
    while (!text.empty() && (text.front() == ' ' || text.front() == '\t')) text.remove_prefix(1);
    while (!text.empty() && (text.back() == ' ' || text.back() == '\t')) text.remove_suffix(1);
    return text;
}

/// An ASCII lower-case copy (header names, tokens and codings are case-insensitive).
inline std::string lowercase(std::string_view text) {
    std::string out(text);
    for (char& ch : out) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
    return out;
}

}  // namespace corral
