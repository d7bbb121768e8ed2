#include "corral/request.hpp"

#include <cctype>

namespace corral {
namespace {

int hex_value(char ch) {
    if (ch >= '0' && ch <= '9') return ch - '0';
    if (ch >= 'a' && ch <= 'f') return ch - 'a' + 10;
    if (ch >= 'A' && ch <= 'F') return ch - 'A' + 10;
    return -1;
}

std::string percent_decode(std::string_view text) {
    std::string out;
    out.reserve(text.size());
    for (std::size_t i = 0; i < text.size(); ++i) {
        if (text[i] == '+') {
            out += ' ';
        } else if (text[i] == '%' && i + 2 < text.size() && hex_value(text[i + 1]) >= 0 &&
                   hex_value(text[i + 2]) >= 0) {
            out += static_cast<char>(hex_value(text[i + 1]) * 16 + hex_value(text[i + 2]));
            i += 2;
        } else {
            out += text[i];
        }
    }
    return out;
}

}  // namespace

bool iequals(std::string_view a, std::string_view b) {
    if (a.size() != b.size()) return false;
    for (std::size_t i = 0; i < a.size(); ++i)
        if (std::tolower(static_cast<unsigned char>(a[i])) !=
            std::tolower(static_cast<unsigned char>(b[i])))
            return false;
    return true;
}

std::string_view request::path() const {
    std::string_view whole = target;
    return whole.substr(0, whole.find('?'));
}

std::string_view request::query() const {
    std::string_view whole = target;
    auto mark = whole.find('?');
    return mark == std::string_view::npos ? std::string_view{} : whole.substr(mark + 1);
}

std::optional<std::string_view> request::header(std::string_view name) const {
    for (const auto& [key, value] : headers)
        if (iequals(key, name)) return value;
    return std::nullopt;
}

std::optional<std::string> request::query_parameter(std::string_view name) const {
    std::string_view rest = query();
    while (!rest.empty()) {
        auto amp = rest.find('&');
        auto pair = rest.substr(0, amp);
        auto equals = pair.find('=');
        if (percent_decode(pair.substr(0, equals)) == name)
            return equals == std::string_view::npos ? "" : percent_decode(pair.substr(equals + 1));
        if (amp == std::string_view::npos) break;
        rest.remove_prefix(amp + 1);
    }
    return std::nullopt;
}

std::optional<std::string_view> request::path_parameter(std::string_view name) const {
    for (const auto& [key, value] : path_parameters)
        if (key == name) return value;
    return std::nullopt;
}

}  // namespace corral
